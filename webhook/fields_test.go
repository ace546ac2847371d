package webhook_test

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/segmentd/segmentd/webhook"
)

// TestEventFieldsBounded: an event whose email, url or id is over its
// limit, or whose type SendGrid's Event Webhook does not send, is rejected
// alone with an error naming the limit, and quotes no more than a short
// prefix of what was sent; values at a limit are stored. Limits count
// characters, so the non-ASCII url (read by encoding/json, the fast parser
// leaves it) is measured like the ASCII ones.
func TestEventFieldsBounded(t *testing.T) {
	e := newEnv(t)
	e.upsert("a@example.com")
	ts := t0.Unix()
	at := func(n int) string { return strings.Repeat("a", n-len("@example.com")) + "@example.com" }
	event := func(fields string) string {
		return fmt.Sprintf(`{"email":"a@example.com","timestamp":%d,"event":"click"%s}`, ts, fields)
	}
	str := func(key string, n int) string { return fmt.Sprintf(`,%q:%q`, key, strings.Repeat("x", n)) }
	mb := 1 << 20
	evs := []string{
		// Stored: every value at its limit.
		event(str("url", webhook.MaxURLLength) + str("sg_event_id", webhook.MaxIDLength) + str("singlesend_id", webhook.MaxIDLength) +
			str("mc_auto_id", webhook.MaxIDLength) + str("marketing_campaign_id", webhook.MaxIDLength)),
		fmt.Sprintf(`{"email":%q,"timestamp":%d,"event":"open"}`, at(webhook.MaxEmailLength), ts),
		event(`,"url":"` + strings.Repeat("é", webhook.MaxURLLength) + `"`),
		// Rejected.
		fmt.Sprintf(`{"email":%q,"timestamp":%d,"event":"open"}`, at(webhook.MaxEmailLength+1), ts),
		fmt.Sprintf(`{"email":%q,"timestamp":%d,"event":"open"}`, strings.Repeat("b", mb), ts),
		fmt.Sprintf(`{"email":"a@example.com","timestamp":%d,"event":"opend"}`, ts),
		fmt.Sprintf(`{"email":"a@example.com","timestamp":%d,"event":%q}`, ts, strings.Repeat("o", mb)),
		event(str("url", webhook.MaxURLLength+1)),
		event(str("url", mb)),
		event(`,"url":"` + strings.Repeat("é", webhook.MaxURLLength+1) + `"`),
		event(str("sg_event_id", webhook.MaxIDLength+1)),
		event(str("singlesend_id", mb)),
		event(str("mc_auto_id", webhook.MaxIDLength+1)),
		event(str("marketing_campaign_id", webhook.MaxIDLength+1)),
		event(`,"marketing_campaign_id":` + strings.Repeat("7", webhook.MaxIDLength+1)),
	}
	code, out := e.post(batch(evs...), "", nil)
	if code != 200 {
		t.Fatalf("POST events: %d %.300s", code, out)
	}
	if len(out) > 2048 {
		t.Errorf("a %d-byte response: %.300s…", len(out), out)
	}
	var r webhook.Response
	if err := json.Unmarshal([]byte(out), &r); err != nil {
		t.Fatalf("response %.300s: %v", out, err)
	}
	if r.Received != len(evs) || r.Stored != 3 || r.Rejected != len(evs)-3 || r.Unmatched != 1 {
		t.Errorf("response %+v, want %d received, 3 stored (1 unmatched), %d rejected", r, len(evs), len(evs)-3)
	}
	types := "processed, delivered, deferred, dropped, bounce, open, click, spamreport, unsubscribe, group_unsubscribe, group_resubscribe"
	want := []webhook.EventError{
		{Index: 3, Message: "email must be at most 254 characters"},
		{Index: 4, Message: "email must be at most 254 characters"},
		{Index: 5, Message: `event "opend" is not an Event Webhook event type (` + types + `)`},
		{Index: 6, Message: `event "` + strings.Repeat("o", 40) + `…" is not an Event Webhook event type (` + types + `)`},
		{Index: 7, Message: "url must be at most 8192 characters"},
		{Index: 8, Message: "url must be at most 8192 characters"},
		{Index: 9, Message: "url must be at most 8192 characters"},
		{Index: 10, Message: "sg_event_id must be at most 255 characters"},
		{Index: 11, Message: "singlesend_id must be at most 255 characters"},
		{Index: 12, Message: "mc_auto_id must be at most 255 characters"},
		{Index: 13, Message: "marketing_campaign_id must be at most 255 characters"},
		{Index: 14, Message: "marketing_campaign_id must be at most 255 characters"},
	}
	if len(r.Errors) != len(want) {
		t.Fatalf("errors %+v\nwant %+v", r.Errors, want)
	}
	for i := range want {
		if r.Errors[i] != want[i] {
			t.Errorf("errors[%d] = %+v, want %+v", i, r.Errors[i], want[i])
		}
	}
	// The stored events are the ones at the limits.
	clicked := e.segment("clicked", typeSegment("click"))
	if n := e.count(clicked); n != 1 {
		t.Errorf("clicked = %d, want 1", n)
	}
	long := e.segment("long url", "SELECT c.contact_id, c.updated_at FROM contact_data AS c JOIN event_data AS e ON c.contact_id = e.contact_id WHERE e.url = '"+strings.Repeat("x", webhook.MaxURLLength)+"'")
	if n := e.count(long); n != 1 {
		t.Errorf("events with the 8,192-character url: %d contacts, want 1", n)
	}
}

// TestEmailNotAnAddressQuotedShort: the error of an email without @
// quotes 40 characters of it.
func TestEmailNotAnAddressQuotedShort(t *testing.T) {
	_, err := webhook.Event([]byte(fmt.Sprintf(`{"email":%q,"timestamp":1700000000,"event":"open"}`, strings.Repeat("b", 200))))
	if want := `email "` + strings.Repeat("b", 40) + `…" is not an email address`; err == nil || err.Error() != want {
		t.Fatalf("got %v, want %s", err, want)
	}
}
