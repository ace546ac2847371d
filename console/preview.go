package console

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"time"

	"github.com/segmentd/segmentd"
	"github.com/segmentd/segmentd/audience"
	"github.com/segmentd/segmentd/internal/jsoncheck"
	"github.com/segmentd/segmentd/internal/ownapi"
)

// previewRequest is POST /console/api/preview's body.
type previewRequest struct {
	Language string `json:"language"` // "sql" (Segments 2.0), "sgql" or "cc" (criteria JSON)
	Query    string `json:"query"`
}

// languages maps the editor's language names to the query dialects.
var languages = map[string]segmentd.QueryLang{"sql": segmentd.LangSQL, "sgql": segmentd.LangSGQL, "cc": segmentd.LangCC}

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

// queryProblem is a query's parse or check error with its position: line
// and column from 1 (0 when it has none), or the criteria's JSON path.
type queryProblem struct {
	Message string `json:"message"`
	Line    int    `json:"line"`
	Column  int    `json:"column"`
	Path    string `json:"path,omitempty"`
}

// preview answers the count and a sample of the contacts a query matches
// now, saving nothing: the Service's Preview, as POST /segmentd/v1/preview
// calls it. A query that does not parse or check is answered 200 with its
// error: to the editor it is a result, not a failure.
func (h *handler) preview(w http.ResponseWriter, r *http.Request, p audience.Principal) error {
	var in previewRequest
	if err := decode(w, r, &in); err != nil {
		return err
	}
	lang, ok := languages[in.Language]
	if !ok {
		return segmentd.Errorf(segmentd.KindInvalid, "language", "language must be sql, sgql or cc, not %s", segmentd.Quote(in.Language))
	}
	start := time.Now()
	v, err := h.Service.Preview(r.Context(), p.Account.ID, audience.PreviewInput{Lang: lang, Query: in.Query, Sample: previewSample})
	out := previewResponse{Sample: []previewEntry{}, TookMS: float64(time.Since(start).Microseconds()) / 1000}
	var qe *segmentd.QueryError
	switch {
	case errors.As(err, &qe):
		out.Error = &queryProblem{Message: qe.Message, Line: qe.Line, Column: qe.Column, Path: qe.Path}
	case err != nil:
		return err
	default:
		out.Count = v.Count
		for _, c := range v.Sample {
			out.Sample = append(out.Sample, previewEntry{ID: c.ID, Email: c.Email, Name: c.FirstName + " " + c.LastName})
		}
	}
	ownapi.WriteJSON(w, http.StatusOK, out)
	return nil
}

// previewSample is how many matching contacts a preview shows.
const previewSample = 10

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
