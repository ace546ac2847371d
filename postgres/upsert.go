package postgres

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/segmentd/segmentd"
)

// UpsertContacts is one transaction of a few statements, whatever the
// batch's size: it takes the account's lock and change number, reads the
// rows of the stored contacts that any identifier of the batch names,
// matches and merges every patch in memory (with segmentd.ApplyPatch, as
// the SQLite store does, sqlite/upsert.go), reads the lists, tags and
// Constant Contact attributes of the stored contacts a patch changed,
// then writes the result as whole sets by COPY: the new and changed
// contacts (an updated contact's row is deleted and written again: the
// same dead row an UPDATE leaves, at COPY's cost rather than that of an
// UPDATE … FROM unnest(…) of 20-odd arrays, about 15% of a 30,000-contact
// update), their alternate emails and their new list memberships. A
// stored contact no patch changed (a client re-sending identifiers to
// put contacts on a list: most of an account's load) is neither read in
// full nor written: its memberships are inserted unless they exist, and
// membership_changes tells the history (docs/postgres.md, "Bulk paths").
// Whether they exist is not asked while the account's last upserts found
// none of theirs held: COPY writes them all, list_members' primary key
// judges, and a unique violation rolls the transaction back whole and
// runs the upsert again with one probe of the key per membership
// (qMembersHeld; joinOdds, and docs/postgres.md, "Session 17:
// memberships without probes").
//
// Matching under the account lock is exact: every writer of the account's
// contacts holds it, so no contact appears or changes between the read and
// the write, and the rows COPY adds are known to be new (the unique
// indexes on the identifiers and the primary keys hold besides: a
// duplicate would fail the whole transaction, never be stored).
//
// A patch that names a contact by its email alone and sets nothing (a
// membership-only patch: the client puts a stored contact on the
// request's lists) does not need the contact's row when the store
// remembers, as of the owners' epoch before the upsert's, that the email
// is the own email of a contact with no other identifier (owners.go):
// ApplyPatch would match that contact and change nothing of it, so the
// upsert goes straight to its memberships with the id alone. Every write
// that could make the memory wrong moved the epoch in between, and then it
// is not used.
//
// A batch whose every patch makes a new contact of its own (allNew) is
// not matched first: COPY's row source merges each patch as it asks for
// its row (writeNew), while the database takes the rows before.
//
// While the remembered owners are complete (every own email of the
// account's contacts is remembered with its owner, owners.go) and as of
// the epoch before the upsert's, an email the memory does not hold with
// an owner names no contact: load does not look it up (unowned), so a
// batch of new contacts' full records reads no row. An upsert whose
// account's owners are not complete asks, with its lock, whether the
// account has a contact at all (qNoContacts); when it has none, load
// looks nothing up, and the owners the upsert leaves are complete.

// upsertEntry is a contact touched by an upsert batch.
type upsertEntry struct {
	c       segmentd.Contact
	lists0  []string // the lists the stored contact is on, once read (fill)
	alt0    []string // the stored contact's alternate emails, as read
	stored  bool     // the row exists (rewritten), or not yet
	altSet  bool     // a patch gave alternate_emails: rewrite its rows
	touched bool     // a patch was applied to it
	changed bool     // new, or a patch changed a field: write its row
	// remembered: made from the remembered owners (upsertBatch.sole), not
	// read; unless a patch changed it, the memory holds it as it stands
	// after the batch (owned).
	remembered bool
}

// upsertBatch matches and merges one batch in memory. Matching sees the
// batch's own earlier patches: an identifier given twice updates the
// contact the first occurrence created.
type upsertBatch struct {
	ids    *contactIDs
	order  []*upsertEntry             // touched entries, in first-touch order
	stored []*upsertEntry             // the stored contacts the batch named, read or remembered
	sole   []string                   // aligned with the patches: a membership-only patch's remembered contact (owners.go), or ""; nil for none
	none   []bool                     // aligned with the patches: its email names no contact (owners.unowned); nil when not known
	empty  bool                       // the account had no contact: nothing is looked up
	unread int                        // the emails not looked up for none or empty (Store.emailsUnread)
	index  [4]map[string]*upsertEntry // by identifier, in segmentd.Identifiers order
	res    segmentd.UpsertResult
	newID  string // the id of the next contact created, when not ""
	joins  int    // the memberships of stored contacts left unwritten, written (new) or found held
	held   int    // of joins, those found held (probed, joinProbed)
	// unwritten are the ids of the stored contacts no patch changed, when
	// the batch has lists, sorted (write): UpsertResult.Joined.
	unwritten []string
	// made are the contacts a batch of new ones made (allNew, writeNew),
	// in the patches' order: UpsertResult.Contacts.
	made []segmentd.Contact
}

