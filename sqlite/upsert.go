package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/segmentd/segmentd"
)

// upsertEntry is a contact touched by an upsert batch.
type upsertEntry struct {
	c       segmentd.Contact
	stored  bool // the row exists (UPDATE), or not yet (INSERT)
	altSet  bool // a patch gave alternate_emails: rewrite its rows
	touched bool // a patch was applied to it
}

// upsertBatch matches and merges one batch in memory, then writes the
// result. Matching sees the batch's own earlier patches: an identifier given
// twice updates the contact the first occurrence created.
type upsertBatch struct {
	byID  map[string]*upsertEntry
	order []*upsertEntry             // touched entries, in first-touch order
	index [4]map[string]*upsertEntry // by identifier, in segmentd.Identifiers order
	res   segmentd.UpsertResult
}

// UpsertContacts applies the patches in order inside one write transaction.
// It reads only the contacts that one of the batch's identifiers names,
// merges in memory (with segmentd.ApplyPatch), then writes each touched
// contact once with prepared statements.
func (s *Store) UpsertContacts(ctx context.Context, acct int64, patches []segmentd.ContactPatch, listIDs []string, now time.Time) (segmentd.UpsertResult, error) {
	now = msTime(now)
	listIDs = sortedUnique(listIDs)
	var res segmentd.UpsertResult
	err := s.writeTx(ctx, func(tx *sql.Tx) error {
		if err := checkLists(ctx, tx, acct, listIDs); err != nil {
			return err
		}
		b := &upsertBatch{byID: make(map[string]*upsertEntry)}
		for i := range b.index {
			b.index[i] = make(map[string]*upsertEntry)
		}
		if err := b.load(ctx, tx, acct, patches); err != nil {
			return err
		}
		for i := range patches {
			b.apply(i, &patches[i], listIDs, now)
		}
		if err := b.write(ctx, tx, acct, listIDs, now); err != nil {
			return err
		}
		res = b.res
		return nil
	})
	if err != nil {
		return segmentd.UpsertResult{}, err
	}
	return res, nil
}

// checkLists returns KindNotFound unless every id in ids is a list of acct.
func checkLists(ctx context.Context, tx *sql.Tx, acct int64, ids []string) error {
	if len(ids) == 0 {
		return nil
	}
	rows, err := tx.QueryContext(ctx, "SELECT id FROM lists WHERE account_id = ? AND id IN (SELECT value FROM json_each(?))", acct, jsonStrings(ids))
	if err != nil {
		return err
	}
	defer rows.Close()
	have := make(map[string]bool, len(ids))
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			return err
		}
		have[id] = true
	}
	if err := rows.Err(); err != nil {
		return err
	}
	for _, id := range ids {
		if !have[id] {
			return notFound("list_ids", "list %q does not exist", id)
		}
	}
	return nil
}

// load reads the stored contacts that any identifier of the batch names.
func (b *upsertBatch) load(ctx context.Context, tx *sql.Tx, acct int64, patches []segmentd.ContactPatch) error {
	for _, t := range segmentd.Identifiers {
		var values []string
		seen := make(map[string]bool)
		for i := range patches {
			if v, ok := patches[i].Identifier(t); ok && !seen[v] {
				seen[v] = true
				values = append(values, v)
			}
		}
		if len(values) == 0 {
			continue
		}
		col, _ := identifierCol(t)
		rows, err := tx.QueryContext(ctx, "SELECT "+contactColumns+" FROM contacts WHERE account_id = ? AND "+col+
			" IN (SELECT value FROM json_each(?))", acct, jsonStrings(values))
		if err != nil {
			return err
		}
		for rows.Next() {
			c, err := scanContact(rows)
			if err != nil {
				rows.Close()
				return err
			}
			e := b.byID[c.ID]
			if e == nil {
				e = &upsertEntry{c: c, stored: true}
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
				"%s %q and %s %q belong to two different contacts", matchT, first, t, v)})
			return
		}
	}
	var c segmentd.Contact
	if match != nil {
		c = match.c
		c.AlternateEmails = slices.Clone(c.AlternateEmails)
		c.CustomFields = maps.Clone(c.CustomFields)
		c.ListIDs = slices.Clone(c.ListIDs)
	}
	if err := segmentd.ApplyPatch(&c, p, listIDs, now); err != nil {
		je := segmentd.JobError{Index: i, Message: err.Error()}
		var se *segmentd.Error
		if errors.As(err, &se) {
			je.Field, je.Message = se.Field, se.Message
		}
		b.res.Errors = append(b.res.Errors, je)
		return
	}
	e := match
	if e == nil {
		e = &upsertEntry{}
		b.byID[c.ID] = e
		b.res.Created++
	} else {
		b.res.Updated++
	}
	e.c = c
	if p.AlternateEmails != nil {
		e.altSet = true
	}
	if !e.touched {
		e.touched = true
		b.order = append(b.order, e)
	}
	b.indexEntry(e)
}

