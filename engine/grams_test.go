package engine

import "testing"

// TestGramsOfSplit checks that the trigram postings built over ranges of
// contacts by several goroutines, then merged, are those one builds
// alone, and that they hold exactly the trigrams of "\x00"+email+"\x00".
func TestGramsOfSplit(t *testing.T) {
	vals := []string{"", "a", "ab", "abc@x.org", "é@y", "user1@gmail.com"}
	col := make([]uint32, 3*gramChunk+5)
	for i := range col {
		col[i] = uint32(i * 7 % len(vals)) // every third of a chunk or so unset
	}
	one := gramsOf(col, vals, 1)
	for _, workers := range []int{2, 3} {
		got := gramsOf(col, vals, workers)
		if len(got) != len(one) {
			t.Fatalf("%d workers: %d trigrams, want %d", workers, len(got), len(one))
		}
		for k, bm := range one {
			if !got[k].Equals(bm) {
				t.Fatalf("%d workers: trigram %06x differs", workers, k)
			}
		}
	}
	for idx, code := range col {
		v := vals[code]
		if v == "" {
			continue
		}
		padded := "\x00" + v + "\x00"
		for i := 0; i+3 <= len(padded); i++ {
			k := uint32(padded[i])<<16 | uint32(padded[i+1])<<8 | uint32(padded[i+2])
			if !one[k].Contains(uint32(idx)) {
				t.Fatalf("contact %d (%q) not under %q", idx, v, padded[i:i+3])
			}
		}
	}
	var total uint64
	for _, bm := range one {
		total += bm.GetCardinality()
	}
	want := 0
	for _, code := range col {
		want += len(vals[code]) // one trigram per byte, none repeated within a value here
	}
	if total != uint64(want) {
		t.Fatalf("%d postings, want %d", total, want)
	}
}
