package sqlite

import (
	"bytes"
	"context"
	"database/sql"
	"fmt"
	"slices"

	"github.com/segmentd/segmentd"
)

// ScanContacts returns up to limit contacts with ids greater than afterID,
// in id order, as ReadAccount's pages are read (readContactPage).
func (s *Store) ScanContacts(ctx context.Context, acct int64, afterID string, limit int) ([]segmentd.Contact, error) {
	var cs []segmentd.Contact
	err := s.readTx(ctx, func(tx *sql.Tx) error {
		var err error
		cs, err = readContactPage(ctx, tx, acct, afterID, limit)
		return err
	})
	return cs, err
}

// Pages of ReadAccount.
const (
	readContactsPage = 5000
	readEventsPage   = 50_000
)

// ReadAccount implements segmentd.Store in one read transaction (a WAL
// snapshot), so that the marks it returns are those of what it read.
func (s *Store) ReadAccount(ctx context.Context, acct int64, contacts func([]segmentd.Contact) error, events func([]segmentd.Event) error) (change, event int64, err error) {
	return s.readAccount(ctx, acct, contacts, events, false)
}

// ReadAccountLean implements segmentd.LeanAccountReader: ReadAccount
// without writing out each event's email and sg_event_id. As it reads the
// events it hashes their sg_event_ids into the account's hash set, which
// event ingestion takes if nothing was written since (readSet): the
// rebuild at start then reads the events once for the engine and the set.
func (s *Store) ReadAccountLean(ctx context.Context, acct int64, contacts func([]segmentd.Contact) error, events func([]segmentd.Event) error) (change, event int64, err error) {
	return s.readAccount(ctx, acct, contacts, events, true)
}

// readAccount is ReadAccount, lean or not (ReadAccountLean).
func (s *Store) readAccount(ctx context.Context, acct int64, contacts func([]segmentd.Contact) error, events func([]segmentd.Event) error, lean bool) (change, event int64, err error) {
	err = s.readTx(ctx, func(tx *sql.Tx) error {
		var store string
		if err := tx.QueryRowContext(ctx, qChangeMark).Scan(&store, &change); err != nil {
			return err
		}
		lists, err := listsByNum(ctx, tx, acct) // once: the lists are those of the transaction
		if err != nil {
			return err
		}
		var cpage []segmentd.Contact // reused: a page is the callback's until it returns (segmentd.Store)
		for after := ""; ; {
			cs, err := readContactPageInto(ctx, tx, acct, after, readContactsPage, lists, cpage)
			if err != nil {
				return err
			}
			cpage = cs
			if len(cs) > 0 {
				if err := contacts(cs); err != nil {
					return err
				}
			}
			if len(cs) < readContactsPage {
				break
			}
			after = cs[len(cs)-1].ID
		}
		var ids *hashSet // the sg_event_id set, hashed as the lean read goes
		var idBuf []byte
		if lean && events != nil {
			if ids, err = sizedHashSet(ctx, tx, acct); err != nil {
				return err
			}
		}
		page := eventRows{reuse: true, lean: lean} // a page is the callback's until it returns (segmentd.Store)
		for events != nil {
			evs, last, err := scanEventPage(ctx, tx, &page, acct, event, readEventsPage)
			if err != nil {
				return err
			}
			if ids != nil {
				idBuf = ids.hashLean(evs, page.seqs, idBuf)
			}
			if len(evs) > 0 {
				if err := events(evs); err != nil {
					return err
				}
				event = last
			}
			if len(evs) < readEventsPage {
				break
			}
		}
		if ids != nil {
			// Sorted when taken (eventIDs): after the rebuild, not on its way.
			s.events.offerIDs(acct, readSet{set: ids, store: store, change: change})
		}
		return nil
	})
	return change, event, err
}

// qContactPage is a page of ReadAccount: contacts only; their lists, tags
// and Constant Contact-only attributes are read after it (readContactPage).
const qContactPage = "SELECT " + contactColumnsC + " FROM contacts c WHERE c.account_id = ? AND c.id > ? ORDER BY c.id LIMIT ?"

