package constantcontact

import (
	"encoding/base64"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/segmentd/segmentd"
)

// activity is the spec's Activity, the status of a bulk activity, and the
// body every POST /v3/activities/<type> answers 201 with (ActivityImport,
// ActivityListsMembership, ActivityDeleteStatus, … share its fields).
// segmentd's activities are jobs of a Constant Contact type
// (segmentd.ActivityTypes).
type activity struct {
	ActivityID     string         `json:"activity_id"`
	State          string         `json:"state"`
	CreatedAt      string         `json:"created_at"`
	StartedAt      string         `json:"started_at"`
	CompletedAt    string         `json:"completed_at,omitempty"`
	UpdatedAt      string         `json:"updated_at"`
	PercentDone    int            `json:"percent_done"`
	ActivityErrors []string       `json:"activity_errors"`
	Status         activityStatus `json:"status"`
	Links          activityLinks  `json:"_links"`
}

// activityStatus is ActivityStatus: the items counts of every activity;
// person_count and error_count for imports, list_count for list deletes.
type activityStatus struct {
	ItemsTotalCount     int  `json:"items_total_count"`
	ItemsCompletedCount int  `json:"items_completed_count"`
	PersonCount         *int `json:"person_count,omitempty"`
	ErrorCount          *int `json:"error_count,omitempty"`
	ListCount           *int `json:"list_count,omitempty"`
}

// activityLinks is the _links of an activity: where to read its status,
// and, for an export, its file.
type activityLinks struct {
	Self    link  `json:"self"`
	Results *link `json:"results,omitempty"`
}

// The activity states (the spec's). segmentd's activities are never
// cancelled and never time out.
const (
	stateInitialized = "initialized"
	stateProcessing  = "processing"
	stateCompleted   = "completed"
	stateFailed      = "failed"
)

// activityStates are the values of GET /v3/activities?state=.
var activityStates = []string{"processing", "completed", "cancelled", "failed", "timed_out"}

// activityState is Constant Contact's state of a job: processing while it
// is pending, completed (some items may have failed: activity_errors say
// which), or failed when every item failed or it could not run.
func activityState(j segmentd.Job) string {
	switch j.Status {
	case segmentd.JobPending:
		return stateProcessing
	case segmentd.JobFailed:
		return stateFailed
	}
	return stateCompleted
}

// renderActivity renders a job as an activity.
func renderActivity(j segmentd.Job) activity {
	out := activity{
		ActivityID: j.ID, State: activityState(j), CreatedAt: timestamp(j.StartedAt), StartedAt: timestamp(j.StartedAt),
		UpdatedAt: timestamp(j.StartedAt), ActivityErrors: []string{},
		Status: activityStatus{ItemsTotalCount: j.Requested, ItemsCompletedCount: j.Deleted + j.Created + j.Updated},
		Links:  activityLinks{Self: link{Href: "/v3/activities/" + j.ID}},
	}
	if !j.FinishedAt.IsZero() {
		out.CompletedAt = timestamp(j.FinishedAt)
		out.UpdatedAt = out.CompletedAt
		out.PercentDone = 100
	}
	for _, e := range j.Errors {
		out.ActivityErrors = append(out.ActivityErrors, e.Message)
	}
	switch j.Type {
	case segmentd.JobCCJSONImport, segmentd.JobCCFileImport:
		persons, errs := j.Created+j.Updated, j.Errored
		out.Status.PersonCount, out.Status.ErrorCount = &persons, &errs
	case segmentd.JobListDelete:
		n := j.Deleted
		out.Status.ListCount = &n
	case segmentd.JobCCExport:
		if j.Status == segmentd.JobCompleted {
			out.Links.Results = &link{Href: "/v3/contact_exports/" + j.ID}
		}
	}
	return out
}

// accepted answers a POST /v3/activities/<type> with 201 and the
// activity; one still pending reads initialized (the request has been
// received).
func accepted(w http.ResponseWriter, j segmentd.Job) error {
	out := renderActivity(j)
	if j.Status == segmentd.JobPending {
		out.State = stateInitialized
	}
	return writeJSON(w, http.StatusCreated, out)
}

func (h *handler) getActivity(w http.ResponseWriter, r *http.Request, acct segmentd.Account) error {
	j, err := h.svc.Activity(r.Context(), acct.ID, strings.ToLower(r.PathValue("activity_id")))
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, renderActivity(j))
}

