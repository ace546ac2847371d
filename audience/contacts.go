package audience

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"time"

	"github.com/segmentd/segmentd"
)

// UpsertContacts validates an upsert and queues it as a job; it returns the
// job id. Validation failures reject the whole request and store nothing.
func (s *Service) UpsertContacts(ctx context.Context, acct int64, patches []segmentd.ContactPatch, listIDs []string) (string, error) {
	if len(patches) == 0 {
		return "", segmentd.Errorf(segmentd.KindInvalid, "contacts", "contacts must hold at least one contact")
	}
	if len(patches) > segmentd.MaxUpsertContacts {
		return "", segmentd.Errorf(segmentd.KindTooLarge, "contacts", "contacts may hold at most %d contacts per request", segmentd.MaxUpsertContacts)
	}
	fields, err := s.FieldsByID(ctx, acct)
	if err != nil {
		return "", err
	}
	for i := range patches {
		if err := segmentd.ValidatePatch(&patches[i], "contacts["+strconv.Itoa(i)+"]", fields); err != nil {
			return "", err
		}
	}
	listIDs = dedupe(listIDs)
	for _, id := range listIDs {
		if !segmentd.IsUUID(id) {
			return "", segmentd.Errorf(segmentd.KindInvalid, "list_ids", "list id %s is not a valid UUID", segmentd.Quote(id))
		}
		if _, err := s.store.List(ctx, acct, id); err != nil {
			if segmentd.ErrorKindOf(err) == segmentd.KindNotFound {
				return "", segmentd.Errorf(segmentd.KindNotFound, "list_ids", "list %q does not exist", id)
			}
			return "", err
		}
	}
	return s.submit(ctx, acct, segmentd.JobUpsert, len(patches), &jobInput{op: opUpsert, patches: patches, lists: listIDs})
}

// applyUpsert is an upsert job's store stage.
func (s *Service) applyUpsert(j *segmentd.Job, in *jobInput) (func(), error) {
	res, err := s.store.UpsertContacts(s.yielding(), j.AccountID, in.patches, in.lists, s.clock.Now())
	if err != nil {
		return nil, err
	}
	return s.upserted(j, res, in.lists), nil
}

// upserted sets an upsert job's counts from its committed store result
// and returns what passes the changes to the engine.
func (s *Service) upserted(j *segmentd.Job, res segmentd.UpsertResult, lists []string) func() {
	countUpsert(j, res)
	return s.afterUpsert(j.AccountID, res, lists)
}

// countUpsert sets an upsert job's counts from its committed store result.
func countUpsert(j *segmentd.Job, res segmentd.UpsertResult) {
	j.Created, j.Updated = res.Created, res.Updated
	j.Errored = len(res.Errors)
	j.Errors = res.Errors
	if len(j.Errors) > segmentd.MaxJobErrors {
		j.Errors = j.Errors[:segmentd.MaxJobErrors]
	}
}

// upsertBatch writes validated patches to the store, adding them to lists,
// and returns the store's result, every error of it, and what passes the
// changes to the engine: the store stage of each batch of an import, and
// of Constant Contact's upserting jobs (an upsert job's is applyUpsert, or
// writeUpserts for a group).
func (s *Service) upsertBatch(acct int64, patches []segmentd.ContactPatch, lists []string) (segmentd.UpsertResult, func(), error) {
	res, err := s.store.UpsertContacts(context.Background(), acct, patches, lists, s.clock.Now())
	if err != nil {
		return res, nil, err
	}
	return res, s.afterUpsert(acct, res, lists), nil
}

// afterUpsert is what follows an upsert's commit in its store stage: the
// events that waited for its contacts are attached, and it returns what
// passes the changes to the engine.
func (s *Service) afterUpsert(acct int64, res segmentd.UpsertResult, lists []string) func() {
	publish, own := s.upsertCommitted(acct, res, lists)
	own()
	return publish
}

