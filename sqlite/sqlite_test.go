package sqlite

import (
	"bufio"
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/segmentd/segmentd"
	"github.com/segmentd/segmentd/storetest"
)

func openTemp(t *testing.T) *Store {
	t.Helper()
	s, err := Open(t.Context(), filepath.Join(t.TempDir(), "segmentd.db"))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestContract(t *testing.T) {
	storetest.Run(t, func(t *testing.T) segmentd.Store { return openTemp(t) })
}

var testNow = time.Date(2026, 2, 3, 4, 5, 6, 789_000_000, time.UTC)

func str(s string) *string { return &s }

// fill writes one of everything into s and returns the account.
func fill(t *testing.T, s *Store) segmentd.Account {
	t.Helper()
	ctx := t.Context()
	a, err := s.CreateAccount(ctx, "acme", 0, testNow)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.CreateAccount(ctx, "acme-sub", a.ID, testNow); err != nil {
		t.Fatal(err)
	}
	if _, err := s.CreateAPIKey(ctx, segmentd.APIKey{AccountID: a.ID, Name: "k", Hash: segmentd.HashAPIKey("SG.x.y"),
		Scopes: segmentd.AllScopes, CreatedAt: testNow}); err != nil {
		t.Fatal(err)
	}
	w, err := s.CreateFieldDefinition(ctx, a.ID, "nick", segmentd.FieldText, 10, testNow)
	if err != nil {
		t.Fatal(err)
	}
	d, err := s.CreateFieldDefinition(ctx, a.ID, "born", segmentd.FieldDate, 10, testNow)
	if err != nil {
		t.Fatal(err)
	}
	l, err := s.CreateList(ctx, a.ID, "news", testNow)
	if err != nil {
		t.Fatal(err)
	}
	var ps []segmentd.ContactPatch
	for i := range 50 {
		ps = append(ps, segmentd.ContactPatch{
			Email: str(fmt.Sprintf("c%02d@example.com", i)), FirstName: str("F"), Country: str(""),
			AlternateEmails: &[]string{fmt.Sprintf("alt%02d@example.com", i)},
			CustomFields: map[string]*segmentd.Value{
				w.ID: {Type: segmentd.FieldText, Text: "n"},
				d.ID: {Type: segmentd.FieldDate, Time: testNow.AddDate(-30, 0, i)},
			},
		})
	}
	if _, err := s.UpsertContacts(ctx, a.ID, ps, []string{l.ID}, testNow); err != nil {
		t.Fatal(err)
	}
	j := segmentd.Job{ID: segmentd.NewID(), AccountID: a.ID, Type: segmentd.JobUpsert, Requested: 50, Created: 50, StartedAt: testNow}
	j.Finish(testNow)
	if err := s.CreateJob(ctx, j); err != nil {
		t.Fatal(err)
	}
	return a
}

// everything reads what an account holds through the Store interface.
func everything(t *testing.T, s *Store, acct int64) map[string]any {
	t.Helper()
	ctx := t.Context()
	out := map[string]any{}
	var err error
	if out["accounts"], err = s.Accounts(ctx); err != nil {
		t.Fatal(err)
	}
	if out["key"], err = s.APIKeyByHash(ctx, segmentd.HashAPIKey("SG.x.y")); err != nil {
		t.Fatal(err)
	}
	if out["fields"], err = s.FieldDefinitions(ctx, acct); err != nil {
		t.Fatal(err)
	}
	lists, err := s.Lists(ctx, acct, "", 100)
	if err != nil {
		t.Fatal(err)
	}
	out["lists"] = lists
	cs, err := s.SampleContacts(ctx, acct, 1000)
	if err != nil {
		t.Fatal(err)
	}
	out["contacts"] = cs
	var emails []string
	for _, c := range cs {
		emails = append(append(emails, c.Email), c.AlternateEmails...)
	}
	if out["byEmail"], err = s.ContactsByEmails(ctx, acct, emails); err != nil {
		t.Fatal(err)
	}
	for _, l := range lists {
		if out["members "+l.Name], err = s.CountListMembers(ctx, acct, l.ID); err != nil {
			t.Fatal(err)
		}
	}
	return out
}

// TestReopen closes and reopens the file: everything written is still
// there, and counters continue (a field id is not given out twice).
func TestReopen(t *testing.T) {
	path := filepath.Join(t.TempDir(), "segmentd.db")
	s, err := Open(t.Context(), path)
	if err != nil {
		t.Fatal(err)
	}
	a := fill(t, s)
	f, err := s.CreateFieldDefinition(t.Context(), a.ID, "gone", segmentd.FieldNumber, 10, testNow)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteFieldDefinition(t.Context(), a.ID, f.ID); err != nil {
		t.Fatal(err)
	}
	before := everything(t, s, a.ID)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	s, err = Open(t.Context(), path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	after := everything(t, s, a.ID)
	if !reflect.DeepEqual(before, after) {
		t.Fatalf("after reopening:\n got %+v\nwant %+v", after, before)
	}
	if len(after["contacts"].([]segmentd.Contact)) != 50 {
		t.Fatalf("reopened store has %d contacts", len(after["contacts"].([]segmentd.Contact)))
	}
	g, err := s.CreateFieldDefinition(t.Context(), a.ID, "gone", segmentd.FieldNumber, 10, testNow)
	if err != nil {
		t.Fatal(err)
	}
	if g.ID == f.ID {
		t.Fatalf("field id %s given out again after reopening", g.ID)
	}
}

func TestMigrationsIdempotent(t *testing.T) {
	ms, err := migrations()
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "segmentd.db")
	schema := func(s *Store) string {
		rows, err := s.read.Query("SELECT type, name, COALESCE(sql, '') FROM sqlite_schema ORDER BY type, name")
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		var b strings.Builder
		for rows.Next() {
			var typ, name, text string
			if err := rows.Scan(&typ, &name, &text); err != nil {
				t.Fatal(err)
			}
			fmt.Fprintf(&b, "%s %s %s\n", typ, name, text)
		}
		return b.String()
	}
	var first string
	for i := range 3 {
		s, err := Open(t.Context(), path)
		if err != nil {
			t.Fatalf("open #%d: %v", i+1, err)
		}
		v, err := s.SchemaVersion(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		if v != len(ms) {
			t.Fatalf("open #%d: schema version %d, want %d", i+1, v, len(ms))
		}
		if i == 0 {
			first = schema(s)
			fill(t, s)
		} else if got := schema(s); got != first {
			t.Fatalf("open #%d changed the schema:\n%s\nwant\n%s", i+1, got, first)
		}
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
	}
}

// TestMigrateFromVersion1 opens a database that has only the first
// migration (as an older segmentd left it): Open applies the rest and keeps
// the data.
func TestMigrateFromVersion1(t *testing.T) {
	ms, err := migrations()
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "segmentd.db")
	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec(ms[0].sql); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec("PRAGMA user_version = 1; INSERT INTO accounts (name, created_at) VALUES ('old', 0)"); err != nil {
		t.Fatal(err)
	}
	db.Close()

	s, err := Open(t.Context(), path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if v, _ := s.SchemaVersion(t.Context()); v != len(ms) {
		t.Fatalf("schema version %d, want %d", v, len(ms))
	}
	if _, err := s.AccountByName(t.Context(), "old"); err != nil {
		t.Fatalf("account written at version 1: %v", err)
	}
}

func TestOpenRefusesNewerSchema(t *testing.T) {
	path := filepath.Join(t.TempDir(), "segmentd.db")
	s, err := Open(t.Context(), path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.write.Exec("PRAGMA user_version = 999"); err != nil {
		t.Fatal(err)
	}
	s.Close()
	if s, err := Open(t.Context(), path); err == nil {
		s.Close()
		t.Fatal("Open accepted a database from a newer segmentd")
	}
}

// TestStoredForm checks the column conventions that other code reads
// directly (the query package's SQL generator, the PostgreSQL store's
// twin): see migrations/0001_init.sql.
func TestStoredForm(t *testing.T) {
	s := openTemp(t)
	defer s.Close()
	ctx := t.Context()
	a, _ := s.CreateAccount(ctx, "acme", 0, testNow)
	w, _ := s.CreateFieldDefinition(ctx, a.ID, "nick", segmentd.FieldText, 10, testNow)
	n, _ := s.CreateFieldDefinition(ctx, a.ID, "score", segmentd.FieldNumber, 10, testNow)
	d, _ := s.CreateFieldDefinition(ctx, a.ID, "born", segmentd.FieldDate, 10, testNow)
	l, _ := s.CreateList(ctx, a.ID, "news", testNow)
	born := time.Date(1990, 1, 2, 3, 4, 5, 6_000_000, time.UTC)
	_, err := s.UpsertContacts(ctx, a.ID, []segmentd.ContactPatch{{
		Email: str("ada@example.com"), FirstName: str("Ada"), LastName: str(""),
		AlternateEmails: &[]string{"a1@example.com", "a2@example.com"},
		CustomFields: map[string]*segmentd.Value{
			w.ID: {Type: segmentd.FieldText, Text: "x"},
			n.ID: {Type: segmentd.FieldNumber, Number: 2.5},
			d.ID: {Type: segmentd.FieldDate, Time: born},
		},
	}}, []string{l.ID}, testNow)
	if err != nil {
		t.Fatal(err)
	}
	var id, email, alt, custom string
	var first, last, city sql.NullString
	var created, updated int64
	err = s.read.QueryRow(`SELECT id, email, first_name, last_name, city, alternate_emails, custom_fields, created_at, updated_at
		FROM contacts WHERE account_id = ?`, a.ID).Scan(&id, &email, &first, &last, &city, &alt, &custom, &created, &updated)
	if err != nil {
		t.Fatal(err)
	}
	if email != "ada@example.com" || first.String != "Ada" || last.Valid || city.Valid {
		t.Errorf("text columns: email %q first %v last %v city %v (unset and empty must be NULL)", email, first, last, city)
	}
	if created != testNow.UnixMilli() || updated != testNow.UnixMilli() {
		t.Errorf("times %d %d, want unix ms %d", created, updated, testNow.UnixMilli())
	}
	var alts []string
	if err := json.Unmarshal([]byte(alt), &alts); err != nil || !slices.Equal(alts, []string{"a1@example.com", "a2@example.com"}) {
		t.Errorf("alternate_emails = %s", alt)
	}
	var cf map[string]any
	if err := json.Unmarshal([]byte(custom), &cf); err != nil {
		t.Fatal(err)
	}
	want := map[string]any{w.ID: "x", n.ID: 2.5, d.ID: float64(born.UnixMilli())}
	if !reflect.DeepEqual(cf, want) {
		t.Errorf("custom_fields = %s, want %v", custom, want)
	}
	// The SQL generator reads values with json_extract; check SQLite agrees.
	var text string
	var num float64
	var date int64
	err = s.read.QueryRow(`SELECT json_extract(custom_fields, '$.`+w.ID+`'), json_extract(custom_fields, '$.`+n.ID+`'),
		json_extract(custom_fields, '$.`+d.ID+`') FROM contacts`).Scan(&text, &num, &date)
	if err != nil || text != "x" || num != 2.5 || date != born.UnixMilli() {
		t.Errorf("json_extract = %q %v %d, %v", text, num, date, err)
	}
	var altRows []string
	rows, err := s.read.Query("SELECT email FROM contact_alternate_emails WHERE account_id = ? AND contact_id = ? ORDER BY email", a.ID, id)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var e string
		rows.Scan(&e)
		altRows = append(altRows, e)
	}
	rows.Close()
	if !slices.Equal(altRows, alts) {
		t.Errorf("contact_alternate_emails rows %v, want %v", altRows, alts)
	}
	var members int
	if err := s.read.QueryRow("SELECT count(*) FROM list_members WHERE account_id = ?1 AND list_num = "+qListNum+" AND contact_id = ?3", a.ID, l.ID, id).Scan(&members); err != nil || members != 1 {
		t.Errorf("list_members rows = %d, %v", members, err)
	}
}

// TestReadsDuringWrite holds the write transaction open and reads: the read
// pool is not queued behind the writer, and sees the last committed state.
func TestReadsDuringWrite(t *testing.T) {
	s := openTemp(t)
	defer s.Close()
	ctx := t.Context()
	a, err := s.CreateAccount(ctx, "acme", 0, testNow)
	if err != nil {
		t.Fatal(err)
	}
	tx, err := s.write.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback()
	if _, err := tx.Exec("INSERT INTO lists (account_id, id, name, name_key, created_at, updated_at) VALUES (?, 'x', 'uncommitted', 'uncommitted', 0, 0)", a.ID); err != nil {
		t.Fatal(err)
	}
	rctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if _, err := s.Account(rctx, a.ID); err != nil {
		t.Fatalf("read during a write: %v", err)
	}
	if n, err := s.CountLists(rctx, a.ID); err != nil || n != 0 {
		t.Fatalf("CountLists during a write = %d, %v; want 0 (uncommitted rows are invisible)", n, err)
	}
}

// TestSurvivesKill writes from a child process, kills it with SIGKILL as
// soon as the writes are acknowledged, and reads them back: the durability
// promised by synchronous=NORMAL in WAL mode (see Open).
func TestSurvivesKill(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a child process")
	}
	path := filepath.Join(t.TempDir(), "segmentd.db")
	cmd := exec.Command(os.Args[0], "-test.run=^TestKillChild$")
	cmd.Env = append(os.Environ(), "SEGMENTD_SQLITE_KILL_CHILD="+path)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	acked := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			if line, ok := strings.CutPrefix(sc.Text(), "ACK "); ok {
				acked <- line
				return
			}
		}
		close(acked)
	}()
	var last string
	select {
	case last = <-acked:
	case <-time.After(30 * time.Second):
		cmd.Process.Kill()
		t.Fatal("child did not acknowledge its writes")
	}
	if last == "" {
		cmd.Wait()
		t.Fatal("child exited without acknowledging its writes")
	}
	if err := cmd.Process.Kill(); err != nil { // SIGKILL
		t.Fatal(err)
	}
	cmd.Wait()

	s, err := Open(t.Context(), path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	a, err := s.AccountByName(t.Context(), "acme")
	if err != nil {
		t.Fatal(err)
	}
	if n, err := s.CountContacts(t.Context(), a.ID); err != nil || n != killContacts {
		t.Fatalf("after SIGKILL: %d contacts, %v; want %d", n, err, killContacts)
	}
	j, err := s.Job(t.Context(), a.ID, last)
	if err != nil || j.Status != segmentd.JobCompleted {
		t.Fatalf("acknowledged job after SIGKILL: %+v, %v", j, err)
	}
}

