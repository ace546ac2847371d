package query

import (
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// genRecords makes varied contacts for equivalence tests: unset fields,
// case variants, lists, alternate emails and events around corpusNow.
func genRecords(n int, seed uint64) []*Record {
	rng := rand.New(rand.NewPCG(seed, 2))
	pick := func(xs ...string) string { return xs[rng.IntN(len(xs))] }
	day := int64(24 * time.Hour / time.Millisecond)
	now := corpusNow.UnixMilli()
	var out []*Record
	for i := 0; i < n; i++ {
		r := &Record{ID: fmt.Sprintf("c%d", i)}
		for f := TextField(0); f < NumTextFields; f++ {
			r.Text[f] = pick("", "Ann", "ann", "Lee", "US", "CA", "Paris", "90124", "x-1", "123", "A_n", "New York", "+1555")
		}
		if rng.IntN(6) > 0 {
			r.Text[FieldEmail] = fmt.Sprintf("%s%d@%s", pick("ann", "first_last", "100%"), i, pick("gmail.com", "example.com", "work.com"))
		}
		r.CreatedAt = now - int64(rng.IntN(400))*day
		r.UpdatedAt = r.CreatedAt + int64(rng.IntN(30))*day
		if rng.IntN(3) == 0 {
			r.AlternateEmails = []string{pick("ann@work.com", "b@gmail.com")}
		}
		for _, l := range []string{"L1", "L2", "L3"} {
			if rng.IntN(3) == 0 {
				r.ListIDs = append(r.ListIDs, l)
			}
		}
		r.EmailDomains = EmailDomains(r.Text[FieldEmail], r.AlternateEmails)
		r.Custom = []Value{
			TextValue(pick("", "Annie", "annie")),
			NumberValue(float64(rng.IntN(60))),
			DateValue(now - int64(rng.IntN(365*50))*day),
			NumberValue(float64(rng.IntN(20)) - 5),
			TextValue(pick("", "pro", "free")),
			TextValue(pick("", "home")),
		}
		if rng.IntN(5) == 0 {
			r.Custom[1] = Value{}
		}
		for k := rng.IntN(5); k > 0; k-- {
			r.Events = append(r.Events, Event{
				Source:    "mail",
				Type:      pick("delivered", "open", "click", "bounce"),
				Timestamp: now - int64(rng.IntN(40))*day - int64(rng.IntN(86400000)),
			})
		}
		out = append(out, r)
	}
	return out
}

// TestConvertV1Equivalence proves, on generated data, that every convertible
// valid SGQL corpus query and its 2.0 translation select the same contacts,
// with and without a parent list; the conversions are kept in a golden file.
func TestConvertV1Equivalence(t *testing.T) {
	cat := corpusCatalog(t)
	recs := append(genRecords(300, 11), semanticsRecords()...)
	var golden strings.Builder
	converted := 0
	for _, e := range readCorpus(t) {
		if e.Lang != SGQL || !e.Valid {
			continue
		}
		q, err := ParseSGQL(e.Src)
		if err != nil {
			t.Fatal(err)
		}
		ch, err := Check(q, cat)
		if err != nil {
			t.Fatal(err)
		}
		v1 := Compile(ch)
		for _, parent := range []string{"", "L1"} {
			out, err := ConvertV1(q, cat, parent)
			fmt.Fprintf(&golden, "=== %s:%d parent=%q\n%s\n", e.File, e.Line, parent, e.Src)
			if err != nil {
				fmt.Fprintf(&golden, "--- error\n%v\n\n", err)
				if !strings.Contains(err.Error(), "has no equivalent") {
					t.Errorf("%s:%d: %v", e.File, e.Line, err)
				}
				continue
			}
			fmt.Fprintf(&golden, "--- sql\n%s\n\n", out)
			ch2, err := Check(out, cat)
			if err != nil {
				t.Fatalf("%s:%d: converted query does not check: %v\n%s", e.File, e.Line, err, out)
			}
			v2 := Compile(ch2)
			converted++
			for _, r := range recs {
				want := v1.Match(r, corpusNow) && (parent == "" || slices.Contains(r.ListIDs, parent))
				if got := v2.Match(r, corpusNow); got != want {
					t.Errorf("%s:%d parent %q: contact %s: v1 %v, 2.0 %v\nv1:  %s\n2.0: %s", e.File, e.Line, parent, r.ID, want, got, e.Src, out)
					break
				}
			}
		}
	}
	if converted < 150 {
		t.Errorf("only %d conversions", converted)
	}
	path := filepath.Join("testdata", "convert.golden")
	if *update {
		if err := os.WriteFile(path, []byte(golden.String()), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test ./query/... -update)", err)
	}
	if golden.String() != string(want) {
		t.Errorf("%s differs; run go test ./query/... -update and review the diff", path)
	}
}
