package postgres

import (
	"context"
	"errors"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/segmentd/segmentd"
)

// Constant Contact's deleted contacts (segmentd.DeletedContactStore): the
// contact_tombstones table, one row per contact that face deleted.

const tombstoneColumns = "contact_id, email, first_name, last_name, details, created_at, deleted_at"

func scanTombstone(row pgx.Row) (segmentd.DeletedContact, error) {
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
// DeleteContacts does, under one change number. The contacts are read,
// then their tombstones written: Citus routes each statement to the
// account's node.
func (s *Store) BuryContacts(ctx context.Context, acct int64, ids []string, now time.Time) (int, error) {
	if len(ids) == 0 {
		return 0, nil
	}
	var n int
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		seq, err := nextChange(ctx, tx, acct)
		if err != nil {
			return err
		}
		ts, err := queryAll(ctx, tx, scanTombstone, `SELECT c.id, coalesce(c.email, ''), coalesce(c.first_name, ''), coalesce(c.last_name, ''),
			coalesce((SELECT d.details FROM contact_cc d WHERE d.account_id = $1 AND d.contact_id = c.id), ''), c.created_at, $3::bigint
			FROM contacts c WHERE c.account_id = $1 AND c.id = ANY($2)`, acct, ids, toMS(msTime(now)))
		if err != nil {
			return err
		}
		var tid, email, first, last, details []string
		var created []int64
		for _, t := range ts {
			enc := ""
			if !t.CC.IsZero() {
				if enc, err = segmentd.EncodeCCDetails(t.CC); err != nil {
					return err
				}
			}
			tid, email, first, last, details = append(tid, t.ID), append(email, t.Email), append(first, t.FirstName), append(last, t.LastName), append(details, enc)
			created = append(created, toMS(t.CreatedAt))
		}
		if len(ts) > 0 {
			// The newer deletion of an address is the one Constant
			// Contact shows.
			if _, err := tx.Exec(ctx, "DELETE FROM contact_tombstones WHERE account_id = $1 AND (email = ANY($2) AND email <> '' OR contact_id = ANY($3))", acct, email, tid); err != nil {
				return err
			}
			if _, err := tx.Exec(ctx, `INSERT INTO contact_tombstones (account_id, `+tombstoneColumns+`)
				SELECT $1, t.*, $8::bigint FROM unnest($2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::bigint[]) AS t`,
				acct, tid, email, first, last, details, created, toMS(msTime(now))); err != nil {
				return err
			}
		}
		n, err = deleteContacts(ctx, tx, acct, seq, ids)
		return err
	})
	if err != nil {
		return 0, err
	}
	return n, nil
}

func (s *Store) DeletedContacts(ctx context.Context, acct int64, afterID string, limit int) ([]segmentd.DeletedContact, error) {
	ts, err := queryAll(ctx, s.pool, scanTombstone, "SELECT "+tombstoneColumns+
		" FROM contact_tombstones WHERE account_id = $1 AND contact_id > $2 ORDER BY contact_id LIMIT $3", acct, afterID, limit)
	return ts, classify(err)
}

func (s *Store) DeletedContact(ctx context.Context, acct int64, id string) (segmentd.DeletedContact, error) {
	return deletedContact(ctx, s.pool, acct, "contact_id", id)
}

func (s *Store) DeletedContactByEmail(ctx context.Context, acct int64, email string) (segmentd.DeletedContact, error) {
	return deletedContact(ctx, s.pool, acct, "email", email)
}

// deletedContact reads the tombstone whose col is v (the newest, by
// email).
func deletedContact(ctx context.Context, q querier, acct int64, col, v string) (segmentd.DeletedContact, error) {
	d, err := scanTombstone(q.QueryRow(ctx, "SELECT "+tombstoneColumns+" FROM contact_tombstones WHERE account_id = $1 AND "+col+
		" = $2 ORDER BY deleted_at DESC LIMIT 1", acct, v))
	if errors.Is(err, pgx.ErrNoRows) {
		return d, deletedNotFound(v)
	}
	return d, classify(err)
}

func (s *Store) CountDeletedContacts(ctx context.Context, acct int64) (int, error) {
	var n int
	err := s.pool.QueryRow(ctx, "SELECT count(*) FROM contact_tombstones WHERE account_id = $1", acct).Scan(&n)
	return n, classify(err)
}

