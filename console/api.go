package console

import (
	"encoding/json"
	"io"
	"net/http"
	"regexp"
	"strconv"
	"time"

	"github.com/segmentd/segmentd"
	"github.com/segmentd/segmentd/audience"
	"github.com/segmentd/segmentd/internal/jsoncheck"
	"github.com/segmentd/segmentd/internal/ownapi"
)

// previewSample is how many matching contacts a preview shows.
const previewSample = 10

// previewRequest is POST /console/api/preview's body.
type previewRequest struct {
	Language string `json:"language"` // "sql" (Segments 2.0), "sgql" or "cc" (criteria JSON)
	Query    string `json:"query"`
}

// previewResponse is its answer: the count and a sample, or the problem
// with the query and where it is.
type previewResponse struct {
	Count  int            `json:"count"`
	Sample []previewEntry `json:"sample"`
	Error  *queryProblem  `json:"error"`
	// TookMS is how long the Service took, in milliseconds.
	TookMS float64 `json:"took_ms"`
}

type previewEntry struct {
	ID    string `json:"id"`
	Email string `json:"email"`
	Name  string `json:"name"`
}

// queryProblem is a query's parse or check error with its position (line
// and column from 1; 0 when the message names none).
type queryProblem struct {
	Message string `json:"message"`
	Line    int    `json:"line"`
	Column  int    `json:"column"`
}

// position reads the "line:column: " that the query language's errors
// start with.
var position = regexp.MustCompile(`^(\d+):(\d+): `)

func problemOf(msg string) *queryProblem {
	p := &queryProblem{Message: msg}
	if m := position.FindStringSubmatch(msg); m != nil {
		p.Line, _ = strconv.Atoi(m[1])
		p.Column, _ = strconv.Atoi(m[2])
	}
	return p
}

// preview answers the count and a sample of the contacts a query matches
// now, saving nothing. A query that does not parse or check is answered
// 200 with its error: to the editor it is a result, not a failure.
func (h *handler) preview(w http.ResponseWriter, r *http.Request, p audience.Principal) error {
	var in previewRequest
	if err := decode(w, r, &in); err != nil {
		return err
	}
	if in.Language != "sql" && in.Language != "sgql" && in.Language != "cc" {
		return segmentd.Errorf(segmentd.KindInvalid, "language", "language must be sql, sgql or cc, not %s", segmentd.Quote(in.Language))
	}
	start := time.Now()
	cs, n, err := h.run(r, p.Account.ID, in.Language, in.Query)
	out := previewResponse{Sample: []previewEntry{}, TookMS: float64(time.Since(start).Microseconds()) / 1000}
	switch {
	case segmentd.ErrorKindOf(err) == segmentd.KindInvalid || segmentd.ErrorKindOf(err) == segmentd.KindTooLarge:
		var e *segmentd.Error
		if asError(err, &e) {
			out.Error = problemOf(e.Message)
		}
	case err != nil:
		return err
	default:
		out.Count = n
		for _, c := range cs[:min(len(cs), previewSample)] {
			out.Sample = append(out.Sample, previewEntry{ID: c.ID, Email: c.Email, Name: c.FirstName + " " + c.LastName})
		}
	}
	ownapi.WriteJSON(w, http.StatusOK, out)
	return nil
}

// decode reads a JSON body of at most MaxBody bytes, checked by
// jsoncheck's rules, into v.
func decode(w http.ResponseWriter, r *http.Request, v any) error {
	b, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxBody))
	if err != nil {
		return segmentd.Errorf(segmentd.KindTooLarge, "", "the request body must be at most %d bytes", MaxBody)
	}
	kind, err := jsoncheck.CheckFolded(b)
	if err != nil {
		return segmentd.Errorf(segmentd.KindInvalid, "", "%s", err.Error())
	}
	if kind != jsoncheck.Object {
		return segmentd.Errorf(segmentd.KindInvalid, "", "the request body must be a JSON object")
	}
	if err := json.Unmarshal(b, v); err != nil {
		return segmentd.Errorf(segmentd.KindInvalid, "", "the request body does not match the expected shape")
	}
	return nil
}

// completions is what the editor completes: the account's fields
// (reserved and custom), event_data's columns, the tables, and the
// account's lists.
type completions struct {
	Fields       []completionField `json:"fields"`
	EventColumns []string          `json:"event_columns"`
	Tables       []string          `json:"tables"`
	Lists        []completionList  `json:"lists"`
}

type completionField struct {
	Name   string `json:"name"`
	Type   string `json:"type"`
	Custom bool   `json:"custom"`
}

type completionList struct {
	ID   string `json:"id"`
	Name string `json:"name"`
}

// eventColumns are Segments 2.0's event_data columns
// (docs/query-language.md).
var eventColumns = []string{"contact_id", "event_source", "event_type", "event_timestamp", "singlesend_id", "automation_id", "marketing_campaign_id", "url"}

func (h *handler) completions(w http.ResponseWriter, r *http.Request, p audience.Principal) error {
	ctx, acct := r.Context(), p.Account.ID
	defs, err := h.Service.FieldDefinitions(ctx, acct)
	if err != nil {
		return err
	}
	ls, err := h.allLists(ctx, acct)
	if err != nil {
		return err
	}
	out := completions{Fields: []completionField{}, EventColumns: eventColumns, Tables: []string{"contact_data", "event_data"}, Lists: []completionList{}}
	for _, d := range defs {
		out.Fields = append(out.Fields, completionField{Name: d.Name, Type: string(d.Type), Custom: !d.Reserved})
	}
	for _, l := range ls {
		out.Lists = append(out.Lists, completionList{ID: l.ID, Name: l.Name})
	}
	ownapi.WriteJSON(w, http.StatusOK, out)
	return nil
}
