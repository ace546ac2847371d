package sendgrid_test

import (
	"context"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/segmentd/segmentd"
	"github.com/segmentd/segmentd/internal/facetest"
)

func TestAuth(t *testing.T) {
	e := newEnv(t)
	readOnly := e.NewKey(segmentd.DefaultAccountName, "", segmentd.ScopeSendGridRead)
	ccOnly := e.NewKey(segmentd.DefaultAccountName, "", segmentd.ScopeConstantContactRead)
	list := e.createList(t, "L")

	cases := []errCase{
		{"no key", call{method: "GET", path: contactsPath + "/count", key: facetest.Ptr("")}, 401, authErr("authorization required")},
		{"unknown key", call{method: "GET", path: listsPath, key: facetest.Ptr("SG.unknown.key")}, 401, authErr("authorization required")},
		{"unknown key on a write", call{method: "PUT", path: contactsPath, key: facetest.Ptr("SG.unknown.key"), body: `{"contacts":[{"email":"a@example.com"}]}`},
			401, authErr("authorization required")},
		{"read-only key writes a field", call{method: "POST", path: fieldsPath, key: &readOnly, body: `{"name":"x","field_type":"Text"}`},
			403, authErr("access forbidden: this API key lacks the sendgrid.write scope")},
		{"read-only key upserts", call{method: "PUT", path: contactsPath, key: &readOnly, body: `{"contacts":[{"email":"a@example.com"}]}`},
			403, authErr("access forbidden: this API key lacks the sendgrid.write scope")},
		{"read-only key deletes a list", call{method: "DELETE", path: listsPath + "/" + list, key: &readOnly},
			403, authErr("access forbidden: this API key lacks the sendgrid.write scope")},
		{"read-only key searches (POST)", call{method: "POST", path: contactsPath + "/search/emails", key: &readOnly, body: `{"emails":["a@example.com"]}`},
			403, authErr("access forbidden: this API key lacks the sendgrid.write scope")},
		{"key without SendGrid scopes", call{method: "GET", path: fieldsPath, key: &ccOnly},
			403, authErr("access forbidden: this API key lacks the sendgrid.read scope")},
		{"unknown path", call{method: "GET", path: "/v3/marketing/nothing-here", noSpec: "not an operation of the specs"},
			404, errBody("", "resource not found")},
		{"unknown path without a key", call{method: "GET", path: "/v3/marketing/nothing-here", key: facetest.Ptr(""), noSpec: "not an operation of the specs"},
			401, authErr("authorization required")},
		{"wrong method", call{method: "POST", path: listsPath + "/" + list, noSpec: "not an operation of the specs"},
			405, errBodyNull("", "method not allowed")},
	}
	e.wantErrors(t, cases)

	// A read-only key reads.
	facetest.WantStatus(t, e.do(t, call{method: "GET", path: listsPath + "/" + list, key: &readOnly}), 200)
	facetest.WantStatus(t, e.do(t, call{method: "GET", path: fieldsPath, key: &readOnly}), 200)

	// X-RateLimit-Remaining falls by one per request within a window.
	r1 := e.do(t, call{method: "GET", path: contactsPath + "/count"})
	r2 := e.do(t, call{method: "GET", path: contactsPath + "/count"})
	if r1.Header.Get("X-RateLimit-Reset") == r2.Header.Get("X-RateLimit-Reset") {
		a, _ := strconv.Atoi(r1.Header.Get("X-RateLimit-Remaining"))
		b, _ := strconv.Atoi(r2.Header.Get("X-RateLimit-Remaining"))
		if b != a-1 || r1.Header.Get("X-RateLimit-Limit") != "600" {
			t.Errorf("rate limit: remaining %d then %d, limit %s", a, b, r1.Header.Get("X-RateLimit-Limit"))
		}
	}
}

