package webhook_test

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/segmentd/segmentd/webhook"
)

// TestBodyRules: a batch that breaks the rules of every JSON body
// (docs/decisions.md §18) is refused whole with 400 naming the JSON path,
// and stores nothing: sending the corrected batch afterwards stores every
// event (none is a redelivery).
func TestBodyRules(t *testing.T) {
	e := newEnv(t)
	good := batch(ev("a@example.com", "open", t0, "r1"), ev("b@example.com", "click", t0, "r2"))
	second := strings.Index(good, `},{`) + 2
	tests := []struct{ name, body, want string }{
		{"repeated key", good[:second] + `{"email":"c@example.com",` + good[second+1:],
			`{"errors":[{"field":"[1].email","message":"[1].email: repeated key"}]}`},
		{"a kept key in another case", good[:second] + `{"EMAIL":"c@example.com",` + good[second+1:],
			`{"errors":[{"field":"[1].email","message":"[1].email: repeated key (it differs from an earlier key only in case)"}]}`},
		{"repeated key in an unkept field", strings.Replace(good, `"my_unique_arg":"v"`, `"my_unique_arg":"v","my_unique_arg":"w"`, 1),
			`{"errors":[{"field":"[0].my_unique_arg","message":"[0].my_unique_arg: repeated key"}]}`},
		{"invalid UTF-8", strings.Replace(good, `"smtp-id":"<x@y>"`, "\"smtp-id\":\"<x\xff@y>\"", 1),
			`{"errors":[{"field":"[0].smtp-id","message":"[0].smtp-id: invalid UTF-8 at byte 138"}]}`},
		{"lone surrogate", strings.Replace(good, `"category":["cat"]`, `"category":["cat\ud83d"]`, 1),
			`{"errors":[{"field":"[0].category[0]","message":"[0].category[0]: lone UTF-16 surrogate \\ud83d at byte 122"}]}`},
		{"null", `null`, `{"errors":[{"message":"the request body must be a JSON array of events, found null"}]}`},
		{"an object", `{}`, `{"errors":[{"message":"the request body must be a JSON array of events, found an object"}]}`},
		{"a string", `"x"`, `{"errors":[{"message":"the request body must be a JSON array of events, found a string"}]}`},
		{"a number", `1`, `{"errors":[{"message":"the request body must be a JSON array of events, found a number"}]}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, out := e.post(tt.body, "", nil)
			if code != 400 || out != tt.want {
				t.Fatalf("%d %s\nwant 400 %s", code, out, tt.want)
			}
		})
	}
	if r := e.ok(good); r.Stored != 2 || r.Duplicates != 0 {
		t.Fatalf("the corrected batch: %+v, want both events stored", r)
	}
	// Unique arguments keep their case: "Plan" and "plan" are two.
	if r := e.ok(batch(strings.Replace(ev("c@example.com", "open", t0, "r3"), `"my_unique_arg":"v"`, `"Plan":"a","plan":"b"`, 1))); r.Stored != 1 {
		t.Fatalf("unique arguments differing in case: %+v", r)
	}
}

// TestEventTextRules: a control character in a string the event keeps
// (docs/decisions.md §18: they are identifiers) rejects that event alone;
// the rest of the batch is stored, and fields segmentd does not keep may
// hold any text.
func TestEventTextRules(t *testing.T) {
	e := newEnv(t)
	bad := func(field, value string) string {
		var m map[string]any
		_ = json.Unmarshal([]byte(ev("a@example.com", "open", t0, "x-"+field)), &m)
		m[field] = value
		b, _ := json.Marshal(m)
		return string(b)
	}
	body := batch(
		bad("url", "https://example.com/\n"),
		bad("event", "open\x00"),
		bad("sg_event_id", "id\t1"),
		bad("singlesend_id", "s\x7f"),
		bad("mc_auto_id", "a\r"),
		bad("marketing_campaign_id", "\x1b"),
		bad("email", "a\x00@example.com"),
		bad("category", "multi\nline\x00"),
	)
	r := e.ok(body)
	want := []string{
		"url must not contain control characters (found U+000A)",
		"event must not contain control characters (found U+0000)",
		"sg_event_id must not contain control characters (found U+0009)",
		"singlesend_id must not contain control characters (found U+007F)",
		"mc_auto_id must not contain control characters (found U+000D)",
		"marketing_campaign_id must not contain control characters (found U+001B)",
		"email must not contain control characters (found U+0000)",
	}
	if r.Received != 8 || r.Stored != 1 || r.Rejected != 7 || len(r.Errors) != 7 {
		t.Fatalf("response %+v", r)
	}
	for i, er := range r.Errors {
		if er.Index != i || er.Message != want[i] {
			t.Errorf("errors[%d] = %+v, want index %d and %q", i, er, i, want[i])
		}
	}
}

// TestEventLineRules: one event read alone (a line of `segmentd events
// load`) keeps the same rules.
func TestEventLineRules(t *testing.T) {
	for _, tt := range []struct{ line, want string }{
		{`{"email":"a@example.com","timestamp":1700000000,"event":"open","event":"click"}`, "event: repeated key"},
		{`{"email":"a@example.com","timestamp":1700000000,"event":"open","Event":"click"}`, "Event: repeated key (it differs from an earlier key only in case)"},
		{`{"email":"a@example.com\ud800","timestamp":1700000000,"event":"open"}`, `email: lone UTF-16 surrogate \ud800 at byte 23`},
		{`{"email":"a@example.com","timestamp":1700000000,"event":"open","url":"\u0000"}`, "url must not contain control characters (found U+0000)"},
	} {
		if _, err := webhook.Event([]byte(tt.line)); err == nil || err.Error() != tt.want {
			t.Errorf("Event(%s) = %v, want %q", tt.line, err, tt.want)
		}
	}
}
