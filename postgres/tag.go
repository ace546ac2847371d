package postgres

import (
	"context"
	"errors"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/segmentd/segmentd"
)

// qTags selects tags of the account $1; append the condition.
const qTags = `SELECT id, name, source, created_at, updated_at FROM tags WHERE account_id = $1 AND `

func scanTag(row pgx.Row) (segmentd.Tag, error) {
	var t segmentd.Tag
	var source *string
	var created, updated int64
	if err := row.Scan(&t.ID, &t.Name, &source, &created, &updated); err != nil {
		return t, err
	}
	if source != nil {
		t.Source = *source
	}
	t.CreatedAt = fromMS(created)
	t.UpdatedAt = fromMS(updated)
	return t, nil
}

func tagNotFound(id string) error {
	return notFound("tag_id", "tag %s does not exist", segmentd.Quote(id))
}

func getTag(ctx context.Context, q querier, acct int64, id string) (segmentd.Tag, error) {
	t, err := scanTag(q.QueryRow(ctx, qTags+"id = $2", acct, id))
	if errors.Is(err, pgx.ErrNoRows) {
		return t, tagNotFound(id)
	}
	return t, err
}

// checkTagName returns KindConflict when another tag of the account (not
// except) has name, ignoring case.
func checkTagName(ctx context.Context, tx pgx.Tx, acct int64, name, except string) error {
	return checkName(ctx, tx, "tag", name, "SELECT EXISTS (SELECT 1 FROM tags WHERE account_id = $1 AND name_key = $2 AND id <> $3)",
		acct, strings.ToLower(name), except)
}

// CreateTag counts the account's tags under the account lock, so that
// servers sharing the database never pass max together.
func (s *Store) CreateTag(ctx context.Context, acct int64, name, source string, max int, now time.Time) (segmentd.Tag, error) {
	now = msTime(now)
	t := segmentd.Tag{ID: segmentd.NewID(), Name: name, Source: source, CreatedAt: now, UpdatedAt: now}
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		if err := lockAccount(ctx, tx, acct); err != nil {
			return err
		}
		var n int
		if err := tx.QueryRow(ctx, "SELECT count(*) FROM tags WHERE account_id = $1", acct).Scan(&n); err != nil {
			return err
		}
		if n >= max {
			return segmentd.Errorf(segmentd.KindInvalid, "", "the account already has the maximum of %d tags", max)
		}
		if err := checkTagName(ctx, tx, acct, name, ""); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, "INSERT INTO tags (account_id, id, name, name_key, source, created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $6)",
			acct, t.ID, name, strings.ToLower(name), nullString(source), toMS(now))
		return err
	})
	if isUniqueViolation(err) {
		return segmentd.Tag{}, nameTaken("tag", name)
	}
	if err != nil {
		return segmentd.Tag{}, err
	}
	return t, nil
}

func (s *Store) Tags(ctx context.Context, acct int64, afterID string, limit int) ([]segmentd.Tag, error) {
	if limit <= 0 {
		return nil, nil
	}
	return queryAll(ctx, s.db, scanTag, qTags+"id > $2 ORDER BY id LIMIT $3", acct, afterID, limit)
}

func (s *Store) CountTags(ctx context.Context, acct int64) (int, error) {
	var n int
	err := s.db.QueryRow(ctx, "SELECT count(*) FROM tags WHERE account_id = $1", acct).Scan(&n)
	return n, classify(err)
}

func (s *Store) Tag(ctx context.Context, acct int64, id string) (segmentd.Tag, error) {
	t, err := getTag(ctx, s.db, acct, id)
	return t, classify(err)
}

func (s *Store) RenameTag(ctx context.Context, acct int64, id, name string, now time.Time) (segmentd.Tag, error) {
	var t segmentd.Tag
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		if err := lockAccount(ctx, tx, acct); err != nil {
			return err
		}
		if _, err := getTag(ctx, tx, acct, id); err != nil {
			return err
		}
		if err := checkTagName(ctx, tx, acct, name, id); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, "UPDATE tags SET name = $3, name_key = $4, updated_at = $5 WHERE account_id = $1 AND id = $2",
			acct, id, name, strings.ToLower(name), toMS(msTime(now)))
		if err != nil {
			return err
		}
		t, err = getTag(ctx, tx, acct, id)
		return err
	})
	if isUniqueViolation(err) {
		return segmentd.Tag{}, nameTaken("tag", name)
	}
	if err != nil {
		return segmentd.Tag{}, err
	}
	return t, nil
}

