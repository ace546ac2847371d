package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"slices"
	"strings"
	"time"

	"github.com/segmentd/segmentd"
)

// tagSelect selects a tag; append a WHERE clause.
const tagSelect = `SELECT id, name, source, created_at, updated_at FROM tags `

func scanTag(row rowScanner) (segmentd.Tag, error) {
	var t segmentd.Tag
	var source sql.NullString
	var created, updated int64
	if err := row.Scan(&t.ID, &t.Name, &source, &created, &updated); err != nil {
		return t, err
	}
	t.Source = source.String
	t.CreatedAt = fromMS(created)
	t.UpdatedAt = fromMS(updated)
	return t, nil
}

func getTag(ctx context.Context, q queryer, acct int64, id string) (segmentd.Tag, error) {
	t, err := scanTag(q.QueryRowContext(ctx, tagSelect+"WHERE account_id = ? AND id = ?", acct, id))
	if errors.Is(err, sql.ErrNoRows) {
		return t, tagNotFound(id)
	}
	return t, err
}

// checkTagName returns KindConflict when another tag of the account (not
// except) has name, ignoring case.
func checkTagName(ctx context.Context, tx *sql.Tx, acct int64, name, except string) error {
	return checkName(ctx, tx, "tag", name, "SELECT count(*) FROM tags WHERE account_id = ? AND name_key = ? AND id != ?",
		acct, strings.ToLower(name), except)
}

func (s *Store) CreateTag(ctx context.Context, acct int64, name, source string, max int, now time.Time) (segmentd.Tag, error) {
	now = msTime(now)
	t := segmentd.Tag{ID: segmentd.NewID(), Name: name, Source: source, CreatedAt: now, UpdatedAt: now}
	err := s.writeTx(ctx, func(tx *sql.Tx) error {
		var n int
		if err := tx.QueryRowContext(ctx, "SELECT count(*) FROM tags WHERE account_id = ?", acct).Scan(&n); err != nil {
			return err
		}
		if n >= max {
			return segmentd.Errorf(segmentd.KindInvalid, "", "the account already has the maximum of %d tags", max)
		}
		if err := checkTagName(ctx, tx, acct, name, ""); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, "INSERT INTO tags (account_id, id, name, name_key, source, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
			acct, t.ID, name, strings.ToLower(name), nullText(source), toMS(now), toMS(now))
		return err
	})
	if err != nil {
		return segmentd.Tag{}, err
	}
	return t, nil
}

func (s *Store) Tags(ctx context.Context, acct int64, afterID string, limit int) ([]segmentd.Tag, error) {
	if limit <= 0 {
		return nil, nil
	}
	return queryAll(ctx, s.read, scanTag, tagSelect+"WHERE account_id = ? AND id > ? ORDER BY id LIMIT ?", acct, afterID, limit)
}

func (s *Store) CountTags(ctx context.Context, acct int64) (int, error) {
	var n int
	err := s.read.QueryRowContext(ctx, "SELECT count(*) FROM tags WHERE account_id = ?", acct).Scan(&n)
	return n, err
}

func (s *Store) Tag(ctx context.Context, acct int64, id string) (segmentd.Tag, error) {
	return getTag(ctx, s.read, acct, id)
}

func (s *Store) RenameTag(ctx context.Context, acct int64, id, name string, now time.Time) (segmentd.Tag, error) {
	var t segmentd.Tag
	err := s.writeTx(ctx, func(tx *sql.Tx) error {
		if _, err := getTag(ctx, tx, acct, id); err != nil {
			return err
		}
		if err := checkTagName(ctx, tx, acct, name, id); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, "UPDATE tags SET name = ?, name_key = ?, updated_at = ? WHERE account_id = ? AND id = ?",
			name, strings.ToLower(name), toMS(now), acct, id)
		if err != nil {
			return err
		}
		t, err = getTag(ctx, tx, acct, id)
		return err
	})
	if err != nil {
		return segmentd.Tag{}, err
	}
	return t, nil
}

// DeleteTag deletes the tag and its taggings in one write, and stamps the
// contacts it was on with the write's change number.
func (s *Store) DeleteTag(ctx context.Context, acct int64, id string) ([]string, error) {
	var tagged []string
	err := s.writeTx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, "DELETE FROM tags WHERE account_id = ? AND id = ?", acct, id)
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil || n == 0 {
			if err == nil {
				err = tagNotFound(id)
			}
			return err
		}
		tagged, err = queryAll(ctx, tx, scanID, "DELETE FROM contact_tags INDEXED BY contact_tags_tag WHERE account_id = ? AND tag_id = ? RETURNING contact_id", acct, id)
		if err != nil {
			return err
		}
		return stampTagged(ctx, tx, acct, tagged)
	})
	if err != nil {
		return nil, err
	}
	return sortedUnique(tagged), nil
}

func tagNotFound(id string) error {
	return notFound("tag_id", "tag %s does not exist", segmentd.Quote(id))
}

// stampTagged records a change of the contacts whose taggings changed: the
// change history reports them as written.
func stampTagged(ctx context.Context, tx *sql.Tx, acct int64, ids []string) error {
	if len(ids) == 0 {
		return nil
	}
	seq, err := nextChange(ctx, tx)
	if err != nil {
		return err
	}
	_, err = tx.ExecContext(ctx, qStampContacts, seq, acct, jsonStrings(ids))
	return err
}

// tagsExist returns KindNotFound naming the first of ids that is not one
// of the account's tags.
func tagsExist(ctx context.Context, tx *sql.Tx, acct int64, ids []string) error {
	have, err := queryAll(ctx, tx, scanID, "SELECT id FROM tags WHERE account_id = ? AND id IN (SELECT value FROM json_each(?))", acct, jsonStrings(ids))
	if err != nil {
		return err
	}
	for _, id := range ids {
		if !slices.Contains(have, id) {
			return tagNotFound(id)
		}
	}
	return nil
}