const killContacts = 5000

// TestKillChild is TestSurvivesKill's child: it writes, prints ACK with the
// job id once every write has returned, then waits to be killed.
func TestKillChild(t *testing.T) {
	path := os.Getenv("SEGMENTD_SQLITE_KILL_CHILD")
	if path == "" {
		t.Skip("run by TestSurvivesKill")
	}
	ctx := context.Background()
	s, err := Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	a, err := s.CreateAccount(ctx, "acme", 0, testNow)
	if err != nil {
		t.Fatal(err)
	}
	var ps []segmentd.ContactPatch
	for i := range killContacts {
		ps = append(ps, segmentd.ContactPatch{Email: str(fmt.Sprintf("k%05d@example.com", i))})
	}
	// Several batches, so that some land in the WAL after a checkpoint.
	for i := 0; i < len(ps); i += 1000 {
		if _, err := s.UpsertContacts(ctx, a.ID, ps[i:i+1000], nil, testNow); err != nil {
			t.Fatal(err)
		}
	}
	j := segmentd.Job{ID: segmentd.NewID(), AccountID: a.ID, Type: segmentd.JobUpsert, StartedAt: testNow}
	j.Finish(testNow)
	if err := s.CreateJob(ctx, j); err != nil {
		t.Fatal(err)
	}
	fmt.Printf("ACK %s\n", j.ID)
	time.Sleep(time.Minute) // killed long before this
}