// DeleteTag deletes the tag and its taggings in one transaction, under
// the account's change number (and so its lock), and stamps the contacts
// it was on with that number.
func (s *Store) DeleteTag(ctx context.Context, acct int64, id string) ([]string, error) {
	var tagged []string
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		seq, err := nextChange(ctx, tx, acct)
		if err != nil {
			return err
		}
		tag, err := tx.Exec(ctx, "DELETE FROM tags WHERE account_id = $1 AND id = $2", acct, id)
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 0 {
			return tagNotFound(id)
		}
		tagged, err = queryAll(ctx, tx, scanString, "DELETE FROM contact_tags WHERE account_id = $1 AND tag_id = $2 RETURNING contact_id", acct, id)
		if err != nil {
			return err
		}
		return stampTagged(ctx, tx, acct, seq, tagged)
	})
	if err != nil {
		return nil, classify(err)
	}
	return sortedUnique(tagged), nil
}

// stampTagged records under change seq that the contacts ids had their
// taggings changed: the change history reports them as written.
func stampTagged(ctx context.Context, tx pgx.Tx, acct, seq int64, ids []string) error {
	if len(ids) == 0 {
		return nil
	}
	_, err := tx.Exec(ctx, "UPDATE contacts SET change_seq = $2 WHERE account_id = $1 AND id = ANY($3)", acct, seq, ids)
	return err
}

// tagsExist returns KindNotFound naming the first of ids that is not one
// of the account's tags.
func tagsExist(ctx context.Context, tx pgx.Tx, acct int64, ids []string) error {
	have, err := queryAll(ctx, tx, scanString, "SELECT id FROM tags WHERE account_id = $1 AND id = ANY($2)", acct, ids)
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

// TagContacts runs under the account's change number (its lock, which a
// tag's delete takes too): the contacts that exist get every tag, ON
// CONFLICT keeping the taggings they have, and those that gained one are
// stamped.
func (s *Store) TagContacts(ctx context.Context, acct int64, tagIDs, contactIDs []string, now time.Time) ([]string, error) {
	var changed []string
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		seq, err := nextChange(ctx, tx, acct)
		if err != nil {
			return err
		}
		if err := tagsExist(ctx, tx, acct, tagIDs); err != nil || len(contactIDs) == 0 {
			return err
		}
		// Read, then written: Citus takes no join of two distributed
		// tables in an INSERT … SELECT that it cannot route.
		live, err := queryAll(ctx, tx, scanString, "SELECT id FROM contacts WHERE account_id = $1 AND id = ANY($2)", acct, contactIDs)
		if err != nil || len(live) == 0 {
			return err
		}
		got, err := queryAll(ctx, tx, scanString, `INSERT INTO contact_tags (account_id, contact_id, tag_id, added_at)
			SELECT $1, c, t, $4 FROM unnest($2::text[]) AS c, unnest($3::text[]) AS t
			ON CONFLICT DO NOTHING RETURNING contact_id`, acct, live, tagIDs, toMS(now))
		if err != nil {
			return err
		}
		changed = sortedUnique(got)
		return stampTagged(ctx, tx, acct, seq, changed)
	})
	if err != nil {
		return nil, classify(err)
	}
	return changed, nil
}

