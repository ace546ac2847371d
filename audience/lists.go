package audience

import (
	"context"
	"strings"

	"github.com/segmentd/segmentd"
)

// ListPage is one page of lists.
type ListPage struct {
	Lists []segmentd.List
	Next  string // page token of the next page, "" on the last page
	Total int
}

// CreateList creates a list.
func (s *Service) CreateList(ctx context.Context, acct int64, name string) (segmentd.List, error) {
	return s.createList(ctx, acct, name, segmentd.MaxListNameLength)
}

// CreateCCList creates a list through Constant Contact's face: l's name
// (up to segmentd.MaxCCListNameLength characters), description and
// favorite flag, while the account has fewer than segmentd.MaxCCLists
// lists.
func (s *Service) CreateCCList(ctx context.Context, acct int64, l segmentd.List) (segmentd.List, error) {
	if err := validateCCList(l); err != nil {
		return segmentd.List{}, err
	}
	return s.store.CreateListWith(ctx, acct, l, segmentd.MaxCCLists, s.clock.Now())
}

// UpdateCCList sets a list's name, description and favorite flag through
// Constant Contact's face.
func (s *Service) UpdateCCList(ctx context.Context, acct int64, l segmentd.List) (segmentd.List, error) {
	if err := validateCCList(l); err != nil {
		return segmentd.List{}, err
	}
	out, err := s.store.UpdateList(ctx, acct, l, s.clock.Now())
	if err == nil {
		err = s.countList(ctx, acct, &out)
	}
	return out, err
}

func validateCCList(l segmentd.List) error {
	if err := validateListName(l.Name, segmentd.MaxCCListNameLength); err != nil {
		return err
	}
	if n := len([]rune(l.Description)); n > segmentd.MaxListDescriptionLength {
		return segmentd.Errorf(segmentd.KindInvalid, "description", "description must be at most %d characters, not %d", segmentd.MaxListDescriptionLength, n)
	}
	return segmentd.CheckText("description", l.Description)
}

func (s *Service) createList(ctx context.Context, acct int64, name string, max int) (segmentd.List, error) {
	if err := validateListName(name, max); err != nil {
		return segmentd.List{}, err
	}
	return s.store.CreateList(ctx, acct, name, s.clock.Now())
}

func validateListName(name string, max int) error {
	if strings.TrimSpace(name) == "" {
		return segmentd.Errorf(segmentd.KindInvalid, "name", "name is required")
	}
	if len([]rune(name)) > max {
		return segmentd.Errorf(segmentd.KindInvalid, "name", "name must be at most %d characters", max)
	}
	return segmentd.CheckName("name", name)
}

// Lists returns one page of lists. pageToken is the opaque token of a
// previous page's Next (the id of the last list on that page).
func (s *Service) Lists(ctx context.Context, acct int64, pageToken string, pageSize int) (ListPage, error) {
	if pageSize == 0 {
		pageSize = segmentd.DefaultListPageSize
	}
	if pageSize < 1 || pageSize > segmentd.MaxListPageSize {
		return ListPage{}, segmentd.Errorf(segmentd.KindInvalid, "page_size", "page_size must be between 1 and %d", segmentd.MaxListPageSize)
	}
	if pageToken != "" && !segmentd.IsUUID(pageToken) {
		return ListPage{}, segmentd.Errorf(segmentd.KindInvalid, "page_token", "page_token is not a valid page token")
	}
	lists, err := s.store.Lists(ctx, acct, pageToken, pageSize+1)
	if err != nil {
		return ListPage{}, err
	}
	total, err := s.store.CountLists(ctx, acct)
	if err != nil {
		return ListPage{}, err
	}
	page := ListPage{Lists: lists, Total: total}
	if len(lists) > pageSize {
		page.Lists = lists[:pageSize]
		page.Next = lists[pageSize-1].ID
	}
	for i := range page.Lists {
		if err := s.countList(ctx, acct, &page.Lists[i]); err != nil {
			return ListPage{}, err
		}
	}
	return page, nil
}

// countList sets a list's ContactCount: from the engine, which holds every
// membership once the write that made it completed, so the count costs
// the same whatever the list's size (docs/decisions.md §19); from the store
// without an engine (the offline commands).
func (s *Service) countList(ctx context.Context, acct int64, l *segmentd.List) error {
	if s.members == nil {
		n, err := s.store.CountListMembers(ctx, acct, l.ID)
		l.ContactCount = n
		return err
	}
	l.ContactCount = s.members.ListCount(acct, l.ID)
	return nil
}

// List returns a list and, when sample is set, up to 50 of its members,
// the most recently created first, from the engine (docs/decisions.md
// §19): each contact in full with its lists and SendGrid segments, as a
// segment's sample. The engine keeps no time of joining a list, and the
// store's index that kept one cost about half of each membership's
// insert. Without an engine (the offline commands, which ask for no
// sample) the sample is empty.
func (s *Service) List(ctx context.Context, acct int64, id string, sample bool) (segmentd.List, []segmentd.Contact, error) {
	l, err := s.store.List(ctx, acct, id)
	if err == nil {
		err = s.countList(ctx, acct, &l)
	}
	if err != nil || !sample || s.members == nil {
		return l, nil, err
	}
	now := s.clock.Now()
	cs := s.members.ContactsByIDs(acct, s.members.ListSample(acct, id, segmentd.ListSampleSize), now)
	for i := range cs {
		cs[i].SegmentIDs = withoutCC(cs[i].SegmentIDs)
	}
	return l, cs, nil
}

// RenameList changes a list's name.
func (s *Service) RenameList(ctx context.Context, acct int64, id, name string) (segmentd.List, error) {
	return s.renameList(ctx, acct, id, name, segmentd.MaxListNameLength)
}

