package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/input"
	"github.com/chromedp/cdproto/log"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"

	"github.com/segmentd/segmentd"
)

// The browser tests drive the web console (docs/console.md) in headless
// Chromium from Debian, through the real serve command. This is the one
// package that imports chromedp (deps_test.go).

// browser is a headless Chromium tab on a console, with what went wrong in
// the page (exceptions, CSP refusals, dialogs) collected as it ran.
type browser struct {
	t        testing.TB
	ctx      context.Context
	shots    string // where screenshots go
	mu       sync.Mutex
	problems []string
}

// chromiumPath finds Chromium: $SEGMENTD_CHROMIUM, or chromium on PATH.
// Without one the test is skipped, except under CI=true, where it fails:
// .ci/run installs Debian's chromium, so a missing one is a broken CI.
func chromiumPath(t testing.TB) string {
	t.Helper()
	if p := os.Getenv("SEGMENTD_CHROMIUM"); p != "" {
		return p
	}
	for _, name := range []string{"chromium", "chromium-browser"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if os.Getenv("CI") == "true" {
		t.Fatal("no Chromium: install Debian's chromium package (apt-get install chromium), or name one in SEGMENTD_CHROMIUM")
	}
	t.Skip("no Chromium on this machine (apt-get install chromium, or SEGMENTD_CHROMIUM); the console's browser tests need one")
	return ""
}

// screenshotDir is $SEGMENTD_SCREENSHOTS (created if need be) or a
// temporary directory; it is logged so that a person can look.
func screenshotDir(t testing.TB) string {
	dir := os.Getenv("SEGMENTD_SCREENSHOTS")
	if dir == "" {
		dir = t.TempDir()
	} else if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshots in %s", dir)
	return dir
}

func newBrowser(t testing.TB) *browser {
	t.Helper()
	path := chromiumPath(t)
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(path),
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1366, 900),
		// This machine's network is closed: Chromium's own background
		// connections would only fail.
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("no-first-run", true),
	)
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelTab := chromedp.NewContext(actx)
	deadline, cancelDeadline := context.WithTimeout(ctx, 3*time.Minute)
	t.Cleanup(func() {
		cancelDeadline()
		cancelTab()
		cancelAlloc()
	})
	b := &browser{t: t, ctx: deadline, shots: screenshotDir(t)}
	if err := chromedp.Listen(ctx, b.watch); err != nil {
		t.Fatalf("starting Chromium (%s): %v", path, err)
	}
	return b
}

// watch notes what must never happen on a console page.
func (b *browser) watch(ev any) {
	var p string
	switch ev := ev.(type) {
	case *runtime.EventExceptionThrown:
		p = "exception: " + ev.ExceptionDetails.Text
		if ev.ExceptionDetails.Exception != nil {
			p += " " + ev.ExceptionDetails.Exception.Description
		}
	case *page.EventJavascriptDialogOpening:
		p = "dialog opened: " + ev.Message
	case *log.EventEntryAdded:
		if ev.Entry.Source == log.EntrySourceSecurity || ev.Entry.Level == log.EntryLevelError && !strings.Contains(ev.Entry.Text, "status of 40") {
			p = "console log: " + ev.Entry.Text
		}
	}
	if p != "" {
		b.mu.Lock()
		b.problems = append(b.problems, p)
		b.mu.Unlock()
	}
}

// check fails the test if the page threw, logged a security refusal or
// opened a dialog.
func (b *browser) check() {
	b.t.Helper()
	b.mu.Lock()
	defer b.mu.Unlock()
	if len(b.problems) > 0 {
		b.t.Fatalf("the page went wrong:\n%s", strings.Join(b.problems, "\n"))
	}
}

func (b *browser) do(what string, steps ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	if err := chromedp.Do(b.ctx, steps...); err != nil {
		b.shot("failed-" + strings.ReplaceAll(what, " ", "-"))
		b.t.Fatalf("%s: %v", what, err)
	}
}

// text returns an element's text content.
func (b *browser) text(sel string) string {
	b.t.Helper()
	s, err := chromedp.Run(b.ctx, chromedp.TextContent(chromedp.CSS(sel)))
	if err != nil {
		b.t.Fatalf("text of %s: %v", sel, err)
	}
	return strings.TrimSpace(s)
}

// eval returns a JavaScript expression's value.
func eval[T any](b *browser, expr string) T {
	b.t.Helper()
	v, err := chromedp.Run(b.ctx, chromedp.Evaluate[T](expr))
	if err != nil {
		b.t.Fatalf("%s: %v", expr, err)
	}
	return v
}

// wait polls a JavaScript predicate until it holds (30 seconds at most:
// the machines the tests run on may be busy).
func (b *browser) wait(what, predicate string) {
	b.t.Helper()
	if _, err := chromedp.Run(b.ctx, chromedp.Poll[chromedp.Void](predicate, chromedp.WithPollingTimeout(30*time.Second), chromedp.WithPollingInterval(10*time.Millisecond))); err != nil {
		b.shot("failed-" + strings.ReplaceAll(what, " ", "-"))
		b.t.Fatalf("waiting for %s (%s): %v", what, predicate, err)
	}
}