func TestOpenCreatesDirectory(t *testing.T) {
	path := filepath.Join(t.TempDir(), "new", "dir", "segmentd.db")
	s, err := Open(t.Context(), path)
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	if _, err := os.Stat(path); err != nil {
		t.Fatal(err)
	}
}

// TestPageSize checks that a new database file has pageSize pages in WAL
// mode, and that a file an older segmentd made with SQLite's 4 KiB pages
// keeps them, opens, and takes writes.
func TestPageSize(t *testing.T) {
	pragmas := func(t *testing.T, s *Store) (size int, mode string) {
		t.Helper()
		if err := s.write.QueryRow("SELECT page_size, journal_mode FROM pragma_page_size(), pragma_journal_mode()").Scan(&size, &mode); err != nil {
			t.Fatal(err)
		}
		return size, mode
	}
	s := openTemp(t)
	defer s.Close()
	if size, mode := pragmas(t, s); size != pageSize || mode != "wal" {
		t.Fatalf("new database: page_size %d, journal_mode %s; want %d, wal", size, mode, pageSize)
	}

	path := filepath.Join(t.TempDir(), "segmentd.db")
	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec("PRAGMA journal_mode = WAL; CREATE TABLE older (x)"); err != nil {
		t.Fatal(err)
	}
	old := upgraded(t, db, path, 0)
	if size, mode := pragmas(t, old); size != 4096 || mode != "wal" {
		t.Fatalf("older database: page_size %d, journal_mode %s; want 4096, wal", size, mode)
	}
	a := fill(t, old)
	if n, err := old.CountContacts(t.Context(), a.ID); err != nil || n != 50 {
		t.Fatalf("older database: CountContacts = %d, %v; want 50", n, err)
	}
}

// TestPageCacheSizes checks that the connections' page caches are sized
// in pages, from the memory each may take at the file's page size: given
// in KiB, SQLite counts only a page's own bytes, and the allocator takes
// more for it (pageCacheSlot), so "32 MiB" of 4 KiB pages was 64 MiB of
// the server's memory. A new file (16 KiB pages) and a file an older
// segmentd made (4 KiB pages) each get caches of their own page size.
func TestPageCacheSizes(t *testing.T) {
	if got := pageCacheSlot(4096); got != 8<<10 {
		t.Errorf("pageCacheSlot(4096) = %d, want 8 KiB (measured)", got)
	}
	if got := pageCacheSlot(16384); got != 20<<10 {
		t.Errorf("pageCacheSlot(16384) = %d, want 20 KiB (measured)", got)
	}
	older := filepath.Join(t.TempDir(), "segmentd.db")
	db, err := sql.Open("sqlite", older)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec("PRAGMA journal_mode = WAL; CREATE TABLE older (x)"); err != nil {
		t.Fatal(err)
	}
	for _, f := range []struct {
		name     string
		s        *Store
		pageSize int
	}{{"new", openTemp(t), pageSize}, {"older", upgraded(t, db, older, 0), 4096}} {
		defer f.s.Close()
		for _, c := range []struct {
			name  string
			db    *sql.DB
			bytes int
		}{{"writer", f.s.write, writeCacheBytes}, {"reader", f.s.read, readCacheBytes}} {
			var got, size int
			if err := c.db.QueryRowContext(t.Context(), "SELECT cache_size, page_size FROM pragma_cache_size(), pragma_page_size()").Scan(&got, &size); err != nil {
				t.Fatal(err)
			}
			want := c.bytes / pageCacheSlot(f.pageSize)
			if size != f.pageSize || got != want {
				t.Errorf("%s file, %s: page_size %d, cache_size %d; want %d pages of %d bytes (%d MiB of memory)", f.name, c.name, size, got, want, f.pageSize, c.bytes>>20)
			}
		}
	}
}