// TagContacts inserts the taggings the contacts lack (INSERT OR IGNORE
// keeps those they have) and reports the contacts that gained one.
func (s *Store) TagContacts(ctx context.Context, acct int64, tagIDs, contactIDs []string, now time.Time) ([]string, error) {
	var changed []string
	err := s.writeTx(ctx, func(tx *sql.Tx) error {
		if err := tagsExist(ctx, tx, acct, tagIDs); err != nil || len(contactIDs) == 0 {
			return err
		}
		ids := jsonStrings(contactIDs)
		for _, tag := range tagIDs {
			got, err := queryAll(ctx, tx, scanID, `INSERT OR IGNORE INTO contact_tags (account_id, contact_id, tag_id, added_at)
				SELECT account_id, id, ?, ? FROM contacts WHERE account_id = ? AND id IN (SELECT value FROM json_each(?))
				RETURNING contact_id`, tag, toMS(now), acct, ids)
			if err != nil {
				return err
			}
			changed = append(changed, got...)
		}
		changed = sortedUnique(changed)
		return stampTagged(ctx, tx, acct, changed)
	})
	if err != nil {
		return nil, err
	}
	return changed, nil
}

// UntagContacts deletes the taggings and reports the contacts that lost one.
func (s *Store) UntagContacts(ctx context.Context, acct int64, tagIDs, contactIDs []string) ([]string, error) {
	var changed []string
	err := s.writeTx(ctx, func(tx *sql.Tx) error {
		if err := tagsExist(ctx, tx, acct, tagIDs); err != nil || len(contactIDs) == 0 {
			return err
		}
		got, err := queryAll(ctx, tx, scanID, `DELETE FROM contact_tags WHERE account_id = ?
			AND tag_id IN (SELECT value FROM json_each(?)) AND contact_id IN (SELECT value FROM json_each(?))
			RETURNING contact_id`, acct, jsonStrings(tagIDs), jsonStrings(contactIDs))
		if err != nil {
			return err
		}
		changed = sortedUnique(got)
		return stampTagged(ctx, tx, acct, changed)
	})
	if err != nil {
		return nil, err
	}
	return changed, nil
}

func (s *Store) CountTagMembers(ctx context.Context, acct int64, id string) (int, error) {
	var n int
	err := s.read.QueryRowContext(ctx, "SELECT count(*) FROM contact_tags INDEXED BY contact_tags_tag WHERE account_id = ? AND tag_id = ?", acct, id).Scan(&n)
	return n, err
}

// SetCCDetails writes the contact's row of contact_cc (none for zero
// details) and, when it changed, stamps the contact as written now.
func (s *Store) SetCCDetails(ctx context.Context, acct int64, contactID string, d segmentd.CCDetails, now time.Time) (bool, error) {
	enc, err := segmentd.EncodeCCDetails(d)
	if err != nil {
		return false, err
	}
	if d.IsZero() {
		enc = ""
	}
	changed := false
	err = s.writeTx(ctx, func(tx *sql.Tx) error {
		var have int
		if err := tx.QueryRowContext(ctx, "SELECT count(*) FROM contacts WHERE account_id = ? AND id = ?", acct, contactID).Scan(&have); err != nil {
			return err
		}
		if have == 0 {
			return notFound("contact_id", "contact %s does not exist", segmentd.Quote(contactID))
		}
		var old sql.NullString
		err := tx.QueryRowContext(ctx, "SELECT details FROM contact_cc WHERE account_id = ? AND contact_id = ?", acct, contactID).Scan(&old)
		if err != nil && !errors.Is(err, sql.ErrNoRows) {
			return err
		}
		if old.String == enc {
			return nil
		}
		changed = true
		if enc == "" {
			_, err = tx.ExecContext(ctx, "DELETE FROM contact_cc WHERE account_id = ? AND contact_id = ?", acct, contactID)
		} else {
			_, err = tx.ExecContext(ctx, "INSERT INTO contact_cc (account_id, contact_id, details) VALUES (?, ?, ?) "+
				"ON CONFLICT (account_id, contact_id) DO UPDATE SET details = excluded.details", acct, contactID, enc)
		}
		if err != nil {
			return err
		}
		seq, err := nextChange(ctx, tx)
		if err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx, "UPDATE contacts SET updated_at = ?, change_seq = ? WHERE account_id = ? AND id = ?", toMS(now), seq, acct, contactID)
		return err
	})
	return changed, err
}

// ChangeEmail rewrites the contact's email; contacts_email, the unique
// index, refuses another contact's.
func (s *Store) ChangeEmail(ctx context.Context, acct int64, contactID, email string, now time.Time) error {
	return s.writeTx(ctx, func(tx *sql.Tx) error {
		var owner string
		err := tx.QueryRowContext(ctx, "SELECT id FROM contacts WHERE account_id = ? AND email = ?", acct, email).Scan(&owner)
		switch {
		case err == nil && owner != contactID:
			return segmentd.Errorf(segmentd.KindConflict, "email", "email %s is another contact's", segmentd.Quote(email))
		case err != nil && !errors.Is(err, sql.ErrNoRows):
			return err
		}
		seq, err := nextChange(ctx, tx)
		if err != nil {
			return err
		}
		res, err := tx.ExecContext(ctx, "UPDATE contacts SET email = ?, updated_at = ?, change_seq = ? WHERE account_id = ? AND id = ?",
			email, toMS(now), seq, acct, contactID)
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil || n == 0 {
			if err == nil {
				err = notFound("contact_id", "contact %s does not exist", segmentd.Quote(contactID))
			}
			return err
		}
		return nil
	})
}