// UpsertContacts applies the patches in order inside one transaction.
// UpsertResult.Contacts holds each created contact, and each stored one a
// patch changed, once, in its final state, in the order the request first
// named it; UpsertResult.Joined the stored contacts no patch changed, which
// only joined listIDs: their rows are left as they are.
//
// The memberships of the stored contacts left unwritten are assumed new
// when the account's last upserts found none of theirs held (joinOdds):
// COPY writes them unprobed, and a unique violation of list_members'
// primary key rolls the whole transaction back (its change number is
// taken again) and runs the upsert again with the probes.
func (s *Store) UpsertContacts(ctx context.Context, acct int64, patches []segmentd.ContactPatch, listIDs []string, now time.Time) (segmentd.UpsertResult, error) {
	mode := joinProbed
	if s.joinOdds.assumeNew(acct) {
		mode = joinAssumed
	}
	for {
		var res segmentd.UpsertResult
		var b *upsertBatch
		var epoch int64 // the owners' epoch the upsert's change number moved the account to (owners.go)
		probe := !s.owners.completeAny(acct)
		err := s.inPipedTx(ctx, func(tx *pipedTx) error {
			var seq int64
			var empty bool
			var err error
			seq, epoch, empty, err = nextChangeProbed(ctx, tx, acct, probe)
			if err != nil {
				return err
			}
			res, b, err = s.upsertTx(ctx, tx, acct, seq, epoch, patches, listIDs, now, "", mode, empty)
			return err
		})
		if mode == joinAssumed && isMemberHeld(err) {
			// Again with the probes, whose finding the odds then learn.
			s.joinConflicts.Add(1)
			mode = joinProbed
			continue
		}
		if err != nil {
			return segmentd.UpsertResult{}, err
		}
		if b.joins > 0 {
			if mode == joinAssumed {
				s.joinsAssumed.Add(1)
			}
			s.joinOdds.saw(acct, b.held > 0)
		}
		forget, own := b.owned()
		s.owners.wrote(acct, epoch, b.empty, forget, own)
		s.emailsUnread.Add(int64(b.unread))
		return res, nil
	}
}

// qDropTombstones deletes the tombstones of emails $2, which new
// contacts took.
const qDropTombstones = `DELETE FROM contact_tombstones WHERE account_id = $1 AND email = ANY($2)
	AND EXISTS (SELECT 1 FROM contact_tombstones WHERE account_id = $1)`

// qNoContacts tells whether the account has no contact: one probe of
// contacts' primary key. Ordered by it: the planner takes NOT EXISTS for
// an account that holds most of the table's rows as a sequential scan to
// the first one, which could read the pages of every other account's
// contacts first (EXPLAIN, 200,000 contacts of one account).
const qNoContacts = "SELECT count(*) = 0 FROM (SELECT 1 FROM contacts WHERE account_id = $1 ORDER BY id LIMIT 1) c"

// nextChangeProbed is nextChangeEpoch that, with probe, also asks in its
// round trip whether the account has no contact (qNoContacts), after
// the lock: no contact appears before the transaction ends.
func nextChangeProbed(ctx context.Context, tx txConn, acct int64, probe bool) (seq, epoch int64, empty bool, err error) {
	if !probe {
		seq, epoch, err = nextChangeEpoch(ctx, tx, acct)
		return seq, epoch, false, err
	}
	var b pgx.Batch
	b.Queue(qNextChange, acct).QueryRow(func(row pgx.Row) error { return row.Scan(&seq, &epoch) })
	b.Queue(qNotify, changesChannel, strconv.FormatInt(acct, 10))
	b.Queue(qNoContacts, acct).QueryRow(func(row pgx.Row) error { return row.Scan(&empty) })
	err = tx.SendBatch(ctx, &b).Close()
	return seq, epoch, empty, err
}

// joinMode is how upsertTx treats the stored contacts no patch changed.
type joinMode int

const (
	// rewriteAll writes every touched contact and reports it in full
	// (PutContact): none is left unwritten.
	rewriteAll joinMode = iota
	// joinProbed leaves them unwritten and reports them in
	// UpsertResult.Joined; their memberships that exist are probed for
	// (qMembersHeld) and the others added.
	joinProbed
	// joinAssumed is joinProbed with every membership assumed new: COPY
	// adds them all, and one that exists fails the transaction with a
	// unique violation (isMemberHeld).
	joinAssumed
)

// isMemberHeld reports whether err is the unique violation of
// list_members' primary key that a joinAssumed upsert meets when one of
// its memberships exists. Citus reports a shard's violation in a COPY as
// an internal error (XX000, from its ReportCopyError) carrying the
// worker's message, which names the shard's constraint: the table's
// constraint with the shard's number appended. That name is what is
// matched: the message around it is translated under other lc_messages,
// the name is not.
func isMemberHeld(err error) bool {
	var pe *pgconn.PgError
	if !errors.As(err, &pe) {
		return false
	}
	switch pe.Code {
	case "23505": // unique_violation
		return pe.ConstraintName == "list_members_pkey"
	case "XX000":
		return pe.Routine == "ReportCopyError" && strings.Contains(pe.Message, `"list_members_pkey_`)
	}
	return false
}

// quietJoins is how many upserts of an account in a row must find none
// of their joining memberships held before the next one assumes its own
// new: one re-sync (contacts re-sent onto lists they are on) then pays
// one failed transaction, and a mix of re-syncs and new memberships none
// after the first.
const quietJoins = 4

