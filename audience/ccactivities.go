package audience

import (
	"context"
	"slices"
	"strings"
	"time"

	"github.com/segmentd/segmentd"
)

// Constant Contact's bulk activities (POST /v3/activities/<type>,
// docs/constantcontact.md "Bulk activities"). Those that write contacts
// are jobs of an activity type (segmentd.ActivityTypes), accepted,
// journaled and run on the job worker exactly as SendGrid's contact jobs
// are: a JSON or CSV import is an upsert, a list-membership activity or a
// contact delete an operation of its own below. The deletes of lists and
// custom fields change no contact's row of their own and run at once, as
// the one-item deletes do, stored as finished activities.
//
// Adding an activity: a JobType in the root's ActivityTypes, a jobOp when
// it runs as a job (with its input in jobInput and its journal encoding,
// and its store stage in apply), and a Service method that validates the
// request and calls submitActivity.

// MaxQueuedActivities is Constant Contact's bound on an account's
// activities not yet finished: past it a new one is refused with 429.
const MaxQueuedActivities = 1000

// Constant Contact's limits on the bulk activities (the spec's).
const (
	MaxImportContacts       = 40_000 // a JSON import's import_data (the CSV import's 40,000 lines)
	MaxActivityListIDs      = 50     // target lists; a source's lists
	MaxActivityContactIDs   = 500    // a source's contact_ids
	MaxActivityDeleteLists  = 100    // list_delete's list_ids
	MaxActivityDeleteFields = 100    // custom_fields_delete's custom_field_ids
	MaxActivityTagIDs       = 50     // a tagging activity's tag_ids
	MaxActivityDeleteTags   = 500    // contacts_tags_delete's tag_ids
)

// ActivitySource is which contacts a list-membership activity or a
// contact delete acts on: exactly one of ContactIDs, ListIDs (the members
// of any of them), All (every contact), or Segment (a Constant Contact
// segment's members as the activity is accepted). Exclude leaves
// contacts out of a ListIDs or All source.
type ActivitySource struct {
	ContactIDs []string
	ListIDs    []string
	All        bool
	Segment    int64
	// TagIDs are the contacts with any of the tags as the activity is
	// accepted.
	TagIDs  []string
	Exclude []string
}

// submitActivity accepts a job of an activity type, once the account's
// unfinished activities are under MaxQueuedActivities, and returns it as
// accepted.
func (s *Service) submitActivity(ctx context.Context, acct int64, t segmentd.JobType, requested int, in *jobInput) (segmentd.Job, error) {
	n, err := s.queuedActivities(ctx, acct)
	if err != nil {
		return segmentd.Job{}, err
	}
	if n >= s.cfg.MaxQueuedActivities {
		return segmentd.Job{}, &segmentd.RateLimitError{Err: segmentd.Errorf(segmentd.KindRateLimited, "",
			"the account has %d activities queued, Constant Contact's limit: retry once some have finished", n), Limit: s.cfg.MaxQueuedActivities}
	}
	j := segmentd.Job{ID: segmentd.NewID(), AccountID: acct, Type: t, Requested: requested, StartedAt: s.clock.Now()}
	if _, err := s.acceptJob(ctx, j, in, false); err != nil {
		return segmentd.Job{}, err
	}
	j.Status = segmentd.JobPending
	return j, nil
}

// queuedActivities counts the account's activities not finished.
func (s *Service) queuedActivities(ctx context.Context, acct int64) (int, error) {
	if s.cfg.Jobs != nil {
		js, err := s.store.Jobs(ctx, acct, segmentd.JobsQuery{Types: segmentd.ActivityTypes, Statuses: []segmentd.JobStatus{segmentd.JobPending}, Limit: s.cfg.MaxQueuedActivities})
		return len(js), err
	}
	n := 0
	s.pendingMu.Lock()
	defer s.pendingMu.Unlock()
	for _, j := range s.pending {
		if j.AccountID == acct && j.Status == segmentd.JobPending && j.Type.Activity() {
			n++
		}
	}
	return n, nil
}

