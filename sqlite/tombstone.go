package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"time"

	"github.com/segmentd/segmentd"
)

// Constant Contact's deleted contacts (segmentd.DeletedContactStore): the
// contact_tombstones table, one row per contact that face deleted.

const tombstoneColumns = "contact_id, email, first_name, last_name, details, created_at, deleted_at"

func scanTombstone(row rowScanner) (segmentd.DeletedContact, error) {
	var d segmentd.DeletedContact
	var details string
	var created, deleted int64
	if err := row.Scan(&d.ID, &d.Email, &d.FirstName, &d.LastName, &details, &created, &deleted); err != nil {
		return d, err
	}
	var err error
	if d.CC, err = segmentd.DecodeCCDetails(details); err != nil {
		return d, err
	}
	d.CreatedAt, d.DeletedAt = fromMS(created), fromMS(deleted)
	return d, nil
}

func deletedNotFound(id string) error {
	return notFound("contact_id", "contact %s does not exist", segmentd.Quote(id))
}

// BuryContacts keeps a tombstone of each contact, then deletes them as
// DeleteContacts does, in one transaction.
func (s *Store) BuryContacts(ctx context.Context, acct int64, ids []string, now time.Time) (int, error) {
	if len(ids) == 0 {
		return 0, nil
	}
	var n int
	err := s.writeTx(ctx, func(tx *sql.Tx) error {
		arr := jsonStrings(ids)
		// A tombstone of an address one of these contacts has goes: the
		// newer deletion is the one Constant Contact shows.
		if _, err := tx.ExecContext(ctx, `DELETE FROM contact_tombstones WHERE account_id = ? AND email IN
			(SELECT email FROM contacts WHERE account_id = ? AND id IN (SELECT value FROM json_each(?)) AND email IS NOT NULL)`, acct, acct, arr); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `INSERT OR REPLACE INTO contact_tombstones (account_id, `+tombstoneColumns+`)
			SELECT c.account_id, c.id, coalesce(c.email, ''), coalesce(c.first_name, ''), coalesce(c.last_name, ''),
				coalesce((SELECT d.details FROM contact_cc d WHERE d.account_id = c.account_id AND d.contact_id = c.id), ''),
				c.created_at, ?
			FROM contacts c WHERE c.account_id = ? AND c.id IN (SELECT value FROM json_each(?))`, toMS(now), acct, arr); err != nil {
			return err
		}
		var err error
		n, err = deleteContacts(ctx, tx, acct, arr)
		return err
	})
	if err != nil {
		return 0, err
	}
	return n, nil
}

func (s *Store) DeletedContacts(ctx context.Context, acct int64, afterID string, limit int) ([]segmentd.DeletedContact, error) {
	return queryAll(ctx, s.read, scanTombstone, "SELECT "+tombstoneColumns+
		" FROM contact_tombstones WHERE account_id = ? AND contact_id > ? ORDER BY contact_id LIMIT ?", acct, afterID, limit)
}

func (s *Store) DeletedContact(ctx context.Context, acct int64, id string) (segmentd.DeletedContact, error) {
	return deletedContact(ctx, s.read, acct, "contact_id", id)
}

func (s *Store) DeletedContactByEmail(ctx context.Context, acct int64, email string) (segmentd.DeletedContact, error) {
	return deletedContact(ctx, s.read, acct, "email", email)
}

// deletedContact reads the tombstone whose col is v (the newest, by
// email).
func deletedContact(ctx context.Context, q queryer, acct int64, col, v string) (segmentd.DeletedContact, error) {
	d, err := scanTombstone(q.QueryRowContext(ctx, "SELECT "+tombstoneColumns+" FROM contact_tombstones WHERE account_id = ? AND "+col+
		" = ? ORDER BY deleted_at DESC LIMIT 1", acct, v))
	if errors.Is(err, sql.ErrNoRows) {
		return d, deletedNotFound(v)
	}
	return d, err
}

func (s *Store) CountDeletedContacts(ctx context.Context, acct int64) (int, error) {
	var n int
	err := s.read.QueryRowContext(ctx, "SELECT count(*) FROM contact_tombstones WHERE account_id = ?", acct).Scan(&n)
	return n, err
}

// dropTombstonesOf deletes the tombstones of the new contacts' addresses:
// a live contact has that address now.
func dropTombstonesOf(ctx context.Context, tx *sql.Tx, acct int64, es []*upsertEntry) error {
	var emails []string
	for _, e := range es {
		if e.c.Email != "" {
			emails = append(emails, e.c.Email)
		}
	}
	if len(emails) == 0 {
		return nil
	}
	_, err := tx.ExecContext(ctx, "DELETE FROM contact_tombstones WHERE account_id = ? AND email IN (SELECT value FROM json_each(?))", acct, jsonStrings(emails))
	return err
}

