package constantcontact

import (
	"net/http"
	"strings"

	"github.com/segmentd/segmentd"
)

// activity is the spec's Activity, the status of a bulk activity
// (GET /v3/activities/{activity_id}). segmentd's activities are jobs of a
// Constant Contact type (segmentd.JobType.Activity); today the list
// deletes of DELETE /v3/contact_lists/{list_id}.
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

type activityStatus struct {
	ItemsTotalCount     int `json:"items_total_count"`
	ItemsCompletedCount int `json:"items_completed_count"`
}

// activityState is Constant Contact's state of a job: processing while it
// is pending, completed, or failed when every item failed.
func activityState(j segmentd.Job) string {
	switch j.Status {
	case segmentd.JobPending:
		return "processing"
	case segmentd.JobFailed:
		return "failed"
	}
	return "completed"
}

func (h *handler) getActivity(w http.ResponseWriter, r *http.Request, acct segmentd.Account) error {
	j, err := h.svc.Activity(r.Context(), acct.ID, strings.ToLower(r.PathValue("activity_id")))
	if err != nil {
		return err
	}
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
	return writeJSON(w, http.StatusOK, out)
}
