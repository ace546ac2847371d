package sqlite

import (
	"context"
	"database/sql"

	"github.com/segmentd/segmentd"
)

// ScanContacts returns up to limit contacts with ids greater than afterID,
// in id order: the membership engine pages through an account with it at
// start.
func (s *Store) ScanContacts(ctx context.Context, acct int64, afterID string, limit int) ([]segmentd.Contact, error) {
	var cs []segmentd.Contact
	err := s.readTx(ctx, func(tx *sql.Tx) error {
		var err error
		cs, err = queryContactsLists(ctx, tx, qContactsAfter, acct, afterID, limit)
		return err
	})
	return cs, err
}

// qContactsAfter pages through an account in id order, each contact with
// its lists read in the same statement: a range of list_members' key
// (account, contact, list) per contact, where reading them for the page
// afterwards took an IN list of 5,000 ids, a probe each.
const qContactsAfter = "SELECT " + contactColumnsLists + " FROM contacts c WHERE c.account_id = ? AND c.id > ? ORDER BY c.id LIMIT ?"

// Pages of ReadAccount.
const (
	readContactsPage = 5000
	readEventsPage   = 50_000
)

// ReadAccount implements segmentd.Store in one read transaction (a WAL
// snapshot), so that the marks it returns are those of what it read.
func (s *Store) ReadAccount(ctx context.Context, acct int64, contacts func([]segmentd.Contact) error, events func([]segmentd.Event) error) (change, event int64, err error) {
	err = s.readTx(ctx, func(tx *sql.Tx) error {
		var store string
		if err := tx.QueryRowContext(ctx, qChangeMark).Scan(&store, &change); err != nil {
			return err
		}
		for after := ""; ; {
			cs, err := queryContactsLists(ctx, tx, qContactsAfter, acct, after, readContactsPage)
			if err != nil {
				return err
			}
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
		var page eventRows
		for events != nil {
			evs, last, err := scanEventPage(ctx, tx, &page, acct, event, readEventsPage)
			if err != nil {
				return err
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
		return nil
	})
	return change, event, err
}
