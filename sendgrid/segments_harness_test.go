package sendgrid_test

import (
	"context"
	"fmt"
	"net/http"
	"path/filepath"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"

	"github.com/segmentd/segmentd"
	"github.com/segmentd/segmentd/internal/facetest"
)

// relaxContactResponse applies segmentd's documented choices to the
// segments documents' ContactResponse (the item of segment samples):
//   - postal_code is a string, as in every other SendGrid schema and the
//     v2 SQL column (docs/sendgrid.md "Spec contradictions" 4);
//   - unset reserved text fields are "" (docs/decisions.md §7), which the
//     schema's minLength 1 on first_name/last_name and its city pattern
//     (one or more characters) refuse although SendGrid's own contacts
//     often have no name or city.
func relaxContactResponse(doc *openapi3.T) {
	for _, name := range []string{"ContactResponse", "contact_response"} {
		ref := doc.Components.Schemas[name]
		if ref == nil || ref.Value == nil {
			continue
		}
		p := ref.Value.Properties
		if pc := p["postal_code"]; pc != nil && pc.Value != nil {
			pc.Value.Type = &openapi3.Types{"string"}
		}
		for _, f := range []string{"first_name", "last_name"} {
			if s := p[f]; s != nil && s.Value != nil {
				s.Value.MinLength = 0
			}
		}
		if s := p["city"]; s != nil && s.Value != nil {
			s.Value.Pattern = `^[a-zA-Z\x{0080}-\x{024F}\s\/\-\)\(\x60\.\"\']*$`
		}
	}
}

// --- the legacy spec (removed v1 writes)

// legacySpec is the legacy document, whose server is
// http://api.sendgrid.com/v3. kin-openapi can read it but not fully
// validate it (its 2019-era examples and schemas break 3.1 rules), so it is
// used unvalidated, only to check responses.
var legacySpec = facetest.NewSpec("sendgrid/legacy-sendgrid-oai", "http://api.sendgrid.com", func(dir string) (facetest.SpecDocs, error) {
	doc, err := openapi3.NewLoader().LoadFromFile(filepath.Join(dir, "oai_v3_stoplight.json"))
	if err != nil {
		return facetest.SpecDocs{}, err
	}
	honourNullable(doc)
	relaxContactResponse(doc)
	return facetest.SpecDocs{Docs: []*openapi3.T{doc}}, nil
})

// --- helpers

const (
	seg2Path = "/v3/marketing/segments/2.0"
	seg1Path = "/v3/marketing/segments"
)

// mkContacts upserts n contacts named <prefix><i>@example.com with the
// given country (and lists), and waits for the job.
func (e *env) mkContacts(t *testing.T, prefix string, n int, country string, lists ...string) {
	t.Helper()
	cs := make([]any, 0, n)
	for i := range n {
		cs = append(cs, map[string]any{"email": fmt.Sprintf("%s%d@example.com", prefix, i),
			"first_name": "F" + prefix, "last_name": "L", "country": country, "city": "Springfield"})
	}
	body := map[string]any{"contacts": cs}
	if len(lists) > 0 {
		body["list_ids"] = lists
	}
	if job := e.upsert(t, body); job["status"] != "completed" {
		t.Fatalf("upsert: %v", job)
	}
}

// seg2 is the parts of Segment2xx the tests read.
type seg2 struct {
	ID               string   `json:"id"`
	Name             string   `json:"name"`
	QueryDSL         string   `json:"query_dsl"`
	ContactsCount    int      `json:"contacts_count"`
	ContactsSample   []sample `json:"contacts_sample"`
	SampleUpdatedAt  string   `json:"sample_updated_at"`
	NextSampleUpdate string   `json:"next_sample_update"`
	ParentListIDs    []string `json:"parent_list_ids"`
	QueryVersion     *string  `json:"query_version"`
	Status           struct {
		QueryValidation string `json:"query_validation"`
		ErrorMessage    string `json:"error_message"`
	} `json:"status"`
	RefreshesUsed   *int   `json:"refreshes_used"`
	MaxRefreshes    *int   `json:"max_refreshes"`
	LastRefreshedAt string `json:"last_refreshed_at"`
}

type sample struct {
	ID         string   `json:"id"`
	Email      string   `json:"email"`
	Country    string   `json:"country"`
	ListIDs    []string `json:"list_ids"`
	SegmentIDs []string `json:"segment_ids"`
}

func decodeSeg(t *testing.T, r facetest.Response) seg2 {
	t.Helper()
	var s seg2
	r.Decode(t, &s)
	return s
}

// createSeg2 creates a Segments 2.0 segment and expects 201.
func (e *env) createSeg2(t *testing.T, name, sql string, parents ...string) seg2 {
	t.Helper()
	body := map[string]any{"name": name, "query_dsl": sql}
	if len(parents) > 0 {
		body["parent_list_ids"] = parents
	}
	r := e.do(t, call{method: "POST", path: seg2Path, body: body})
	facetest.WantStatus(t, r, http.StatusCreated)
	return decodeSeg(t, r)
}

// createSeg1 creates a v1 (SGQL) segment through the service, as the
// legacy writes or a migrated SendGrid account would have.
func (e *env) createSeg1(t *testing.T, name, sgql string, parents ...string) string {
	t.Helper()
	acct, err := e.Store.AccountByName(context.Background(), segmentd.DefaultAccountName)
	if err != nil {
		t.Fatal(err)
	}
	v, err := e.Svc.CreateSegment(context.Background(), acct.ID, name, sgql, "", parents)
	if err != nil {
		t.Fatalf("CreateSegment: %v", err)
	}
	return v.ID
}