// activitiesPage is the spec's Activities.
type activitiesPage struct {
	Activities []activity `json:"activities"`
	Links      *nextLinks `json:"_links,omitempty"`
}

// Page sizes of GET /v3/activities (the spec: 1–500, default 50).
const (
	defaultActivitiesLimit = 50
	maxActivitiesLimit     = 500
)

// activitiesQuery is what a GET /v3/activities page reads; the cursor
// carries it to the next page.
type activitiesQuery struct {
	state    string
	limit    int
	before   time.Time // the last activity shown: its start, and id
	beforeID string
}

// listActivities is GET /v3/activities: the account's activities, newest
// first, of one state when state is given.
func (h *handler) listActivities(w http.ResponseWriter, r *http.Request, acct segmentd.Account) error {
	q, err := readActivitiesQuery(r)
	if err != nil {
		return err
	}
	out := activitiesPage{Activities: []activity{}}
	var statuses []segmentd.JobStatus
	switch q.state {
	case "processing":
		statuses = []segmentd.JobStatus{segmentd.JobPending}
	case "completed":
		statuses = []segmentd.JobStatus{segmentd.JobCompleted, segmentd.JobErrored}
	case "failed":
		statuses = []segmentd.JobStatus{segmentd.JobFailed}
	case "cancelled", "timed_out":
		return writeJSON(w, http.StatusOK, out) // none ever is
	}
	page, err := h.svc.Activities(r.Context(), acct.ID, statuses, segmentd.JobsQuery{Before: q.before, BeforeID: q.beforeID, Limit: q.limit})
	if err != nil {
		return err
	}
	for _, j := range page.Activities {
		out.Activities = append(out.Activities, renderActivity(j))
	}
	if page.More {
		last := page.Activities[len(page.Activities)-1]
		next := q
		next.before, next.beforeID = last.StartedAt, last.ID
		out.Links = &nextLinks{Next: link{Href: "/v3/activities?cursor=" + next.encode()}}
	}
	return writeJSON(w, http.StatusOK, out)
}

func readActivitiesQuery(r *http.Request) (activitiesQuery, error) {
	v := r.URL.Query()
	q := activitiesQuery{limit: defaultActivitiesLimit}
	if c := v.Get("cursor"); c != "" {
		var err error
		if q, err = decodeActivitiesCursor(c); err != nil {
			return q, err
		}
	} else if s := v.Get("state"); v.Has("state") {
		found := false
		for _, st := range activityStates {
			found = found || st == s
		}
		if !found {
			return q, invalid("state", "state must be one of %s, not %s", strings.Join(activityStates, ", "), segmentd.Quote(s))
		}
		q.state = s
	}
	limit, err := queryInt(r, "limit", q.limit, 1, maxActivitiesLimit)
	q.limit = limit
	return q, err
}

// The /v3/activities cursor is base64url of the query and the last
// activity shown (its start time in milliseconds, and its id).
func (q activitiesQuery) encode() string {
	v := url.Values{"limit": {strconv.Itoa(q.limit)}, "before": {strconv.FormatInt(q.before.UnixMilli(), 10)}, "id": {q.beforeID}}
	if q.state != "" {
		v.Set("state", q.state)
	}
	return base64.RawURLEncoding.EncodeToString([]byte(v.Encode()))
}

func decodeActivitiesCursor(c string) (activitiesQuery, error) {
	bad := invalid("cursor", msgBadCursor)
	raw, err := base64.RawURLEncoding.DecodeString(c)
	if err != nil {
		return activitiesQuery{}, bad
	}
	v, err := url.ParseQuery(string(raw))
	if err != nil {
		return activitiesQuery{}, bad
	}
	q := activitiesQuery{state: v.Get("state"), beforeID: v.Get("id")}
	ms, err := strconv.ParseInt(v.Get("before"), 10, 64)
	if err != nil || !segmentd.IsUUID(q.beforeID) {
		return q, bad
	}
	q.before = time.UnixMilli(ms).UTC()
	if q.limit, err = strconv.Atoi(v.Get("limit")); err != nil || q.limit < 1 || q.limit > maxActivitiesLimit {
		return q, bad
	}
	return q, nil
}