// joinOdds remembers, per account, how its last upserts that put stored
// contacts on lists went: whether one found such a membership held (its
// probe, or a unique violation), and how many upserts found none since.
// It is a guess, never trusted for correctness: list_members' primary
// key judges.
type joinOdds struct {
	mu sync.Mutex
	// quiet holds the accounts whose memberships are probed: the upserts
	// since one found a membership held, fewer than quietJoins. An
	// account not in it assumes its memberships new.
	quiet map[int64]int
}

// assumeNew reports whether acct's next upsert assumes the memberships
// of its unwritten contacts new.
func (j *joinOdds) assumeNew(acct int64) bool {
	j.mu.Lock()
	defer j.mu.Unlock()
	_, probing := j.quiet[acct]
	return !probing
}

// saw records how an upsert of acct that had such memberships went: held,
// some existed.
func (j *joinOdds) saw(acct int64, held bool) {
	j.mu.Lock()
	defer j.mu.Unlock()
	if held {
		if j.quiet == nil {
			j.quiet = make(map[int64]int)
		}
		j.quiet[acct] = 0
		return
	}
	if n, probing := j.quiet[acct]; probing {
		if n+1 >= quietJoins {
			delete(j.quiet, acct)
		} else {
			j.quiet[acct] = n + 1
		}
	}
}

// upsertTx is UpsertContacts inside tx, under change number seq, which
// the transaction took, and which moved the account's owners' epoch
// (owners.go) to epoch. newID, when not "", is the id of the first
// contact the batch creates (a revived one, PutContact). mode says what
// becomes of the stored contacts no patch changed (joinMode); with
// rewriteAll the remembered owners are not used (PutContact may have
// changed the contact's email in tx before), nor epoch, nor empty.
// empty: the account had no contact when tx took its lock (qNoContacts),
// so that no identifier names one.
func (s *Store) upsertTx(ctx context.Context, tx txConn, acct, seq, epoch int64, patches []segmentd.ContactPatch, listIDs []string, now time.Time, newID string, mode joinMode, empty bool) (segmentd.UpsertResult, *upsertBatch, error) {
	joined := mode != rewriteAll
	now = msTime(now)
	listIDs = sortedUnique(listIDs)
	if err := checkLists(ctx, tx, acct, listIDs); err != nil {
		return segmentd.UpsertResult{}, nil, err
	}
	b := &upsertBatch{ids: &s.ids, newID: newID, order: make([]*upsertEntry, 0, len(patches))}
	if joined && empty {
		b.empty = true
	} else if joined {
		b.sole = s.owners.soleOwners(acct, epoch, membershipOnlyEmails(patches))
		b.none = s.owners.unowned(acct, epoch, unansweredEmails(patches, b.sole))
	}
	if joined && !s.testOnlyNoStreaming && b.allNew(patches) {
		// Every patch makes a new contact: none is matched, and each is
		// made as COPY asks for its row (newContactRows).
		b.unread = len(patches)
		s.upsertsNew.Add(1)
		if err := b.writeNew(ctx, tx, acct, seq, patches, listIDs, now); err != nil {
			return segmentd.UpsertResult{}, nil, err
		}
		res := b.res
		res.Change, res.Contacts = seq, b.made
		return res, b, nil
	}
	if joined && allRemembered(b.sole) {
		// Every patch is membership-only on a remembered contact: none is
		// read, matched or merged (load and apply would make an entry of
		// each, change nothing of it and leave it unwritten), and each patch
		// counts as one update, as apply counts it. write sorts the ids.
		b.res.Updated = len(patches)
		s.upsertsRemembered.Add(1)
		if len(listIDs) > 0 {
			b.unwritten = slices.Clone(b.sole)
		}
	} else if err := b.match(ctx, tx, acct, patches, listIDs, now, joined); err != nil {
		return segmentd.UpsertResult{}, nil, err
	}
	if err := b.write(ctx, tx, acct, seq, listIDs, now, mode == joinAssumed); err != nil {
		return segmentd.UpsertResult{}, nil, err
	}
	res := b.res
	res.Change = seq
	n := 0 // counted first: a membership-only batch has none, and 30,000 Contacts take 22 MB
	for _, e := range b.order {
		if !e.stored || e.changed {
			n++
		}
	}
	res.Contacts = make([]segmentd.Contact, 0, n)
	for _, e := range b.order {
		if !e.stored || e.changed {
			res.Contacts = append(res.Contacts, e.c)
		}
	}
	res.Joined = b.unwritten
	return res, b, nil
}

// allRemembered reports whether every patch has a remembered contact in
// sole (upsertBatch.sole).
func allRemembered(sole []string) bool {
	return len(sole) > 0 && !slices.Contains(sole, "")
}

