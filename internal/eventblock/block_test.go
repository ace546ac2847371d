package eventblock

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/segmentd/segmentd"
)

// blockTestEvents are events of every form a block encodes: each kind of
// contact id, email, type, source and sg_event_id, repeated strings and
// timestamps going back.
func blockTestEvents(rng *rand.Rand, n int) []segmentd.Event {
	contacts := []string{"", "01a243a7-ed22-70a6-a7bd-19d6ed58d080", "00000000-0000-7000-8000-000000ff0000", "legacy-id", "u", "t"}
	emails := []string{"a@example.com", "b@example.com", "no-at-sign", "trailing@", "@leading", "x@y@z.test", "", "a@example.com"}
	types := []string{"open", "click", "processed", "custom-type", "group_resubscribe"}
	sources := []string{"mail", "sms", ""}
	strs := []string{"", "", "camp-1", "https://x.test/a?b=c", "7"}
	ids := []string{"", "0123456789abcdef01234567", "sZROwMGMagFgnOEmSdvhig==", "Plain id", "\x01starts with a form byte", "\x03", "abc"}
	out := make([]segmentd.Event, n)
	ts := int64(1_700_000_000_000)
	for i := range out {
		ts += rng.Int64N(200_000) - 50_000
		src := sources[rng.IntN(len(sources))]
		if src == "" {
			src = segmentd.DefaultEventSource
		}
		id := ids[rng.IntN(len(ids))]
		if id != "" && rng.IntN(2) == 0 {
			id = fmt.Sprintf("%s-%d", id, i)
		}
		out[i] = segmentd.Event{
			ContactID: contacts[rng.IntN(len(contacts))], Email: emails[rng.IntN(len(emails))], Source: src,
			Type: types[rng.IntN(len(types))], Timestamp: time.UnixMilli(ts).UTC(),
			SinglesendID: strs[rng.IntN(len(strs))], AutomationID: strs[rng.IntN(len(strs))],
			MarketingCampaignID: strs[rng.IntN(len(strs))], URL: strs[rng.IntN(len(strs))], SGEventID: id,
		}
	}
	return out
}

// TestEventBlockCodec: a block reads back exactly the events it was given,
// from any point; a damaged block is an error, never a panic.
func TestEventBlockCodec(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	evs := blockTestEvents(rng, 500)
	var e Encoder
	e.Reset(1000)
	seqs := make([]int64, len(evs))
	seq := int64(999)
	for i := range evs {
		seq += 1 + rng.Int64N(3)
		seqs[i] = seq
		e.Add(seq, &evs[i])
	}
	data := string(e.Bytes())
	var br Reader
	for _, after := range []int64{math.MinInt64, 999, seqs[0], seqs[250], seqs[499]} {
		got, gotSeqs, err := Decode(&br, data, 1000, after, nil, nil)
		if err != nil {
			t.Fatal(err)
		}
		k := 0
		for k < len(seqs) && seqs[k] <= after {
			k++
		}
		if !slices.Equal(gotSeqs, seqs[k:]) {
			t.Fatalf("after %d: seqs %v, want %v", after, gotSeqs[:min(5, len(gotSeqs))], seqs[k:min(k+5, len(seqs))])
		}
		for i := range got {
			if got[i] != evs[k+i] {
				t.Fatalf("after %d, event %d:\n got %+v\nwant %+v", after, k+i, got[i], evs[k+i])
			}
		}
	}
	// Every truncation and a flipped byte anywhere, in a block of 30
	// events: an error or events, never a panic.
	e.Reset(1000)
	for i := range 30 {
		e.Add(seqs[i], &evs[i])
	}
	data = string(e.Bytes())
	for n := range len(data) {
		if _, _, err := Decode(&br, data[:n], 1000, 0, nil, nil); err == nil {
			t.Fatalf("a block cut to %d of %d bytes read without an error", n, len(data))
		}
	}
	for i := range len(data) {
		b := []byte(data)
		b[i] ^= 0xff
		Decode(&br, string(b), 1000, 0, nil, nil)
	}
}

func TestMerge(t *testing.T) {
	ev := func(id string) segmentd.Event { return segmentd.Event{SGEventID: id} }
	a, as := []segmentd.Event{ev("a1"), ev("a4"), ev("a5")}, []int64{1, 4, 5}
	b, bs := []segmentd.Event{ev("b2"), ev("b3"), ev("b6")}, []int64{2, 3, 6}
	for _, tc := range []struct {
		limit int
		want  []int64
	}{{10, []int64{1, 2, 3, 4, 5, 6}}, {4, []int64{1, 2, 3, 4}}, {0, []int64{}}} {
		evs, seqs := Merge(a, as, b, bs, tc.limit)
		if !slices.Equal(seqs, tc.want) || len(evs) != len(seqs) {
			t.Fatalf("limit %d: numbers %v, want %v", tc.limit, seqs, tc.want)
		}
		for i, e := range evs {
			if want := map[int64]string{1: "a1", 2: "b2", 3: "b3", 4: "a4", 5: "a5", 6: "b6"}[seqs[i]]; e.SGEventID != want {
				t.Fatalf("limit %d: event %d is %q, want %q", tc.limit, seqs[i], e.SGEventID, want)
			}
		}
	}
	if _, seqs := Merge(a, as, nil, nil, 2); !slices.Equal(seqs, []int64{1, 4}) {
		t.Fatalf("one run alone: %v", seqs)
	}
	if _, seqs := Merge(nil, nil, b, bs, 5); !slices.Equal(seqs, []int64{2, 3, 6}) {
		t.Fatalf("the other run alone: %v", seqs)
	}
}