// TestMigrateEventsCompact writes events as the schema before migration
// 0015 stored them (a database an older segmentd left), then opens it:
// every event reads back as it was written, its id is still a duplicate,
// the file shrank to the new layout, and the export gives the columns as
// they were.
func TestMigrateEventsCompact(t *testing.T) {
	db, path, latest := databaseAt(t, 12)
	const contact = "01a243a7-ed22-70a6-a7bd-19d6ed58d080"
	want := []segmentd.Event{
		{ContactID: contact, Email: "a@example.com", Source: "mail", Type: "open", Timestamp: time.UnixMilli(5000).UTC(), SinglesendID: "ss", SGEventID: "0123456789abcdef01234567"},
		{ContactID: "legacy-id", Email: "b@example.com", Source: "sms", Type: "click", Timestamp: time.UnixMilli(3000).UTC(), URL: "https://x.test", SGEventID: "sZROwMGMagFgnOEmSdvhig=="},
		{Email: "c@example.com", Source: "mail", Type: "custom", Timestamp: time.UnixMilli(4000).UTC(), AutomationID: "au", MarketingCampaignID: "7"},
		{ContactID: contact, Email: "a@example.com", Source: "mail", Type: "delivered", Timestamp: time.UnixMilli(6000).UTC(), SGEventID: "Plain id"},
		{ContactID: "00000000-0000-7000-8000-000000ff0000", Email: "z@example.com", Source: "mail", Type: "open", Timestamp: time.UnixMilli(6000).UTC(), SGEventID: "00ff00ff00ff00ff"},
	}
	// Events past the four, so that the dropped table leaves many free pages.
	for i := range 3000 {
		want = append(want, segmentd.Event{ContactID: contact, Email: "a@example.com", Source: "mail", Type: "processed",
			Timestamp: time.UnixMilli(int64(7000 + i)).UTC(), SGEventID: fmt.Sprintf("%024x", i)})
	}
	_, err := db.Exec(`INSERT INTO accounts (id, name, created_at) VALUES (1, 'old', 0);
		INSERT INTO contacts (account_id, id, email, created_at, updated_at) VALUES (1, '` + contact + `', 'a@example.com', 0, 0)`)
	if err != nil {
		t.Fatal(err)
	}
	tx, err := db.Begin()
	if err != nil {
		t.Fatal(err)
	}
	for i, ev := range want {
		_, err := tx.Exec(`INSERT INTO events (account_id, seq, contact_id, email, event_source, event_type, event_timestamp,
			singlesend_id, automation_id, marketing_campaign_id, url, sg_event_id, sg_event_hash)
			VALUES (1, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, segmentd_event_hash(?))`,
			i+1, nullText(ev.ContactID), ev.Email, ev.Source, ev.Type, toMS(ev.Timestamp), nullText(ev.SinglesendID), nullText(ev.AutomationID),
			nullText(ev.MarketingCampaignID), nullText(ev.URL), nullText(ev.SGEventID), nullText(ev.SGEventID))
		if err != nil {
			t.Fatal(err)
		}
	}
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec("PRAGMA user_version = 12"); err != nil {
		t.Fatal(err)
	}
	var before int64
	if err := db.QueryRow("PRAGMA page_count").Scan(&before); err != nil {
		t.Fatal(err)
	}
	s := upgraded(t, db, path, latest)
	var after, free int64
	if err := s.read.QueryRow("SELECT (SELECT page_count FROM pragma_page_count), (SELECT freelist_count FROM pragma_freelist_count)").Scan(&after, &free); err != nil {
		t.Fatal(err)
	}
	if after >= before || free*4 > after {
		t.Errorf("pages: %d before, %d after with %d free; want fewer, at most a quarter free", before, after, free)
	}
	got, last, err := s.ScanEvents(t.Context(), 1, 0, 10_000)
	if err != nil {
		t.Fatal(err)
	}
	if last != int64(len(want)) || !slices.Equal(got, want) {
		t.Fatalf("ScanEvents after the migration (last %d):\n got %+v\nwant %+v", last, got[:4], want[:4])
	}
	// Open packed every event with a contact into blocks; the one without
	// stays a row, which the view events gives with the columns as
	// migration 0001 had them, for the SQL the query package generates.
	var n, seq int64
	var owner, source, typ sql.NullString
	if err := s.read.QueryRow("SELECT COUNT(*), MIN(seq), MIN(contact_id), MIN(event_source), MIN(event_type) FROM events WHERE account_id = 1").
		Scan(&n, &seq, &owner, &source, &typ); err != nil {
		t.Fatal(err)
	}
	if ev := want[2]; n != 1 || seq != 3 || owner.Valid || source.String != ev.Source || typ.String != ev.Type {
		t.Fatalf("view events: %d rows, seq %d: %v %q %q; want 1, seq 3 with no contact, %q %q", n, seq, owner, source.String, typ.String, ev.Source, ev.Type)
	}
	res, err := s.AddEvents(t.Context(), 1, []segmentd.Event{
		{Email: "x@example.com", Type: "open", Timestamp: time.UnixMilli(1).UTC(), SGEventID: "sZROwMGMagFgnOEmSdvhig=="},
		{Email: "x@example.com", Type: "open", Timestamp: time.UnixMilli(1).UTC(), SGEventID: fmt.Sprintf("%024x", 7)},
		{Email: "x@example.com", Type: "open", Timestamp: time.UnixMilli(1).UTC(), SGEventID: "new"},
	})
	if err != nil || res.Duplicates != 2 || res.Added != 1 {
		t.Fatalf("redelivery after the migration: %+v, %v; want 2 duplicates, 1 added", res, err)
	}
	var rows [][]any
	err = s.ExportTable(t.Context(), "events", func([]string) error { return nil }, func(r []any) error {
		rows = append(rows, r)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	wantRows := [][]any{
		{int64(1), int64(2), "legacy-id", "b@example.com", "sms", "click", int64(3000), nil, nil, nil, "https://x.test", "sZROwMGMagFgnOEmSdvhig=="},
		{int64(1), int64(3), nil, "c@example.com", "mail", "custom", int64(4000), nil, "au", "7", nil, nil},
	}
	if len(rows) < 3 || fmt.Sprint(rows[1:3]) != fmt.Sprint(wantRows) {
		t.Fatalf("exported events %v, want %v", rows[1:3], wantRows)
	}
	// event_bounds holds the oldest time: the prune finds what is older.
	if n, err := s.PruneEvents(t.Context(), 1, time.UnixMilli(4500)); err != nil || n != 3 {
		t.Fatalf("PruneEvents before 4500 ms: %d, %v; want 3", n, err)
	}
	if n, err := s.PruneEvents(t.Context(), 1, time.UnixMilli(4500)); err != nil || n != 0 {
		t.Fatalf("PruneEvents again: %d, %v; want 0", n, err)
	}
	var oldest int64
	if err := s.read.QueryRow("SELECT min_timestamp FROM event_bounds WHERE account_id = 1").Scan(&oldest); err != nil || oldest != 5000 {
		t.Fatalf("event_bounds after the prune: %d, %v; want 5000", oldest, err)
	}
}

// TestMigrateListMembersChange opens a database of schema version 12 (before
// list_members carried change numbers) holding a contact on a list: after
// the upgrade the contact keeps its list, the old membership is no change,
// and an upsert that only adds the contact to another list is one.
func TestMigrateListMembersChange(t *testing.T) {
	db, path, latest := databaseAt(t, 12)
	const contactID, listID = "01900000-0000-7000-8000-000000000001", "7d3c2f4e-1b2a-4c5d-8e9f-0a1b2c3d4e5f"
	if _, err := db.Exec(`PRAGMA user_version = 12;
		INSERT INTO accounts (id, name, created_at) VALUES (1, 'old', 0);
		INSERT INTO lists (account_id, id, name, name_key, created_at, updated_at) VALUES (1, '` + listID + `', 'Old', 'old', 0, 0);
		INSERT INTO contacts (account_id, id, email, created_at, updated_at, change_seq) VALUES (1, '` + contactID + `', 'old@example.com', 5, 5, 1);
		INSERT INTO list_members (account_id, list_id, contact_id, added_at) VALUES (1, '` + listID + `', '` + contactID + `', 5);
		UPDATE store_changes SET seq = 1`); err != nil {
		t.Fatal(err)
	}
	s := upgraded(t, db, path, latest)
	c, err := s.Contact(t.Context(), 1, contactID)
	if err != nil || !slices.Equal(c.ListIDs, []string{listID}) {
		t.Fatalf("Contact after the upgrade = %+v, %v; want it on list %s", c, err, listID)
	}
	if ch, err := s.Changes(t.Context(), 1, 1, 0, 0); err != nil || len(ch.Changed) != 0 {
		t.Fatalf("Changes after the upgrade = %+v, %v; want none", ch, err)
	}
	l, err := s.CreateList(t.Context(), 1, "New", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	email := "old@example.com"
	res, err := s.UpsertContacts(t.Context(), 1, []segmentd.ContactPatch{{Email: &email}}, []string{l.ID}, time.Now())
	if err != nil || res.Updated != 1 || !slices.Equal(res.Joined, []string{contactID}) {
		t.Fatalf("UpsertContacts = %+v, %v; want %s joined", res, err, contactID)
	}
	if ch, err := s.Changes(t.Context(), 1, 1, 0, 0); err != nil || !slices.Equal(ch.Changed, []string{contactID}) {
		t.Fatalf("Changes after a lists-only upsert = %+v, %v; want [%s]", ch, err, contactID)
	}
	c, err = s.Contact(t.Context(), 1, contactID)
	if err != nil || !c.UpdatedAt.Equal(fromMS(5)) || len(c.ListIDs) != 2 {
		t.Fatalf("Contact after a lists-only upsert = %+v, %v; want updated_at unchanged and 2 lists", c, err)
	}
}

// The history's contact ids, text up to version 24, are 16-byte keys
// after the upgrade, and read back as the same ids.
func TestMigrateHistoryContactKeys(t *testing.T) {
	db, path, _ := databaseAt(t, 24)
	ids := []string{"01900000-0000-7000-8000-0000000000ab", "legacy-id", "legacy-id-15chr", "0190A1B2-C3D4-7E5F-8A9B-0C1D2E3F4A5B"}
	if _, err := db.Exec(`PRAGMA user_version = 24;
		INSERT INTO accounts (id, name, created_at) VALUES (1, 'old', 0);
		INSERT INTO history_segments (account_id, segment_id, key) VALUES (1, 's1', 1)`); err != nil {
		t.Fatal(err)
	}
	for i, id := range ids {
		if _, err := db.Exec(`INSERT INTO segment_history (account_id, segment_key, at, seq, contact_id, email, kind) VALUES (1, 1, ?, ?, ?, 'a@example.com', 3)`, 1000+i, i+1, id); err != nil {
			t.Fatal(err)
		}
	}
	s := upgraded(t, db, path, 0)
	var sizes []int
	rows, err := s.read.QueryContext(t.Context(), "SELECT typeof(contact_id), length(contact_id) FROM segment_history ORDER BY seq")
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var typ string
		var n int
		if err := rows.Scan(&typ, &n); err != nil || typ != "blob" {
			t.Fatalf("a converted contact id is %s (%v)", typ, err)
		}
		sizes = append(sizes, n)
	}
	rows.Close()
	if !slices.Equal(sizes, []int{16, 10, 17, 37}) {
		t.Fatalf("contact keys of %v bytes, want [16 10 17 37]", sizes)
	}
	ts, err := s.HistoryTransitions(t.Context(), 1, "s1", time.UnixMilli(0), time.UnixMilli(5000), segmentd.HistoryCursor{}, 10)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, tr := range ts {
		got = append(got, tr.ContactID)
	}
	if !slices.Equal(got, ids) {
		t.Fatalf("contact ids after the upgrade %v, want %v", got, ids)
	}
	for _, id := range ids {
		if tr, ok, err := s.HistoryNextOf(t.Context(), 1, "s1", id, time.UnixMilli(0)); err != nil || !ok || tr.ContactID != id {
			t.Fatalf("HistoryNextOf(%s) = %+v, %v, %v", id, tr, ok, err)
		}
	}
}

func TestUpsertGroupContract(t *testing.T) {
	storetest.RunUpsertGroups(t, func(t *testing.T) storetest.UpsertGroupStore { return openTemp(t) })
}

// undoListNums takes a database without lists or membership changes back
// from schema version 29 to 28, for a test that rewinds it to an older
// version.
const undoListNums = `DROP INDEX lists_num; ALTER TABLE lists DROP COLUMN num; DROP TABLE list_members;
	CREATE TABLE list_members (account_id INTEGER NOT NULL, contact_id TEXT NOT NULL, list_id TEXT NOT NULL, added_at INTEGER NOT NULL,
		PRIMARY KEY (account_id, contact_id, list_id)) WITHOUT ROWID;
	CREATE INDEX list_members_list ON list_members (account_id, list_id, added_at);
	DROP TABLE membership_changes;
	CREATE TABLE membership_changes (account_id INTEGER NOT NULL, change_seq INTEGER NOT NULL, contact_id TEXT NOT NULL,
		PRIMARY KEY (account_id, change_seq, contact_id)) WITHOUT ROWID`

// databaseAt opens a new database file holding the schema of the first
// version migrations, as an older segmentd left it (user_version is the
// caller's to set), and returns it with its path and the latest version.
func databaseAt(t *testing.T, version int) (db *sql.DB, path string, latest int) {
	t.Helper()
	ms, err := migrations()
	if err != nil {
		t.Fatal(err)
	}
	if err := registerFunctions(); err != nil {
		t.Fatal(err)
	}
	path = filepath.Join(t.TempDir(), "segmentd.db")
	db, err = sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range ms[:version] {
		if _, err := db.Exec(m.sql); err != nil {
			t.Fatalf("%s: %v", m.name, err)
		}
	}
	return db, path, len(ms)
}

// upgraded closes db, the old database databaseAt made, opens it as a
// Store (which applies the later migrations) and, unless latest is 0,
// checks that it reached schema version latest. The store is closed with
// the test.
func upgraded(t *testing.T, db *sql.DB, path string, latest int) *Store {
	t.Helper()
	db.Close()
	s, err := Open(t.Context(), path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	if v, _ := s.SchemaVersion(t.Context()); latest != 0 && v != latest {
		t.Fatalf("schema version %d, want %d", v, latest)
	}
	return s
}

// TestMigrateListNums opens a database of schema version 28 (list_members
// naming lists by id, membership_changes a row a contact) with two
// accounts: after the upgrade each account's lists are numbered from 1,
// every contact keeps its lists, a membership of a list that no longer
// exists is gone, the change history reports the same contacts, a new
// list takes the next number, and the export still gives list ids.
func TestMigrateListNums(t *testing.T) {
	db, path, latest := databaseAt(t, 28)
	const (
		c1, c2     = "01900000-0000-7000-8000-000000000001", "01900000-0000-7000-8000-000000000002"
		la, lb, lc = "7d3c2f4e-1b2a-4c5d-8e9f-0a1b2c3d4e5f", "8d3c2f4e-1b2a-4c5d-8e9f-0a1b2c3d4e5f", "9d3c2f4e-1b2a-4c5d-8e9f-0a1b2c3d4e5f"
		gone       = "ad3c2f4e-1b2a-4c5d-8e9f-0a1b2c3d4e5f"
	)
	// An id too long to pack: its contact takes the change number on its
	// row; a long id whose contact is gone is left out (its deletion is
	// recorded apart).
	long := strings.Repeat("x", 256)
	if _, err := db.Exec(`PRAGMA user_version = 28;
		INSERT INTO accounts (id, name, created_at) VALUES (1, 'one', 0), (2, 'two', 0);
		INSERT INTO lists (account_id, id, name, name_key, created_at, updated_at) VALUES
			(1, '` + la + `', 'A', 'a', 0, 0), (2, '` + lc + `', 'C', 'c', 0, 0), (1, '` + lb + `', 'B', 'b', 0, 0);
		INSERT INTO contacts (account_id, id, email, created_at, updated_at) VALUES
			(1, '` + c1 + `', 'one@example.com', 5, 5), (2, '` + c2 + `', 'two@example.com', 5, 5),
			(1, '` + long + `', 'long@example.com', 5, 5);
		INSERT INTO list_members (account_id, contact_id, list_id, added_at) VALUES
			(1, '` + c1 + `', '` + la + `', 5), (1, '` + c1 + `', '` + lb + `', 6), (1, '` + c1 + `', '` + gone + `', 7),
			(2, '` + c2 + `', '` + lc + `', 5);
		INSERT INTO membership_changes (account_id, change_seq, contact_id) VALUES
			(1, 3, '` + c1 + `'), (1, 3, 'legacy-id'), (1, 3, '` + long + `'), (1, 4, '` + c1 + `'), (2, 4, '` + c2 + `'),
			(1, 4, '` + gone + strings.Repeat("-", 250) + `');
		UPDATE store_changes SET seq = 4`); err != nil {
		t.Fatal(err)
	}
	s := upgraded(t, db, path, latest)
	nums := map[string]int64{}
	rows, err := s.read.Query("SELECT id, num FROM lists")
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var id string
		var n int64
		if err := rows.Scan(&id, &n); err != nil {
			t.Fatal(err)
		}
		nums[id] = n
	}
	rows.Close()
	if nums[la] != 1 || nums[lb] != 2 || nums[lc] != 1 {
		t.Fatalf("list numbers %v, want A 1, B 2 (account 1) and C 1 (account 2)", nums)
	}
	for _, tc := range []struct {
		acct, after int64
		want        []string
	}{{1, 2, []string{c1, "legacy-id", long}}, {1, 3, []string{c1}}, {1, 4, nil}, {2, 0, []string{c2}}} {
		if ch, err := s.Changes(t.Context(), tc.acct, tc.after, 0, 0); err != nil || !slices.Equal(ch.Changed, tc.want) {
			t.Fatalf("Changes(%d, after %d) after the upgrade = %v, %v; want %v", tc.acct, tc.after, ch.Changed, err, tc.want)
		}
	}
	var orphans int
	if err := s.read.QueryRow("SELECT count(*) FROM list_members").Scan(&orphans); err != nil || orphans != 3 {
		t.Fatalf("%d memberships after the upgrade (%v), want 3: the one of a list that is gone is dropped", orphans, err)
	}
	for _, tc := range []struct {
		acct  int64
		id    string
		lists []string
	}{{1, c1, []string{la, lb}}, {2, c2, []string{lc}}} {
		c, err := s.Contact(t.Context(), tc.acct, tc.id)
		if err != nil || !slices.Equal(c.ListIDs, tc.lists) {
			t.Fatalf("Contact %s after the upgrade = %v, %v; want lists %v", tc.id, c.ListIDs, err, tc.lists)
		}
	}
	if n, err := s.CountListMembers(t.Context(), 1, lb); err != nil || n != 1 {
		t.Fatalf("CountListMembers(B) = %d, %v; want 1", n, err)
	}
	if n, err := s.CountListMembers(t.Context(), 2, lc); err != nil || n != 1 {
		t.Fatalf("CountListMembers(C) = %d, %v; want 1", n, err)
	}
	l, err := s.CreateList(t.Context(), 1, "D", testNow)
	if err != nil {
		t.Fatal(err)
	}
	var n int64
	if err := s.read.QueryRow("SELECT num FROM lists WHERE id = ?", l.ID).Scan(&n); err != nil || n != 3 {
		t.Fatalf("a new list of account 1 has number %d (%v), want 3", n, err)
	}
	email := "one@example.com"
	if _, err := s.UpsertContacts(t.Context(), 1, []segmentd.ContactPatch{{Email: &email}}, []string{l.ID}, testNow); err != nil {
		t.Fatal(err)
	}
	var exported [][]any
	err = s.ExportTable(t.Context(), "list_members", func(cols []string) error {
		if !slices.Equal(cols, []string{"account_id", "contact_id", "list_id", "added_at"}) {
			t.Errorf("exported columns %v", cols)
		}
		return nil
	}, func(row []any) error {
		exported = append(exported, row)
		return nil
	})
	if err != nil || len(exported) != 4 {
		t.Fatalf("exported %d memberships (%v), want 4", len(exported), err)
	}
	var got []string
	for _, r := range exported {
		got = append(got, r[2].(string))
	}
	slices.Sort(got)
	if want := []string{la, l.ID, lb, lc}; !slices.Equal(got, slices.Sorted(slices.Values(want))) {
		t.Fatalf("exported list ids %v, want %v", got, want)
	}
}

func TestPackJoined(t *testing.T) {
	ids := []string{"01900000-0000-7000-8000-0000000000ab", "legacy-id", "legacy-id-15chr", "0190A1B2-C3D4-7E5F-8A9B-0C1D2E3F4A5B",
		strings.Repeat("x", 255)}
	long := strings.Repeat("y", 256)
	p, rest := packJoined(append(ids[:2:2], append([]string{long, ""}, ids[2:]...)...))
	if want := []string{long, ""}; !slices.Equal(rest, want) {
		t.Fatalf("left unpacked %q, want the 256-byte id and the empty one", rest)
	}
	if want := 17 + 10 + 16 + 37 + 256; len(p) != want {
		t.Fatalf("packed into %d bytes, want %d", len(p), want)
	}
	got, err := unpackJoined([]string{"before"}, p)
	if err != nil || !slices.Equal(got, append([]string{"before"}, ids...)) {
		t.Fatalf("unpacked %v, %v; want %v after \"before\"", got, err, ids)
	}
	if _, err := unpackJoined(nil, p[:len(p)-1]); err == nil {
		t.Fatal("a cut record unpacked without an error")
	}
}

// TestJoinedLongID: a stored contact whose id is too long to pack (a
// store migrated from elsewhere may hold one) joins a list by email; the
// change history reports it, through its row's change number.
func TestJoinedLongID(t *testing.T) {
	s, a, lists := accountWithLists(t, 1)
	defer s.Close()
	ctx, acct, list := t.Context(), a.ID, lists[0]
	long := strings.Repeat("z", 300)
	if _, err := s.write.Exec("INSERT INTO contacts (account_id, id, email, created_at, updated_at) VALUES (?, ?, 'long@example.com', 5, 5)", acct, long); err != nil {
		t.Fatal(err)
	}
	email, other := "long@example.com", "other@example.com"
	if _, err := s.UpsertContacts(ctx, acct, []segmentd.ContactPatch{{Email: &other}}, nil, testNow); err != nil {
		t.Fatal(err)
	}
	mark, err := s.ChangeMark(ctx)
	if err != nil {
		t.Fatal(err)
	}
	res, err := s.UpsertContacts(ctx, acct, []segmentd.ContactPatch{{Email: &email}, {Email: &other}}, []string{list}, testNow)
	if err != nil {
		t.Fatalf("joining a list by email with a %d-byte contact id: %v", len(long), err)
	}
	if len(res.Joined) != 2 || !slices.Contains(res.Joined, long) {
		t.Fatalf("joined %d contacts %q, want the long id and the other", len(res.Joined), res.Joined)
	}
	ch, err := s.Changes(ctx, acct, mark.Seq(acct), 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(ch.Changed) != 2 || !slices.Contains(ch.Changed, long) {
		t.Fatalf("Changes after the join: %d contacts %.80q, want both that joined", len(ch.Changed), ch.Changed)
	}
	if n, err := s.CountListMembers(ctx, acct, list); err != nil || n != 2 {
		t.Fatalf("CountListMembers = %d, %v; want 2", n, err)
	}
}

// TestUpsertIdentifiersOnly: a batch of identifiers alone reads only the
// stored contacts' identifiers; when one of its patches gives a stored
// contact a new identifier, the batch is merged again from whole rows,
// so that contact keeps every other field. The others only join the list.
func TestUpsertIdentifiersOnly(t *testing.T) {
	s := openTemp(t)
	defer s.Close()
	ctx := t.Context()
	acct := createAccount(t, s)
	f, err := s.CreateFieldDefinition(ctx, acct, "plan", segmentd.FieldText, 100, testNow)
	if err != nil {
		t.Fatal(err)
	}
	l, err := s.CreateList(ctx, acct, "L", testNow)
	if err != nil {
		t.Fatal(err)
	}
	first, alts := "Ann", []string{"ann.alt@example.com"}
	var full []segmentd.ContactPatch
	for _, e := range []string{"a@example.com", "b@example.com"} {
		p := patch(e)
		p.FirstName = &first
		p.CustomFields = map[string]*segmentd.Value{f.ID: {Type: segmentd.FieldText, Text: "gold"}}
		full = append(full, p)
	}
	full[0].AlternateEmails = &alts
	res, err := s.UpsertContacts(ctx, acct, full, nil, testNow)
	if err != nil || res.Created != 2 {
		t.Fatalf("UpsertContacts = %+v, %v", res, err)
	}
	a, b := res.Contacts[0], res.Contacts[1]
	later := testNow.Add(time.Hour)

	// Identifiers alone, no new one: both only join the list.
	res, err = s.UpsertContacts(ctx, acct, []segmentd.ContactPatch{patch("a@example.com"), patch("b@example.com")}, []string{l.ID}, later)
	if err != nil || res.Updated != 2 || len(res.Contacts) != 0 || !slices.Equal(res.Joined, []string{a.ID, b.ID}) {
		t.Fatalf("identifiers alone = %+v, %v; want both joined", res, err)
	}
	// One patch gives b an external id: b is written whole, a joins.
	l2, err := s.CreateList(ctx, acct, "L2", testNow)
	if err != nil {
		t.Fatal(err)
	}
	withID := patch("b@example.com")
	ext := "crm-7"
	withID.ExternalID = &ext
	res, err = s.UpsertContacts(ctx, acct, []segmentd.ContactPatch{patch("a@example.com"), withID}, []string{l2.ID}, later)
	if err != nil || res.Updated != 2 || len(res.Contacts) != 1 || !slices.Equal(res.Joined, []string{a.ID}) {
		t.Fatalf("a new identifier = %+v, %v; want b changed and a joined", res, err)
	}
	got := res.Contacts[0]
	if got.ID != b.ID || got.ExternalID != ext || got.FirstName != "Ann" || got.CustomFields[f.ID].Text != "gold" ||
		!slices.Equal(got.ListIDs, sortedUnique([]string{l.ID, l2.ID})) || !got.UpdatedAt.Equal(later) {
		t.Fatalf("b after a new identifier = %+v", got)
	}
	for _, c := range []segmentd.Contact{a, b} {
		stored, err := s.Contact(ctx, acct, c.ID)
		if err != nil || stored.FirstName != "Ann" || stored.CustomFields[f.ID].Text != "gold" || len(stored.ListIDs) != 2 {
			t.Fatalf("stored %s = %+v, %v; want its fields kept and two lists", c.Email, stored, err)
		}
		if c.ID == a.ID && (!stored.UpdatedAt.Equal(testNow) || !slices.Equal(stored.AlternateEmails, []string{"ann.alt@example.com"})) {
			t.Fatalf("a = %+v; want updated_at and alternate emails unchanged", stored)
		}
	}
	// A stored identifier left out is refused, as from a whole row.
	res, err = s.UpsertContacts(ctx, acct, []segmentd.ContactPatch{{ExternalID: &ext}}, []string{l.ID}, later)
	if err != nil || len(res.Errors) != 1 || res.Errors[0].Field != "email" {
		t.Fatalf("external id alone = %+v, %v; want the email required", res, err)
	}
	// So is b's external id left out of a batch of emails alone (a client
	// adding contacts to a list): the stored identifiers are read too.
	res, err = s.UpsertContacts(ctx, acct, []segmentd.ContactPatch{patch("a@example.com"), patch("b@example.com")}, []string{l.ID}, later)
	if err != nil || res.Updated != 1 || len(res.Errors) != 1 || res.Errors[0].Index != 1 || res.Errors[0].Field != "external_id" {
		t.Fatalf("b's email alone = %+v, %v; want the external id required", res, err)
	}
}

// TestMigrateListMembersByList opens a database of schema version 33
// (list_members keyed by account, contact, list) with two accounts: after
// the upgrade the key starts with the list, every membership is kept with
// its time, and each read by contact (a contact, a page of the rebuild,
// the samples, a delete) finds the same lists.
func TestMigrateListMembersByList(t *testing.T) {
	db, path, latest := databaseAt(t, 33)
	const (
		c1, c2, c3 = "01900000-0000-7000-8000-000000000001", "01900000-0000-7000-8000-000000000002", "01900000-0000-7000-8000-000000000003"
		la, lb, lc = "7d3c2f4e-1b2a-4c5d-8e9f-0a1b2c3d4e5f", "8d3c2f4e-1b2a-4c5d-8e9f-0a1b2c3d4e5f", "9d3c2f4e-1b2a-4c5d-8e9f-0a1b2c3d4e5f"
	)
	if _, err := db.Exec(`PRAGMA user_version = 33;
		INSERT INTO accounts (id, name, created_at) VALUES (1, 'one', 0), (2, 'two', 0);
		INSERT INTO lists (account_id, id, num, name, name_key, created_at, updated_at) VALUES
			(1, '` + lb + `', 1, 'B', 'b', 0, 0), (1, '` + la + `', 2, 'A', 'a', 0, 0), (2, '` + lc + `', 1, 'C', 'c', 0, 0);
		INSERT INTO contacts (account_id, id, email, created_at, updated_at) VALUES
			(1, '` + c1 + `', 'one@example.com', 5, 5), (1, '` + c2 + `', 'two@example.com', 5, 5),
			(1, '` + c3 + `', 'three@example.com', 5, 5), (2, '` + c1 + `', 'one@example.com', 5, 5);
		INSERT INTO list_members (account_id, contact_id, list_num, added_at) VALUES
			(1, '` + c1 + `', 1, 7), (1, '` + c1 + `', 2, 5), (1, '` + c3 + `', 2, 6), (2, '` + c1 + `', 1, 8)`); err != nil {
		t.Fatal(err)
	}
	s := upgraded(t, db, path, latest)
	var key []string
	rows, err := s.read.Query("SELECT name FROM pragma_index_xinfo('sqlite_autoindex_list_members_1') WHERE key ORDER BY seqno")
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var name string
		if err := rows.Scan(&name); err != nil {
			t.Fatal(err)
		}
		key = append(key, name)
	}
	rows.Close()
	if want := []string{"account_id", "list_num", "contact_id"}; !slices.Equal(key, want) {
		t.Fatalf("list_members keyed by %v, want %v", key, want)
	}
	var got []string
	rows, err = s.read.Query("SELECT account_id || ' ' || list_num || ' ' || contact_id || ' ' || added_at FROM list_members ORDER BY 1")
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var m string
		if err := rows.Scan(&m); err != nil {
			t.Fatal(err)
		}
		got = append(got, m)
	}
	rows.Close()
	want := []string{"1 1 " + c1 + " 7", "1 2 " + c1 + " 5", "1 2 " + c3 + " 6", "2 1 " + c1 + " 8"}
	if !slices.Equal(got, want) {
		t.Fatalf("memberships after the upgrade %v, want %v", got, want)
	}
	if c, err := s.Contact(t.Context(), 1, c1); err != nil || !slices.Equal(c.ListIDs, []string{la, lb}) {
		t.Fatalf("Contact(1, c1) lists %v, %v; want %v", c.ListIDs, err, []string{la, lb})
	}
	page, err := s.ScanContacts(t.Context(), 1, "", 10)
	if err != nil || len(page) != 3 {
		t.Fatalf("ScanContacts = %d contacts, %v; want 3", len(page), err)
	}
	for i, lists := range [][]string{{la, lb}, nil, {la}} {
		if !slices.Equal(page[i].ListIDs, lists) {
			t.Errorf("ScanContacts: %s on %v, want %v", page[i].ID, page[i].ListIDs, lists)
		}
	}
	if n, err := s.CountListMembers(t.Context(), 1, la); err != nil || n != 2 {
		t.Fatalf("CountListMembers(A) = %d, %v; want 2", n, err)
	}
	if n, err := s.DeleteContacts(t.Context(), 1, []string{c1}); err != nil || n != 1 {
		t.Fatalf("DeleteContacts = %d, %v", n, err)
	}
	for _, tc := range []struct {
		acct    int64
		list    string
		members int
	}{{1, la, 1}, {1, lb, 0}, {2, lc, 1}} {
		if n, err := s.CountListMembers(t.Context(), tc.acct, tc.list); err != nil || n != tc.members {
			t.Errorf("CountListMembers(%d, %s) after the delete = %d, %v; want %d", tc.acct, tc.list, n, err, tc.members)
		}
	}
}
