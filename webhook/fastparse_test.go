package webhook

import (
	"fmt"
	"reflect"
	"strings"
	"testing"

	"github.com/segmentd/segmentd/internal/cputime"
)

// fastParseSeeds are bodies in SendGrid's shape and the edge cases parseFast
// must either read as parseBatch does or leave to it.
var fastParseSeeds = []string{
	`[]`,
	` [ ] `,
	`[{"email":"a@example.com","timestamp":1700000000,"event":"open","sg_event_id":"e1","sg_message_id":"m.1","category":["a","b"],"useragent":"Mozilla/5.0 (\"x\")","ip":"1.2.3.4","tls":1,"pool":{"name":"p","id":1},"url_offset":{"index":0,"type":"html"},"sg_machine_open":false,"x":null}]`,
	`[{"email":"A@Example.com","timestamp":1700000000.5,"event":"Clicked","url":"https://x.test/a?b=1","singlesend_id":"s","mc_auto_id":"a","marketing_campaign_id":77}]`,
	`[{"email":"a@example.com","timestamp":1.7e9,"event":"open","marketing_campaign_id":-1.5e3,"sg_event_id":null}]`,
	`[{"email":"a@example.com","timestamp":1700000000,"event":"open"},{"email":"","timestamp":1,"event":"open"},{}]`,
	`[{"email":"nobody","timestamp":1700000000,"event":"open"},{"email":"a@x","timestamp":-5,"event":"open"},{"email":"a@x","event":"open"}]`,
	`[{"email":"a@x","timestamp":1700000000,"event":"open","email":"b@x"}]`,
	`[{"Email":"a@x","timestamp":1700000000,"event":"open"}]`,
	`[{"email":"a\u0040x","timestamp":1700000000,"event":"open"}]`,
	`[{"email":"ä@x","timestamp":1700000000,"event":"open"}]`,
	`[{"email":null,"timestamp":1700000000,"event":"open"}]`,
	`[{"email":"a@x","timestamp":"1700000000","event":"open"}]`,
	`[{"email":"a@x","timestamp":1700000000,"event":"open","sg_event_id":true}]`,
	`[{"email":"a@x","timestamp":1700000000,"event":"open","k":"\q"}]`,
	`[{"email":"a@x","timestamp":1700000000,"event":"open","k":[1,2,{"a":[]}]},]`,
	`[{"email":"a@x","timestamp":01,"event":"open"}]`,
	`[{"email":"a@x","timestamp":1e400,"event":"open"}]`,
	`[1, "x", null, {"email":"a@x","timestamp":1700000000,"event":"open"}]`,
	`[{"email":"a@x","timestamp":1700000000,"event":"open"}] x`,
	`[{"email":"a@x","timestamp":1700000000,"event":"open"}`,
	`{"email":"a@x"}`,
	`[{"email":"a@x","timestamp":1700000000,"event":"open","k":"\ud83d\ude00 \u00e9"}]`,
}

// FuzzParseFast: whenever parseFast reads a body, parseBatch reads it the
// same way.
func FuzzParseFast(f *testing.F) {
	for _, s := range fastParseSeeds {
		f.Add([]byte(s), 3)
	}
	f.Fuzz(func(t *testing.T, body []byte, max int) {
		if max < 1 || max > 100 {
			max = 3
		}
		evs, res, ok := parseFast(body, max)
		if !ok || checkBody(body) != nil { // the handler refuses the latter before parsing
			return
		}
		wantEvs, wantRes, err := parseBatch(body, max)
		if err != nil {
			t.Fatalf("parseFast read %q, parseBatch refused it: %v", body, err)
		}
		if !reflect.DeepEqual(evs, wantEvs) || !reflect.DeepEqual(res, wantRes) {
			t.Fatalf("body %q:\nparseFast  %+v %+v\nparseBatch %+v %+v", body, evs, res, wantEvs, wantRes)
		}
	})
}

