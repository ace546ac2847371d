package audience

import (
	"context"
	"strings"

	"github.com/segmentd/segmentd"
)

// TagPage is one page of tags.
type TagPage struct {
	Tags []segmentd.Tag
	Next string // the last id of this page when another follows, else ""
}

// CreateTag creates one of Constant Contact's tags: a name of 1–255
// characters unique in the account ignoring case, an optional source, at
// most segmentd.MaxTags tags in an account.
func (s *Service) CreateTag(ctx context.Context, acct int64, name, source string) (segmentd.Tag, error) {
	if err := validateTagName(name); err != nil {
		return segmentd.Tag{}, err
	}
	if n := len([]rune(source)); n > segmentd.MaxTagSourceLength {
		return segmentd.Tag{}, segmentd.Errorf(segmentd.KindInvalid, "tag_source", "tag_source must be at most %d characters, not %d", segmentd.MaxTagSourceLength, n)
	}
	if err := segmentd.CheckText("tag_source", source); err != nil {
		return segmentd.Tag{}, err
	}
	return s.store.CreateTag(ctx, acct, name, source, segmentd.MaxTags, s.clock.Now())
}

func validateTagName(name string) error {
	if strings.TrimSpace(name) == "" {
		return segmentd.Errorf(segmentd.KindInvalid, "name", "name is required")
	}
	if n := len([]rune(name)); n > segmentd.MaxTagNameLength {
		return segmentd.Errorf(segmentd.KindInvalid, "name", "name must be at most %d characters, not %d", segmentd.MaxTagNameLength, n)
	}
	return segmentd.CheckName("name", name)
}

// Tags returns up to limit tags after the id after ("" for the first
// page), in id order.
func (s *Service) Tags(ctx context.Context, acct int64, after string, limit int) (TagPage, error) {
	tags, err := s.store.Tags(ctx, acct, after, limit+1)
	if err != nil {
		return TagPage{}, err
	}
	page := TagPage{Tags: tags}
	if len(tags) > limit {
		page.Tags = tags[:limit]
		page.Next = tags[limit-1].ID
	}
	return page, nil
}

// Tag returns one tag.
func (s *Service) Tag(ctx context.Context, acct int64, id string) (segmentd.Tag, error) {
	return s.store.Tag(ctx, acct, id)
}

// TagContactCount is the number of contacts a tag is on, from the
// engine (as lists' counts are), or the store's count without one.
func (s *Service) TagContactCount(ctx context.Context, acct int64, id string) (int, error) {
	if _, err := s.store.Tag(ctx, acct, id); err != nil {
		return 0, err
	}
	if s.members == nil {
		return s.store.CountTagMembers(ctx, acct, id)
	}
	return s.members.TagCount(acct, id), nil
}

// RenameTag changes a tag's name; its source never changes.
func (s *Service) RenameTag(ctx context.Context, acct int64, id, name string) (segmentd.Tag, error) {
	if err := validateTagName(name); err != nil {
		return segmentd.Tag{}, err
	}
	return s.store.RenameTag(ctx, acct, id, name, s.clock.Now())
}

// DeleteTag is Constant Contact's tag delete, an activity like
// DeleteCCList: the tag and its taggings go at once, the segments by tag
// lose its contacts, and the finished activity of type JobTagDelete that
// reports it is stored for Activity to read.
func (s *Service) DeleteTag(ctx context.Context, acct int64, id string) (segmentd.Job, error) {
	start := s.clock.Now()
	if _, err := s.DeleteTags(ctx, acct, []string{id}); err != nil {
		return segmentd.Job{}, err
	}
	j := segmentd.Job{ID: segmentd.NewID(), AccountID: acct, Type: segmentd.JobTagDelete, Requested: 1, Deleted: 1, StartedAt: start}
	j.Finish(s.clock.Now())
	return j, s.store.CreateJob(ctx, j)
}

// The tagging writes below are what Constant Contact's tag activities
// (contacts_taggings_add, contacts_taggings_remove, contacts_tags_delete)
// do. Each runs on the job worker, ordered with the contact jobs, and
// returns once the store has committed it and the engine (every segment
// by tag) reflects it. The *Now forms do the same work for a caller
// already running on the worker (an activity's job), which must then hand
// the returned contacts to the engine itself (Membership.PutContacts), or
// the deleted tags (Membership.DeleteTag).