// targetLists checks an activity's list ids: at least min, at most
// MaxActivityListIDs, each a list of the account (KindInvalid naming
// field otherwise).
func (s *Service) targetLists(ctx context.Context, acct int64, field string, ids []string, min int) ([]string, error) {
	ids = dedupe(ids)
	if len(ids) < min {
		return nil, segmentd.Errorf(segmentd.KindInvalid, field, "%s must name at least %d list", field, min)
	}
	if len(ids) > MaxActivityListIDs {
		return nil, segmentd.Errorf(segmentd.KindTooLarge, field, "%s may name at most %d lists, not %d", field, MaxActivityListIDs, len(ids))
	}
	for _, id := range ids {
		if !segmentd.IsUUID(id) {
			return nil, segmentd.Errorf(segmentd.KindInvalid, field, "%s: %s is not a list id (a UUID)", field, segmentd.Quote(id))
		}
		if _, err := s.store.List(ctx, acct, id); err != nil {
			if segmentd.ErrorKindOf(err) == segmentd.KindNotFound {
				return nil, segmentd.Errorf(segmentd.KindInvalid, field, "%s: list %s does not exist", field, segmentd.Quote(id))
			}
			return nil, err
		}
	}
	return ids, nil
}

// checkSource validates an activity's source: exactly one kind, within
// Constant Contact's limits, lists that exist, a live segment; segment
// tells whether a segment may be the source.
func (s *Service) checkSource(ctx context.Context, acct int64, src *ActivitySource, segment bool) (*jobInput, int, error) {
	kinds := 0
	for _, set := range []bool{len(src.ContactIDs) > 0, len(src.ListIDs) > 0, src.All, src.Segment != 0, len(src.TagIDs) > 0} {
		if set {
			kinds++
		}
	}
	if kinds != 1 {
		what := "contact_ids, list_ids, tag_ids or all_active_contacts"
		if segment {
			what = "contact_ids, list_ids, tag_ids, all_active_contacts or segment_id"
		}
		return nil, 0, segmentd.Errorf(segmentd.KindInvalid, "source", "source must name exactly one of %s", what)
	}
	if src.Segment != 0 && !segment {
		return nil, 0, segmentd.Errorf(segmentd.KindInvalid, "source.segment_id", "source.segment_id is not a source of this activity")
	}
	if len(src.Exclude) > 0 && len(src.ListIDs) == 0 && !src.All {
		return nil, 0, segmentd.Errorf(segmentd.KindInvalid, "exclude", "exclude applies only to a list_ids or all_active_contacts source")
	}
	in := &jobInput{exclude: dedupe(src.Exclude)}
	requested := 0
	// A shared store: what other servers wrote reaches the engine first,
	// for the counts and a segment's members read below.
	if err := s.sync(ctx, acct); err != nil {
		return nil, 0, err
	}
	switch {
	case len(src.ContactIDs) > 0:
		ids := dedupe(src.ContactIDs)
		if len(ids) > MaxActivityContactIDs {
			return nil, 0, segmentd.Errorf(segmentd.KindTooLarge, "source.contact_ids", "source.contact_ids may hold at most %d contact ids, not %d", MaxActivityContactIDs, len(ids))
		}
		for _, id := range ids {
			if !segmentd.IsUUID(id) {
				return nil, 0, segmentd.Errorf(segmentd.KindInvalid, "source.contact_ids", "source.contact_ids: %s is not a contact id (a UUID)", segmentd.Quote(id))
			}
		}
		in.ids, requested = ids, len(ids)
	case len(src.ListIDs) > 0:
		ls, err := s.targetLists(ctx, acct, "source.list_ids", src.ListIDs, 1)
		if err != nil {
			return nil, 0, err
		}
		in.from = ls
		for _, l := range ls {
			requested += s.members.ListCount(acct, l)
		}
	case src.All:
		in.all = true
		requested = s.members.ContactCount(acct)
	case len(src.TagIDs) > 0:
		tags := dedupe(src.TagIDs)
		if len(tags) > MaxActivityTagIDs {
			return nil, 0, segmentd.Errorf(segmentd.KindTooLarge, "source.tag_ids", "source.tag_ids may name at most %d tags, not %d", MaxActivityTagIDs, len(tags))
		}
		for _, id := range tags {
			_, err := s.store.Tag(ctx, acct, id)
			if !segmentd.IsUUID(id) || segmentd.ErrorKindOf(err) == segmentd.KindNotFound {
				return nil, 0, segmentd.Errorf(segmentd.KindInvalid, "source.tag_ids", "source.tag_ids: tag %s does not exist", segmentd.Quote(id))
			}
			if err != nil {
				return nil, 0, err
			}
		}
		// The tagged contacts as the activity is accepted.
		_, n := s.members.TaggedContacts(acct, tags, 0, 0)
		in.ids, _ = s.members.TaggedContacts(acct, tags, 0, n)
		requested = len(in.ids)
	default:
		seg, err := s.liveCCSegment(ctx, acct, src.Segment)
		if segmentd.ErrorKindOf(err) == segmentd.KindNotFound {
			// The activity documents no 404: the source is the request's
			// error.
			return nil, 0, segmentd.Errorf(segmentd.KindInvalid, "source.segment_id", "source.segment_id: %s", err.(*segmentd.Error).Message)
		}
		if err != nil {
			return nil, 0, err
		}
		// The segment's members as the activity is accepted.
		in.ids = s.members.Members(acct, seg.EngineID(), -1, s.clock.Now())
		requested = len(in.ids)
	}
	return in, requested, nil
}