// match reads the stored contacts the patches name, and matches and
// merges every patch in memory; with joined, a stored contact no patch
// changed is left unwritten.
func (b *upsertBatch) match(ctx context.Context, tx txConn, acct int64, patches []segmentd.ContactPatch, listIDs []string, now time.Time, joined bool) error {
	b.index[0] = make(map[string]*upsertEntry, len(patches)) // email: nearly every patch has one
	for i := 1; i < len(b.index); i++ {
		b.index[i] = make(map[string]*upsertEntry)
	}
	if err := b.load(ctx, tx, acct, patches); err != nil {
		return err
	}
	for i := range patches {
		b.apply(i, &patches[i], listIDs, now)
	}
	if !joined {
		for _, e := range b.order {
			e.changed = true
		}
	}
	return b.fill(ctx, tx, acct)
}

// membershipOnlyEmails returns, aligned with patches, the email of each
// membership-only patch (membershipOnly) that no other patch naming the
// same email sets something with ("" for the others): a patch that sets
// something needs its contact's row. nil when there is none. A batch
// all of one kind, as a client's usually is, needs no map.
func membershipOnlyEmails(patches []segmentd.ContactPatch) []string {
	var out []string
	setting := 0 // patches that name an email and set something
	for i := range patches {
		p := &patches[i]
		if !membershipOnly(p) {
			if _, ok := p.Identifier(segmentd.IdentifierEmail); ok {
				setting++
			}
			continue
		}
		if out == nil {
			out = make([]string, len(patches))
		}
		out[i] = *p.Email
	}
	if out == nil || setting == 0 {
		return out
	}
	sets := make(map[string]bool, setting)
	for i := range patches {
		p := &patches[i]
		if e, ok := p.Identifier(segmentd.IdentifierEmail); ok && !membershipOnly(p) {
			sets[e] = true
		}
	}
	for i, e := range out {
		if sets[e] {
			out[i] = ""
		}
	}
	return out
}

// unansweredEmails returns, aligned with patches, the email of each
// patch that gives one and has no remembered contact in sole (soleOwners'
// answer), "" for the others; nil when there is none.
func unansweredEmails(patches []segmentd.ContactPatch, sole []string) []string {
	var out []string
	for i := range patches {
		e, ok := patches[i].Identifier(segmentd.IdentifierEmail)
		if !ok || sole != nil && sole[i] != "" {
			continue
		}
		if out == nil {
			out = make([]string, len(patches))
		}
		out[i] = e
	}
	return out
}

// membershipOnly reports whether p gives an email and nothing else: it
// matches the contact whose own email that is, and changes nothing of it
// but its lists, when the contact has no other identifier (ApplyPatch
// requires each to be given).
func membershipOnly(p *segmentd.ContactPatch) bool {
	return p.Email != nil && *p.Email != "" && p.PhoneNumberID == nil && p.ExternalID == nil && p.AnonymousID == nil &&
		p.AlternateEmails == nil && p.FirstName == nil && p.LastName == nil && p.AddressLine1 == nil &&
		p.AddressLine2 == nil && p.City == nil && p.StateProvinceRegion == nil && p.PostalCode == nil &&
		p.Country == nil && p.PhoneNumber == nil && p.WhatsApp == nil && p.Line == nil && p.Facebook == nil &&
		p.UniqueName == nil && len(p.CustomFields) == 0
}

// owned returns what the committed batch knows of its contacts' emails
// (owners.wrote): each stored or new contact's own email as it stands
// now, and the emails whose owner the batch may have changed otherwise:
// the alternate emails it set or gave a new contact. (A stored contact's
// email does not change: ApplyPatch requires it to be given as it is;
// one with none may get one, which is its own email now.)
func (b *upsertBatch) owned() (forget []string, own []ownedEmail) {
	add := func(e *upsertEntry) {
		c := &e.c
		if c.Email != "" {
			own = append(own, ownedEmail{email: c.Email, id: c.ID, sole: c.PhoneNumberID == "" && c.ExternalID == "" && c.AnonymousID == ""})
		}
		if e.altSet || !e.stored {
			forget = append(forget, e.alt0...)
			forget = append(forget, c.AlternateEmails...)
		}
	}
	for _, e := range b.stored {
		if e.remembered && !e.changed && !e.altSet {
			// Remembered as it stands (soleOwners): wrote would look it
			// up to find it so, 30,000 lookups of a membership-only batch.
			continue
		}
		add(e)
	}
	for _, e := range b.order {
		if !e.stored {
			add(e)
		}
	}
	for i := range b.made { // allNew: an email and no other identifier each
		own = append(own, ownedEmail{email: b.made[i].Email, id: b.made[i].ID, sole: true})
	}
	return forget, own
}

// checkLists returns KindNotFound unless every id in ids is a list of acct.
func checkLists(ctx context.Context, tx txConn, acct int64, ids []string) error {
	if len(ids) == 0 {
		return nil
	}
	found, err := queryAll(ctx, tx, scanString, "SELECT id FROM lists WHERE account_id = $1 AND id = ANY($2)", acct, ids)
	if err != nil {
		return err
	}
	for _, id := range ids {
		if !slices.Contains(found, id) {
			return notFound("list_ids", "list %s does not exist", segmentd.Quote(id))
		}
	}
	return nil
}