// shot saves a PNG of the whole page as name.png.
func (b *browser) shot(name string) string {
	b.t.Helper()
	png, err := chromedp.Run(b.ctx, chromedp.FullScreenshot(100))
	if err != nil {
		b.t.Logf("screenshot %s: %v", name, err)
		return ""
	}
	path := filepath.Join(b.shots, name+".png")
	if err := os.WriteFile(path, png, 0o644); err != nil {
		b.t.Fatal(err)
	}
	b.t.Logf("screenshot %s", path)
	return path
}

// press sends one key's down and up, as a keyboard does. (SendKeys
// also sends Enter's character as an event of its own, which the page
// cannot cancel by cancelling the key's keydown, as it can a real one.)
func press(key string, code int64) chromedp.Action[chromedp.Void] {
	return chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
		for _, typ := range []input.DispatchKeyEventType{input.DispatchKeyEventTypeKeyDown, input.DispatchKeyEventTypeKeyUp} {
			if _, err := cdp.Call(ctx, t, input.DispatchKeyEvent, input.DispatchKeyEventParams{Type: typ, Key: key, Code: key,
				WindowsVirtualKeyCode: code, NativeVirtualKeyCode: code}); err != nil {
				return err
			}
		}
		return nil
	})
}

// typeQuery replaces the editor's query with q, typed key by key.
func (b *browser) typeQuery(q string) {
	b.t.Helper()
	b.do("select the query", chromedp.Evaluate[chromedp.Void](`document.getElementById("seg-query").select()`),
		keys(chromedp.ID("seg-query"), kb.Delete), keys(chromedp.ID("seg-query"), q))
}

// waitCount waits until the editor's count answers its current query and
// returns it (with the thousands separators taken out).
func (b *browser) waitCount() int {
	b.t.Helper()
	b.wait("the count of the typed query", `(() => { const c = document.getElementById("seg-count"); const q = document.getElementById("seg-query");
		return c.dataset.query === q.value && document.getElementById("seg-error").textContent === "" && c.textContent !== "—"; })()`)
	n, err := strconv.Atoi(strings.ReplaceAll(b.text("#seg-count"), ",", ""))
	if err != nil {
		b.t.Fatalf("count on screen: %v", err)
	}
	return n
}

// seedConsole makes the data the console tests look at: a custom field,
// a list, 60 contacts (one with markup in its name), and returns the list
// id.
func seedConsole(t testing.TB, s liveServer) (listID string) {
	t.Helper()
	field := mustCall(t, s, s.key, "POST", "/v3/marketing/field_definitions", `{"name":"plan","field_type":"Text"}`, 200)["id"].(string)
	listID = mustCall(t, s, s.key, "POST", "/v3/marketing/lists", `{"name":"VIP customers"}`, 201)["id"].(string)
	var cs []string
	for i := range 60 {
		country := []string{"US", "FR", "DE"}[i%3]
		plan := []string{"pro", "free"}[i%2]
		first := "Person" + strconv.Itoa(i)
		if i == 7 {
			first = `<img src=x onerror=alert(1)>`
		}
		c, _ := json.Marshal(map[string]any{"email": fmt.Sprintf("p%02d@example.com", i), "first_name": first, "country": country,
			"custom_fields": map[string]any{field: plan}})
		cs = append(cs, string(c))
	}
	runJob(t, s, s.key, "PUT", "/v3/marketing/contacts", `{"contacts":[`+strings.Join(cs[:30], ",")+`]}`)
	runJob(t, s, s.key, "PUT", "/v3/marketing/contacts", `{"list_ids":["`+listID+`"],"contacts":[`+strings.Join(cs[30:], ",")+`]}`)
	ev := fmt.Sprintf(`[{"email":"p30@example.com","event":"open","timestamp":%d,"sg_event_id":"console-1"}]`, time.Now().Add(-time.Hour).Unix())
	if code, out := call(t, s, s.key, "POST", "/webhooks/sendgrid/events", ev); code != 200 {
		t.Fatalf("posting an event: %d %s", code, out)
	}
	return listID
}

// searchCount is what the contacts search API counts for an SGQL query.
func searchCount(t testing.TB, s liveServer, q string) int {
	t.Helper()
	b, _ := json.Marshal(map[string]string{"query": q})
	return int(mustCall(t, s, s.key, "POST", "/v3/marketing/contacts/search", string(b), 200)["contact_count"].(float64))
}

