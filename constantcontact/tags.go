package constantcontact

import (
	"encoding/base64"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/segmentd/segmentd"
)

// tag is the spec's Tag.
type tag struct {
	TagID         string `json:"tag_id"`
	Name          string `json:"name"`
	TagSource     string `json:"tag_source,omitempty"`
	ContactsCount *int   `json:"contacts_count,omitempty"`
	CreatedAt     string `json:"created_at"`
	UpdatedAt     string `json:"updated_at"`
}

// tagsPage is the spec's Tags.
type tagsPage struct {
	Tags  []tag      `json:"tags"`
	Links *nextLinks `json:"_links,omitempty"`
}

// tagInput is TagPost (name, tag_source) and TagPut (name).
type tagInput struct {
	Name      *string `json:"name"`
	TagSource *string `json:"tag_source"`
}

// activityError is one of ActivityGeneric's activity_errors.
type activityError struct {
	Message string `json:"message"`
}

// genericActivity is the spec's ActivityGeneric, the answer to a tag
// delete.
type genericActivity struct {
	ActivityID     string          `json:"activity_id"`
	State          string          `json:"state"`
	CreatedAt      string          `json:"created_at"`
	UpdatedAt      string          `json:"updated_at"`
	PercentDone    int             `json:"percent_done"`
	ActivityErrors []activityError `json:"activity_errors"`
	Status         activityStatus  `json:"status"`
	Links          activityLinks   `json:"_links"`
}

func renderTag(t segmentd.Tag, count *int) tag {
	return tag{TagID: t.ID, Name: t.Name, TagSource: t.Source, ContactsCount: count, CreatedAt: timestamp(t.CreatedAt), UpdatedAt: timestamp(t.UpdatedAt)}
}

// tagID reads the path's tag_id, a UUID (the route's kind), in lower
// case.
func tagID(r *http.Request) (string, error) {
	return strings.ToLower(r.PathValue("tag_id")), nil
}

func readIncludeCount(r *http.Request) (bool, error) {
	s := r.URL.Query().Get("include_count")
	if s == "" {
		return false, nil
	}
	b, err := strconv.ParseBool(s)
	if err != nil {
		return false, invalid("include_count", "include_count must be true or false, not %s", segmentd.Quote(s))
	}
	return b, nil
}

// tagCount is a tag's contacts_count when include_count asks for it.
func (h *handler) tagCount(r *http.Request, acct int64, id string, include bool) (*int, error) {
	if !include {
		return nil, nil
	}
	n, err := h.svc.TagContactCount(r.Context(), acct, id)
	return &n, err
}

func (h *handler) createTag(w http.ResponseWriter, r *http.Request, acct segmentd.Account) error {
	var in tagInput
	if err := decodeJSON(r, &in); err != nil {
		return err
	}
	if in.Name == nil {
		return invalid("name", "name is required")
	}
	var source string
	if in.TagSource != nil {
		source = *in.TagSource
	}
	t, err := h.svc.CreateTag(r.Context(), acct.ID, *in.Name, source)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusCreated, renderTag(t, nil))
}

// Page sizes of GET /v3/contact_tags (the spec: up to 500, default 50).
const (
	defaultTagsLimit = segmentd.DefaultTagPageSize
	maxTagsLimit     = segmentd.MaxTagPageSize
)

// listTags is GET /v3/contact_tags, in id order; the cursor, as in the
// spec's example, is base64 of "limit=…&next=<tag id>", with
// include_count beside them.
func (h *handler) listTags(w http.ResponseWriter, r *http.Request, acct segmentd.Account) error {
	limit, after := defaultTagsLimit, ""
	count, err := readIncludeCount(r)
	if err != nil {
		return err
	}
	if c := r.URL.Query().Get("cursor"); c != "" {
		if after, limit, count, err = decodeTagsCursor(c); err != nil {
			return err
		}
	}
	if limit, err = queryInt(r, "limit", limit, 1, maxTagsLimit); err != nil {
		return err
	}
	page, err := h.svc.Tags(r.Context(), acct.ID, after, limit)
	if err != nil {
		return err
	}
	out := tagsPage{Tags: make([]tag, 0, len(page.Tags))}
	for _, t := range page.Tags {
		n, err := h.tagCount(r, acct.ID, t.ID, count)
		if err != nil {
			return err
		}
		out.Tags = append(out.Tags, renderTag(t, n))
	}
	if page.Next != "" {
		v := url.Values{"limit": {strconv.Itoa(limit)}, "next": {page.Next}}
		if count {
			v.Set("include_count", "true")
		}
		out.Links = &nextLinks{Next: link{Href: "/v3/contact_tags?cursor=" + base64.RawURLEncoding.EncodeToString([]byte(v.Encode()))}}
	}
	return writeJSON(w, http.StatusOK, out)
}

func decodeTagsCursor(c string) (after string, limit int, count bool, err error) {
	bad := invalid("cursor", msgBadCursor)
	raw, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(c, "="))
	if err != nil {
		return "", 0, false, bad
	}
	v, err := url.ParseQuery(string(raw))
	if err != nil {
		return "", 0, false, bad
	}
	limit, err = strconv.Atoi(v.Get("limit"))
	after = v.Get("next")
	if err != nil || limit < 1 || limit > maxTagsLimit || !segmentd.IsUUID(after) {
		return "", 0, false, bad
	}
	return after, limit, v.Get("include_count") == "true", nil
}

func (h *handler) getTag(w http.ResponseWriter, r *http.Request, acct segmentd.Account) error {
	id, err := tagID(r)
	if err != nil {
		return err
	}
	count, err := readIncludeCount(r)
	if err != nil {
		return err
	}
	t, err := h.svc.Tag(r.Context(), acct.ID, id)
	if err != nil {
		return err
	}
	n, err := h.tagCount(r, acct.ID, id, count)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, renderTag(t, n))
}

// updateTag is PUT: a new name. tag_source cannot change (the spec).
func (h *handler) updateTag(w http.ResponseWriter, r *http.Request, acct segmentd.Account) error {
	id, err := tagID(r)
	if err != nil {
		return err
	}
	var in tagInput
	if err := decodeJSON(r, &in); err != nil {
		return err
	}
	if in.Name == nil {
		return invalid("name", "name is required")
	}
	if in.TagSource != nil {
		return invalid("tag_source", "tag_source is set when a tag is created and cannot be updated")
	}
	t, err := h.svc.RenameTag(r.Context(), acct.ID, id, *in.Name)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, renderTag(t, nil))
}

// deleteTag is DELETE: an activity, 202, completed when answered.
func (h *handler) deleteTag(w http.ResponseWriter, r *http.Request, acct segmentd.Account) error {
	id, err := tagID(r)
	if err != nil {
		return err
	}
	j, err := h.svc.DeleteTag(r.Context(), acct.ID, id)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusAccepted, genericActivity{
		ActivityID: j.ID, State: activityState(j), CreatedAt: timestamp(j.StartedAt), UpdatedAt: timestamp(j.FinishedAt),
		PercentDone: 100, ActivityErrors: []activityError{}, Status: activityStatus{ItemsTotalCount: j.Requested, ItemsCompletedCount: j.Deleted},
		Links: activityLinks{Self: link{Href: "/v3/activities/" + j.ID}},
	})
}