// A second account sees none of the first account's fields, lists,
// contacts or jobs, on any endpoint.
func TestAccountIsolation(t *testing.T) {
	e := newEnv(t)
	text, _, _ := e.createFields(t)
	list := e.createList(t, "Shared name")
	job := e.upsert(t, map[string]any{"list_ids": []string{list}, "contacts": []any{
		map[string]any{"email": "mine@example.com", "external_id": "ext-1", "custom_fields": map[string]any{text: "red"}}}})
	jobID := job["id"].(string)
	mine := e.contactByEmail(t, "mine@example.com")
	id := mine["id"].(string)

	other := e.NewKey("other", "")
	const identJobID = "202 job_id is typed object in the spec (docs/sendgrid.md \"Spec contradictions\" 1)"
	cases := []struct {
		name   string
		c      call
		status int
		want   string // exact body, or "" to check the status only
	}{
		{"list fields", call{method: "GET", path: fieldsPath}, 200, ""},
		{"rename field", call{method: "PATCH", path: fieldsPath + "/" + text, body: `{"name":"x"}`}, 404, ""},
		{"delete field", call{method: "DELETE", path: fieldsPath + "/" + text}, 404, ""},
		{"list lists", call{method: "GET", path: listsPath}, 200, ""},
		{"get list", call{method: "GET", path: listsPath + "/" + list, noSpec: "docs/sendgrid.md \"Spec contradictions\" 7"}, 404, errBody("id", `list "`+list+`" does not exist`)},
		{"rename list", call{method: "PATCH", path: listsPath + "/" + list, body: `{"name":"x"}`}, 404, ""},
		{"list count", call{method: "GET", path: listsPath + "/" + list + "/contacts/count"}, 404, ""},
		{"remove from list", call{method: "DELETE", path: listsPath + "/" + list + "/contacts", query: map[string]string{"contact_ids": id}}, 404, ""},
		{"delete list", call{method: "DELETE", path: listsPath + "/" + list}, 404, ""},
		{"upsert onto the list", call{method: "PUT", path: contactsPath, body: `{"list_ids":["` + list + `"],"contacts":[{"email":"x@example.com"}]}`}, 404, ""},
		{"upsert the field", call{method: "PUT", path: contactsPath, body: `{"contacts":[{"email":"x@example.com","custom_fields":{"` + text + `":"x"}}]}`}, 400, ""},
		{"sample", call{method: "GET", path: contactsPath}, 200, ""},
		{"count", call{method: "GET", path: contactsPath + "/count"}, 200, `{"contact_count":0,"billable_count":0}`},
		{"get contact", call{method: "GET", path: contactsPath + "/" + id}, 404, ""},
		{"batch", call{method: "POST", path: contactsPath + "/batch", body: `{"ids":["` + id + `"]}`}, 404, ""},
		{"search emails", call{method: "POST", path: contactsPath + "/search/emails", body: `{"emails":["mine@example.com"]}`}, 404, ""},
		{"search identifiers", call{method: "POST", path: contactsPath + "/search/identifiers/external_id", body: `{"identifiers":["ext-1"]}`}, 404, ""},
		{"delete identifier", call{method: "DELETE", path: contactsPath + "/" + id + "/identifiers", body: `{"identifier_type":"EXTERNALID","identifier_value":"ext-1"}`}, 404, ""},
		{"job", call{method: "GET", path: contactsPath + "/imports/" + jobID}, 404, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			tc.c.key = &other
			r := e.do(t, tc.c)
			if r.Status != tc.status {
				t.Fatalf("status %d, want %d: %s", r.Status, tc.status, r.Body)
			}
			if tc.want != "" && !facetest.JSONEqual(r.Body, []byte(tc.want)) {
				t.Errorf("body %s, want %s", r.Body, tc.want)
			}
			if strings.Contains(string(r.Body), "mine@example.com") || strings.Contains(string(r.Body), "Shared name") ||
				(tc.status == 200 && strings.Contains(string(r.Body), `"color"`)) {
				t.Errorf("leaked the first account's data: %s", r.Body)
			}
		})
	}
	// Deleting the other account's contact by id deletes nothing.
	r := e.do(t, call{method: "DELETE", path: contactsPath, key: &other, query: map[string]string{"ids": id}, noSpec: identJobID})
	dj := e.waitJob(t, facetest.WantStatus(t, r, 202)["job_id"].(string), other)
	if dj["status"] != "completed" || dj["results"].(map[string]any)["deleted_count"] != float64(0) {
		t.Errorf("other account's delete job = %v", dj)
	}
	// … and its job is invisible to the first account.
	facetest.WantError(t, e.do(t, call{method: "GET", path: contactsPath + "/imports/" + dj["id"].(string)}), 404,
		errBody("id", `job "`+dj["id"].(string)+`" does not exist`))
	// The other account may reuse the names.
	e.do(t, call{method: "POST", path: listsPath, key: &other, body: `{"name":"Shared name"}`})
	facetest.WantStatus(t, e.do(t, call{method: "POST", path: fieldsPath, key: &other, body: `{"name":"color","field_type":"Text"}`}), 200)

	// The first account still has everything.
	if c := e.contactByEmail(t, "mine@example.com"); c["id"] != id || !facetest.JSONEqual(mustJSON(c["custom_fields"]), []byte(`{"color":"red"}`)) {
		t.Errorf("first account's contact changed: %v", c)
	}
	facetest.WantStatus(t, e.do(t, call{method: "GET", path: listsPath + "/" + list}), 200)
}