// upsertCommitted is afterUpsert leaving to its caller own, which gives
// the engine of a shared store the upsert (nothing in a store of its
// own) and reports whether the engine holds all of it then (applyOwn;
// not when it attached waiting events, which took a change of their own): the
// account's next upsert job may write meanwhile (queue.go,
// runAccountJobs).
func (s *Service) upsertCommitted(acct int64, res segmentd.UpsertResult, lists []string) (publish func(), own func() bool) {
	// Events that arrived before their contact count from now on.
	waiting, err := s.attachEvents(context.Background(), acct, res.Contacts)
	if err != nil {
		s.log.Error("attaching waiting events", "account", acct, "err", err)
	}
	own = func() bool {
		if !s.cfg.Shared {
			return true
		}
		// The contacts reach the engine now if no other write came
		// between. Waiting events attached to them took a change of
		// their own, after the upsert's: the engine holds the whole job
		// only once a catch-up brought that one, so the job then
		// reports not held (finishShared catches up at once).
		held := s.applyOwn(acct, res.Change, 0, func() {
			now := s.clock.Now()
			s.putUpserted(acct, res, now)
			s.members.AddToLists(acct, res.Joined, lists, now)
		})
		return held && len(waiting) == 0
	}
	return func() {
		if s.members != nil {
			now := s.clock.Now()
			s.putUpserted(acct, res, now)
			s.members.AddToLists(acct, res.Joined, lists, now)
			s.members.AddEvents(acct, waiting, now)
		}
	}, own
}

// putUpserted gives the engine an upsert's contacts: with their lists in
// full, or, when the store did not read those of the stored contacts it
// changed (UpsertResult.ListsAdded), as lists to join, the contacts
// staying on the others. The engine holds every stored contact (an
// upsert's Joined relies on it as well).
func (s *Service) putUpserted(acct int64, res segmentd.UpsertResult, now time.Time) {
	if res.ListsAdded {
		s.members.PutContactsAddingLists(acct, res.Contacts, now)
	} else {
		s.members.PutContacts(acct, res.Contacts, now)
	}
}

// SampleContacts returns up to 50 recent contacts sorted by email, and the
// account's contact count.
func (s *Service) SampleContacts(ctx context.Context, acct int64) ([]segmentd.Contact, int, error) {
	cs, err := s.store.SampleContacts(s.readCtx(ctx), acct, segmentd.ListSampleSize)
	if err == nil {
		cs, err = s.withSets(ctx, acct, cs, true, s.clock.Now())
	}
	if err != nil {
		return nil, 0, err
	}
	n, err := s.CountContacts(ctx, acct)
	return cs, n, err
}

// Contact returns one contact, its lists and segments from the engine
// (withSets).
func (s *Service) Contact(ctx context.Context, acct int64, id string) (segmentd.Contact, error) {
	c, err := s.store.Contact(s.readCtx(ctx), acct, id)
	if err != nil {
		return c, err
	}
	cs, err := s.withSets(ctx, acct, []segmentd.Contact{c}, true, s.clock.Now())
	if err != nil {
		return segmentd.Contact{}, err
	}
	return cs[0], nil
}

// ContactsByIDs returns the contacts that exist among ids (at most 100).
func (s *Service) ContactsByIDs(ctx context.Context, acct int64, ids []string) ([]segmentd.Contact, error) {
	if len(ids) == 0 {
		return nil, segmentd.Errorf(segmentd.KindInvalid, "ids", "ids is required")
	}
	if len(ids) > segmentd.MaxBatchIDs {
		return nil, segmentd.Errorf(segmentd.KindTooLarge, "ids", "ids may hold at most %d ids", segmentd.MaxBatchIDs)
	}
	cs, err := s.store.ContactsByIDs(s.readCtx(ctx), acct, ids)
	if err != nil {
		return nil, err
	}
	return s.withSets(ctx, acct, cs, true, s.clock.Now())
}