// The pairs of a page's contacts, a range of each table's primary key in
// contact order.
const (
	// list_members is keyed by (account_id, list_num, contact_id): a
	// page's memberships are one range of the key per list of the
	// account (lists_num, in number order), each in contact order. A
	// list's id comes from its number (listsByNum), found in Go: a join
	// that gave ids would read the list's row for every membership.
	qPageLists = `SELECT m.list_num, m.contact_id FROM lists l CROSS JOIN list_members m
		WHERE l.account_id = ?1 AND m.account_id = ?1 AND m.list_num = l.num
		AND m.contact_id BETWEEN ?2 AND ?3`
	// qPageListsJoined is qPageLists with each list's memberships of the
	// range as one value: their contact ids joined by NUL bytes, in the
	// order the range is read (contact order; readPageLists does not rely
	// on it). A row of the driver for each membership was two thirds of
	// reading a page's lists (three a contact in the realistic load).
	qPageListsJoined = `SELECT l.num, (SELECT group_concat(m.contact_id, char(0)) FROM list_members m
		WHERE m.account_id = ?1 AND m.list_num = l.num AND m.contact_id BETWEEN ?2 AND ?3)
		FROM lists l WHERE l.account_id = ?1`
	qListsByNum = `SELECT num, id FROM lists WHERE account_id = ?`
	qPageTags   = `SELECT contact_id, tag_id FROM contact_tags
		WHERE account_id = ? AND contact_id BETWEEN ? AND ? ORDER BY contact_id, tag_id`
	qPageCC = `SELECT contact_id, details FROM contact_cc
		WHERE account_id = ? AND contact_id BETWEEN ? AND ? ORDER BY contact_id`
)

// readContactPage reads up to limit contacts with ids greater than after,
// in id order, each with its lists (in id order), tags and Constant
// Contact-only attributes. At the rebuild's scale it reads the
// page first and then the ranges of list_members (one a list,
// readPageLists), contact_tags and contact_cc over the page's ids,
// merged in id order: sequential reads where subqueries of each contact
// seek into each table for every contact (about a third of the
// rebuild's read of contacts).
func readContactPage(ctx context.Context, tx *sql.Tx, acct int64, after string, limit int) ([]segmentd.Contact, error) {
	lists, err := listsByNum(ctx, tx, acct)
	if err != nil {
		return nil, err
	}
	return readContactPageWith(ctx, tx, acct, after, limit, lists)
}

// listsByNum returns the account's list ids by their numbers
// (list_members.list_num).
func listsByNum(ctx context.Context, q queryer, acct int64) (map[int64]string, error) {
	rows, err := q.QueryContext(ctx, qListsByNum, acct)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	lists := make(map[int64]string)
	for rows.Next() {
		var num int64
		var id string
		if err := rows.Scan(&num, &id); err != nil {
			return nil, err
		}
		lists[num] = id
	}
	return lists, rows.Err()
}

// readContactPageWith is readContactPage with the account's lists by
// number (listsByNum) read before.
func readContactPageWith(ctx context.Context, tx *sql.Tx, acct int64, after string, limit int, lists map[int64]string) ([]segmentd.Contact, error) {
	return readContactPageInto(ctx, tx, acct, after, limit, lists, nil)
}