func TestOnBehalfOf(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	if _, err := e.Svc.CreateAccount(ctx, "sub", segmentd.DefaultAccountName); err != nil {
		t.Fatal(err)
	}
	stranger := e.NewKey("stranger", "")
	_ = stranger

	// The parent's key acts as the subuser.
	r := e.do(t, call{method: "POST", path: listsPath, obo: "sub", body: `{"name":"Sub list"}`})
	subList := facetest.WantStatus(t, r, 201)["id"].(string)
	facetest.WantStatus(t, e.do(t, call{method: "GET", path: listsPath + "/" + subList, obo: "sub"}), 200)
	e.do(t, call{method: "PUT", path: contactsPath, obo: "sub", body: `{"contacts":[{"email":"s@example.com"}]}`})
	// The header's name is case-insensitive on the wire.
	req, _ := http.NewRequest("GET", e.URL+listsPath+"/"+subList, nil)
	req.Header["authorization"] = []string{"Bearer " + e.Key}
	req.Header["on-behalf-of"] = []string{"sub"}
	if resp, err := http.DefaultClient.Do(req); err != nil || resp.StatusCode != 200 {
		t.Errorf("lower-case on-behalf-of: %v %v", err, resp.Status)
	} else {
		resp.Body.Close()
	}
	// … and the parent itself does not see the subuser's data.
	facetest.WantError(t, e.do(t, call{method: "GET", path: listsPath + "/" + subList, noSpec: "docs/sendgrid.md \"Spec contradictions\" 7"}), 404, errBody("id", `list "`+subList+`" does not exist`))

	// The parent's count carries the subusers' breakdown (once the
	// subuser's upsert has run).
	subAcct, _ := e.Store.AccountByName(ctx, "sub")
	for range 2000 {
		r = e.do(t, call{method: "GET", path: contactsPath + "/count"})
		if strings.Contains(string(r.Body), `"total":1`) {
			break
		}
	}
	want := fmt.Sprintf(`{"contact_count":0,"billable_count":0,"billable_breakdown":{"total":1,"breakdown":{"%d":1}}}`, subAcct.ID)
	if !facetest.JSONEqual(r.Body, []byte(want)) {
		t.Errorf("parent count = %s, want %s", r.Body, want)
	}

	for _, tc := range []struct{ name, obo, body string }{
		{"not a subuser", "stranger", authErrField("on-behalf-of", `on-behalf-of: "stranger" is not a subuser of this account`)},
		{"no such account", "nobody", authErrField("on-behalf-of", `on-behalf-of: "nobody" is not a subuser of this account`)},
		{"account-id of a stranger", "account-id 999", authErrField("on-behalf-of", `on-behalf-of: "account-id 999" is not a subuser of this account`)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			facetest.WantError(t, e.do(t, call{method: "GET", path: listsPath, obo: tc.obo}), 403, tc.body)
		})
	}
	// A subuser's own key cannot act for its parent either.
	subKey := e.NewKey("sub", "")
	facetest.WantError(t, e.do(t, call{method: "GET", path: listsPath, key: &subKey, obo: segmentd.DefaultAccountName}), 403,
		authErrField("on-behalf-of", `on-behalf-of: "default" is not a subuser of this account`))
}