// CCListMemberships is add_list_memberships (add) or
// remove_list_memberships: the source's contacts put on, or taken off,
// every list of lists.
func (s *Service) CCListMemberships(ctx context.Context, acct int64, add bool, src ActivitySource, lists []string) (segmentd.Job, error) {
	in, requested, err := s.checkSource(ctx, acct, &src, add)
	if err != nil {
		return segmentd.Job{}, err
	}
	if in.lists, err = s.targetLists(ctx, acct, "list_ids", lists, 1); err != nil {
		return segmentd.Job{}, err
	}
	t := segmentd.JobCCRemoveFromLists
	in.op = opListsRemove
	if add {
		in.op, t = opListsAdd, segmentd.JobCCAddToLists
	}
	return s.submitActivity(ctx, acct, t, requested, in)
}

// CCDeleteContacts is contact_delete: the contacts named, or the members
// of the lists, deleted.
func (s *Service) CCDeleteContacts(ctx context.Context, acct int64, contactIDs, listIDs []string) (segmentd.Job, error) {
	if len(contactIDs) > 0 && len(listIDs) > 0 || len(contactIDs) == 0 && len(listIDs) == 0 {
		return segmentd.Job{}, segmentd.Errorf(segmentd.KindInvalid, "contact_ids", "name exactly one of contact_ids and list_ids")
	}
	in, requested, err := s.checkSource(ctx, acct, &ActivitySource{ContactIDs: contactIDs, ListIDs: listIDs}, false)
	if err != nil {
		return segmentd.Job{}, err
	}
	in.op = opCCDelete
	return s.submitActivity(ctx, acct, segmentd.JobCCContactDelete, requested, in)
}

// CCTaggings is contacts_taggings_add (add) or contacts_taggings_remove:
// every tag of tags given to, or taken off, the source's contacts. A tag
// that does not exist is KindNotFound (the activities document 404).
func (s *Service) CCTaggings(ctx context.Context, acct int64, add bool, src ActivitySource, tags []string) (segmentd.Job, error) {
	tags, err := s.existingTags(ctx, acct, tags, MaxActivityTagIDs, segmentd.KindNotFound)
	if err != nil {
		return segmentd.Job{}, err
	}
	in, requested, err := s.checkSource(ctx, acct, &src, false)
	if err != nil {
		return segmentd.Job{}, err
	}
	in.tags = tags
	t := segmentd.JobCCTagsRemove
	in.op = opTagsRemove
	if add {
		in.op, t = opTagsAdd, segmentd.JobCCTagsAdd
	}
	return s.submitActivity(ctx, acct, t, requested, in)
}