// PutContact writes the whole of p in one write transaction, under one
// change number: the email, the patch through the upsert's own code (with
// p.Lists as its lists), the memberships and taggings p leaves out, the
// Constant Contact-only attributes; then it reads the contact back.
func (s *Store) PutContact(ctx context.Context, acct int64, p segmentd.ContactPut, now time.Time) (segmentd.Contact, error) {
	now = msTime(now)
	enc, err := segmentd.EncodeCCDetails(p.CC)
	if err != nil {
		return segmentd.Contact{}, err
	}
	if p.CC.IsZero() {
		enc = ""
	}
	var out segmentd.Contact
	err = s.writeTx(ctx, func(tx *sql.Tx) error {
		seq, err := nextChange(ctx, tx)
		if err != nil {
			return err
		}
		cur, err := queryContacts(ctx, tx, acct, "SELECT "+contactColumns+" FROM contacts WHERE account_id = ? AND id = ?", acct, p.ID)
		if err != nil {
			return err
		}
		var created time.Time
		newID := ""
		switch {
		case p.Revive && len(cur) > 0:
			return segmentd.Errorf(segmentd.KindConflict, "contact_id", "contact %s is not deleted", segmentd.Quote(p.ID))
		case p.Revive:
			t, err := deletedContact(ctx, tx, acct, "contact_id", p.ID)
			if err != nil {
				return err
			}
			created, newID = t.CreatedAt, p.ID
		case len(cur) == 0 && p.ID != "":
			return deletedNotFound(p.ID)
		}
		var owner string
		err = tx.QueryRowContext(ctx, "SELECT id FROM contacts WHERE account_id = ? AND email = ?", acct, p.Email).Scan(&owner)
		switch {
		case err == nil && owner != p.ID:
			return segmentd.Errorf(segmentd.KindConflict, "email", "email %s is another contact's", segmentd.Quote(p.Email))
		case err != nil && !errors.Is(err, sql.ErrNoRows):
			return err
		}
		if _, err := tx.ExecContext(ctx, "DELETE FROM contact_tombstones WHERE account_id = ? AND (contact_id = ? OR email = ?)", acct, p.ID, p.Email); err != nil {
			return err
		}
		stamp := false
		if len(cur) > 0 && cur[0].Email != "" && cur[0].Email != p.Email {
			if _, err := tx.ExecContext(ctx, "UPDATE contacts SET email = ? WHERE account_id = ? AND id = ?", p.Email, acct, p.ID); err != nil {
				return err
			}
			stamp = true
		}
		patch := p.Patch
		patch.Email = &p.Email
		if len(cur) > 0 {
			segmentd.SetMissingIdentifiers(&patch, &cur[0])
		}
		res, err := s.upsertTx(ctx, tx, acct, []segmentd.ContactPatch{patch}, p.Lists, now, seq, newID)
		if err != nil {
			return err
		}
		if len(res.Errors) > 0 {
			e := res.Errors[0]
			return segmentd.Errorf(segmentd.KindConflict, e.Field, "%s", e.Message)
		}
		if p.ID == "" {
			if res.Created != 1 {
				return segmentd.Errorf(segmentd.KindConflict, "email", "email %s is another contact's", segmentd.Quote(p.Email))
			}
			p.ID = res.Contacts[0].ID
		}
		if len(res.Contacts) > 0 && res.Contacts[0].ID != p.ID {
			return deletedNotFound(p.ID) // the identifiers named another contact, or none
		}
		if p.Lists != nil {
			if _, err := tx.ExecContext(ctx, `DELETE FROM list_members WHERE account_id = ?1 AND contact_id = ?2
				AND list_num IN (SELECT num FROM lists WHERE account_id = ?1 AND id NOT IN (SELECT value FROM json_each(?3)))`, acct, p.ID, jsonStrings(p.Lists)); err != nil {
				return err
			}
		}
		if p.Tags != nil {
			tags := sortedUnique(p.Tags)
			if err := tagsExist(ctx, tx, acct, tags); err != nil {
				return err
			}
			if _, err := tx.ExecContext(ctx, `DELETE FROM contact_tags WHERE account_id = ? AND contact_id = ?
				AND tag_id NOT IN (SELECT value FROM json_each(?))`, acct, p.ID, jsonStrings(tags)); err != nil {
				return err
			}
			if _, err := tx.ExecContext(ctx, `INSERT OR IGNORE INTO contact_tags (account_id, contact_id, tag_id, added_at)
				SELECT ?, ?, value, ? FROM json_each(?)`, acct, p.ID, toMS(now), jsonStrings(tags)); err != nil {
				return err
			}
		}
		var old sql.NullString
		err = tx.QueryRowContext(ctx, "SELECT details FROM contact_cc WHERE account_id = ? AND contact_id = ?", acct, p.ID).Scan(&old)
		if err != nil && !errors.Is(err, sql.ErrNoRows) {
			return err
		}
		if old.String != enc {
			stamp = true
			if enc == "" {
				_, err = tx.ExecContext(ctx, "DELETE FROM contact_cc WHERE account_id = ? AND contact_id = ?", acct, p.ID)
			} else {
				_, err = tx.ExecContext(ctx, "INSERT INTO contact_cc (account_id, contact_id, details) VALUES (?, ?, ?) "+
					"ON CONFLICT (account_id, contact_id) DO UPDATE SET details = excluded.details", acct, p.ID, enc)
			}
			if err != nil {
				return err
			}
		}
		if stamp {
			_, err = tx.ExecContext(ctx, "UPDATE contacts SET updated_at = ?, change_seq = ? WHERE account_id = ? AND id = ?", toMS(now), seq, acct, p.ID)
		} else {
			_, err = tx.ExecContext(ctx, "UPDATE contacts SET change_seq = ? WHERE account_id = ? AND id = ?", seq, acct, p.ID)
		}
		if err != nil {
			return err
		}
		if p.Revive {
			if _, err := tx.ExecContext(ctx, "UPDATE contacts SET created_at = ? WHERE account_id = ? AND id = ?", toMS(created), acct, p.ID); err != nil {
				return err
			}
		}
		cs, err := queryContacts(ctx, tx, acct, "SELECT "+contactColumns+" FROM contacts WHERE account_id = ? AND id = ?", acct, p.ID)
		if err != nil {
			return err
		}
		if len(cs) == 0 {
			return deletedNotFound(p.ID)
		}
		out = cs[0]
		return nil
	})
	if err != nil {
		return segmentd.Contact{}, err
	}
	return out, nil
}
