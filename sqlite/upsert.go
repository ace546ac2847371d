package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"maps"
	"reflect"
	"slices"
	"strings"
	"time"

	"github.com/segmentd/segmentd"
)

// upsertEntry is a contact touched by an upsert batch.
type upsertEntry struct {
	c       segmentd.Contact
	stored  bool      // the row exists (UPDATE), or not yet (INSERT)
	stored0 [4]string // the stored row's identifiers, when stored
	altSet  bool      // a patch gave alternate_emails: rewrite its rows
	touched bool      // a patch was applied to it
	changed bool      // new, or a patch changed a field: write its row
	light   bool      // stored, and only its id and identifiers were read
	known   bool      // stored, and found in the remembered emails (knownEmails)
}

// upsertBatch matches and merges one batch in memory, then writes the
// result. Matching sees the batch's own earlier patches: an identifier given
// twice updates the contact the first occurrence created.
type upsertBatch struct {
	ids     *contactIDs
	byID    map[string]*upsertEntry    // stored contacts
	arena   []upsertEntry              // new contacts; cap is the number of patches
	stored  []upsertEntry              // stored contacts (storedEntry)
	patches int                        // the number of patches
	order   []*upsertEntry             // touched entries, in first-touch order
	index   [4]map[string]*upsertEntry // by identifier, in segmentd.Identifiers order
	res     segmentd.UpsertResult
	seq     int64  // the change number the batch's contacts are written with
	newID   string // the id of the next contact created, when not ""
	// mem, when not nil, holds the remembered emails the batch reads
	// (knownEmails) and keeps true (remember).
	mem *eventCache
}

// UpsertContacts applies the patches in order inside one write transaction.
// It reads only the contacts that one of the batch's identifiers names,
// merges in memory (with segmentd.ApplyPatch), then writes each touched
// contact once with prepared statements. UpsertResult.Contacts holds each
// created contact, and each stored one a patch changed, once, in its final
// state, in the order the request first named it (past seekListsAlone
// changed stored contacts, with only the request's lists:
// UpsertResult.ListsAdded, fillLists); UpsertResult.Joined the stored
// contacts no patch changed, which only joined listIDs: their lists are
// never read.
func (s *Store) UpsertContacts(ctx context.Context, acct int64, patches []segmentd.ContactPatch, listIDs []string, now time.Time) (segmentd.UpsertResult, error) {
	var res segmentd.UpsertResult
	err := s.upsertWriteTx(ctx, func(tx *sql.Tx) error {
		listIDs := sortedUnique(listIDs)
		nums, err := listNums(ctx, tx, acct, listIDs)
		if err != nil {
			return err
		}
		res, err = s.upsertNums(ctx, tx, acct, patches, listIDs, nums, now, 0, "", true)
		return err
	})
	if err != nil {
		return segmentd.UpsertResult{}, err
	}
	return res, nil
}

// upsertWriteTx is writeTx for the upserts, which keep the remembered
// emails (eventCache) rather than forget them: first dropped if another
// connection wrote (lockCache), they hold the emails of the contacts the
// upserts wrote (upsertBatch.remember), and a transaction that fails, in
// which they may have recorded what was not committed, forgets them.
func (s *Store) upsertWriteTx(ctx context.Context, fn func(tx *sql.Tx) error) error {
	err := s.writeTxKeep(ctx, true, func(tx *sql.Tx) error {
		c, err := s.lockCache(ctx, tx)
		if err != nil {
			return err
		}
		c.mu.Unlock()
		return fn(tx)
	})
	if err != nil {
		s.events.forgetEmails()
	}
	return err
}

var _ segmentd.UpsertGrouper = (*Store)(nil)