func authErrField(field, message string) string { return errBody(field, message) }

// Concurrent upserts of overlapping contacts lose no update and never
// create two contacts for one email.
func TestConcurrentUpserts(t *testing.T) {
	e := newEnv(t)
	const writers, contacts = 8, 40
	fieldIDs := make([]string, writers)
	for w := range writers {
		r := e.do(t, call{method: "POST", path: fieldsPath, body: fmt.Sprintf(`{"name":"f%d","field_type":"Number"}`, w)})
		fieldIDs[w] = facetest.WantStatus(t, r, 200)["id"].(string)
	}

	var wg sync.WaitGroup
	jobIDs := make([]string, writers)
	errs := make([]error, writers)
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var cs []any
			for i := range contacts {
				// Mixed case: the same contact whatever the spelling.
				email := fmt.Sprintf("person%d@example.com", i)
				if w%2 == 1 {
					email = strings.ToUpper(email)
				}
				cs = append(cs, map[string]any{"email": email, "custom_fields": map[string]any{fieldIDs[w]: w + 1}})
			}
			r, err := e.try(call{method: "PUT", path: contactsPath, body: map[string]any{"contacts": cs}})
			switch {
			case err != nil:
				errs[w] = err
			case r.Status != http.StatusAccepted:
				errs[w] = fmt.Errorf("status %d: %s", r.Status, r.Body)
			default:
				var m struct {
					JobID string `json:"job_id"`
				}
				if err := jsonUnmarshal(r.Body, &m); err != nil {
					errs[w] = err
				}
				jobIDs[w] = m.JobID
			}
		}()
	}
	wg.Wait()
	for w, err := range errs {
		if err != nil {
			t.Fatalf("writer %d: %v", w, err)
		}
	}
	for _, id := range jobIDs {
		if job := e.waitJob(t, id); job["status"] != "completed" {
			t.Errorf("job %s = %v", id, job)
		}
	}

	r := e.do(t, call{method: "GET", path: contactsPath + "/count"})
	if m := facetest.WantStatus(t, r, 200); m["contact_count"] != float64(contacts) {
		t.Fatalf("contact_count = %v, want %d", m["contact_count"], contacts)
	}
	for i := range contacts {
		c := e.contactByEmail(t, fmt.Sprintf("person%d@example.com", i))
		cf := c["custom_fields"].(map[string]any)
		for w := range writers {
			if cf[fmt.Sprintf("f%d", w)] != float64(w+1) {
				t.Errorf("person%d lost writer %d's update: %v", i, w, cf)
			}
		}
	}
}

// Internal failures are logged in full and answered with SendGrid's E3
// envelope and a generic message.
func TestInternalErrorIsGeneric(t *testing.T) {
	e := newEnv(t)
	if err := e.Store.Close(); err != nil {
		t.Fatal(err)
	}
	r := e.do(t, call{method: "GET", path: contactsPath + "/count"})
	facetest.WantError(t, r, 500, `{"errors":[{"message":"internal server error"}]}`)
	if !strings.Contains(e.Logs.String(), "internal error") {
		t.Errorf("the failure was not logged: %s", e.Logs.String())
	}
}
