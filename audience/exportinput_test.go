package audience

import (
	"fmt"
	"reflect"
	"testing"

	"github.com/segmentd/segmentd"
)

// sliceSelection is an export selection held in slices.
type sliceSelection struct {
	ids             []string
	lists, segments [][]string
}

func (s sliceSelection) Len() int                { return len(s.ids) }
func (s sliceSelection) ID(i int) string         { return s.ids[i] }
func (s sliceSelection) Lists(i int) []string    { return s.lists[i] }
func (s sliceSelection) Segments(i int) []string { return s.segments[i] }

// An export's input reads back as it was encoded: the fields, the
// columns (nil and empty apart), and every contact's id, lists and
// segments, for ids that are canonical UUIDs and ids that are not.
func TestExportInputRoundTrip(t *testing.T) {
	fields := []segmentd.FieldDefinition{{ID: "w1", Name: "tier", Type: segmentd.FieldText},
		{ID: "_rf0_T", Name: "first_name", Type: segmentd.FieldText, Reserved: true, ReadOnly: true}}
	sel := sliceSelection{}
	for i := range 1000 {
		id := segmentd.NewID()
		switch i % 97 {
		case 5:
			id = "legacy-" + fmt.Sprint(i)
		case 7:
			id = "0190A1B2-C3D4-7E5F-8A9B-0C1D2E3F4A5B" // not lowercase: kept as text
		}
		var lists, segs []string
		if i%3 == 0 {
			lists = append(lists, "list-a")
		}
		if i%5 == 0 {
			lists = append(lists, "list-b")
		}
		if i%2 == 0 {
			segs = append(segs, "cc:7", "seg-1")
		}
		sel.ids, sel.lists, sel.segments = append(sel.ids, id), append(sel.lists, lists), append(sel.segments, segs)
	}
	for _, columns := range [][]string{nil, {}, {"email_address", "cf:tier"}} {
		for _, s := range []sliceSelection{sel, {}} {
			gotFields, gotColumns, got, err := decodeExportInput(encodeExportInput(fields, columns, s))
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(gotFields, fields) || !reflect.DeepEqual(gotColumns, columns) || got.Len() != s.Len() {
				t.Fatalf("fields %+v, columns %#v, %d contacts; want %+v, %#v, %d", gotFields, gotColumns, got.Len(), fields, columns, s.Len())
			}
			for i := range s.Len() {
				if got.ID(i) != s.ID(i) || !reflect.DeepEqual(got.Lists(i), s.Lists(i)) || !reflect.DeepEqual(got.Segments(i), s.Segments(i)) {
					t.Fatalf("contact %d reads %s %v %v, want %s %v %v", i, got.ID(i), got.Lists(i), got.Segments(i), s.ID(i), s.Lists(i), s.Segments(i))
				}
			}
		}
	}
}

// A malformed input is refused, whatever the byte it ends at or the
// version it names, without a panic.
func TestExportInputMalformed(t *testing.T) {
	sel := sliceSelection{ids: []string{segmentd.NewID(), "odd"}, lists: [][]string{{"l"}, nil}, segments: [][]string{nil, {"s"}}}
	b := encodeExportInput([]segmentd.FieldDefinition{{ID: "w1", Name: "tier", Type: segmentd.FieldText}}, []string{"c"}, sel)
	for n := range len(b) {
		if _, _, _, err := decodeExportInput(b[:n]); err == nil {
			t.Fatalf("the input's first %d of %d bytes decode", n, len(b))
		}
	}
	if _, _, _, err := decodeExportInput(append(b, 0)); err == nil {
		t.Fatal("an input with a byte too many decodes")
	}
	bad := append([]byte{exportInputVersion + 1}, b[1:]...)
	if _, _, _, err := decodeExportInput(bad); err == nil {
		t.Fatal("an input of another version decodes")
	}
}
