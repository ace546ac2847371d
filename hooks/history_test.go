package hooks_test

import (
	"fmt"
	"net/url"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/segmentd/segmentd"
	"github.com/segmentd/segmentd/hooks"
	"github.com/segmentd/segmentd/internal/facetest"
)

// The membership history's endpoints (docs/history.md) over a story told
// on the dev clock: a SendGrid and a Constant Contact segment of "Ada"s,
// contacts entering, one leaving, one deleted; every answer checked
// against the served document and against the story.

var t0 = time.Date(2030, 1, 6, 10, 0, 0, 0, time.UTC)

func (e *env) upsertNamed(t *testing.T, email, name string) {
	t.Helper()
	id, err := e.Svc.UpsertContacts(t.Context(), e.acct, []segmentd.ContactPatch{{Email: facetest.Ptr(email), FirstName: facetest.Ptr(name)}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	facetest.WaitJob(t, e.Svc, e.acct, id)
}

func (e *env) contactID(t *testing.T, email string) string {
	t.Helper()
	found, err := e.Store.ContactsByEmails(t.Context(), e.acct, []string{email})
	if err != nil || found[email].ID == "" {
		t.Fatalf("contact %s: %v", email, err)
	}
	return found[email].ID
}

func ts(h float64) string { return t0.Add(time.Duration(h * float64(time.Hour))).Format(time.RFC3339) }

func TestHistoryAPI(t *testing.T) {
	e := start(t, hooks.Options{Retention: 30 * 24 * time.Hour})
	e.Clock.Set(t0)
	sg := e.segment(t, "adas", "SELECT contact_id, updated_at FROM contact_data WHERE first_name = 'Ada'")
	cc, err := e.Svc.CreateCCSegment(t.Context(), e.acct, "cc adas", `{"version":"1.0.0","criteria":{"type":"and","group":[{"source":"contact","field":"first_name","op":"eq","const_value":"Ada"}]}}`)
	if err != nil {
		t.Fatal(err)
	}
	ccPath := fmt.Sprintf("/segmentd/v1/segments/constantcontact/%d/history/", cc.ID)
	sgPath := "/segmentd/v1/segments/sendgrid/" + sg + "/history/"

	e.Clock.Set(t0.Add(90 * time.Minute)) // 11:30: a and b enter
	e.upsertNamed(t, "a@example.com", "Ada")
	e.upsertNamed(t, "b@example.com", "Ada")
	a, b := e.contactID(t, "a@example.com"), e.contactID(t, "b@example.com")
	e.Clock.Set(t0.Add(150 * time.Minute)) // 12:30: b leaves
	e.upsertNamed(t, "b@example.com", "Bob")
	e.Clock.Set(t0.Add(210 * time.Minute)) // 13:30: c enters, then is deleted at 13:45
	e.upsertNamed(t, "c@example.com", "Ada")
	c := e.contactID(t, "c@example.com")
	e.Clock.Set(t0.Add(225 * time.Minute))
	job, err := e.Svc.DeleteContacts(t.Context(), e.acct, []string{c}, false)
	if err != nil {
		t.Fatal(err)
	}
	facetest.WaitJob(t, e.Svc, e.acct, job)
	e.Clock.Set(t0.Add(4 * time.Hour))

	// Sizes, hourly from 10:00 to 14:00, for both vendors' segments.
	for _, path := range []string{sgPath, ccPath} {
		m := want(t, e.call(t, "GET", path+"sizes?from="+ts(0)+"&to="+ts(4), nil), 200, `"interval":"hour"`)
		var got []string
		for _, p := range m["points"].([]any) {
			pt := p.(map[string]any)
			got = append(got, fmt.Sprintf("%s %v +%v -%v", pt["time"], pt["size"], pt["entered"], pt["exited"]))
		}
		want := []string{
			"2030-01-06T10:00:00.000Z 0 +0 -0", "2030-01-06T11:00:00.000Z 0 +2 -0", "2030-01-06T12:00:00.000Z 2 +0 -1",
			"2030-01-06T13:00:00.000Z 1 +1 -1", "2030-01-06T14:00:00.000Z 1 +0 -0",
		}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("%s sizes\n%q, want\n%q", path, got, want)
		}
	}
	// By day, defaulting to 24 days before now: the last point is today's.
	m := want(t, e.call(t, "GET", sgPath+"sizes?interval=day", nil), 200, `"interval":"day"`)
	if pts := m["points"].([]any); len(pts) != 25 || pts[24].(map[string]any)["size"] != 0.0 || pts[24].(map[string]any)["entered"] != 3.0 {
		t.Fatalf("daily points: %v", pts)
	}

	// Transitions, by pages of 2, with the ids webhook messages give them.
	var got []string
	next := ""
	for range 5 {
		q := sgPath + "transitions?from=" + ts(0) + "&limit=2"
		if next != "" {
			q += "&cursor=" + url.QueryEscape(next)
		}
		m := want(t, e.call(t, "GET", q, nil), 200)
		for _, tr := range m["transitions"].([]any) {
			tr := tr.(map[string]any)
			if !strings.HasPrefix(tr["id"].(string), fmt.Sprintf("tr_%d_", e.acct)) {
				t.Fatalf("transition id %v", tr["id"])
			}
			got = append(got, fmt.Sprintf("%s %s %s %s", tr["timestamp"], tr["type"], tr["contact"].(map[string]any)["email"], tr["cause"]))
		}
		n, ok := m["next"].(string)
		if !ok {
			break
		}
		next = n
	}
	wantTs := []string{
		"2030-01-06T11:30:00.000Z segment.entered a@example.com contact", "2030-01-06T11:30:00.000Z segment.entered b@example.com contact",
		"2030-01-06T12:30:00.000Z segment.exited b@example.com contact", "2030-01-06T13:30:00.000Z segment.entered c@example.com contact",
		"2030-01-06T13:45:00.000Z segment.exited c@example.com contact",
	}
	if !reflect.DeepEqual(got, wantTs) {
		t.Fatalf("transitions\n%q, want\n%q", got, wantTs)
	}
	want(t, e.call(t, "GET", sgPath+"transitions?from="+ts(2)+"&to="+ts(3), nil), 200, `"segment.exited"`, `"b@example.com"`)

	// Membership of one contact at a time, by id or email; a deleted
	// contact by id.
	for _, tc := range []struct {
		query  string
		member bool
		email  string
	}{
		{"contact_id=" + b + "&at=" + ts(1), false, "b@example.com"},
		{"contact_id=" + b + "&at=" + ts(2), true, "b@example.com"},
		{"email=B@example.com&at=" + ts(3), false, "b@example.com"},
		{"email=a@example.com&at=" + ts(3.9), true, "a@example.com"},
		{"contact_id=" + c + "&at=" + ts(3.6), true, "c@example.com"},
		{"contact_id=" + c + "&at=" + ts(3.5), true, "c@example.com"},
	} {
		m := want(t, e.call(t, "GET", sgPath+"membership?"+tc.query, nil), 200, `"email":"`+tc.email+`"`)
		if m["member"] != tc.member {
			t.Fatalf("%s: member %v, want %v", tc.query, m["member"], tc.member)
		}
	}

	// Members at a time, by pages of 1.
	members := func(path, at string) []string {
		var ids []string
		next := ""
		for range 10 {
			q := path + "members?limit=1&at=" + at
			if next != "" {
				q += "&cursor=" + url.QueryEscape(next)
			}
			m := want(t, e.call(t, "GET", q, nil), 200)
			for _, c := range m["members"].([]any) {
				c := c.(map[string]any)
				ids = append(ids, c["id"].(string)+" "+c["email"].(string))
			}
			n, ok := m["next"].(string)
			if !ok {
				break
			}
			next = n
		}
		return ids
	}
	sorted := func(xs ...string) []string {
		out := append([]string(nil), xs...)
		for i := range out {
			for j := i + 1; j < len(out); j++ {
				if out[j] < out[i] {
					out[i], out[j] = out[j], out[i]
				}
			}
		}
		return out
	}
	for _, tc := range []struct {
		at   float64
		want []string
	}{
		{1, nil},
		{2, sorted(a+" a@example.com", b+" b@example.com")},
		{3, []string{a + " a@example.com"}},
		{3.6, sorted(a+" a@example.com", c+" c@example.com")},
		{4, []string{a + " a@example.com"}},
	} {
		for _, path := range []string{sgPath, ccPath} {
			if got := members(path, ts(tc.at)); !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("%s members at %s: %q, want %q", path, ts(tc.at), got, tc.want)
			}
		}
	}

	// Errors, each documented.
	old := t0.Add(4*time.Hour - 31*24*time.Hour).Format(time.RFC3339)
	for _, tc := range []struct {
		path   string
		status int
		msg    string
	}{
		{sgPath + "sizes?interval=week", 400, `interval \"week\" must be`},
		{sgPath + "sizes?from=yesterday", 400, `from \"yesterday\" is not an RFC 3339 time`},
		{sgPath + "sizes?from=" + old, 400, "before the oldest time the history keeps"},
		{sgPath + "sizes?from=" + ts(-1000) + "&to=" + ts(4), 400, "at most 1000 are served"},
		{sgPath + "sizes?from=" + ts(2) + "&to=" + ts(1), 400, "to must not be before from"},
		{sgPath + "sizes?from=" + ts(2) + "&to=" + ts(5), 400, "to must not be after now"},
		{sgPath + "transitions?limit=0", 400, "limit"},
		{sgPath + "transitions?limit=1001", 400, "from 1 to 1000"},
		{sgPath + "transitions?cursor=x", 400, "cursor"},
		{sgPath + "transitions?from=" + ts(2) + "&to=" + ts(2), 400, "to must be after from"},
		{sgPath + "transitions?from=" + old, 400, "before the oldest"},
		{sgPath + "membership?contact_id=" + a, 400, "at is required"},
		{sgPath + "membership?at=" + ts(1), 400, "contact_id or email is required"},
		{sgPath + "membership?at=" + ts(1) + "&contact_id=" + a + "&email=a@example.com", 400, "not both"},
		{sgPath + "membership?at=" + ts(5) + "&contact_id=" + a, 400, "at must not be after now"},
		{sgPath + "membership?at=" + ts(1) + "&email=nobody@example.com", 404, `no contact has the email \"nobody@example.com\"`},
		{sgPath + "membership?at=" + ts(3.9) + "&contact_id=nope", 404, `contact \"nope\" does not exist`},
		{sgPath + "members", 400, "at is required"},
		{sgPath + "members?at=" + ts(1) + "&limit=x", 400, "limit"},
		{sgPath + "members?at=" + ts(5), 400, "at must not be after now"},
		{sgPath + "members?at=" + old, 400, "before the oldest"},
		{"/segmentd/v1/segments/mailchimp/1/history/sizes", 404, `vendor \"mailchimp\"`},
		{"/segmentd/v1/segments/sendgrid/nope/history/sizes", 404, `the account has no sendgrid segment \"nope\"`},
		{"/segmentd/v1/segments/constantcontact/999/history/members?at=" + ts(1), 404, "has no constantcontact segment"},
	} {
		want(t, e.call(t, "GET", tc.path, nil), tc.status, tc.msg)
	}
	want(t, e.call(t, "POST", sgPath+"sizes", nil), 405, "use GET, HEAD")
	want(t, e.call(t, "GET", sgPath+"sizes", nil, ""), 401, "authorization required")
	noScope := e.NewKey(segmentd.DefaultAccountName, "", segmentd.ScopeWebhooks)
	want(t, e.call(t, "GET", sgPath+"sizes", nil, noScope), 403, "segmentd.history")
	other := e.NewKey("other", "", segmentd.ScopeHistory)
	want(t, e.call(t, "GET", sgPath+"sizes", nil, other), 404, "has no sendgrid segment")
}