// UpsertContactsGroup applies several upserts of one account in one write
// transaction. Membership-only requests each read most pages of contacts
// (their contacts are spread over the whole account) and write a region of
// list_members (since schema version 34 keyed by list first; before, most
// of its pages), so one commit for several writes each page to the WAL, and
// the checkpoint to the file, once instead of once per request
// (docs/sqlite.md, "Grouped upserts").
//
// The one failure of an upsert of its own is a list that does not exist
// (deleted after the request was accepted): it is checked before the
// upsert writes anything, and the upsert is skipped. Any other failure
// is the store's, and fails the whole group. (A savepoint per upsert
// would do the same, at the price of copying each page an upsert first
// touches into the savepoint's journal.)
func (s *Store) UpsertContactsGroup(ctx context.Context, acct int64, ups []segmentd.ContactUpsert, now time.Time) ([]segmentd.UpsertResult, []error, error) {
	res := make([]segmentd.UpsertResult, len(ups))
	errs := make([]error, len(ups))
	err := s.upsertWriteTx(ctx, func(tx *sql.Tx) error {
		for i, u := range ups {
			listIDs := sortedUnique(u.ListIDs)
			nums, err := listNums(ctx, tx, acct, listIDs)
			if err != nil {
				if segmentd.ErrorKindOf(err) != segmentd.KindNotFound {
					return err
				}
				errs[i] = err
				continue
			}
			if res[i], err = s.upsertNums(ctx, tx, acct, u.Patches, listIDs, nums, now, 0, "", true); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, nil, err
	}
	return res, errs, nil
}

// upsertTx is UpsertContacts inside tx, for a caller whose transaction
// forgot the remembered emails (writeTx). seq, when not 0, is the change
// number to write with (the caller's transaction took it); newID, when
// not "", is the id of the first contact the batch creates (a revived
// one, PutContact).
func (s *Store) upsertTx(ctx context.Context, tx *sql.Tx, acct int64, patches []segmentd.ContactPatch, listIDs []string, now time.Time, seq int64, newID string) (segmentd.UpsertResult, error) {
	listIDs = sortedUnique(listIDs)
	nums, err := listNums(ctx, tx, acct, listIDs)
	if err != nil {
		return segmentd.UpsertResult{}, err
	}
	return s.upsertNums(ctx, tx, acct, patches, listIDs, nums, now, seq, newID, false)
}

// upsertNums is upsertTx for lists already looked up: listIDs sorted
// without repeats, nums their numbers (listNums). With mem, the
// transaction keeps the remembered emails (upsertWriteTx): the batch
// finds stored contacts in them and records what it wrote.
func (s *Store) upsertNums(ctx context.Context, tx *sql.Tx, acct int64, patches []segmentd.ContactPatch, listIDs []string, nums []int64, now time.Time, seq int64, newID string, mem bool) (segmentd.UpsertResult, error) {
	now = msTime(now)
	var err error
	// A batch of identifiers alone (a client adding contacts to lists)
	// reads only the stored contacts' ids and identifiers: such a patch
	// changes a stored contact only by giving it a new identifier, and
	// then the batch is merged again from whole rows.
	light := identifiersOnly(patches)
	var cache *eventCache
	if mem {
		cache = &s.events
	}
	b := newUpsertBatch(&s.ids, newID, len(patches))
	b.mem = cache
	if err := b.load(ctx, tx, acct, patches, light); err != nil {
		return segmentd.UpsertResult{}, err
	}
	for i := range patches {
		if i%yieldRows == yieldRows-1 {
			segmentd.Yield(ctx)
		}
		b.apply(i, &patches[i], listIDs, now)
	}
	if light && b.changedLight() {
		b = newUpsertBatch(&s.ids, newID, len(patches))
		b.mem = cache
		if err := b.load(ctx, tx, acct, patches, false); err != nil {
			return segmentd.UpsertResult{}, err
		}
		for i := range patches {
			b.apply(i, &patches[i], listIDs, now)
		}
	}
	b.seq = seq
	if b.seq == 0 {
		if b.seq, err = nextChange(ctx, tx); err != nil {
			return segmentd.UpsertResult{}, err
		}
	}
	if err := b.fillLists(ctx, tx, acct); err != nil {
		return segmentd.UpsertResult{}, err
	}
	if err := b.write(ctx, tx, acct, nums, now); err != nil {
		return segmentd.UpsertResult{}, err
	}
	if b.mem != nil {
		b.remember(acct)
	}
	res := b.res
	res.Change = b.seq
	res.Contacts = make([]segmentd.Contact, 0, len(b.order))
	for _, e := range b.order {
		switch {
		case !e.stored || e.changed:
			res.Contacts = append(res.Contacts, e.c)
		case len(listIDs) > 0:
			res.Joined = append(res.Joined, e.c.ID)
		}
	}
	slices.Sort(res.Joined)
	return res, nil
}

// listNums returns the numbers list_members knows the lists ids by, in
// the order of ids, or KindNotFound unless every id is a list of acct.
func listNums(ctx context.Context, tx *sql.Tx, acct int64, ids []string) ([]int64, error) {
	if len(ids) == 0 {
		return nil, nil
	}
	rows, err := tx.QueryContext(ctx, qListsIn, acct, jsonStrings(ids))
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	have := make(map[string]int64, len(ids))
	for rows.Next() {
		var id string
		var num int64
		if err := rows.Scan(&id, &num); err != nil {
			return nil, err
		}
		have[id] = num
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	nums := make([]int64, len(ids))
	for i, id := range ids {
		num, ok := have[id]
		if !ok {
			return nil, notFound("list_ids", "list %s does not exist", segmentd.Quote(id))
		}
		nums[i] = num
	}
	return nums, nil
}

func newUpsertBatch(ids *contactIDs, newID string, patches int) *upsertBatch {
	b := &upsertBatch{ids: ids, byID: make(map[string]*upsertEntry), newID: newID, patches: patches,
		arena: make([]upsertEntry, 0, patches), order: make([]*upsertEntry, 0, patches)}
	b.index[0] = make(map[string]*upsertEntry, patches) // email: nearly every patch has one
	for i := 1; i < len(b.index); i++ {
		b.index[i] = make(map[string]*upsertEntry)
	}
	return b
}

// identifiersOnly reports whether every patch gives identifiers and
// nothing else.
func identifiersOnly(patches []segmentd.ContactPatch) bool {
	for _, p := range patches {
		p.Email, p.PhoneNumberID, p.ExternalID, p.AnonymousID = nil, nil, nil, nil
		if len(p.CustomFields) == 0 {
			p.CustomFields = nil
		}
		if !reflect.ValueOf(p).IsZero() {
			return false
		}
	}
	return true
}

// changedLight reports whether a patch changed a stored contact of which
// only the identifiers were read.
func (b *upsertBatch) changedLight() bool {
	for _, e := range b.order {
		if e.light && e.changed {
			return true
		}
	}
	return false
}

// qIdentifiersWhere is qContactsWhere for the ids and identifiers alone
// (append the column name, then qInValues).
const qIdentifiersWhere = "SELECT id, email, phone_number_id, external_id, anonymous_id FROM contacts WHERE account_id = ? AND "

// load reads the stored contacts that any identifier of the batch names,
// without their lists (fillLists); with light, only their ids and
// identifiers.
func (b *upsertBatch) load(ctx context.Context, tx *sql.Tx, acct int64, patches []segmentd.ContactPatch, light bool) error {
	query := qContactsWhere
	if light {
		query = qIdentifiersWhere
	}
	if light {
		// A contact re-sent to join lists is stored: nearly every patch
		// names one.
		b.byID = make(map[string]*upsertEntry, len(patches))
	}
	if b.mem != nil {
		if err := b.emptyAccount(ctx, tx, acct); err != nil {
			return err
		}
	}
	for _, t := range segmentd.Identifiers {
		var values []string
		hint := 0
		if t == segmentd.IdentifierEmail {
			hint = len(patches) // nearly every patch has one
		}
		seen := make(map[string]bool, hint)
		for i := range patches {
			if v, ok := patches[i].Identifier(t); ok && !seen[v] {
				seen[v] = true
				values = append(values, v)
			}
		}
		if t == segmentd.IdentifierEmail && b.mem != nil {
			values = b.knownEmails(acct, values, light)
		}
		if len(values) == 0 {
			continue
		}
		col, _ := identifierCol(t)
		rows, err := tx.QueryContext(ctx, query+col+qInValues, acct, jsonStrings(values))
		if err != nil {
			return err
		}
		for n := 1; rows.Next(); n++ {
			if n%yieldRows == 0 {
				segmentd.Yield(ctx)
			}
			var c segmentd.Contact
			var err error
			if light {
				c, err = scanIdentifiers(rows)
			} else {
				c, err = scanContact(rows)
			}
			if err != nil {
				rows.Close()
				return err
			}
			e := b.byID[c.ID]
			if e == nil {
				e = b.storedEntry()
				*e = upsertEntry{c: c, stored: true, light: light}
				e.stored0 = e.identifiers()
				b.byID[c.ID] = e
				b.indexEntry(e)
			}
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
	}
	return nil
}

// knownEmails answers from the remembered emails (eventCache) what it
// can of looking up emails, and returns the emails left to look up. An
// email remembered as naming no contact, or not remembered when the
// account's emails all are (ownerLoad.done), names no stored contact.
// With light, an email remembered as the own email of a contact with no
// other identifier (emailOwner.sole) gives an entry of that contact, its
// id and email, which is all a light read gives of it: a membership-only
// request's contacts are then found without the email index and the
// table row, each a random page at a million contacts (docs/sqlite.md,
// "Matched contacts from memory").
func (b *upsertBatch) knownEmails(acct int64, emails []string, light bool) []string {
	c := b.mem
	c.mu.Lock()
	defer c.mu.Unlock()
	known := c.emails[acct]
	whole := c.loads[acct] != nil && c.loads[acct].done
	if known.len() == 0 && !whole {
		return emails
	}
	rest := emails[:0]
	var text []byte
	for _, v := range emails {
		o, ok := known.get(v)
		switch {
		case !ok && whole, ok && !o.has:
			// No stored contact.
		case ok && light && o.sole:
			text = appendUUID(text[:0], o.id[:])
			id := string(text)
			if b.byID[id] != nil {
				continue
			}
			e := b.storedEntry()
			*e = upsertEntry{c: segmentd.Contact{ID: id, Email: v}, stored: true, light: true, known: true}
			e.stored0 = e.identifiers()
			b.byID[id] = e
			b.indexEntry(e)
		default:
			rest = append(rest, v)
		}
	}
	return rest
}

// qAnyContact tells whether the account has a contact.
const qAnyContact = "SELECT EXISTS (SELECT 1 FROM contacts WHERE account_id = ?)"

// emptyAccount marks the account's remembered emails whole (ownerLoad.done,
// with none remembered) when nothing was read of them since they were last
// forgotten and the account has no contact, so no alternate email either:
// a new account's first upserts then look up none of their emails, and
// what the upserts record (remember) keeps them whole.
func (b *upsertBatch) emptyAccount(ctx context.Context, tx *sql.Tx, acct int64) error {
	c := b.mem
	c.mu.Lock()
	ld := c.loads[acct]
	c.mu.Unlock()
	if ld != nil {
		return nil
	}
	var any bool
	if err := tx.QueryRowContext(ctx, qAnyContact, acct).Scan(&any); err != nil {
		return err
	}
	if any {
		return nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.loads[acct] == nil {
		if c.loads == nil {
			c.loads = make(map[int64]*ownerLoad)
		}
		c.loads[acct] = &ownerLoad{done: true}
		c.remember(acct, 0)
	}
	return nil
}

// remember records in the remembered emails (eventCache) the email of
// each contact the batch touched, which it wrote or read whole, so that
// they stay the store's answers for the upserts that follow (knownEmails)
// and for events. A change it cannot record exactly, since the email
// another contact's alternate email or nothing would then name is not
// known (a stored contact's email changed, alternate emails written), an
// id that is not a canonical UUID, or the bound reached, forgets them
// all, as any other write does.
func (b *upsertBatch) remember(acct int64) {
	c := b.mem
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, e := range b.order {
		if e.altSet || !e.stored && len(e.c.AlternateEmails) > 0 || e.stored && e.c.Email != e.stored0[0] {
			c.forgetEmailsLocked()
			return
		}
	}
	m := c.remember(acct, len(b.order))
	for _, e := range b.order {
		if e.c.Email == "" || e.known && !e.changed {
			continue // nothing to record, or recorded as it is
		}
		id, ok := parseCanonicalUUID(e.c.ID)
		if !ok || c.nEmails >= c.bound() {
			c.forgetEmailsLocked()
			return
		}
		sole := e.c.PhoneNumberID == "" && e.c.ExternalID == "" && e.c.AnonymousID == ""
		if m.set(e.c.Email, emailOwner{id: id, has: true, sole: sole}) {
			c.nEmails++
		}
	}
}

// scanIdentifiers scans a row of qIdentifiersWhere.
func scanIdentifiers(rows *sql.Rows) (segmentd.Contact, error) {
	var c segmentd.Contact
	var email, phone, external, anonymous sql.NullString
	err := rows.Scan(&c.ID, &email, &phone, &external, &anonymous)
	c.Email, c.PhoneNumberID, c.ExternalID, c.AnonymousID = email.String, phone.String, external.String, anonymous.String
	return c, err
}

// fillLists adds their stored tags and Constant Contact details to the
// stored contacts a patch changed, which UpsertResult.Contacts carries,
// and their stored lists when they are at most seekListsAlone. The others
// only joined the request's lists (UpsertResult.Joined), so theirs are not
// read: that read was a fifth of the realistic load's CPU
// (docs/sqlite.md).
//
// Past seekListsAlone changed contacts, their lists are not read either
// (UpsertResult.ListsAdded): since schema version 34 a contact's lists
// are a seek per list of the account, which for a sync re-sending 30,000
// changed contacts cost seconds, and the engine holds them already. A
// one-contact write (Constant Contact's, which answers with the contact)
// still gets its lists, for a few seeks.
func (b *upsertBatch) fillLists(ctx context.Context, tx *sql.Tx, acct int64) error {
	var cs []*segmentd.Contact
	for _, e := range b.order {
		if e.stored && e.changed {
			cs = append(cs, &e.c)
		}
	}
	lists := len(cs) <= seekListsAlone
	b.res.ListsAdded = !lists
	return fillSetsOf(ctx, tx, acct, cs, lists)
}

// identifiers returns the entry's identifier values in segmentd.Identifiers order.
func (e *upsertEntry) identifiers() [4]string {
	var out [4]string
	for i, t := range segmentd.Identifiers {
		out[i] = e.c.Identifier(t)
	}
	return out
}

func (b *upsertBatch) indexEntry(e *upsertEntry) {
	for i, t := range segmentd.Identifiers {
		if v := e.c.Identifier(t); v != "" {
			b.index[i][v] = e
		}
	}
}

// apply matches patch i to at most one contact and merges it.
func (b *upsertBatch) apply(i int, p *segmentd.ContactPatch, listIDs []string, now time.Time) {
	var match *upsertEntry
	var matchT segmentd.IdentifierType
	for ti, t := range segmentd.Identifiers {
		v, ok := p.Identifier(t)
		if !ok {
			continue
		}
		e := b.index[ti][v]
		if e == nil {
			continue
		}
		if match == nil {
			match, matchT = e, t
			continue
		}
		if e != match {
			first, _ := p.Identifier(matchT)
			b.res.Errors = append(b.res.Errors, segmentd.JobError{Index: i, Field: string(t), Message: fmt.Sprintf(
				"%s %s and %s %s belong to two different contacts", matchT, segmentd.Quote(first), t, segmentd.Quote(v))})
			return
		}
	}
	var e *upsertEntry
	var changed bool
	var err error
	if match != nil {
		// Merge into a copy, so that a refused patch leaves the entry as it was.
		c := match.c
		c.AlternateEmails = slices.Clone(c.AlternateEmails)
		c.CustomFields = maps.Clone(c.CustomFields)
		c.ListIDs = slices.Clone(c.ListIDs)
		if changed, err = segmentd.ApplyPatch(&c, p, listIDs, "", now); err == nil {
			e = match
			e.c = c
			b.res.Updated++
		}
	} else {
		e = b.newEntry()
		// The id takes wall time, not the (injectable) clock: ids are about
		// B-tree locality.
		id := b.newID
		if id == "" {
			id = b.ids.next(time.Now())
		}
		if changed, err = segmentd.ApplyPatch(&e.c, p, listIDs, id, now); err == nil {
			b.newID = ""
			b.res.Created++
		} else {
			b.dropEntry()
		}
	}
	if err != nil {
		je := segmentd.JobError{Index: i, Message: err.Error()}
		var se *segmentd.Error
		if errors.As(err, &se) {
			je.Field, je.Message = se.Field, se.Message
		}
		b.res.Errors = append(b.res.Errors, je)
		return
	}
	if p.AlternateEmails != nil {
		e.altSet = true
	}
	e.changed = e.changed || changed
	if !e.touched {
		e.touched = true
		b.order = append(b.order, e)
	}
	b.indexEntry(e)
}

// newEntry returns a zero entry for a new contact. Entries come from one
// slice allocated per batch (at most one new contact per patch), which
// costs the allocator and the GC far less than one allocation each.
func (b *upsertBatch) newEntry() *upsertEntry {
	b.arena = b.arena[:len(b.arena)+1]
	return &b.arena[len(b.arena)-1]
}

// storedEntry returns room for a stored contact, from slices that double
// (a batch may match one stored contact or all of them), which costs the
// allocator far less than one allocation each, as newEntry's.
func (b *upsertBatch) storedEntry() *upsertEntry {
	if len(b.stored) == cap(b.stored) {
		// byID holds the stored entries given so far; a patch names at
		// most one stored contact, unless its identifiers name two (an
		// error).
		n := max(64, len(b.byID))
		b.stored = make([]upsertEntry, 0, max(1, min(n, b.patches-len(b.byID))))
	}
	b.stored = b.stored[:len(b.stored)+1]
	return &b.stored[len(b.stored)-1]
}

// dropEntry returns the entry newEntry gave last.
func (b *upsertBatch) dropEntry() {
	b.arena[len(b.arena)-1] = upsertEntry{}
	b.arena = b.arena[:len(b.arena)-1]
}

// insertChunk is how many contacts one multi-row INSERT writes (23
// parameters each, well under SQLite's limit of 32,766): one statement per
// chunk instead of per contact saves most of the per-statement cost.
const insertChunk = 128

// yieldRows is how many rows an upsert reads, merges or writes between
// two of its yield points (segmentd.Yield): a few milliseconds of work.
const yieldRows = 256

// contactWriteCols are the columns an insert writes, in rowArgs order.
var contactWriteCols = append(append([]string{"account_id", "id"}, textCols...),
	"alternate_emails", "custom_fields", "created_at", "updated_at", "change_seq")

// write stores the batch: new contacts with multi-row INSERTs, stored
// contacts a patch changed with an UPDATE each, their alternate-email rows
// when a patch set them, and the list memberships of every touched
// contact (lists holds the lists' numbers, listNums). A stored contact no patch changed (re-sent only to join lists)
// keeps its row: only its new list_members rows are written, and they
// carry the change number (Store.Changes).
//
// Writes go in key order (contact ids, which are time-ordered, so nearly
// rowid order too): each B-tree page is then visited once per batch, while
// it is in the page cache, instead of once per contact on it. A list's new
// memberships are one run of list_members' key (account, list, contact).
func (b *upsertBatch) write(ctx context.Context, tx *sql.Tx, acct int64, lists []int64, now time.Time) error {
	if len(b.order) == 0 {
		return nil
	}
	// The batch is merged; write all of it. The statements run without the
	// caller's cancellation: modernc.org/sqlite starts a goroutine per
	// statement to watch a cancellable context, which costs more than the
	// statement. A failure still rolls the whole transaction back.
	ctx = context.WithoutCancel(ctx)

	var inserts, updates []*upsertEntry
	for _, e := range b.order {
		switch {
		case !e.stored:
			inserts = append(inserts, e)
		case e.changed:
			updates = append(updates, e)
		}
	}
	byID := func(x, y *upsertEntry) int { return strings.Compare(x.c.ID, y.c.ID) }
	slices.SortFunc(updates, byID)
	if err := insertContacts(ctx, tx, acct, b.seq, inserts); err != nil {
		return err
	}
	if err := dropTombstonesOf(ctx, tx, acct, inserts); err != nil {
		return err
	}
	if err := updateContacts(ctx, tx, acct, b.seq, updates); err != nil {
		return err
	}
	if err := writeAlternateEmails(ctx, tx, acct, b.order); err != nil {
		return err
	}
	if len(lists) == 0 {
		return nil
	}
	// The change history learns of contacts whose row was written from the
	// row's change_seq; of those that only joined lists, from
	// membership_changes (one row an upsert, packJoined), or for an id
	// too long to pack, from the row's change_seq again.
	ids := make([]string, 0, len(b.order))
	var joined []string
	for _, e := range b.order {
		ids = append(ids, e.c.ID)
		if e.stored && !e.changed {
			joined = append(joined, e.c.ID)
		}
	}
	slices.Sort(ids)
	idsJSON := jsonStrings(ids)
	for _, l := range lists {
		segmentd.Yield(ctx)
		// One statement per list: json_each walks the ids, in key order.
		if _, err := tx.ExecContext(ctx, qAddListMembers, acct, l, toMS(now), idsJSON); err != nil {
			return fmt.Errorf("add list members: %w", err)
		}
	}
	if len(joined) == 0 {
		return nil
	}
	packed, long := packJoined(joined)
	if len(packed) > 0 {
		if _, err := tx.ExecContext(ctx, qRecordJoined, acct, b.seq, packed); err != nil {
			return fmt.Errorf("record list joins: %w", err)
		}
	}
	if len(long) > 0 {
		// An id too long to pack (migrated from another store): the
		// change history learns of the contact from its row instead.
		if _, err := tx.ExecContext(ctx, qStampContacts, b.seq, acct, jsonStrings(long)); err != nil {
			return fmt.Errorf("record list joins: %w", err)
		}
	}
	return nil
}

// rowArgs appends a new contact's values in contactWriteCols order.
func rowArgs(args []any, acct, seq int64, c *segmentd.Contact) ([]any, error) {
	custom, err := encodeCustomFields(c.CustomFields)
	if err != nil {
		return nil, fmt.Errorf("contact %s: custom_fields: %w", c.ID, err)
	}
	args = append(args, acct, c.ID)
	for _, p := range textFields(c) {
		args = append(args, nullText(*p))
	}
	return append(args, encodeAlternateEmails(c.AlternateEmails), custom, toMS(c.CreatedAt), toMS(c.UpdatedAt), seq), nil
}

// insertContacts inserts new contacts, insertChunk to a statement. OR
// FAIL: a failing row fails the statement, and the upsert's transaction is
// then rolled back whole, so SQLite need not copy each page the statement
// first touches into a statement journal to undo the statement alone (as
// ABORT, the default, does for a statement of several rows).
func insertContacts(ctx context.Context, tx *sql.Tx, acct, seq int64, es []*upsertEntry) error {
	row := "(?" + strings.Repeat(", ?", len(contactWriteCols)-1) + ")"
	head := "INSERT OR FAIL INTO contacts (" + strings.Join(contactWriteCols, ", ") + ") VALUES "
	var chunk *sql.Stmt
	if len(es) >= insertChunk {
		var err error
		chunk, err = tx.PrepareContext(ctx, head+row+strings.Repeat(", "+row, insertChunk-1))
		if err != nil {
			return err
		}
		defer chunk.Close()
	}
	args := make([]any, 0, insertChunk*len(contactWriteCols))
	for len(es) > 0 {
		segmentd.Yield(ctx)
		n := min(len(es), insertChunk)
		args = args[:0]
		for _, e := range es[:n] {
			var err error
			if args, err = rowArgs(args, acct, seq, &e.c); err != nil {
				return err
			}
		}
		var err error
		if n == insertChunk {
			_, err = chunk.ExecContext(ctx, args...)
		} else {
			_, err = tx.ExecContext(ctx, head+row+strings.Repeat(", "+row, n-1), args...)
		}
		if err != nil {
			return fmt.Errorf("insert contacts: %w", err)
		}
		es = es[n:]
	}
	return nil
}

// updateContacts rewrites stored contacts. The identifier columns are left
// out of the UPDATE unless a patch added an identifier, so that their
// indexes are not rewritten for nothing.
func updateContacts(ctx context.Context, tx *sql.Tx, acct, seq int64, es []*upsertEntry) error {
	if len(es) == 0 {
		return nil
	}
	var sets []string
	for _, c := range contactWriteCols[2:] {
		if c != "created_at" {
			sets = append(sets, c+" = ?")
		}
	}
	withIDs, err := tx.PrepareContext(ctx, "UPDATE contacts SET "+strings.Join(sets, ", ")+" WHERE account_id = ? AND id = ?")
	if err != nil {
		return err
	}
	defer withIDs.Close()
	withoutIDs, err := tx.PrepareContext(ctx, "UPDATE contacts SET "+strings.Join(sets[len(segmentd.Identifiers):], ", ")+" WHERE account_id = ? AND id = ?")
	if err != nil {
		return err
	}
	defer withoutIDs.Close()

	args := make([]any, 0, len(contactWriteCols))
	for i, e := range es {
		if i%yieldRows == yieldRows-1 {
			segmentd.Yield(ctx)
		}
		c := &e.c
		custom, err := encodeCustomFields(c.CustomFields)
		if err != nil {
			return fmt.Errorf("contact %s: custom_fields: %w", c.ID, err)
		}
		// textCols starts with the identifier columns (TestContactColumns).
		stmt, first := withoutIDs, len(segmentd.Identifiers)
		if e.identifiers() != e.stored0 {
			stmt, first = withIDs, 0
		}
		args = args[:0]
		fields := textFields(c)
		for _, p := range fields[first:] {
			args = append(args, nullText(*p))
		}
		args = append(args, encodeAlternateEmails(c.AlternateEmails), custom, toMS(c.UpdatedAt), seq, acct, c.ID)
		if _, err := stmt.ExecContext(ctx, args...); err != nil {
			return fmt.Errorf("update contact: %w", err)
		}
	}
	return nil
}

// writeAlternateEmails replaces the contact_alternate_emails rows of the
// contacts whose alternate emails a patch set (or that are new).
func writeAlternateEmails(ctx context.Context, tx *sql.Tx, acct int64, es []*upsertEntry) error {
	var del, ins *sql.Stmt
	for _, e := range es {
		if !e.altSet && (e.stored || len(e.c.AlternateEmails) == 0) || e.stored && !e.changed {
			continue
		}
		if del == nil {
			var err error
			if del, err = tx.PrepareContext(ctx, qDeleteAlternatesOne); err != nil {
				return err
			}
			defer del.Close()
			if ins, err = tx.PrepareContext(ctx, qInsertAlternateEmail); err != nil {
				return err
			}
			defer ins.Close()
		}
		if e.stored {
			if _, err := del.ExecContext(ctx, acct, e.c.ID); err != nil {
				return err
			}
		}
		for _, a := range e.c.AlternateEmails {
			if _, err := ins.ExecContext(ctx, acct, a, e.c.ID); err != nil {
				return err
			}
		}
	}
	return nil
}