// existingTags checks an activity's tag_ids: at least one, at most max,
// each a tag of the account (an unknown one is an error of kind unknown).
func (s *Service) existingTags(ctx context.Context, acct int64, ids []string, max int, unknown segmentd.ErrorKind) ([]string, error) {
	ids = dedupe(ids)
	if len(ids) == 0 {
		return nil, segmentd.Errorf(segmentd.KindInvalid, "tag_ids", "tag_ids must name at least one tag")
	}
	if len(ids) > max {
		return nil, segmentd.Errorf(segmentd.KindTooLarge, "tag_ids", "tag_ids may name at most %d tags, not %d", max, len(ids))
	}
	for _, id := range ids {
		if !segmentd.IsUUID(id) {
			return nil, segmentd.Errorf(segmentd.KindInvalid, "tag_ids", "tag_ids: %s is not a tag id (a UUID)", segmentd.Quote(id))
		}
		if _, err := s.store.Tag(ctx, acct, id); err != nil {
			if segmentd.ErrorKindOf(err) == segmentd.KindNotFound {
				return nil, segmentd.Errorf(unknown, "tag_ids", "tag_ids: tag %s does not exist", segmentd.Quote(id))
			}
			return nil, err
		}
	}
	return ids, nil
}

// applyTagging is the tagging activities' store stage: the source's
// contacts gain or lose the tags, 500 at a time; the contacts that
// changed reach the engine. A tag deleted since the activity was
// accepted fails it. Named contacts that do not exist are its errors.
func (s *Service) applyTagging(j *segmentd.Job, in *jobInput) (func(), error) {
	ctx, acct := context.Background(), j.AccountID
	ids, err := s.jobContacts(j, in)
	if err != nil {
		return nil, err
	}
	write := s.UntagContactsNow
	if in.op == opTagsAdd {
		write = s.TagContactsNow
	}
	var changed []segmentd.Contact
	for start := 0; start < len(ids); start += MaxActivityContactIDs {
		cs, err := write(ctx, acct, in.tags, ids[start:min(start+MaxActivityContactIDs, len(ids))])
		if err != nil {
			return nil, err
		}
		changed = append(changed, cs...)
	}
	if err := s.namedNotFound(ctx, j, in, ids); err != nil {
		return nil, err
	}
	j.Updated = len(ids) - j.Errored
	return func() {
		if s.members != nil && len(changed) > 0 {
			s.members.PutContacts(acct, changed, s.engineNow())
		}
	}, nil
}

// DeleteCCTags is contacts_tags_delete: the tags go at once, each as
// DeleteTag deletes it, once every id is known to name a tag of the
// account (an unknown one is the request's error: the activity documents
// no 404); the finished activity is stored for Activity to read.
func (s *Service) DeleteCCTags(ctx context.Context, acct int64, ids []string) (segmentd.Job, error) {
	ids, err := s.existingTags(ctx, acct, ids, MaxActivityDeleteTags, segmentd.KindInvalid)
	if err != nil {
		return segmentd.Job{}, err
	}
	start := s.clock.Now()
	if _, err := s.DeleteTags(ctx, acct, ids); err != nil {
		return segmentd.Job{}, err
	}
	return s.finishedActivity(ctx, acct, segmentd.JobCCTagsDelete, len(ids), start)
}

// activityContacts resolves a job's source to contact ids, from the store
// as the job runs: the ids named, or the contacts on its source lists, or
// every contact, less those excluded.
func (s *Service) activityContacts(ctx context.Context, acct int64, in *jobInput) ([]string, error) {
	ids := in.ids
	if in.all || len(in.from) > 0 {
		ids = nil
		after := ""
		for {
			cs, err := s.store.ScanContacts(ctx, acct, after, 1000)
			if err != nil {
				return nil, err
			}
			for _, c := range cs {
				if in.all || slices.ContainsFunc(c.ListIDs, func(l string) bool { return slices.Contains(in.from, l) }) {
					ids = append(ids, c.ID)
				}
			}
			if len(cs) < 1000 {
				break
			}
			after = cs[len(cs)-1].ID
		}
	}
	if len(in.exclude) > 0 {
		ids = slices.DeleteFunc(slices.Clone(ids), func(id string) bool { return slices.Contains(in.exclude, id) })
	}
	return ids, nil
}

// jobContacts resolves an activity job's source (activityContacts) and
// sets the job's items to them.
func (s *Service) jobContacts(j *segmentd.Job, in *jobInput) ([]string, error) {
	ids, err := s.activityContacts(context.Background(), j.AccountID, in)
	j.Requested = len(ids)
	return ids, err
}