// TestConsoleInBrowser signs in, builds a segment with live counts (an
// error marked where it is, a field name completed), saves it, finds it
// listed with the count the API gives, and opens a contact to see its
// segments; every page is screenshotted.
func TestConsoleInBrowser(t *testing.T) {
	b := newBrowser(t)
	s, _ := startInProcess(t, []string{"--addr", "127.0.0.1:0", "--data", t.TempDir()}, nil)
	listID := seedConsole(t, s)
	cc := `{"version":"1.0.0","criteria":{"type":"and","group":[{"source":"list_membership","field":"list_id","op":"contains-any","const_value":"` + listID + `"}]}}`
	ccBody, _ := json.Marshal(map[string]string{"name": "VIP (Constant Contact)", "segment_criteria": cc})
	code, out := call(t, s, s.key, "POST", "/v3/segments", string(ccBody))
	if code != 201 {
		t.Fatalf("POST /v3/segments: %d %s", code, out)
	}

	// Sign in: the key goes to sessionStorage, never into the URL.
	b.do("open the console", chromedp.Navigate(s.url+"/console/"), chromedp.WaitVisible(chromedp.ID("signin-key")))
	b.shot("01-sign-in")
	b.do("sign in", keys(chromedp.ID("signin-key"), s.key), chromedp.Click(chromedp.CSS("#signin-form button")))
	b.wait("the segments page", `document.querySelector("[data-page=segments]") !== null`)
	if loc := eval[string](b, "location.href"); strings.Contains(loc, s.key) {
		t.Fatalf("the key is in the URL: %s", loc)
	}

	// The editor: the count follows the query as it is typed.
	b.do("open the editor", chromedp.Click(chromedp.CSS(`.top nav a[href="/console/segments/new"]`)), chromedp.WaitVisible(chromedp.ID("seg-query")))
	b.do("name the segment", keys(chromedp.ID("seg-name"), "US pro customers"))
	const us = "SELECT contact_id, updated_at\nFROM contact_data\nWHERE country = 'US'"
	b.typeQuery(us)
	if got, want := b.waitCount(), searchCount(t, s, "country = 'US'"); got != want || want != 20 {
		t.Fatalf("2.0 count on screen %d, the API counts %d (want 20)", got, want)
	}
	b.typeQuery(us + " AND plan = 'pro'")
	if got := b.waitCount(); got != 10 {
		t.Fatalf("2.0 count on screen %d, want 10", got)
	}
	b.shot("02-editor-live-count")
	b.do("choose criteria", chromedp.SetValue(chromedp.ID("seg-lang"), "cc"))
	b.typeQuery(cc)
	if got := b.waitCount(); got != 30 {
		t.Fatalf("criteria count on screen %d, want 30", got)
	}
	b.do("choose SGQL", chromedp.SetValue(chromedp.ID("seg-lang"), "sgql"))
	b.typeQuery("country = 'US'")
	if got, want := b.waitCount(), searchCount(t, s, "country = 'US'"); got != want || want != 20 {
		t.Fatalf("count on screen %d, the API counts %d (want 20)", got, want)
	}
	b.typeQuery("country = 'US' AND plan = 'pro'")
	if got, want := b.waitCount(), searchCount(t, s, "country = 'US' AND plan = 'pro'"); got != want || want != 10 {
		t.Fatalf("count on screen %d, the API counts %d (want 10)", got, want)
	}

	// An error is marked at its line and column with segmentd's message.
	b.typeQuery("country = 'US' AND\n  plann = 'pro'")
	// (A preview of a query typed halfway may show its own error first.)
	b.wait("the error marked", `document.getElementById("seg-count").dataset.query === document.getElementById("seg-query").value &&
		document.getElementById("seg-mark")?.textContent === "plann"`)
	if msg := b.text("#seg-error"); msg != "2:3: unknown column 'plann'" {
		t.Fatalf("error shown %q, want segmentd's message at 2:3 naming plann", msg)
	}
	if inv := eval[string](b, `document.getElementById("seg-query").getAttribute("aria-invalid")`); inv != "true" {
		t.Fatalf("aria-invalid = %q", inv)
	}
	b.shot("03-editor-error")

	// Completion: a custom field's name, accepted with Enter.
	b.typeQuery("country = 'US' AND pl")
	b.wait("the completions", `!document.getElementById("seg-complete").hidden`)
	if got := b.text("#seg-complete li[aria-selected=true]"); !strings.HasPrefix(got, "plan") {
		t.Fatalf("first completion %q, want plan", got)
	}
	b.shot("04-editor-completion")
	b.do("accept the completion", press("Enter", 13), keys(chromedp.ID("seg-query"), " = 'free'"))
	if q := eval[string](b, `document.getElementById("seg-query").value`); q != "country = 'US' AND plan = 'free'" {
		t.Fatalf("query after completion %q", q)
	}
	if got := b.waitCount(); got != 10 {
		t.Fatalf("count after completion %d, want 10", got)
	}
	// A list by its name: the list's id goes in.
	b.typeQuery("CONTAINS(list_ids, 'VI")
	b.wait("the list completion", `!document.getElementById("seg-complete").hidden`)
	if got := b.text("#seg-complete li[aria-selected=true]"); !strings.HasPrefix(got, "VIP customers") {
		t.Fatalf("list completion %q, want VIP customers", got)
	}
	b.do("accept the list", press("Enter", 13), keys(chromedp.ID("seg-query"), "')"))
	if q := eval[string](b, `document.getElementById("seg-query").value`); q != "CONTAINS(list_ids, '"+listID+"')" {
		t.Fatalf("query after the list's completion %q", q)
	}
	if got := b.waitCount(); got != 30 {
		t.Fatalf("count of the list %d, want 30", got)
	}
	b.do("save in SGQL", chromedp.Click(chromedp.ID("seg-save")))
	b.wait("the v1 refusal", `document.getElementById("seg-error").textContent.includes("SendGrid no longer creates or changes v1 (SGQL) segments")`)

	// Save a 2.0 segment through SendGrid's API; a bad query is refused
	// with its position marked.
	b.do("choose 2.0 SQL", chromedp.SetValue(chromedp.ID("seg-lang"), "sql"))
	b.typeQuery("SELECT contact_id, updated_at FROM contact_data WHERE countryy = 'US'")
	b.do("save the bad query", chromedp.Click(chromedp.ID("seg-save")))
	b.wait("the refusal marked", `document.getElementById("seg-error").textContent.startsWith("Not saved: ") &&
		document.getElementById("seg-mark")?.textContent === "countryy"`)
	b.typeQuery(us + " AND plan = 'pro'")
	b.do("save", chromedp.Click(chromedp.ID("seg-save")))
	b.wait("the segment page", `document.querySelector("[data-page=segment]") !== null`)
	segID := strings.TrimPrefix(eval[string](b, "location.pathname"), "/console/segments/sg/")
	seg := mustCall(t, s, s.key, "GET", "/v3/marketing/segments/2.0/"+segID, "", 200)
	if got, want := b.text("#segment-count"), strconv.Itoa(int(seg["contacts_count"].(float64))); got != want || want != "10" {
		t.Fatalf("segment page count %s, the API says %s (want 10)", got, want)
	}
	// Its size over time, from the membership history.
	b.wait("the size chart", `document.querySelector("figure.chart polyline") !== null`)
	if got := b.text("figure.chart figcaption"); !strings.HasSuffix(got, "10 at the end.") {
		t.Fatalf("the chart's caption %q", got)
	}
	// Why a contact is in it, clause by clause.
	b.do("explain a contact", keys(chromedp.ID("explain-contact"), "p30@example.com"), chromedp.Click(chromedp.CSS("#explain-form button")))
	b.wait("the explanation", `document.getElementById("explanation") !== null`)
	if got := b.text("#explanation p"); !strings.Contains(got, "is a member") {
		t.Fatalf("the explanation reads %q", got)
	}
	b.shot("05-segment")

	// Listed, with the count the API gives, beside Constant Contact's.
	b.do("open the segments", chromedp.Click(chromedp.CSS(`.top nav a[href="/console/segments"]`)))
	b.wait("the list", `document.querySelector("[data-page=segments]") !== null`)
	row := eval[string](b, `[...document.querySelectorAll("table.segments tbody tr")].map(r => r.querySelector("th").textContent + "=" + r.querySelector(".count").textContent).join(";")`)
	if want := "US pro customers=10;VIP (Constant Contact)=30"; row != want {
		t.Fatalf("segments listed %q, want %q", row, want)
	}
	b.shot("06-segments")

	// A contact: found by email, with its fields, list and segments. Its
	// markup-bearing name is shown as text.
	b.do("open the contacts", chromedp.Click(chromedp.CSS(`.top nav a[href="/console/contacts"]`)), chromedp.WaitVisible(chromedp.ID("contact-q")))
	b.do("search by email", keys(chromedp.ID("contact-q"), "p30@example.com"), chromedp.Click(chromedp.CSS("#contact-search button")))
	// The contacts page already lists a sample of contacts, and the URL
	// changes as the search is sent, before its answer arrives: only the
	// answer's own rows show the search is done (clicking earlier opens a
	// sampled contact, and the answer is then dropped as stale).
	b.wait("the result", `[...document.querySelectorAll("table.contacts a")].map(a => a.textContent).join() === "p30@example.com"`)
	b.do("open the contact", chromedp.Click(chromedp.CSS("table.contacts a")))
	b.wait("the contact page", `document.getElementById("contact-segments") !== null`)
	if got := b.text("#contact-segments"); !strings.Contains(got, "US pro customers (SendGrid)") || !strings.Contains(got, "VIP (Constant Contact) (Constant Contact)") {
		t.Fatalf("contact's segments %q", got)
	}
	if got := b.text("#contact-lists"); !strings.Contains(got, "VIP customers") {
		t.Fatalf("contact's lists %q", got)
	}
	if got := b.text("table.events td"); got != "open" {
		t.Fatalf("the contact's latest event reads %q, want open", got)
	}
	b.shot("07-contact")
	b.do("search by SGQL", chromedp.Navigate(s.url+"/console/contacts?mode=sgql&q=first_name+LIKE+%27%25img%25%27"))
	b.wait("the search", `document.getElementById("contacts-total") !== null`)
	if got := b.text("table.contacts td"); got != `<img src=x onerror=alert(1)>` {
		t.Fatalf("the markup name shows as %q", got)
	}

	b.do("open the lists", chromedp.Click(chromedp.CSS(`.top nav a[href="/console/lists"]`)))
	b.wait("the lists", `document.querySelector("table.lists .count") !== null`)
	if got := b.text("table.lists .count"); got != "30" {
		t.Fatalf("list count %s, want 30", got)
	}
	b.do("open the server page", chromedp.Click(chromedp.CSS(`.top nav a[href="/console/server"]`)))
	b.wait("the jobs", `document.querySelectorAll("table.jobs tbody tr").length === 2`)
	if got := b.text("table.metrics"); !strings.Contains(got, "segmentd_jobs_finished_total") {
		t.Fatalf("the server page shows no job counters: %.300s", got)
	}
	b.shot("08-server")

	// Signing out forgets the key.
	b.do("sign out", chromedp.Click(chromedp.ID("signout")), chromedp.WaitVisible(chromedp.ID("signin-key")))
	if k := eval[string](b, `sessionStorage.getItem("segmentd.console.key") || ""`); k != "" {
		t.Fatalf("the key is still kept: %q", k)
	}
	b.check()
}