// ContactsByEmails looks addresses up among emails and alternate emails.
// Empty strings are ignored; any malformed address rejects the request
// (docs/sendgrid.md "Contacts"). The map is keyed by the lower-cased address.
func (s *Service) ContactsByEmails(ctx context.Context, acct int64, emails []string) ([]string, map[string]segmentd.Contact, error) {
	var keys []string
	for i, e := range emails {
		if strings.TrimSpace(e) == "" {
			continue
		}
		if len(e) > 100 {
			return nil, nil, segmentd.Errorf(segmentd.KindInvalid, "emails["+strconv.Itoa(i)+"]", "email %s is longer than 100 characters", segmentd.Quote(e))
		}
		n := segmentd.NormalizeEmail(e)
		if !segmentd.ValidEmail(n) {
			return nil, nil, segmentd.Errorf(segmentd.KindInvalid, "emails["+strconv.Itoa(i)+"]", "email %s is not a valid email address", segmentd.Quote(e))
		}
		keys = append(keys, n)
	}
	if len(keys) == 0 {
		return nil, nil, segmentd.Errorf(segmentd.KindInvalid, "emails", "emails must hold at least one address")
	}
	if len(keys) > segmentd.MaxSearchEmails {
		return nil, nil, segmentd.Errorf(segmentd.KindTooLarge, "emails", "emails may hold at most %d addresses", segmentd.MaxSearchEmails)
	}
	keys = dedupe(keys)
	found, err := s.store.ContactsByEmails(s.readCtx(ctx), acct, keys)
	if err == nil {
		found, err = s.mapWithSets(ctx, acct, found, s.clock.Now())
	}
	if err != nil {
		return nil, nil, err
	}
	return keys, found, nil
}

// ContactsByIdentifier looks contacts up by one identifier type.
func (s *Service) ContactsByIdentifier(ctx context.Context, acct int64, t segmentd.IdentifierType, values []string) (map[string]segmentd.Contact, error) {
	if len(values) == 0 {
		return nil, segmentd.Errorf(segmentd.KindInvalid, "identifiers", "identifiers must hold at least one value")
	}
	if len(values) > segmentd.MaxBatchIDs {
		return nil, segmentd.Errorf(segmentd.KindTooLarge, "identifiers", "identifiers may hold at most %d values", segmentd.MaxBatchIDs)
	}
	for i, v := range values {
		if strings.TrimSpace(v) == "" {
			return nil, segmentd.Errorf(segmentd.KindInvalid, "identifiers["+strconv.Itoa(i)+"]", "identifier must not be empty")
		}
		if t == segmentd.IdentifierEmail {
			values[i] = segmentd.NormalizeEmail(v)
			if !segmentd.ValidEmail(values[i]) {
				return nil, segmentd.Errorf(segmentd.KindInvalid, "identifiers["+strconv.Itoa(i)+"]", "email %s is not a valid email address", segmentd.Quote(v))
			}
		}
	}
	found, err := s.store.ContactsByIdentifier(s.readCtx(ctx), acct, t, dedupe(values))
	if err != nil {
		return nil, err
	}
	return s.mapWithSets(ctx, acct, found, s.clock.Now())
}

// CountContacts returns the account's number of contacts: from the engine,
// which holds every contact once the job that wrote it completed, so the
// count costs the same whatever the account's size (docs/decisions.md
// §19); from the store without an engine (the offline commands).
func (s *Service) CountContacts(ctx context.Context, acct int64) (int, error) {
	if s.members == nil {
		return s.store.CountContacts(ctx, acct)
	}
	return s.members.ContactCount(acct), nil
}

// SubuserContactCounts returns the number of contacts of each subuser of
// the account, by account id (none when it has no subusers).
func (s *Service) SubuserContactCounts(ctx context.Context, acct int64) (map[int64]int, error) {
	accounts, err := s.store.Accounts(ctx)
	if err != nil {
		return nil, err
	}
	counts := map[int64]int{}
	for _, a := range accounts {
		if a.ParentID != acct {
			continue
		}
		if counts[a.ID], err = s.CountContacts(ctx, a.ID); err != nil {
			return nil, err
		}
	}
	return counts, nil
}

