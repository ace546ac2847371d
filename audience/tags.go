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

// TagContactCount is the number of contacts a tag is on: none yet, since
// no contact write of segmentd tags a contact
// (docs/constantcontact.md "Contact tags").
func (s *Service) TagContactCount(ctx context.Context, acct int64, id string) (int, error) {
	_, err := s.store.Tag(ctx, acct, id)
	return 0, err
}

// RenameTag changes a tag's name; its source never changes.
func (s *Service) RenameTag(ctx context.Context, acct int64, id, name string) (segmentd.Tag, error) {
	if err := validateTagName(name); err != nil {
		return segmentd.Tag{}, err
	}
	return s.store.RenameTag(ctx, acct, id, name, s.clock.Now())
}

// DeleteTag is Constant Contact's tag delete, an activity like
// DeleteCCList: the tag goes at once, and the finished activity of type
// JobTagDelete that reports it is stored for Activity to read.
func (s *Service) DeleteTag(ctx context.Context, acct int64, id string) (segmentd.Job, error) {
	start := s.clock.Now()
	if _, err := s.store.DeleteTag(ctx, acct, id); err != nil {
		return segmentd.Job{}, err
	}
	j := segmentd.Job{ID: segmentd.NewID(), AccountID: acct, Type: segmentd.JobTagDelete, Requested: 1, Deleted: 1, StartedAt: start}
	j.Finish(s.clock.Now())
	return j, s.store.CreateJob(ctx, j)
}