// namedNotFound records as the job's errors the contacts a source named
// by id (in.ids) that do not exist; the rest count.
func (s *Service) namedNotFound(ctx context.Context, j *segmentd.Job, in *jobInput, ids []string) error {
	if len(in.ids) == 0 {
		return nil
	}
	cs, err := s.store.ContactsByIDs(ctx, j.AccountID, ids)
	if err != nil {
		return err
	}
	s.notFoundErrors(j, ids, cs, 0)
	return nil
}

// applyListsAdd is add_list_memberships' store stage: the source's
// contacts are upserted by an identifier of theirs with no field, which
// only puts them on the lists (UpsertResult.Joined), 500 at a time.
// Contact ids that name no contact are the activity's errors.
func (s *Service) applyListsAdd(j *segmentd.Job, in *jobInput) (func(), error) {
	ctx, acct := context.Background(), j.AccountID
	ids, err := s.jobContacts(j, in)
	if err != nil {
		return nil, err
	}
	var publish []func()
	for start := 0; start < len(ids); start += MaxActivityContactIDs {
		chunk := ids[start:min(start+MaxActivityContactIDs, len(ids))]
		cs, err := s.store.ContactsByIDs(ctx, acct, chunk)
		if err != nil {
			return nil, err
		}
		s.notFoundErrors(j, chunk, cs, start)
		patches := make([]segmentd.ContactPatch, 0, len(cs))
		for _, c := range cs {
			for _, t := range segmentd.Identifiers {
				if v := c.Identifier(t); v != "" {
					var p segmentd.ContactPatch
					if t == segmentd.IdentifierEmail {
						p.Email = &v
					} else {
						setIdentifier(&p, t, v)
					}
					patches = append(patches, p)
					break
				}
			}
		}
		if len(patches) == 0 {
			continue
		}
		res, pub, err := s.upsertBatch(acct, patches, in.lists)
		if err != nil {
			return nil, err
		}
		j.Updated += len(patches) - len(res.Errors)
		publish = append(publish, pub)
	}
	return func() {
		for _, p := range publish {
			p()
		}
	}, nil
}

// notFoundErrors records as the job's errors the ids of chunk (starting
// at index start of the job's contacts) that found no contact.
func (s *Service) notFoundErrors(j *segmentd.Job, chunk []string, found []segmentd.Contact, start int) {
	if len(found) == len(chunk) {
		return
	}
	have := make(map[string]bool, len(found))
	for _, c := range found {
		have[c.ID] = true
	}
	for i, id := range chunk {
		if !have[id] {
			j.Errored++
			if len(j.Errors) < segmentd.MaxJobErrors {
				j.Errors = append(j.Errors, segmentd.JobError{Index: start + i, Field: "contact_ids", Message: "contact " + segmentd.Quote(id) + " does not exist"})
			}
		}
	}
}

// applyListsRemove is remove_list_memberships' store stage.
func (s *Service) applyListsRemove(j *segmentd.Job, in *jobInput) (func(), error) {
	ctx, acct := context.Background(), j.AccountID
	ids, err := s.jobContacts(j, in)
	if err != nil {
		return nil, err
	}
	for _, l := range in.lists {
		for start := 0; start < len(ids); start += MaxActivityContactIDs {
			if _, err := s.store.RemoveListMembers(ctx, acct, l, ids[start:min(start+MaxActivityContactIDs, len(ids))]); err != nil {
				return nil, err
			}
		}
	}
	if err := s.namedNotFound(ctx, j, in, ids); err != nil {
		return nil, err
	}
	j.Updated = len(ids) - j.Errored
	return func() { _ = s.contactsChanged(context.Background(), acct, ids) }, nil
}

// applyCCDelete is contact_delete's store stage: the contacts are kept as
// deleted (Store.BuryContacts), as DELETE /v3/contacts/{id} keeps one.
func (s *Service) applyCCDelete(j *segmentd.Job, in *jobInput) (func(), error) {
	ids, err := s.jobContacts(j, in)
	if err != nil {
		return nil, err
	}
	acct := j.AccountID
	d, err := s.store.BuryContacts(context.Background(), acct, ids, s.clock.Now())
	j.Deleted = d
	return func() { s.contactsDeleted(acct, ids) }, err
}