// choose picks the option of a select by the name it shows, as a person
// reading the names does, and tells the page (a change event, as the
// browser sends when the keyboard changes a select).
func choose(id, name string) chromedp.Action[chromedp.Void] {
	return chromedp.Evaluate[chromedp.Void](fmt.Sprintf(`(() => { const s = document.getElementById(%q);
		const o = [...s.options].find(o => o.textContent === %q);
		if (!o) throw new Error("no option " + %q + " in " + s.id);
		s.value = o.value; s.dispatchEvent(new Event("change", {bubbles: true})); })()`, id, name, name))
}

// TestConsoleCriteriaForm builds Constant Contact criteria with the
// editor's form (a custom field, a list and a tag, each chosen by name),
// sees the live count follow as the API's preview counts, a check error
// shown beside its condition, the JSON and the form follow each other,
// and saves: the stored segment_criteria is the JSON the form showed, and
// the segment's members are the contacts the conditions describe.
func TestConsoleCriteriaForm(t *testing.T) {
	b := newBrowser(t)
	s, _ := startInProcess(t, []string{"--addr", "127.0.0.1:0", "--data", t.TempDir()}, nil)
	seedConsole(t, s) // p00…p59: plan pro when even, on "VIP customers" from p30
	c := ccClient{t: t, url: s.url, key: s.key}
	mustCall(t, s, s.key, "POST", "/v3/marketing/lists", `{"name":"Other list"}`, 201)
	gold := c.must("POST", "/v3/contact_tags", `{"name":"Gold"}`, 201)["tag_id"].(string)
	c.must("POST", "/v3/contact_tags", `{"name":"Silver"}`, 201)
	var emails, ids []string
	for i := 30; i < 42; i++ {
		emails = append(emails, fmt.Sprintf("p%02d@example.com", i))
	}
	q, _ := json.Marshal(map[string][]string{"emails": emails})
	for _, r := range mustCall(t, s, s.key, "POST", "/v3/marketing/contacts/search/emails", string(q), 200)["result"].(map[string]any) {
		ids = append(ids, r.(map[string]any)["contact"].(map[string]any)["id"].(string))
	}
	tagging, _ := json.Marshal(map[string]any{"source": map[string]any{"contact_ids": ids}, "tag_ids": []string{gold}})
	if a := c.waitActivity(c.must("POST", "/v3/activities/contacts_taggings_add", string(tagging), 201)["activity_id"].(string)); a["state"] != "completed" {
		t.Fatalf("tagging: %v", a)
	}
	// pro, on VIP customers, tagged Gold: p30, p32, …, p40.
	want := []string{"p30@example.com", "p32@example.com", "p34@example.com", "p36@example.com", "p38@example.com", "p40@example.com"}

	b.do("open the console", chromedp.Navigate(s.url+"/console/"), chromedp.WaitVisible(chromedp.ID("signin-key")),
		keys(chromedp.ID("signin-key"), s.key), chromedp.Click(chromedp.CSS("#signin-form button")))
	b.wait("the segments page", `document.querySelector("[data-page=segments]") !== null`)
	b.do("open the criteria editor", chromedp.Navigate(s.url+"/console/segments/new?language=cc"))
	b.wait("the form", `document.getElementById("cc-criteria-add") !== null`)
	b.do("name the segment", keys(chromedp.ID("seg-name"), "Gold pro VIPs"))

	// Each condition is added from the keyboard (Enter on the button), and
	// its field, list or tag chosen by name.
	b.do("add a custom field condition", keys(chromedp.ID("cc-criteria-add"), kb.Enter))
	b.wait("the new condition focused", `document.activeElement.id === "cc-criteria-0-kind"`)
	b.do("choose the custom field", choose("cc-criteria-0-kind", "Custom field"), choose("cc-criteria-0-param", "plan"),
		choose("cc-criteria-0-op", "is"), keys(chromedp.ID("cc-criteria-0-const_value"), "pro"))
	b.do("add a list condition", keys(chromedp.ID("cc-criteria-add"), kb.Enter),
		choose("cc-criteria-1-kind", "List membership"), choose("cc-criteria-1-const_value", "VIP customers"))
	b.do("add a tag condition", keys(chromedp.ID("cc-criteria-add"), kb.Enter),
		choose("cc-criteria-2-kind", "Tag"), choose("cc-criteria-2-const_value", "Gold"))
	got := b.waitCount()
	shown := eval[string](b, `document.getElementById("seg-query").value`)
	preview, _ := json.Marshal(map[string]string{"segment_criteria": shown})
	if api := mustCall(t, s, s.key, "POST", "/segmentd/v1/preview", string(preview), 200)["contacts_count"]; got != len(want) || api != float64(got) {
		t.Fatalf("the form's count %d, the API's preview of its JSON %v, want %d\n%s", got, api, len(want), shown)
	}
	for _, part := range []string{`"type":"and"`, `{"source":"contact","field":"custom_field","param":"`,
		`{"source":"list_membership","field":"list_id","op":"contains-any","const_value":"`, `{"source":"tags","field":"tag_id","op":"contains-any","const_value":"` + gold + `"}`} {
		if !strings.Contains(shown, part) {
			t.Fatalf("the form's JSON lacks %s:\n%s", part, shown)
		}
	}
	b.shot("cc-01-criteria-form")

	// Email activity, in a group of its own, then removed again.
	b.do("add a group", keys(chromedp.ID("cc-criteria-add"), kb.Enter), keys(chromedp.ID("cc-criteria-addgroup"), kb.Enter))
	b.wait("the group's first control focused", `document.activeElement.id === "cc-criteria-4-type"`)
	b.do("remove the extra condition", keys(chromedp.ID("cc-criteria-3-remove"), kb.Enter))
	b.do("choose email activity", choose("cc-criteria-3-0-kind", "Email activity"), choose("cc-criteria-3-0-field", "opened"),
		chromedp.Evaluate[chromedp.Void](`document.getElementById("cc-criteria-3-0-param").select()`), keys(chromedp.ID("cc-criteria-3-0-param"), "3"),
		choose("cc-criteria-3-0-const_date_value", "in the last N days"))
	b.wait("the activity in the JSON", `document.getElementById("seg-query").value.includes(`+"`"+`{"type":"or","group":[
    {"source":"tracking","field":"opened","op":"contains-any","const_value":"last-n-campaigns","param":"3","const_date_value":"last-n-days","date_param":"30"}]}`+"`"+`)`)
	// No event names a campaign, so nobody opened one of the last 3.
	got = b.waitCount()
	preview, _ = json.Marshal(map[string]string{"segment_criteria": eval[string](b, `document.getElementById("seg-query").value`)})
	if api := mustCall(t, s, s.key, "POST", "/segmentd/v1/preview", string(preview), 200)["contacts_count"]; got != 0 || api != float64(got) {
		t.Fatalf("with the activity: the form's count %d, the API's %v, want 0", got, api)
	}
	b.do("remove the group", keys(chromedp.ID("cc-criteria-3-remove"), kb.Enter))
	b.wait("the focus back on Add condition", `document.activeElement.id === "cc-criteria-add"`)
	if got, v := b.waitCount(), eval[string](b, `document.getElementById("seg-query").value`); got != len(want) || v != shown {
		t.Fatalf("after removing the group: count %d, JSON\n%s\nwant %d and\n%s", got, v, len(want), shown)
	}

	// A check error is shown beside the condition its path names.
	b.do("empty the value", chromedp.Evaluate[chromedp.Void](`document.getElementById("cc-criteria-0-const_value").select()`),
		keys(chromedp.ID("cc-criteria-0-const_value"), kb.Delete))
	b.wait("the error at the condition", `document.getElementById("cc-criteria-0-problem").textContent.includes("criteria.group[0].const_value: must not be empty") &&
		document.getElementById("cc-criteria-0-const_value").getAttribute("aria-invalid") === "true"`)
	b.shot("cc-02-criteria-error")
	b.do("retype the value", keys(chromedp.ID("cc-criteria-0-const_value"), "pro"))
	if got := b.waitCount(); got != len(want) {
		t.Fatalf("count after retyping %d, want %d", got, len(want))
	}

	// The JSON edited: the form follows; JSON the form cannot show is said
	// so and left as it is.
	b.do("edit the JSON", chromedp.SetValue(chromedp.ID("seg-query"), strings.Replace(shown, `"contains-any","const_value":"`+gold, `"contains-none","const_value":"`+gold, 1)))
	b.wait("the form following", `document.getElementById("cc-criteria-2-op").value === "contains-none"`)
	if got := b.waitCount(); got != 9 { // pro on the list, not Gold: p42 … p58
		t.Fatalf("count without Gold %d, want 9", got)
	}
	odd := strings.Replace(shown, `"source":"tags"`, `"source":"tags","color":"red"`, 1)
	b.do("write what the form cannot show", chromedp.SetValue(chromedp.ID("seg-query"), odd))
	b.wait("the form saying so", `document.getElementById("cc-form-note").textContent.includes("cannot show") &&
		document.getElementById("cc-form-body").childElementCount === 0`)
	if v := eval[string](b, `document.getElementById("seg-query").value`); v != odd {
		t.Fatalf("the JSON the form cannot show was changed:\n%s", v)
	}
	b.do("restore the JSON", chromedp.SetValue(chromedp.ID("seg-query"), shown))
	b.wait("the form back", `document.getElementById("cc-criteria-2-op")?.value === "contains-any"`)
	if got := b.waitCount(); got != len(want) {
		t.Fatalf("count after restoring %d, want %d", got, len(want))
	}

	// Saved through Constant Contact's API: what is stored is what the
	// form showed, and the members are the ones described.
	b.do("save", chromedp.Click(chromedp.ID("seg-save")))
	b.wait("the segment page", `document.querySelector("[data-page=segment]") !== null`)
	id := strings.TrimPrefix(eval[string](b, "location.pathname"), "/console/segments/cc/")
	seg := c.must("GET", "/v3/segments/"+id, "", 200)
	if seg["segment_criteria"] != shown || seg["name"] != "Gold pro VIPs" {
		t.Fatalf("stored %v %q, want the form's JSON:\n%s", seg["name"], seg["segment_criteria"], shown)
	}
	var members []string
	for _, m := range c.must("GET", "/v3/contacts?segment_id="+id+"&limit=500", "", 200)["contacts"].([]any) {
		members = append(members, m.(map[string]any)["email_address"].(map[string]any)["address"].(string))
	}
	slices.Sort(members)
	if !slices.Equal(members, want) {
		t.Fatalf("members %v, want %v", members, want)
	}
	if got := b.text("#segment-count"); got != strconv.Itoa(len(want)) {
		t.Fatalf("segment page count %s, want %d", got, len(want))
	}

	// Edited: the form shows the stored criteria; a change is saved with
	// PUT /v3/segments/{id}.
	b.do("edit the segment", chromedp.Click(chromedp.CSS(`a[href="/console/segments/edit?cc=`+id+`"]`)))
	b.wait("the form of the stored criteria", `document.getElementById("cc-criteria-2-const_value")?.selectedOptions[0]?.textContent === "Gold"`)
	b.do("exclude Gold", choose("cc-criteria-2-op", "does not have the tag"))
	if got := b.waitCount(); got != 9 {
		t.Fatalf("count without Gold %d, want 9", got)
	}
	edited := eval[string](b, `document.getElementById("seg-query").value`)
	b.do("save the change", chromedp.Click(chromedp.ID("seg-save")))
	b.wait("the segment page again", `document.querySelector("[data-page=segment]") !== null`)
	if seg := c.must("GET", "/v3/segments/"+id, "", 200); seg["segment_criteria"] != edited || !strings.Contains(edited, `"op":"contains-none","const_value":"`+gold) {
		t.Fatalf("stored after the edit %q, want the form's\n%s", seg["segment_criteria"], edited)
	}
	if got := b.text("#segment-count"); got != "9" {
		t.Fatalf("segment page count after the edit %s, want 9", got)
	}
	b.check()
}