// write stores every touched contact: one INSERT or UPDATE each, their
// alternate-email rows when a patch set them, and their list memberships.
func (b *upsertBatch) write(ctx context.Context, tx *sql.Tx, acct int64, listIDs []string, now time.Time) error {
	if len(b.order) == 0 {
		return nil
	}
	cols := append([]string{"account_id", "id"}, textCols...)
	cols = append(cols, "alternate_emails", "custom_fields", "created_at", "updated_at")
	insert, err := tx.PrepareContext(ctx, "INSERT INTO contacts ("+strings.Join(cols, ", ")+") VALUES (?"+strings.Repeat(", ?", len(cols)-1)+")")
	if err != nil {
		return err
	}
	defer insert.Close()
	sets := make([]string, 0, len(cols))
	for _, c := range cols[2:] {
		if c != "created_at" {
			sets = append(sets, c+" = ?")
		}
	}
	update, err := tx.PrepareContext(ctx, "UPDATE contacts SET "+strings.Join(sets, ", ")+" WHERE account_id = ? AND id = ?")
	if err != nil {
		return err
	}
	defer update.Close()
	delAlt, err := tx.PrepareContext(ctx, "DELETE FROM contact_alternate_emails WHERE account_id = ? AND contact_id = ?")
	if err != nil {
		return err
	}
	defer delAlt.Close()
	insAlt, err := tx.PrepareContext(ctx, "INSERT OR IGNORE INTO contact_alternate_emails (account_id, email, contact_id) VALUES (?, ?, ?)")
	if err != nil {
		return err
	}
	defer insAlt.Close()
	insMember, err := tx.PrepareContext(ctx, "INSERT OR IGNORE INTO list_members (account_id, list_id, contact_id, added_at) VALUES (?, ?, ?, ?)")
	if err != nil {
		return err
	}
	defer insMember.Close()

	args := make([]any, 0, len(cols))
	for _, e := range b.order {
		c := &e.c
		custom, err := encodeCustomFields(c.CustomFields)
		if err != nil {
			return fmt.Errorf("contact %s: custom_fields: %w", c.ID, err)
		}
		args = args[:0]
		if !e.stored {
			args = append(args, acct, c.ID)
		}
		for _, p := range textFields(c) {
			args = append(args, nullText(*p))
		}
		args = append(args, encodeAlternateEmails(c.AlternateEmails), custom)
		if !e.stored {
			args = append(args, toMS(c.CreatedAt), toMS(c.UpdatedAt))
			if _, err := insert.ExecContext(ctx, args...); err != nil {
				return fmt.Errorf("insert contact: %w", err)
			}
		} else {
			args = append(args, toMS(c.UpdatedAt), acct, c.ID)
			if _, err := update.ExecContext(ctx, args...); err != nil {
				return fmt.Errorf("update contact: %w", err)
			}
			if e.altSet {
				if _, err := delAlt.ExecContext(ctx, acct, c.ID); err != nil {
					return err
				}
			}
		}
		if e.altSet || !e.stored {
			for _, a := range c.AlternateEmails {
				if _, err := insAlt.ExecContext(ctx, acct, a, c.ID); err != nil {
					return err
				}
			}
		}
		for _, l := range listIDs {
			if _, err := insMember.ExecContext(ctx, acct, l, c.ID, toMS(now)); err != nil {
				return err
			}
		}
	}
	return nil
}
