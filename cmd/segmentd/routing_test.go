package main

import (
	"fmt"
	"strings"
	"testing"

	"github.com/segmentd/segmentd"
	"github.com/segmentd/segmentd/internal/facetest"
)

// TestUnservedPathsThroughTheServer: every path segmentd does not serve,
// and every method a path does not take, through the server as `serve`
// mounts the faces, without a key, with an unknown key and with a good
// one. Under /v3 and /webhooks the key is checked first; then the answer
// is 404, or 405 with an Allow naming only methods that really serve the
// path, always JSON in the envelope of the face that owns the path
// (docs/decisions.md §14). Outside them segmentd answers in its own shape
// whatever the key. On each store.
func TestUnservedPathsThroughTheServer(t *testing.T) {
	eachStore(t, func(t *testing.T, st storeUnderTest) {
		const key = "SG.routing-key"
		s, _ := startInProcess(t, append([]string{"serve", "--addr", "127.0.0.1:0", "--data", st.dir, "--api-key", key}, st.args()...), nil)
		const uuid = "00000000-0000-4000-8000-000000000001"

		const (
			sgUnauthorized = `{"errors":[{"field":null,"message":"authorization required"}]}`
			sgNotFound     = `{"errors":[{"field":"","message":"resource not found"}]}`
			sgNotAllowed   = `{"errors":[{"field":null,"message":"method not allowed"}]}`
			ccUnauthorized = `{"error_key":"unauthorized","error_message":"Unauthorized"}`
			hookUnauth     = `{"errors":[{"message":"authorization required"}]}`
			hookNotAllowed = `{"errors":[{"message":"method not allowed"}]}`
			ownNotFound    = `{"errors":[{"message":"segmentd serves nothing at this path"}]}`
			ownNotAllowed  = `{"errors":[{"message":"method not allowed"}]}`
			fileNotFound   = `{"errors":[{"field":null,"message":"export file not found; it may have expired"}]}`
			fileNoRoute    = `{"errors":[{"field":null,"message":"resource not found"}]}`
		)
		ccNotFound := func(area, path string) string {
			return fmt.Sprintf(`[{"error_key":"%s.api.not_found","error_message":"%s is not a Constant Contact V3 resource that segmentd serves"}]`, area, segmentd.Clip(path))
		}
		ccNotAllowed := func(area string) string {
			return fmt.Sprintf(`[{"error_key":"%s.api.method_not_allowed","error_message":"method not allowed"}]`, area)
		}

		tests := []struct {
			method, path string
			unauthorized string // the body without a key or with an unknown one ("" when the key is not checked)
			status       int    // with the good key
			body, allow  string
		}{
			// SendGrid's face: every /v3 path that is not Constant Contact's.
			{"GET", "/v3/marketing/contacts/imports", sgUnauthorized, 405, sgNotAllowed, "PUT"},
			{"POST", "/v3/marketing/contacts/imports", sgUnauthorized, 405, sgNotAllowed, "PUT"},
			{"PUT", "/v3/marketing/contacts/exports", sgUnauthorized, 405, sgNotAllowed, "GET, HEAD, POST"},
			{"POST", "/v3/marketing/contacts/exports/" + uuid, sgUnauthorized, 405, sgNotAllowed, "GET, HEAD"},
			{"GET", "/v3/marketing/contacts/exports/" + uuid + "/x", sgUnauthorized, 404, sgNotFound, ""},
			{"GET", "/v3/marketing/contacts/search", sgUnauthorized, 405, sgNotAllowed, "POST"},
			{"PATCH", "/v3/marketing/contacts/" + uuid, sgUnauthorized, 405, sgNotAllowed, "GET, HEAD"},
			{"POST", "/v3/marketing/lists/" + uuid, sgUnauthorized, 405, sgNotAllowed, "DELETE, GET, HEAD, PATCH"},
			{"DELETE", "/v3/marketing/segments/2.0", sgUnauthorized, 405, sgNotAllowed, "GET, HEAD, POST"},
			{"GET", "/v3/marketing/segments/2.0/refresh", sgUnauthorized, 404, `{"errors":[{"field":"segment_id","message":"Segment does not exist."}]}`, ""},
			{"GET", "/v3/marketing/segments/2.0/refresh/" + uuid, sgUnauthorized, 405, sgNotAllowed, "POST"},
			{"GET", "/v3/marketing/nothing", sgUnauthorized, 404, sgNotFound, ""},
			{"POST", "/v3/mail/send", sgUnauthorized, 404, sgNotFound, ""},
			{"GET", "/v3/templates", sgUnauthorized, 404, sgNotFound, ""},
			{"GET", "/v3", sgUnauthorized, 404, sgNotFound, ""},
			{"GET", "/v3/", sgUnauthorized, 404, sgNotFound, ""},
			{"GET", "/v3/contactsx", sgUnauthorized, 404, sgNotFound, ""},
			// A path with an empty, "." or ".." segment: 404 in the face's
			// envelope, never ServeMux's redirect to its cleaned form.
			{"GET", "/v3//marketing/lists", sgUnauthorized, 404, sgNotFound, ""},
			{"PUT", "/v3/marketing/x/../contacts", sgUnauthorized, 404, sgNotFound, ""},
			{"GET", "/v3/./segments", ccUnauthorized, 404, ccNotFound("segments", "/v3/./segments"), ""},

			// Constant Contact's face: its resource roots.
			{"PATCH", "/v3/contacts", ccUnauthorized, 405, ccNotAllowed("contacts"), "GET, HEAD, POST"},
			{"PATCH", "/v3/contacts/" + uuid, ccUnauthorized, 405, ccNotAllowed("contacts"), "DELETE, GET, HEAD, PUT"},
			{"GET", "/v3/contacts/contact_id_xrefs", ccUnauthorized, 404, ccNotFound("contacts", "/v3/contacts/contact_id_xrefs"), ""},
			{"PUT", "/v3/contacts/counts", ccUnauthorized, 405, ccNotAllowed("contacts"), "GET, HEAD"},
			{"GET", "/v3/contacts/sign_up_form", ccUnauthorized, 405, ccNotAllowed("contacts"), "POST"},
			{"PATCH", "/v3/contact_lists", ccUnauthorized, 405, ccNotAllowed("contact_lists"), "GET, HEAD, POST"},
			{"GET", "/v3/contact_lists/list_id_xrefs", ccUnauthorized, 404, ccNotFound("contact_lists", "/v3/contact_lists/list_id_xrefs"), ""},
			{"DELETE", "/v3/contact_custom_fields", ccUnauthorized, 405, ccNotAllowed("contact_custom_fields"), "GET, HEAD, POST"},
			{"POST", "/v3/contact_custom_fields/" + uuid, ccUnauthorized, 405, ccNotAllowed("contact_custom_fields"), "DELETE, GET, HEAD, PUT"},
			{"GET", "/v3/contact_tags/x", ccUnauthorized, 404, ccNotFound("contact_tags", "/v3/contact_tags/x"), ""},
			{"POST", "/v3/activities", ccUnauthorized, 405, ccNotAllowed("activities"), "GET, HEAD"},
			{"GET", "/v3/segments/search", ccUnauthorized, 404, ccNotFound("segments", "/v3/segments/search"), ""},
			{"POST", "/v3/segments/1", ccUnauthorized, 405, ccNotAllowed("segments"), "DELETE, GET, HEAD, PUT"},
			{"DELETE", "/v3/segments", ccUnauthorized, 405, ccNotAllowed("segments"), "GET, HEAD, POST"},
			{"GET", "/v3/segments/1/name", ccUnauthorized, 405, ccNotAllowed("segments"), "PATCH"},
			{"GET", "/v3/emails", ccUnauthorized, 404, ccNotFound("emails", "/v3/emails"), ""},
			{"GET", "/v3/reports/summary_reports", ccUnauthorized, 404, ccNotFound("reports", "/v3/reports/summary_reports"), ""},
			{"GET", "/v3/account/summary", ccUnauthorized, 404, ccNotFound("account", "/v3/account/summary"), ""},
			{"GET", "/v3/activities/contacts_file_import", ccUnauthorized, 405, ccNotAllowed("activities"), "POST"},
			{"POST", "/v3/activities/sms_import", ccUnauthorized, 404, ccNotFound("activities", "/v3/activities/sms_import"), ""},

			// The Event Webhook.
			{"GET", "/webhooks/sendgrid/events", hookUnauth, 405, hookNotAllowed, "POST"},
			{"PUT", "/webhooks/sendgrid/events", hookUnauth, 405, hookNotAllowed, "POST"},
			{"POST", "/webhooks/sendgrid", hookUnauth, 404, `{"errors":[{"message":"no webhook at POST /webhooks/sendgrid; events are posted to POST /webhooks/sendgrid/events"}]}`, ""},
			{"GET", "/webhooks/other", hookUnauth, 404, `{"errors":[{"message":"no webhook at GET /webhooks/other; events are posted to POST /webhooks/sendgrid/events"}]}`, ""},

			// Export files: their URL's token is the credential, whatever
			// the key.
			{"GET", "/files/exports/1/" + strings.Repeat("0", 64) + "/1.csv.gz", "", 404, fileNotFound, ""},
			{"GET", "/files/exports/", "", 404, fileNotFound, ""},
			{"PUT", "/files/exports/1/x/1.csv.gz", "", 405, sgNotAllowed, "GET, HEAD"},
			// Import uploads and errors files: the same.
			{"GET", "/files/imports/x", "", 404, fileNoRoute, ""},
			{"GET", "/files/imports/", "", 404, fileNoRoute, ""},
			{"GET", "/files/imports/1/" + strings.Repeat("0", 64), "", 405, sgNotAllowed, "PUT"},
			{"PUT", "/files/imports/1/" + strings.Repeat("0", 64), "", 403, `{"errors":[{"field":null,"message":"the upload must send the header x-amz-server-side-encryption: aws:kms, as upload_headers said"}]}`, ""},
			{"GET", "/files/imports/1/" + strings.Repeat("0", 64) + "/errors.csv", "", 404, `{"errors":[{"field":null,"message":"errors file not found; it may have expired"}]}`, ""},
			{"PUT", "/files/imports/1/" + strings.Repeat("0", 64) + "/errors.csv", "", 405, sgNotAllowed, "GET, HEAD"},

			// segmentd's own, key or not.
			{"GET", "/", "", 404, ownNotFound, ""},
			{"POST", "/", "", 404, ownNotFound, ""},
			{"GET", "/v2/anything", "", 404, ownNotFound, ""},
			{"GET", "/admin/clock", "", 404, ownNotFound, ""}, // mounted only with --dev
			{"POST", "/healthz", "", 405, ownNotAllowed, "GET, HEAD"},
			{"GET", "//healthz", "", 404, ownNotFound, ""},
			{"POST", "/webhooks//sendgrid/events", hookUnauth, 404, `{"errors":[{"message":"no webhook at POST /webhooks//sendgrid/events; events are posted to POST /webhooks/sendgrid/events"}]}`, ""},
		}
		for _, tt := range tests {
			t.Run(tt.method+" "+tt.path, func(t *testing.T) {
				for _, k := range []struct{ name, key string }{{"no key", ""}, {"unknown key", "SG.unknown"}, {"good key", key}} {
					status, body, allow := tt.status, tt.body, tt.allow
					if tt.unauthorized != "" && k.key != key {
						status, body, allow = 401, tt.unauthorized, ""
					}
					r, err := facetest.Send(s.url, k.key, facetest.Request{Method: tt.method, Path: tt.path})
					if err != nil {
						t.Fatal(err)
					}
					if r.Status != status || !facetest.JSONEqual(r.Body, []byte(body)) {
						t.Errorf("%s: %d %s, want %d %s", k.name, r.Status, strings.TrimSpace(string(r.Body)), status, body)
					}
					if ct := r.Header.Get("Content-Type"); ct != "application/json" {
						t.Errorf("%s: Content-Type %q, want application/json", k.name, ct)
					}
					if got := r.Header.Get("Allow"); got != allow {
						t.Errorf("%s: Allow %q, want %q", k.name, got, allow)
					}
				}
			})
		}
	})
}