// PutContact writes the whole of p in one transaction, under the
// account's lock and one change number: the email, the patch through the
// upsert's own code (with p.Lists as its lists), the memberships and
// taggings p leaves out, the Constant Contact-only attributes; then it
// reads the contact back.
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
	err = s.inTx(ctx, func(tx pgx.Tx) error {
		seq, err := nextChange(ctx, tx, acct)
		if err != nil {
			return err
		}
		cur, err := queryContacts(ctx, tx, qContacts+"c.id = $2", acct, p.ID)
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
		err = tx.QueryRow(ctx, "SELECT id FROM contacts WHERE account_id = $1 AND email = $2", acct, p.Email).Scan(&owner)
		switch {
		case err == nil && owner != p.ID:
			return emailTaken(p.Email)
		case err != nil && !errors.Is(err, pgx.ErrNoRows):
			return err
		}
		if _, err := tx.Exec(ctx, "DELETE FROM contact_tombstones WHERE account_id = $1 AND (contact_id = $2 OR email = $3)", acct, p.ID, p.Email); err != nil {
			return err
		}
		stamp := false
		if len(cur) > 0 && cur[0].Email != "" && cur[0].Email != p.Email {
			if _, err := tx.Exec(ctx, "UPDATE contacts SET email = $3 WHERE account_id = $1 AND id = $2", acct, p.ID, p.Email); err != nil {
				return err
			}
			stamp = true
		}
		patch := p.Patch
		patch.Email = &p.Email
		if len(cur) > 0 {
			segmentd.SetMissingIdentifiers(&patch, &cur[0])
		}
		res, _, err := s.upsertTx(ctx, tx, acct, seq, 0, []segmentd.ContactPatch{patch}, p.Lists, now, newID, rewriteAll, false)
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
			if _, err := tx.Exec(ctx, "DELETE FROM list_members WHERE account_id = $1 AND contact_id = $2 AND list_id <> ALL($3)", acct, memberKey(p.ID), memberKeys(p.Lists)); err != nil {
				return err
			}
		}
		if p.Tags != nil {
			tags := sortedUnique(p.Tags)
			if err := tagsExist(ctx, tx, acct, tags); err != nil {
				return err
			}
			if _, err := tx.Exec(ctx, "DELETE FROM contact_tags WHERE account_id = $1 AND contact_id = $2 AND tag_id <> ALL($3)", acct, p.ID, tags); err != nil {
				return err
			}
			if _, err := tx.Exec(ctx, `INSERT INTO contact_tags (account_id, contact_id, tag_id, added_at)
				SELECT $1, $2, t, $4 FROM unnest($3::text[]) AS t ON CONFLICT DO NOTHING`, acct, p.ID, tags, toMS(now)); err != nil {
				return err
			}
		}
		var old string
		err = tx.QueryRow(ctx, "SELECT details FROM contact_cc WHERE account_id = $1 AND contact_id = $2", acct, p.ID).Scan(&old)
		if err != nil && !errors.Is(err, pgx.ErrNoRows) {
			return err
		}
		if old != enc {
			stamp = true
			if enc == "" {
				_, err = tx.Exec(ctx, "DELETE FROM contact_cc WHERE account_id = $1 AND contact_id = $2", acct, p.ID)
			} else {
				_, err = tx.Exec(ctx, `INSERT INTO contact_cc (account_id, contact_id, details) VALUES ($1, $2, $3)
					ON CONFLICT (account_id, contact_id) DO UPDATE SET details = excluded.details`, acct, p.ID, enc)
			}
			if err != nil {
				return err
			}
		}
		if stamp {
			_, err = tx.Exec(ctx, "UPDATE contacts SET updated_at = $3, change_seq = $4 WHERE account_id = $1 AND id = $2", acct, p.ID, toMS(now), seq)
		} else {
			_, err = tx.Exec(ctx, "UPDATE contacts SET change_seq = $3 WHERE account_id = $1 AND id = $2", acct, p.ID, seq)
		}
		if err != nil {
			return err
		}
		if p.Revive {
			if _, err := tx.Exec(ctx, "UPDATE contacts SET created_at = $3 WHERE account_id = $1 AND id = $2", acct, p.ID, toMS(created)); err != nil {
				return err
			}
		}
		cs, err := queryContacts(ctx, tx, qContacts+"c.id = $2", acct, p.ID)
		if err != nil {
			return err
		}
		if len(cs) == 0 {
			return deletedNotFound(p.ID)
		}
		out = cs[0]
		return nil
	})
	if isUniqueViolation(err) {
		return segmentd.Contact{}, emailTaken(p.Email)
	}
	if err != nil {
		return segmentd.Contact{}, classify(err)
	}
	return out, nil
}