// DeleteCCLists is list_delete: the lists go at once, each as DeleteList
// deletes it (their contacts stay), once every id is known to name a list
// of the account; the finished activity is stored for Activity to read.
func (s *Service) DeleteCCLists(ctx context.Context, acct int64, ids []string) (segmentd.Job, error) {
	ids = dedupe(ids)
	if len(ids) == 0 {
		return segmentd.Job{}, segmentd.Errorf(segmentd.KindInvalid, "list_ids", "list_ids must name at least one list")
	}
	if len(ids) > MaxActivityDeleteLists {
		return segmentd.Job{}, segmentd.Errorf(segmentd.KindTooLarge, "list_ids", "list_ids may name at most %d lists, not %d", MaxActivityDeleteLists, len(ids))
	}
	for _, id := range ids {
		if !segmentd.IsUUID(id) {
			return segmentd.Job{}, segmentd.Errorf(segmentd.KindInvalid, "list_ids", "list_ids: %s is not a list id (a UUID)", segmentd.Quote(id))
		}
		if _, err := s.store.List(ctx, acct, id); err != nil {
			return segmentd.Job{}, err
		}
	}
	start := s.clock.Now()
	for _, id := range ids {
		if _, err := s.DeleteList(ctx, acct, id, false); err != nil {
			return segmentd.Job{}, err
		}
	}
	return s.finishedActivity(ctx, acct, segmentd.JobListDelete, len(ids), start)
}

// DeleteCCFields is custom_fields_delete: the fields (segmentd's field
// ids) go at once, each as DeleteField deletes it, once every id is known
// to name a custom field of the account.
func (s *Service) DeleteCCFields(ctx context.Context, acct int64, ids []string) (segmentd.Job, error) {
	ids = dedupe(ids)
	if len(ids) == 0 {
		return segmentd.Job{}, segmentd.Errorf(segmentd.KindInvalid, "custom_field_ids", "custom_field_ids must name at least one custom field")
	}
	if len(ids) > MaxActivityDeleteFields {
		return segmentd.Job{}, segmentd.Errorf(segmentd.KindTooLarge, "custom_field_ids", "custom_field_ids may name at most %d custom fields, not %d", MaxActivityDeleteFields, len(ids))
	}
	start := s.clock.Now()
	for _, id := range ids {
		if err := s.DeleteField(ctx, acct, id); err != nil {
			return segmentd.Job{}, err
		}
	}
	return s.finishedActivity(ctx, acct, segmentd.JobCCCustomFieldsDelete, len(ids), start)
}

// finishedActivity stores an activity done when it was answered.
func (s *Service) finishedActivity(ctx context.Context, acct int64, t segmentd.JobType, n int, start time.Time) (segmentd.Job, error) {
	j := segmentd.Job{ID: segmentd.NewID(), AccountID: acct, Type: t, Requested: n, Deleted: n, StartedAt: start}
	j.Finish(s.clock.Now())
	return j, s.store.CreateJob(ctx, j)
}

// ActivityPage is a page of activities, newest first.
type ActivityPage struct {
	Activities []segmentd.Job
	More       bool
}

// ActivityRetention is how long Constant Contact lists a finished activity
// (GET /v3/activities shows those of the past 10 days): one older is
// deleted, and its GET is 404. It counts from the activity's start.
const ActivityRetention = 10 * 24 * time.Hour

// pruneEvery is how often an account's reads delete its old activities.
const pruneEvery = time.Minute

// expired reports whether j is a finished activity past the retention at
// now.
func expired(j segmentd.Job, now time.Time) bool {
	return j.Status != segmentd.JobPending && j.StartedAt.Before(now.Add(-ActivityRetention))
}

// pruneActivities deletes the account's finished activities past the
// retention, at most once every pruneEvery of the server's clock.
func (s *Service) pruneActivities(ctx context.Context, acct int64) error {
	now := s.clock.Now()
	s.pendingMu.Lock()
	last, ok := s.activitiesPruned[acct]
	due := !ok || now.Sub(last) >= pruneEvery || now.Before(last)
	if due {
		if s.activitiesPruned == nil {
			s.activitiesPruned = map[int64]time.Time{}
		}
		s.activitiesPruned[acct] = now
	}
	s.pendingMu.Unlock()
	if !due {
		return nil
	}
	n, err := s.store.DeleteJobs(ctx, acct, segmentd.ActivityTypes, now.Add(-ActivityRetention))
	if n > 0 {
		s.log.Info("deleted old activities", "account", acct, "activities", n)
	}
	return err
}