// load reads the rows of the stored contacts that any identifier of the
// batch names, and indexes them: one query per kind of identifier the
// batch holds (most batches hold emails only). What other tables hold of
// them (lists, tags, Constant Contact's attributes) is read afterwards,
// and only for the contacts a patch changed (fill): the others only join
// lists. The emails of b.sole are not read: their contacts are entries
// with the id and the email alone, which only membership-only patches
// name. Nor are those of b.none, which name no contact, nor anything
// when the account has no contact (b.empty).
func (b *upsertBatch) load(ctx context.Context, tx txConn, acct int64, patches []segmentd.ContactPatch) error {
	nSole := 0
	for _, id := range b.sole {
		if id != "" {
			nSole++
		}
	}
	byID := make(map[string]*upsertEntry, nSole)
	var stored []upsertEntry // the batch's stored contacts, in a few allocations
	entry := func(c segmentd.Contact) *upsertEntry {
		if len(stored) == cap(stored) {
			stored = make([]upsertEntry, 0, max(64, 2*cap(stored)))
		}
		stored = append(stored, upsertEntry{c: c, stored: true, alt0: c.AlternateEmails})
		e := &stored[len(stored)-1]
		byID[c.ID] = e
		b.stored = append(b.stored, e)
		b.indexEntry(e)
		return e
	}
	for _, t := range segmentd.Identifiers {
		var values []string
		var seen map[string]bool
		for i := range patches {
			v, ok := patches[i].Identifier(t)
			if !ok || t == segmentd.IdentifierEmail && b.sole != nil && b.sole[i] != "" {
				continue
			}
			if seen == nil {
				seen = make(map[string]bool, len(patches)-i)
			}
			if seen[v] {
				continue
			}
			seen[v] = true
			if t == segmentd.IdentifierEmail && (b.empty || b.none != nil && b.none[i]) {
				b.unread++
				continue
			}
			values = append(values, v)
		}
		if len(values) == 0 || b.empty {
			continue
		}
		err := contactsBy(ctx, tx, qUpsertRowsByIdentifier[t], acct, values, func(_ string, c segmentd.Contact) {
			if byID[c.ID] != nil {
				return // named by another kind of identifier too
			}
			entry(c)
		})
		if err != nil {
			return err
		}
	}
	if nSole > 0 {
		stored = make([]upsertEntry, 0, nSole)
	}
	for i, id := range b.sole {
		// Its contact has no other identifier, so no query above read it
		// (unless the memory were wrong): an entry of the id and the email.
		if id == "" {
			continue
		}
		if email := *patches[i].Email; b.index[0][email] == nil && byID[id] == nil {
			entry(segmentd.Contact{ID: id, Email: email}).remembered = true
		}
	}
	return nil
}

// qUpsertRowsByIdentifier are qContactsByIdentifier without the
// contact's lists, tags and Constant Contact attributes (NULL), which fill
// reads where needed.
var qUpsertRowsByIdentifier = byIdentifier(func(cond string) string {
	return qColumnsBy(contactRowColumns+", NULL::text[], NULL::text[], NULL::text", cond)
})

// qContactSides reads contactSideColumns of the contacts $2.
const qContactSides = "SELECT c.id, " + contactSideColumns + " FROM unnest($2::text[]) AS c (id)"

// fill reads the lists, tags and Constant Contact attributes of the
// stored contacts a patch changed, which UpsertResult.Contacts carries in
// full, and adds the lists the patches put them on to the stored ones.
func (b *upsertBatch) fill(ctx context.Context, tx txConn, acct int64) error {
	byID := make(map[string]*upsertEntry)
	var ids []string
	for _, e := range b.order {
		if e.stored && e.changed {
			byID[e.c.ID] = e
			ids = append(ids, e.c.ID)
		}
	}
	if len(ids) == 0 {
		return nil
	}
	rows, err := tx.Query(ctx, qContactSides, acct, ids)
	if err != nil {
		return err
	}
	defer rows.Close()
	var id string
	var lists, tags []string
	var cc *string
	for rows.Next() {
		lists, tags, cc = nil, nil, nil
		if err := rows.Scan(&id, &lists, &tags, &cc); err != nil {
			return err
		}
		e := byID[id]
		if e == nil {
			continue
		}
		e.lists0 = lists
		joined := e.c.ListIDs // the batch's lists, which apply added
		e.c.ListIDs = slices.Clone(lists)
		for _, l := range joined {
			if i, found := slices.BinarySearch(e.c.ListIDs, l); !found {
				e.c.ListIDs = slices.Insert(e.c.ListIDs, i, l)
			}
		}
		if len(e.c.ListIDs) == 0 {
			e.c.ListIDs = nil
		}
		if len(tags) > 0 {
			e.c.TagIDs = tags
		}
		if cc != nil {
			if e.c.CC, err = segmentd.DecodeCCDetails(*cc); err != nil {
				return fmt.Errorf("contact %s: contact_cc: %w", id, err)
			}
		}
	}
	return rows.Err()
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
		e = &upsertEntry{}
		// The id takes wall time, not the (injectable) clock: ids are about
		// B-tree locality.
		id := b.newID
		if id == "" {
			id = b.ids.next(time.Now())
		}
		if changed, err = segmentd.ApplyPatch(&e.c, p, listIDs, id, now); err == nil {
			b.newID = ""
			b.res.Created++
		}
	}
	if err != nil {
		b.refuse(i, err)
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
	if match == nil || changed {
		// A patch that changed nothing of a stored contact left its
		// identifiers, which index it already, as they were.
		b.indexEntry(e)
	}
}