// Without a history (--history-retention=0), the endpoints answer 503 and
// the engine notes nothing for an account without a subscription.
func TestHistoryOff(t *testing.T) {
	e := start(t, hooks.Options{})
	sg := e.segment(t, "adas", "SELECT contact_id, updated_at FROM contact_data WHERE first_name = 'Ada'")
	if e.d.Wants(e.acct) {
		t.Fatal("without history or subscriptions, the dispatcher wants the account's transitions")
	}
	want(t, e.call(t, "GET", "/segmentd/v1/segments/sendgrid/"+sg+"/history/sizes", nil), 503, "keeps no membership history")
	on := start(t, hooks.Options{Retention: time.Hour})
	if !on.d.Wants(on.acct) {
		t.Fatal("with the history kept, the dispatcher does not want every account's transitions")
	}
}

// A replay sends the history's transitions of a range again, with their
// original transition ids, in a message of its own id; it retries like
// any message; one replay runs at a time.
func TestReplay(t *testing.T) {
	e := start(t, hooks.Options{Retention: 30 * 24 * time.Hour, MinDelay: time.Millisecond, MaxDelay: 4 * time.Millisecond})
	e.Clock.Set(t0)
	rc := newReceiver(t)
	e.segment(t, "adas", "SELECT contact_id, updated_at FROM contact_data WHERE first_name = 'Ada'")
	sub := e.subscribe(t, rc, map[string]any{"event_types": []string{"segment.entered"}})
	e.Clock.Set(t0.Add(time.Hour))
	e.upsert(t, "a@example.com", "b@example.com")
	e.Clock.Set(t0.Add(2 * time.Hour))
	e.upsertNamed(t, "b@example.com", "Bob") // an exit: not of the subscription's types
	e.upsert(t, "c@example.com")
	facetest.Poll(t, "3 entries delivered", func() bool { return len(rc.delivered()) == 3 })
	first := rc.delivered()
	e.Clock.Run(t0.Add(2*time.Hour + time.Minute)) // retries wait for the clock

	// Replay the first hour's: a and b's entries, sent again. The receiver
	// fails the first attempt, so the replay is under way meanwhile.
	rc.mu.Lock()
	rc.answers = []int{500}
	rc.mu.Unlock()
	m := want(t, e.call(t, "POST", "/segmentd/v1/webhooks/"+sub+"/replay", map[string]any{"from": ts(0.5), "to": ts(1.5)}), 202, `"segments":[{"vendor":"sendgrid"`)
	if m["replay"].(map[string]any)["from"] != "2030-01-06T10:30:00.000Z" {
		t.Fatalf("replay %v", m)
	}
	facetest.Poll(t, "the replay delivered", func() bool { return len(rc.delivered()) == 5 })
	again := rc.delivered()[3:]
	if again[0].ID != first[0].ID || again[1].ID != first[1].ID || again[0] != first[0] {
		t.Fatalf("replayed\n%+v, want the first two of\n%+v", again, first)
	}
	ms := rc.messages()
	last := ms[len(ms)-1]
	if last.id != "msg_"+sub+"_r1" || ms[len(ms)-2].id != last.id || ms[len(ms)-2].status != 500 {
		t.Fatalf("replay messages: %s after %s (%d)", last.id, ms[len(ms)-2].id, ms[len(ms)-2].status)
	}
	// Once one is done, another may start; while one is under way (the
	// receiver failing everything), 409.
	rc.mu.Lock()
	rc.answers = make([]int, 100000)
	for i := range rc.answers {
		rc.answers[i] = 500
	}
	rc.mu.Unlock()
	facetest.Poll(t, "the first replay finished", func() bool {
		return e.call(t, "POST", "/segmentd/v1/webhooks/"+sub+"/replay", map[string]any{"from": ts(0), "to": ts(3)}).Status == 202
	})
	want(t, e.call(t, "POST", "/segmentd/v1/webhooks/"+sub+"/replay", map[string]any{"from": ts(0), "to": ts(3)}), 409, "has a replay under way")
	rc.mu.Lock()
	rc.answers = nil
	rc.mu.Unlock()
	facetest.Poll(t, "the second replay delivered", func() bool { return len(rc.delivered()) == 8 })

	old := t0.Add(2*time.Hour - 31*24*time.Hour).Format(time.RFC3339)
	for _, tc := range []struct {
		body   any
		status int
		msg    string
	}{
		{map[string]any{"to": ts(1)}, 400, "from is required"},
		{map[string]any{"from": ts(1)}, 400, "to is required"},
		{map[string]any{"from": "x", "to": ts(1)}, 400, `from \"x\" is not an RFC 3339 time`},
		{map[string]any{"from": ts(1), "to": ts(1)}, 400, "to must be after from"},
		{map[string]any{"from": old, "to": ts(1)}, 400, "before the oldest time the history keeps"},
		{map[string]any{"from": ts(1), "to": ts(2), "x": 1}, 400, `unknown key \"x\"`},
		{`{"from":"` + strings.Repeat("a", hooks.MaxBody) + `"}`, 413, "larger than"},
	} {
		want(t, e.call(t, "POST", "/segmentd/v1/webhooks/"+sub+"/replay", tc.body), tc.status, tc.msg)
	}
	want(t, e.call(t, "POST", "/segmentd/v1/webhooks/unknown/replay", map[string]any{"from": ts(1), "to": ts(2)}), 404, "does not exist")
	want(t, e.call(t, "POST", "/segmentd/v1/webhooks/"+sub+"/replay", map[string]any{"from": ts(1), "to": ts(2)}, ""), 401)

	off := start(t, hooks.Options{})
	offSub := off.subscribe(t, newReceiver(t), map[string]any{})
	want(t, off.call(t, "POST", "/segmentd/v1/webhooks/"+offSub+"/replay", map[string]any{"from": ts(1), "to": ts(2)}), 503, "keeps no membership history")
}