// DeleteContacts deletes contacts by id, or all of them, in a job. Exactly
// one of ids and all must be given.
func (s *Service) DeleteContacts(ctx context.Context, acct int64, ids []string, all bool) (string, error) {
	if (len(ids) > 0) == all {
		return "", segmentd.Errorf(segmentd.KindInvalid, "ids", "exactly one of ids or delete_all_contacts=true must be given")
	}
	if all {
		n, err := s.store.CountContacts(ctx, acct)
		if err != nil {
			return "", err
		}
		return s.submit(ctx, acct, segmentd.JobDelete, n, &jobInput{op: opDeleteAll})
	}
	if len(ids) > segmentd.MaxDeleteIDs {
		return "", segmentd.Errorf(segmentd.KindTooLarge, "ids", "ids may hold at most %d contact ids", segmentd.MaxDeleteIDs)
	}
	for _, id := range ids {
		if !segmentd.IsUUID(id) {
			return "", segmentd.Errorf(segmentd.KindInvalid, "ids", "contact id %s is not a valid UUID", segmentd.Quote(id))
		}
	}
	ids = dedupe(ids)
	return s.submit(ctx, acct, segmentd.JobDelete, len(ids), &jobInput{op: opDelete, ids: ids})
}

// applyDelete is the store stage of a job that deletes contacts by id
// (DeleteContacts, DeleteList with its contacts).
func (s *Service) applyDelete(j *segmentd.Job, in *jobInput) (func(), error) {
	acct := j.AccountID
	d, err := s.store.DeleteContacts(context.Background(), acct, in.ids)
	j.Deleted = d
	return func() { s.contactsDeleted(acct, in.ids) }, err
}

// applyDeleteAll is the store stage of a job that deletes every contact.
func (s *Service) applyDeleteAll(j *segmentd.Job) (func(), error) {
	acct := j.AccountID
	d, err := s.store.DeleteAllContacts(context.Background(), acct)
	j.Deleted = d
	return func() {
		if s.members != nil {
			s.members.DeleteAllContacts(acct, s.clock.Now())
		}
	}, err
}

// DeleteIdentifier removes one identifier from a contact in a job. Removing
// the contact's last identifier fails the job, as at SendGrid. The job's one
// item is the identifier, so a refusal (the last identifier, a value the
// contact does not have, a contact deleted since the request) is that
// item's error, at index 0: SendGrid's job errors index the request's
// items. Only a failing store fails the job as a whole (jobs.go, complete).
func (s *Service) DeleteIdentifier(ctx context.Context, acct int64, contactID string, t segmentd.IdentifierType, value string) (string, error) {
	if value == "" {
		return "", segmentd.Errorf(segmentd.KindInvalid, "identifier_value", "identifier_value is required")
	}
	if t == segmentd.IdentifierEmail {
		value = segmentd.NormalizeEmail(value)
	}
	if _, err := s.store.Contact(segmentd.WithoutLists(ctx), acct, contactID); err != nil { // exists
		return "", err
	}
	return s.submit(ctx, acct, segmentd.JobDelete, 1, &jobInput{op: opDeleteIdentifier, ids: []string{contactID}, ident: t, value: value})
}

// applyDeleteIdentifier is DeleteIdentifier's store stage.
func (s *Service) applyDeleteIdentifier(j *segmentd.Job, in *jobInput) (func(), error) {
	acct, contactID := j.AccountID, in.ids[0]
	err := s.store.DeleteIdentifier(context.Background(), acct, contactID, in.ident, in.value, s.clock.Now())
	var refused *segmentd.Error
	if errors.As(err, &refused) && refused.Kind != segmentd.KindInternal {
		j.Errored = 1
		j.Errors = []segmentd.JobError{{Index: 0, Field: refused.Field, Message: refused.Message}}
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	j.Deleted = 1
	return func() { s.contactsChanged(context.Background(), acct, []string{contactID}) }, nil
}

func dedupe(s []string) []string {
	seen := make(map[string]bool, len(s))
	out := s[:0:0]
	for _, v := range s {
		if !seen[v] {
			seen[v] = true
			out = append(out, v)
		}
	}
	return out
}