// refuse records patch i's error.
func (b *upsertBatch) refuse(i int, err error) {
	je := segmentd.JobError{Index: i, Message: err.Error()}
	var se *segmentd.Error
	if errors.As(err, &se) {
		je.Field, je.Message = se.Field, se.Message
	}
	b.res.Errors = append(b.res.Errors, je)
}

// qMembersHeld returns the memberships of lists $2 and contacts $3 (paired
// by position) that exist: one probe of list_members' primary key each.
const qMembersHeld = `SELECT m.list_id::text, m.contact_id::text FROM unnest($2::uuid[], $3::uuid[]) AS m (list_id, contact_id)
	WHERE (SELECT true FROM list_members x WHERE x.account_id = $1 AND x.contact_id = m.contact_id AND x.list_id = m.list_id)`

// membersHeld calls fn with each membership of lists and contacts
// (paired by position) that exists (qMembersHeld).
func membersHeld(ctx context.Context, tx txConn, acct int64, lists, contacts []string, fn func(list, contact string)) error {
	rows, err := tx.Query(ctx, qMembersHeld, acct, memberIDs(lists), memberIDs(contacts))
	if err != nil {
		return err
	}
	defer rows.Close()
	var list, contact string
	for rows.Next() {
		if err := rows.Scan(&list, &contact); err != nil {
			return err
		}
		fn(list, contact)
	}
	return rows.Err()
}

// contactCopyCols are the columns COPY writes for a contact, in
// contactRows order.
var contactCopyCols = append(append([]string{"account_id", "id"}, textCols...),
	"alternate_emails", "custom_fields", "created_at", "updated_at", "change_seq")

// contactRows are contacts as COPY reads them (pgx.CopyFromSource):
// each row's values point into the contacts, and one slice is reused,
// since COPY encodes a row before it asks for the next.
type contactRows struct {
	contactRow
	cs          []*segmentd.Contact
	alt, custom []string
	i           int
}

// contactRow encodes a contact's row of COPY under the account and
// change number, in one slice it reuses.
type contactRow struct {
	acct, seq int64
	row       []any
}

func (r *contactRows) add(c *segmentd.Contact, alt, custom string) {
	r.cs = append(r.cs, c)
	r.alt = append(r.alt, alt)
	r.custom = append(r.custom, custom)
}

func (r *contactRows) Next() bool { r.i++; return r.i <= len(r.cs) }

func (r *contactRows) Values() ([]any, error) {
	return r.values(r.cs[r.i-1], r.alt[r.i-1], r.custom[r.i-1])
}

// values returns c's row, with its jsonb columns encoded, in the slice
// COPY reuses.
func (r *contactRow) values(c *segmentd.Contact, alt, custom string) ([]any, error) {
	row := append(r.row[:0], r.acct, c.ID)
	for _, p := range textFields(c) {
		if *p == "" {
			row = append(row, nil)
		} else {
			row = append(row, p)
		}
	}
	r.row = append(row, alt, custom, toMS(c.CreatedAt), toMS(c.UpdatedAt), r.seq)
	return r.row, nil
}

func (r *contactRows) Err() error { return nil }