func (s *Store) UntagContacts(ctx context.Context, acct int64, tagIDs, contactIDs []string) ([]string, error) {
	var changed []string
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		seq, err := nextChange(ctx, tx, acct)
		if err != nil {
			return err
		}
		if err := tagsExist(ctx, tx, acct, tagIDs); err != nil || len(contactIDs) == 0 {
			return err
		}
		got, err := queryAll(ctx, tx, scanString, `DELETE FROM contact_tags WHERE account_id = $1
			AND tag_id = ANY($2) AND contact_id = ANY($3) RETURNING contact_id`, acct, tagIDs, contactIDs)
		if err != nil {
			return err
		}
		changed = sortedUnique(got)
		return stampTagged(ctx, tx, acct, seq, changed)
	})
	if err != nil {
		return nil, classify(err)
	}
	return changed, nil
}

func (s *Store) CountTagMembers(ctx context.Context, acct int64, id string) (int, error) {
	var n int
	err := s.db.QueryRow(ctx, "SELECT count(*) FROM contact_tags WHERE account_id = $1 AND tag_id = $2", acct, id).Scan(&n)
	return n, classify(err)
}

// SetCCDetails writes the contact's row of contact_cc (none for zero
// details) under the account's change number and, when it changed,
// stamps the contact as written now.
func (s *Store) SetCCDetails(ctx context.Context, acct int64, contactID string, d segmentd.CCDetails, now time.Time) (bool, error) {
	enc, err := segmentd.EncodeCCDetails(d)
	if err != nil {
		return false, err
	}
	if d.IsZero() {
		enc = ""
	}
	changed := false
	err = s.inTx(ctx, func(tx pgx.Tx) error {
		seq, err := nextChange(ctx, tx, acct)
		if err != nil {
			return err
		}
		var have bool
		if err := tx.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM contacts WHERE account_id = $1 AND id = $2)", acct, contactID).Scan(&have); err != nil {
			return err
		}
		if !have {
			return notFound("contact_id", "contact %s does not exist", segmentd.Quote(contactID))
		}
		var old string
		err = tx.QueryRow(ctx, "SELECT details FROM contact_cc WHERE account_id = $1 AND contact_id = $2", acct, contactID).Scan(&old)
		if err != nil && !errors.Is(err, pgx.ErrNoRows) {
			return err
		}
		if old == enc {
			return nil
		}
		changed = true
		if enc == "" {
			_, err = tx.Exec(ctx, "DELETE FROM contact_cc WHERE account_id = $1 AND contact_id = $2", acct, contactID)
		} else {
			_, err = tx.Exec(ctx, `INSERT INTO contact_cc (account_id, contact_id, details) VALUES ($1, $2, $3)
				ON CONFLICT (account_id, contact_id) DO UPDATE SET details = excluded.details`, acct, contactID, enc)
		}
		if err != nil {
			return err
		}
		_, err = tx.Exec(ctx, "UPDATE contacts SET updated_at = $3, change_seq = $4 WHERE account_id = $1 AND id = $2", acct, contactID, toMS(msTime(now)), seq)
		return err
	})
	if err != nil {
		return false, classify(err)
	}
	return changed, nil
}

// ChangeEmail rewrites the contact's email under the account's change
// number; the unique index on (account_id, email) refuses another
// contact's, should a server sharing the store race this one.
func (s *Store) ChangeEmail(ctx context.Context, acct int64, contactID, email string, now time.Time) error {
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		seq, err := nextChange(ctx, tx, acct)
		if err != nil {
			return err
		}
		var owner string
		err = tx.QueryRow(ctx, "SELECT id FROM contacts WHERE account_id = $1 AND email = $2", acct, email).Scan(&owner)
		switch {
		case err == nil && owner != contactID:
			return emailTaken(email)
		case err != nil && !errors.Is(err, pgx.ErrNoRows):
			return err
		}
		tag, err := tx.Exec(ctx, "UPDATE contacts SET email = $3, updated_at = $4, change_seq = $5 WHERE account_id = $1 AND id = $2",
			acct, contactID, email, toMS(msTime(now)), seq)
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 0 {
			return notFound("contact_id", "contact %s does not exist", segmentd.Quote(contactID))
		}
		return nil
	})
	if isUniqueViolation(err) {
		return emailTaken(email)
	}
	return classify(err)
}

func emailTaken(email string) error {
	return segmentd.Errorf(segmentd.KindConflict, "email", "email %s is another contact's", segmentd.Quote(email))
}