// BenchmarkConsoleLiveCount measures the live count as a person types:
// the time from the last keystroke's input event to the count drawn on
// screen, measured in the page (the editor's 40 ms debounce included),
// with the server's own preview time beside it. Each iteration retypes
// the country at the end of a 2.0 query, as a person editing it would. It
// runs on 10,000 contacts loaded through the API, or on the data directory
// SEGMENTD_BENCH_DATA names (one loaded by segmentd bench segments, such as
// 1,000,000 contacts: docs/console.md, "Live-count latency").
// debounceMS is the editor's wait after a keystroke (console.js
// DEBOUNCE_MS).
const debounceMS = 40

func BenchmarkConsoleLiveCount(b *testing.B) {
	br := newBrowser(b)
	const key = "SG.console-bench-key"
	data, loaded := os.LookupEnv("SEGMENTD_BENCH_DATA")
	if !loaded {
		data = b.TempDir()
	}
	s, _ := startInProcess(b, []string{"--addr", "127.0.0.1:0", "--data", data, "--api-key", key, "--snapshot-interval", "0"}, nil)
	s.key = key
	contacts := 0
	if !loaded {
		for i := 0; i < 10_000; i += segmentd.MaxUpsertContacts {
			var cs []string
			for j := i; j < min(i+segmentd.MaxUpsertContacts, 10_000); j++ {
				cs = append(cs, fmt.Sprintf(`{"email":"c%d@%s","country":"%s"}`, j, []string{"gmail.com", "example.com"}[j%2], []string{"US", "FR", "DE", "GB"}[j%4]))
			}
			runJob(b, s, key, "PUT", "/v3/marketing/contacts", `{"contacts":[`+strings.Join(cs, ",")+`]}`)
		}
	}
	contacts = int(mustCall(b, s, key, "GET", "/v3/marketing/contacts/count", "", 200)["contact_count"].(float64))
	br.do("open the console", chromedp.Navigate(s.url+"/console/"), chromedp.WaitVisible(chromedp.ID("signin-key")),
		keys(chromedp.ID("signin-key"), key), chromedp.Click(chromedp.CSS("#signin-form button")))
	br.wait("the segments page", `document.querySelector("[data-page=segments]") !== null`)
	br.do("open the editor", chromedp.Click(chromedp.CSS(`.top nav a[href="/console/segments/new"]`)), chromedp.WaitVisible(chromedp.ID("seg-query")))
	for _, bm := range []struct{ name, query string }{
		{"equality", "SELECT contact_id, updated_at FROM contact_data WHERE country = 'US'"},
		{"like", "SELECT contact_id, updated_at FROM contact_data WHERE email LIKE '%@gmail.com' AND country = 'US'"},
	} {
		b.Run(bm.name, func(b *testing.B) {
			br.t = b
			liveCount(b, br, contacts, bm.query)
		})
	}
}