// TagContacts gives every tag of tagIDs to every contact of contactIDs
// (unknown contacts are skipped; an unknown tag is KindNotFound and
// changes nothing) and returns how many contacts gained a tag.
func (s *Service) TagContacts(ctx context.Context, acct int64, tagIDs, contactIDs []string) (int, error) {
	return s.tagging(ctx, acct, func() ([]segmentd.Contact, error) { return s.TagContactsNow(ctx, acct, tagIDs, contactIDs) })
}

// UntagContacts takes every tag of tagIDs off every contact of contactIDs
// and returns how many contacts lost a tag.
func (s *Service) UntagContacts(ctx context.Context, acct int64, tagIDs, contactIDs []string) (int, error) {
	return s.tagging(ctx, acct, func() ([]segmentd.Contact, error) { return s.UntagContactsNow(ctx, acct, tagIDs, contactIDs) })
}

func (s *Service) tagging(ctx context.Context, acct int64, write func() ([]segmentd.Contact, error)) (int, error) {
	n := 0
	err := s.ccWrite(ctx, acct, func() ([]segmentd.Contact, error) {
		cs, err := write()
		n = len(cs)
		return cs, err
	})
	return n, err
}

// TagContactsNow is TagContacts's store write: it returns the contacts
// whose tags changed, as stored.
func (s *Service) TagContactsNow(ctx context.Context, acct int64, tagIDs, contactIDs []string) ([]segmentd.Contact, error) {
	changed, err := s.store.TagContacts(ctx, acct, dedupe(tagIDs), dedupe(contactIDs), s.clock.Now())
	if err != nil || len(changed) == 0 {
		return nil, err
	}
	return s.store.ContactsByIDs(ctx, acct, changed)
}

// UntagContactsNow is UntagContacts's store write.
func (s *Service) UntagContactsNow(ctx context.Context, acct int64, tagIDs, contactIDs []string) ([]segmentd.Contact, error) {
	changed, err := s.store.UntagContacts(ctx, acct, dedupe(tagIDs), dedupe(contactIDs))
	if err != nil || len(changed) == 0 {
		return nil, err
	}
	return s.store.ContactsByIDs(ctx, acct, changed)
}

// DeleteTags deletes tags with their taggings, one store write each, and
// returns how many contacts lost a tag. An unknown tag is KindNotFound;
// the tags before it stay deleted.
func (s *Service) DeleteTags(ctx context.Context, acct int64, ids []string) (int, error) {
	n := 0
	var failed error // the write's own error: the tags deleted before it still reach the engine
	err := s.onWorker(ctx, func() (func(), error) {
		var done []string
		for _, id := range ids {
			tagged, err := s.store.DeleteTag(ctx, acct, id)
			if err != nil {
				failed = err
				break
			}
			n += len(tagged)
			done = append(done, id)
		}
		if len(done) == 0 {
			return nil, failed
		}
		if s.cfg.Shared || s.members == nil {
			return nil, nil
		}
		return func() {
			for _, id := range done {
				s.members.DeleteTag(acct, id, s.clock.Now())
			}
		}, nil
	})
	if err == nil && s.cfg.Shared {
		err = s.sync(ctx, acct)
	}
	if err == nil {
		err = failed
	}
	return n, err
}

// TaggedContacts pages through the contacts that have any of tagIDs
// (Constant Contact's GET /v3/contacts?tags=), as of now, in the engine's
// order: up to limit contacts from the offset-th, and how many there are.
// An id of no tag is not an error: nobody has it (as in criteria).
func (s *Service) TaggedContacts(ctx context.Context, acct int64, tagIDs []string, offset, limit int) (ContactPage, int, error) {
	// One id past the page tells whether another page follows.
	ids, total := s.members.TaggedContacts(acct, tagIDs, offset, limit+1)
	more := len(ids) > limit
	if more {
		ids = ids[:limit]
	}
	cs, err := s.store.ContactsByIDs(s.readCtx(ctx), acct, ids)
	if err == nil {
		cs, err = s.withSets(ctx, acct, cs, false, s.clock.Now())
	}
	return ContactPage{Contacts: cs, More: more}, total, err
}