// TestParseFastTakesSendGridBodies: the usual bodies do not fall back.
func TestParseFastTakesSendGridBodies(t *testing.T) {
	var b strings.Builder
	b.WriteByte('[')
	for i := range 1000 {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, `{"email":"user%d@example.com","timestamp":%d,"event":"open","sg_event_id":"ev%d","sg_message_id":"m.filter0001.1","category":["bench"],"singlesend_id":"ss-1","useragent":"Mozilla/5.0 (Windows NT 10.0; Win64; x64)","ip":"10.0.0.1","tls":1,"asm_group_id":3}`,
			i, 1700000000+i, i)
	}
	b.WriteByte(']')
	for _, body := range append([]string{b.String()}, fastParseSeeds[:8]...) {
		if _, _, ok := parseFast([]byte(body), MaxEvents); !ok {
			t.Errorf("parseFast left %.80q… to parseBatch", body)
		}
	}
	if _, _, ok := parseFast([]byte(b.String()), 999); ok {
		t.Error("parseFast read 1,000 events with a limit of 999")
	}
}

// BenchmarkParseFast measures the webhook's parsing and per-event
// validation of one 1,000-event body shaped like `segmentd events bench`'s
// (the types it cycles through, a click's url included), and reports the
// process's CPU time per event (garbage collection included), which a
// shared machine disturbs less than the wall time.
func BenchmarkParseFast(b *testing.B) {
	types := []string{"processed", "delivered", "open", "open", "click", "bounce", "unsubscribe", "deferred"}
	var body strings.Builder
	body.WriteByte('[')
	for i := range 1000 {
		if i > 0 {
			body.WriteByte(',')
		}
		fmt.Fprintf(&body, `{"email":"user%d@example.com","timestamp":%d,"event":"%s","sg_event_id":"bench-18f3a2b4c5d6e7f8-%d","sg_message_id":"m.filter0001.1","category":["bench"],"singlesend_id":"ss-1","url":"https://example.com/landing?utm_source=sendgrid&utm_campaign=%d"}`,
			i, 1700000000+i, types[i%len(types)], i, i)
	}
	body.WriteByte(']')
	raw := []byte(body.String())
	b.SetBytes(int64(len(raw)))
	b.ReportAllocs()
	cpu0 := cputime.Process()
	for b.Loop() {
		evs, res, ok := parseFast(raw, MaxEvents)
		if !ok || len(evs) != 1000 || res.Rejected != 0 {
			b.Fatalf("parseFast: ok %v, %d events, %d rejected", ok, len(evs), res.Rejected)
		}
	}
	b.ReportMetric(float64((cputime.Process()-cpu0).Nanoseconds())/float64(b.N)/1000, "cpu-ns/event")
}

// BenchmarkParse reads a batch of 1,000 events in SendGrid's shape (about
// 300 KB) as the handler does, the body check and the fast parse, and the
// check apart, so that its share shows: bytes/s of each.
//
//	go test -run '^$' -bench Parse ./webhook/
func BenchmarkParse(b *testing.B) {
	var body strings.Builder
	body.WriteByte('[')
	for i := range 1000 {
		if i > 0 {
			body.WriteByte(',')
		}
		fmt.Fprintf(&body, `{"email":"user%d@example.com","timestamp":%d,"event":"open","sg_event_id":"ev%d","sg_message_id":"m.filter0001.1","category":["bench"],"singlesend_id":"ss-1","useragent":"Mozilla/5.0 (Windows NT 10.0; Win64; x64)","ip":"10.0.0.1","tls":1,"asm_group_id":3}`,
			i, 1700000000+i, i)
	}
	body.WriteByte(']')
	doc := []byte(body.String())
	b.Logf("batch: 1000 events, %d bytes", len(doc))
	b.Run("check", func(b *testing.B) {
		b.SetBytes(int64(len(doc)))
		for b.Loop() {
			if err := checkBody(doc); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("parse", func(b *testing.B) {
		b.SetBytes(int64(len(doc)))
		for b.Loop() {
			if _, _, ok := parseFast(doc, MaxEvents); !ok {
				b.Fatal("parseFast refused the batch")
			}
		}
	})
	b.Run("check+parse", func(b *testing.B) {
		b.SetBytes(int64(len(doc)))
		for b.Loop() {
			if err := checkBody(doc); err != nil {
				b.Fatal(err)
			}
			if _, _, ok := parseFast(doc, MaxEvents); !ok {
				b.Fatal("parseFast refused the batch")
			}
		}
	})
}