// liveCount types query, then retypes the country at its end b.N times,
// and reports the latencies.
func liveCount(b *testing.B, br *browser, contacts int, query string) {
	br.typeQuery(query)
	br.waitCount()
	countries := []string{"FR'", "DE'", "GB'", "US'"}
	var latency, took, trip []float64
	b.ResetTimer()
	for i := range b.N {
		// Retype the country's code and its closing quote.
		br.do("retype", press("Backspace", 8), press("Backspace", 8), press("Backspace", 8),
			keys(chromedp.ID("seg-query"), countries[i%len(countries)]))
		br.wait("the count", `(() => { const e = document.querySelector("[data-page=editor]");
			return e.dataset.latencyFor === document.getElementById("seg-query").value; })()`)
		latency = append(latency, eval[float64](br, `+document.querySelector("[data-page=editor]").dataset.latencyMs`))
		took = append(took, eval[float64](br, `+document.querySelector("[data-page=editor]").dataset.tookMs`))
		trip = append(trip, eval[float64](br, `(d => d.answeredAfterMs - d.askedAfterMs)(document.querySelector("[data-page=editor]").dataset)`))
	}
	b.StopTimer()
	br.check()
	slices.Sort(latency)
	slices.Sort(took)
	slices.Sort(trip)
	q := func(xs []float64, p float64) float64 { return xs[min(len(xs)-1, int(p*float64(len(xs))))] }
	b.ReportMetric(q(latency, 0.5), "ms-to-screen-p50")
	b.ReportMetric(q(latency, 0.9), "ms-to-screen-p90")
	b.ReportMetric(q(trip, 0.5), "ms-request-p50")
	b.ReportMetric(q(took, 0.5), "ms-preview-p50")
	b.Logf("%d contacts, %d keystroke sequences: keystroke to count on screen p50 %.1f ms, p90 %.1f ms, max %.1f ms; "+
		"the request (sent %d ms after the last keystroke) p50 %.1f ms, the server's preview in it p50 %.2f ms",
		contacts, len(latency), q(latency, 0.5), q(latency, 0.9), latency[len(latency)-1], debounceMS, q(trip, 0.5), q(took, 0.5))
}

// keys focuses the element sel names and types text into it, key by key,
// as chromedp.SendKeys does, but without reading the node's attributes
// (SendKeys reads them, to tell a file input, while chromedp's event loop
// writes them as the page changes them: a data race in chromedp that
// -race reports).
func keys[S chromedp.Selectable](sel S, text string) chromedp.Action[chromedp.Void] {
	return func(ctx context.Context, t *chromedp.Target) (chromedp.Void, error) {
		if _, err := chromedp.Focus(sel)(ctx, t); err != nil {
			return chromedp.Void{}, err
		}
		return chromedp.KeyEvent(text)(ctx, t)
	}
}