// readContactPageInto is readContactPageWith into page's array when it has
// room for limit contacts (its contacts are overwritten).
func readContactPageInto(ctx context.Context, tx *sql.Tx, acct int64, after string, limit int, lists map[int64]string, page []segmentd.Contact) ([]segmentd.Contact, error) {
	rows, err := tx.QueryContext(ctx, qContactPage, acct, after, limit)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	cs := page[:0]
	if cap(cs) < limit {
		cs = make([]segmentd.Contact, 0, limit) // a Contact is large: grown by appends, the page was copied over and over
	} else {
		clear(cs[:cap(cs)]) // the contacts are filled from zero
	}
	var sc contactScanner
	for rows.Next() {
		if len(cs) == cap(cs) {
			cs = append(cs, segmentd.Contact{})
		} else {
			cs = cs[:len(cs)+1] // zero from make: appending a zero Contact copied one
		}
		if err := sc.scan(rows, &cs[len(cs)-1]); err != nil {
			return nil, err
		}
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	if len(cs) == 0 {
		return cs, nil
	}
	first, last := cs[0].ID, cs[len(cs)-1].ID
	err = readPageLists(ctx, tx, acct, first, last, cs, lists)
	ids := make(map[string]string) // tag ids, one string each
	var v sql.RawBytes
	if err == nil {
		err = mergePairs(ctx, tx, qPageTags, acct, first, last, cs, &v, func(c *segmentd.Contact) error {
			c.TagIDs = append(c.TagIDs, intern(ids, v))
			return nil
		})
	}
	if err == nil {
		err = mergePairs(ctx, tx, qPageCC, acct, first, last, cs, &v, func(c *segmentd.Contact) error {
			var err error
			if c.CC, err = segmentd.DecodeCCDetails(string(v)); err != nil {
				return fmt.Errorf("contact %s: contact_cc: %w", c.ID, err)
			}
			return nil
		})
	}
	return cs, err
}

// readPageLists sets the ListIDs (in id order) of the page cs, contacts
// in id order from first to last, from the account's lists by number.
// Its memberships come list by list (qPageListsJoined), each list's in
// contact order, so each list's are merged with the page from its start
// (and from the start again should an id come out of order); a contact's
// list ids are then sliced from one array of the page's, counted first.
func readPageLists(ctx context.Context, tx *sql.Tx, acct int64, first, last string, cs []segmentd.Contact, lists map[int64]string) error {
	rows, err := tx.QueryContext(ctx, qPageListsJoined, acct, first, last)
	if err != nil {
		return err
	}
	defer rows.Close()
	type pair struct {
		contact int32
		list    string
	}
	pairs := make([]pair, 0, 4*len(cs))
	counts := make([]int32, len(cs))
	var num int64
	var joined sql.RawBytes
	for rows.Next() {
		if err := rows.Scan(&num, &joined); err != nil {
			return err
		}
		list := lists[num] // the lists of the transaction
		joinedPageIDs(cs, joined, func(i int) {
			pairs = append(pairs, pair{int32(i), list})
			counts[i]++
		})
	}
	if err := rows.Err(); err != nil {
		return err
	}
	all := make([]string, len(pairs))
	at := 0
	for i, n := range counts {
		if n > 0 {
			cs[i].ListIDs = all[at : at : at+int(n)]
			at += int(n)
		}
	}
	for _, p := range pairs {
		c := &cs[p.contact]
		c.ListIDs = append(c.ListIDs, p.list)
	}
	for i := range cs {
		if len(cs[i].ListIDs) > 1 {
			slices.Sort(cs[i].ListIDs)
		}
	}
	return nil
}

// joinedPageIDs calls found with the index in cs (contacts in id order)
// of each contact id of joined (ids joined by NUL bytes) that cs holds,
// merging the two in id order; an id out of order is looked up from the
// page's start.
func joinedPageIDs(cs []segmentd.Contact, joined []byte, found func(i int)) {
	i := 0
	for rest := joined; len(rest) > 0; {
		cid := rest
		if k := bytes.IndexByte(rest, 0); k >= 0 {
			cid, rest = rest[:k], rest[k+1:]
		} else {
			rest = nil
		}
		if i > 0 && cs[i-1].ID > string(cid) {
			i = 0 // out of order
		}
		for i < len(cs) && cs[i].ID < string(cid) {
			i++
		}
		if i < len(cs) && cs[i].ID == string(cid) {
			found(i)
			i++
		}
	}
}

// mergePairs runs query over the (contact id, value) pairs of the ids from
// first to last, in contact order, scans each value into v and calls set
// with its contact of cs (in id order); pairs of contacts not in cs are
// skipped.
func mergePairs(ctx context.Context, tx *sql.Tx, query string, acct int64, first, last string, cs []segmentd.Contact, v any, set func(*segmentd.Contact) error) error {
	rows, err := tx.QueryContext(ctx, query, acct, first, last)
	if err != nil {
		return err
	}
	defer rows.Close()
	var cid sql.RawBytes
	i := 0
	for rows.Next() {
		if err := rows.Scan(&cid, v); err != nil {
			return err
		}
		for i < len(cs) && cs[i].ID < string(cid) {
			i++
		}
		if i == len(cs) {
			break
		}
		if cs[i].ID == string(cid) {
			if err := set(&cs[i]); err != nil {
				return err
			}
		}
	}
	return rows.Err()
}

// intern returns b as a string, the same one for equal bytes.
func intern(m map[string]string, b []byte) string {
	if s, ok := m[string(b)]; ok {
		return s
	}
	s := string(b)
	m[s] = s
	return s
}