// write stores every new contact and every stored one a patch changed,
// their alternate-email rows when a patch set them, and the list
// memberships of every touched contact. A stored contact no patch changed
// (re-sent only to join lists) keeps its row, and its lists were not
// read: its memberships are inserted unless they exist, and a
// membership_changes row naming the contacts that joined a list carries
// the change number to the history (Store.Changes) in place of their
// rows' change_seq.
func (b *upsertBatch) write(ctx context.Context, tx txConn, acct, seq int64, listIDs []string, now time.Time, assumeNew bool) error {
	if len(b.order) == 0 && len(b.unwritten) == 0 {
		return nil
	}
	var rows contactRows
	var rewrite []string // stored contacts, deleted and written again
	var altOwners, altEmails, altReplaced []string
	var memberLists, memberContacts []string // the memberships to add: new ones only
	var newEmails []string                   // of new contacts: their tombstones go
	for _, e := range b.order {
		c := &e.c
		if !e.stored && c.Email != "" {
			newEmails = append(newEmails, c.Email)
		}
		if e.stored && !e.changed {
			if len(listIDs) > 0 {
				b.unwritten = append(b.unwritten, c.ID)
			}
			continue
		}
		for _, l := range listIDs {
			if !slices.Contains(e.lists0, l) {
				memberLists = append(memberLists, l)
				memberContacts = append(memberContacts, c.ID)
			}
		}
		custom, err := encodeCustomFields(c.CustomFields)
		if err != nil {
			return fmt.Errorf("contact %s: custom_fields: %w", c.ID, err)
		}
		rows.add(c, encodeAlternateEmails(c.AlternateEmails), custom)
		if e.stored {
			rewrite = append(rewrite, c.ID)
		}
		if e.altSet && e.stored {
			altReplaced = append(altReplaced, c.ID)
		}
		if e.altSet || !e.stored {
			for _, a := range sortedUnique(c.AlternateEmails) {
				altOwners = append(altOwners, c.ID)
				altEmails = append(altEmails, a)
			}
		}
	}
	if len(rewrite) > 0 {
		if _, err := tx.Exec(ctx, qDeleteContacts, acct, rewrite); err != nil {
			return fmt.Errorf("rewrite contacts: %w", err)
		}
	}
	rows.acct, rows.seq = acct, seq
	if len(rows.cs) > 0 {
		if _, err := tx.CopyFrom(ctx, pgx.Identifier{"contacts"}, contactCopyCols, &rows); err != nil {
			return fmt.Errorf("write contacts: %w", err)
		}
	}
	if len(newEmails) > 0 {
		// Its result is not read: on a pipedTx it goes with the next
		// statement. Most accounts hold no tombstone, and 20,000 probes of
		// an empty index took 8 ms of each full batch at 1M contacts: one
		// probe first, and the rest only if it finds one (a one-time
		// filter in the plan, on PostgreSQL as on Citus's shard).
		if err := execLast(ctx, tx, qDropTombstones, acct, newEmails); err != nil {
			return fmt.Errorf("drop tombstones: %w", err)
		}
	}
	if len(altReplaced) > 0 {
		if _, err := tx.Exec(ctx, "DELETE FROM contact_alternate_emails WHERE account_id = $1 AND contact_id = ANY($2)", acct, altReplaced); err != nil {
			return err
		}
	}
	if len(altEmails) > 0 {
		row := make([]any, 3)
		_, err := tx.CopyFrom(ctx, pgx.Identifier{"contact_alternate_emails"}, []string{"account_id", "email", "contact_id"},
			pgx.CopyFromSlice(len(altEmails), func(i int) ([]any, error) {
				row[0], row[1], row[2] = acct, altEmails[i], altOwners[i]
				return row, nil
			}))
		if err != nil {
			return fmt.Errorf("insert alternate emails: %w", err)
		}
	}
	// The memberships of the contacts left unwritten that do not exist
	// join the new ones (a contact already on a list keeps the time it was
	// added); a membership COPY adds is new under the account's lock.
	// Until 2026-12-05 they went in by INSERT … ON CONFLICT DO NOTHING
	// RETURNING, which paid a speculative insertion and a returned row
	// each (docs/postgres.md, "Bulk paths"). assumeNew: none is probed,
	// all are added, and one that exists fails COPY on list_members'
	// primary key (UpsertContacts then runs the upsert again with the
	// probes).
	//
	// The contacts left unwritten are taken in their ids' order, which
	// UpsertResult.Joined and membership_changes want: one sort of them
	// serves all three. Each is in b.order once; a batch of remembered
	// contacts (upsertTx) may name one twice, which goes.
	slices.Sort(b.unwritten)
	b.unwritten = slices.Compact(b.unwritten)
	joined := b.unwritten // those that joined a list: all unless some were found held
	if len(b.unwritten) > 0 {
		type pair struct{ list, contact string }
		var held map[pair]bool
		if !assumeNew {
			lists := make([]string, 0, len(b.unwritten)*len(listIDs))
			contacts := make([]string, 0, len(b.unwritten)*len(listIDs))
			for _, id := range b.unwritten {
				for _, l := range listIDs {
					lists, contacts = append(lists, l), append(contacts, id)
				}
			}
			held = make(map[pair]bool)
			if err := membersHeld(ctx, tx, acct, lists, contacts, func(list, contact string) {
				held[pair{list, contact}] = true
			}); err != nil {
				return fmt.Errorf("read list members: %w", err)
			}
			b.held = len(held)
		}
		if len(held) > 0 {
			joined = nil
		}
		memberLists = slices.Grow(memberLists, len(b.unwritten)*len(listIDs))
		memberContacts = slices.Grow(memberContacts, len(b.unwritten)*len(listIDs))
		for _, id := range b.unwritten {
			in := false
			for _, l := range listIDs {
				if len(held) > 0 && held[pair{l, id}] {
					continue
				}
				memberLists = append(memberLists, l)
				memberContacts = append(memberContacts, id)
				in = true
			}
			if in && len(held) > 0 {
				joined = append(joined, id)
			}
		}
		b.joins = len(b.unwritten) * len(listIDs)
	}
	return copyMembers(ctx, tx, acct, memberLists, memberContacts, now, joined, seq)
}