func (s *Service) renameList(ctx context.Context, acct int64, id, name string, max int) (segmentd.List, error) {
	if err := validateListName(name, max); err != nil {
		return segmentd.List{}, err
	}
	l, err := s.store.RenameList(ctx, acct, id, name, s.clock.Now())
	if err == nil {
		err = s.countList(ctx, acct, &l)
	}
	return l, err
}

// DeleteList deletes a list at once, and with it the SendGrid segments
// whose parent it was (docs/decisions.md §13). With deleteContacts, the
// contacts that were on it are deleted by a job whose id is returned.
func (s *Service) DeleteList(ctx context.Context, acct int64, id string, deleteContacts bool) (string, error) {
	if deleteContacts && s.cfg.Jobs == nil {
		// The list goes before its contacts' job is queued: a backlog
		// that would refuse the job refuses the request first.
		if err := s.backlog.admits(acct, s.clock.Now()); err != nil {
			return "", err
		}
	}
	var members, segments []string
	var err error
	if s.segs != nil {
		members, segments, err = s.segs.DeleteListWithSegments(ctx, acct, id, s.clock.Now())
	} else {
		// Without a segment store (the offline commands) there are no
		// segments to delete.
		members, err = s.store.DeleteList(ctx, acct, id)
	}
	if err != nil {
		return "", err
	}
	for _, seg := range segments {
		s.forgetSchedule(seg)
	}
	err = s.reflect(ctx, acct, func() {
		for _, seg := range segments {
			s.members.RemoveSegment(acct, seg)
		}
		s.members.DeleteList(acct, id, s.clock.Now())
	})
	if err != nil {
		return "", err
	}
	if !deleteContacts {
		return "", nil
	}
	return s.accept(ctx, acct, segmentd.JobDelete, len(members), &jobInput{op: opDelete, ids: members}, true)
}

// DeleteCCList is Constant Contact's list delete, an activity: the list
// goes at once, as DeleteList deletes it (its contacts stay), and the
// activity that reports it is stored finished, as a job of type
// JobListDelete, for Activity to read. Constant Contact runs the delete
// in the background; segmentd's is one transaction, so the activity is
// completed when it is answered.
func (s *Service) DeleteCCList(ctx context.Context, acct int64, id string) (segmentd.Job, error) {
	start := s.clock.Now()
	if _, err := s.DeleteList(ctx, acct, id, false); err != nil {
		return segmentd.Job{}, err
	}
	j := segmentd.Job{ID: segmentd.NewID(), AccountID: acct, Type: segmentd.JobListDelete, Requested: 1, Deleted: 1, StartedAt: start}
	j.Finish(s.clock.Now())
	return j, s.store.CreateJob(ctx, j)
}

// Activity returns a Constant Contact activity of the account (a job whose
// type is one of Constant Contact's); any other job is not found.
func (s *Service) Activity(ctx context.Context, acct int64, id string) (segmentd.Job, error) {
	j, err := s.job(ctx, acct, id)
	if segmentd.ErrorKindOf(err) == segmentd.KindNotFound && s.cfg.Exports != nil {
		if e, xerr := s.CCExport(ctx, acct, id); xerr == nil {
			return exportActivity(e), nil
		}
	}
	if err == nil && (!j.Type.Activity() || expired(j, s.clock.Now())) || segmentd.ErrorKindOf(err) == segmentd.KindNotFound {
		return segmentd.Job{}, segmentd.Errorf(segmentd.KindNotFound, "activity_id", "activity %s does not exist", segmentd.Quote(id))
	}
	return j, err
}

// RemoveListContacts takes contacts off a list (they are not deleted) in a job.
func (s *Service) RemoveListContacts(ctx context.Context, acct int64, listID string, contactIDs []string) (string, error) {
	if len(contactIDs) == 0 {
		return "", segmentd.Errorf(segmentd.KindInvalid, "contact_ids", "contact_ids is required")
	}
	if len(contactIDs) > segmentd.MaxListRemoveIDs {
		return "", segmentd.Errorf(segmentd.KindTooLarge, "contact_ids", "contact_ids may hold at most %d ids", segmentd.MaxListRemoveIDs)
	}
	for _, id := range contactIDs {
		if !segmentd.IsUUID(id) {
			return "", segmentd.Errorf(segmentd.KindInvalid, "contact_ids", "contact id %s is not a valid UUID", segmentd.Quote(id))
		}
	}
	if _, err := s.store.List(ctx, acct, listID); err != nil {
		return "", err
	}
	found, err := s.store.ContactsByIDs(segmentd.WithoutLists(ctx), acct, contactIDs) // exist
	if err != nil {
		return "", err
	}
	if len(found) != len(dedupe(contactIDs)) {
		return "", segmentd.Errorf(segmentd.KindNotFound, "contact_ids", "one or more contact ids do not exist")
	}
	return s.submit(ctx, acct, segmentd.JobDelete, len(contactIDs), &jobInput{op: opRemoveFromList, lists: []string{listID}, ids: contactIDs})
}

// applyRemoveFromList is RemoveListContacts' store stage.
func (s *Service) applyRemoveFromList(j *segmentd.Job, in *jobInput) (func(), error) {
	acct := j.AccountID
	n, err := s.store.RemoveListMembers(context.Background(), acct, in.lists[0], in.ids)
	j.Deleted = n
	return func() { s.contactsChanged(context.Background(), acct, in.ids) }, err
}

// ListContactCount returns the number of contacts on a list.
func (s *Service) ListContactCount(ctx context.Context, acct int64, id string) (int, error) {
	l, err := s.store.List(ctx, acct, id)
	if err == nil {
		err = s.countList(ctx, acct, &l)
	}
	return l.ContactCount, err
}