// Activities lists the account's activities, newest first, those with
// one of statuses only when statuses is not empty; q.Before and
// q.BeforeID continue a page. Finished activities past ActivityRetention
// are not listed, and are deleted.
func (s *Service) Activities(ctx context.Context, acct int64, statuses []segmentd.JobStatus, q segmentd.JobsQuery) (ActivityPage, error) {
	if err := s.pruneActivities(ctx, acct); err != nil {
		return ActivityPage{}, err
	}
	q.Types, q.Statuses = segmentd.ActivityTypes, statuses
	limit := q.Limit
	q.Limit++
	stored, err := s.store.Jobs(ctx, acct, q)
	if err != nil {
		return ActivityPage{}, err
	}
	after := func(j segmentd.Job) bool {
		return q.BeforeID == "" || j.StartedAt.Before(q.Before) || j.StartedAt.Equal(q.Before) && j.ID < q.BeforeID
	}
	// A store of its own keeps its pending jobs in memory.
	if s.cfg.Jobs == nil {
		seen := map[string]bool{}
		for _, j := range stored {
			seen[j.ID] = true
		}
		s.pendingMu.Lock()
		for _, j := range s.pending {
			if j.AccountID != acct || !j.Type.Activity() || seen[j.ID] || len(statuses) > 0 && !slices.Contains(statuses, j.Status) || !after(*j) {
				continue
			}
			stored = append(stored, *j)
		}
		s.pendingMu.Unlock()
	}
	// Exports are activities too, stored as exports.
	if s.cfg.Exports != nil {
		es, err := s.cfg.Exports.Exports(ctx, acct)
		if err != nil {
			return ActivityPage{}, err
		}
		now := s.clock.Now()
		for _, e := range es {
			if e.FileType != CCExportFileType || !e.ExpiresAt.After(now) {
				continue
			}
			if e, err = s.settle(ctx, e); err != nil {
				return ActivityPage{}, err
			}
			if j := exportActivity(e); (len(statuses) == 0 || slices.Contains(statuses, j.Status)) && after(j) {
				stored = append(stored, j)
			}
		}
	}
	slices.SortFunc(stored, func(a, b segmentd.Job) int {
		if c := b.StartedAt.Compare(a.StartedAt); c != 0 {
			return c
		}
		return strings.Compare(b.ID, a.ID)
	})
	// Those that expired since the last prune.
	now := s.clock.Now()
	stored = slices.DeleteFunc(stored, func(j segmentd.Job) bool { return expired(j, now) })
	page := ActivityPage{Activities: stored}
	if len(stored) > limit {
		page.Activities, page.More = stored[:limit], true
	}
	return page, nil
}

// CCExportFileType is the file type of Constant Contact's contact exports
// (POST /v3/activities/contact_exports): one CSV file in Constant
// Contact's columns, which the face's format writes. SendGrid's face does
// not show these exports.
const CCExportFileType = "cc_csv"

// CCExport returns a Constant Contact export of the account.
func (s *Service) CCExport(ctx context.Context, acct int64, id string) (segmentd.Export, error) {
	e, err := s.anyExport(ctx, acct, id)
	if err == nil && e.FileType != CCExportFileType {
		return segmentd.Export{}, segmentd.Errorf(segmentd.KindNotFound, "file_export_id", "export %s does not exist", segmentd.Quote(id))
	}
	return e, err
}

// exportActivity reads a Constant Contact export as its activity: a job of
// type JobCCExport, pending while the file is written, completed once it
// can be downloaded, failed otherwise.
func exportActivity(e segmentd.Export) segmentd.Job {
	j := segmentd.Job{ID: e.ID, AccountID: e.AccountID, Type: segmentd.JobCCExport, Status: segmentd.JobPending, StartedAt: e.CreatedAt, FinishedAt: e.CompletedAt}
	switch e.Status {
	case segmentd.ExportReady:
		j.Status, j.Requested, j.Created = segmentd.JobCompleted, e.ContactCount, e.ContactCount
	case segmentd.ExportFailure:
		j.Status, j.Errored = segmentd.JobFailed, 1
		j.Errors = []segmentd.JobError{{Index: -1, Message: e.Message}}
	}
	return j
}