// copyMembers adds the memberships of lists and contacts (paired by
// position), all new, and records the contacts joined (unwritten ones
// that joined a list) under change seq.
func copyMembers(ctx context.Context, tx txConn, acct int64, memberLists, memberContacts []string, now time.Time, joined []string, seq int64) error {
	if len(memberLists) > 0 {
		row, added := make([]any, 4), toMS(now)
		_, err := tx.CopyFrom(ctx, pgx.Identifier{"list_members"}, []string{"account_id", "list_id", "contact_id", "added_at"},
			pgx.CopyFromSlice(len(memberLists), func(i int) ([]any, error) {
				row[0], row[1], row[2], row[3] = acct, memberID(memberLists[i]), memberID(memberContacts[i]), added
				return row, nil
			}))
		if err != nil {
			return fmt.Errorf("add list members: %w", err)
		}
	}
	if len(joined) > 0 {
		// Its result is not read: on a pipedTx it goes with COMMIT.
		if err := execLast(ctx, tx, "INSERT INTO membership_changes (account_id, change_seq, contact_ids) VALUES ($1, $2, $3)", acct, seq, joined); err != nil {
			return fmt.Errorf("record list joins: %w", err)
		}
	}
	return nil
}

// allNew reports whether every patch names a contact by its email alone,
// an email no other patch of the batch names and that names no stored
// contact (the account has none, or its remembered owners are complete
// and hold no owner of it: upsertBatch.none), and sets no alternate
// email: each patch then makes a new contact of its own, whatever the
// others do (writeNew).
func (b *upsertBatch) allNew(patches []segmentd.ContactPatch) bool {
	if !b.empty && b.none == nil || len(patches) == 0 {
		return false
	}
	seen := make(map[string]struct{}, len(patches))
	for i := range patches {
		p := &patches[i]
		email, ok := p.Identifier(segmentd.IdentifierEmail)
		if !ok || p.AlternateEmails != nil || !b.empty && !b.none[i] {
			return false
		}
		for _, t := range segmentd.Identifiers[1:] {
			if _, ok := p.Identifier(t); ok {
				return false
			}
		}
		if _, dup := seen[email]; dup {
			return false
		}
		seen[email] = struct{}{}
	}
	return true
}

// writeNew stores a batch of new contacts (allNew): their rows by one
// COPY that makes each contact as it asks for its row (newContactRows),
// so that segmentd merges a patch while the database takes the rows
// before it, then their memberships, and drops their emails' tombstones.
// Before, the patches were all matched and merged first (apply), the
// database waiting: about a tenth of an upsert of 20,000 new contacts at
// a million (docs/postgres.md, "Session 19: the store stage's own work").
func (b *upsertBatch) writeNew(ctx context.Context, tx txConn, acct, seq int64, patches []segmentd.ContactPatch, listIDs []string, now time.Time) error {
	rows := &newContactRows{b: b, patches: patches, listIDs: listIDs, now: now}
	rows.acct, rows.seq = acct, seq
	b.made = make([]segmentd.Contact, 0, len(patches))
	if _, err := tx.CopyFrom(ctx, pgx.Identifier{"contacts"}, contactCopyCols, rows); err != nil {
		if rows.err != nil {
			return rows.err
		}
		return fmt.Errorf("write contacts: %w", err)
	}
	if len(b.made) == 0 {
		return nil
	}
	b.res.Created = len(b.made)
	emails := make([]string, len(b.made))
	for i := range b.made {
		emails[i] = b.made[i].Email
	}
	if err := execLast(ctx, tx, qDropTombstones, acct, emails); err != nil {
		return fmt.Errorf("drop tombstones: %w", err)
	}
	var memberLists, memberContacts []string
	if len(listIDs) > 0 {
		memberLists = make([]string, 0, len(b.made)*len(listIDs))
		memberContacts = make([]string, 0, len(b.made)*len(listIDs))
		for i := range b.made {
			for _, l := range listIDs {
				memberLists, memberContacts = append(memberLists, l), append(memberContacts, b.made[i].ID)
			}
		}
	}
	return copyMembers(ctx, tx, acct, memberLists, memberContacts, now, nil, seq)
}

// newContactRows are the contacts of a batch of new ones as COPY reads
// them (writeNew): Next merges the next patch into a new contact, on
// pgx's goroutine that writes the rows out, and a patch ApplyPatch
// refuses is recorded and skipped.
type newContactRows struct {
	contactRow
	b       *upsertBatch
	patches []segmentd.ContactPatch
	listIDs []string
	now     time.Time
	next    int // the next patch
	// err is the first contact whose custom fields do not encode: COPY
	// fails with pgx's message, writeNew reports this one.
	err error
}

func (r *newContactRows) Next() bool {
	for r.next < len(r.patches) {
		i := r.next
		r.next++
		var c segmentd.Contact
		// The id takes wall time, as apply's does.
		if _, err := segmentd.ApplyPatch(&c, &r.patches[i], r.listIDs, r.b.ids.next(time.Now()), r.now); err != nil {
			r.b.refuse(i, err)
			continue
		}
		r.b.made = append(r.b.made, c)
		return true
	}
	return false
}

func (r *newContactRows) Err() error { return nil }

func (r *newContactRows) Values() ([]any, error) {
	c := &r.b.made[len(r.b.made)-1]
	custom, err := encodeCustomFields(c.CustomFields)
	if err != nil {
		r.err = fmt.Errorf("contact %s: custom_fields: %w", c.ID, err)
		return nil, r.err
	}
	return r.values(c, encodeAlternateEmails(c.AlternateEmails), custom)
}
