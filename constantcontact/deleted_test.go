package constantcontact_test

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/segmentd/segmentd"
	"github.com/segmentd/segmentd/internal/facetest"
)

// TestDeletedContacts follows contacts this face deletes: read by id as
// deleted, listed under status=deleted and status=all, on no list, tag or
// segment, unseen by SendGrid's face, and revived under their id by PUT,
// POST and the sign-up form (docs/constantcontact.md "Deleted contacts").
func TestDeletedContacts(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	acct := e.DefaultAccount()
	e.Clock.Set(t0)
	list := e.must(t, facetest.Request{Method: "POST", Path: "/v3/contact_lists", Body: map[string]string{"name": "Customers"}}, 201)["list_id"].(string)
	tag := e.must(t, facetest.Request{Method: "POST", Path: "/v3/contact_tags", Body: map[string]string{"name": "VIP"}}, 201)["tag_id"].(string)
	crit := fmt.Sprintf(`{"version":"1.0.0","criteria":{"type":"or","group":[{"source":"list_membership","field":"list_id","op":"contains-any","const_value":%q}]}}`, list)
	e.must(t, facetest.Request{Method: "POST", Path: "/v3/segments", Body: map[string]string{"name": "Customers", "segment_criteria": crit}}, 201)
	counts := func() string {
		t.Helper()
		seg := e.must(t, facetest.Request{Method: "GET", Path: "/v3/contacts?segment_id=1&include_count=true"}, 200)["contacts_count"]
		l := e.must(t, facetest.Request{Method: "GET", Path: "/v3/contact_lists/" + list + "?include_membership_count=all"}, 200)["membership_count"]
		tg := e.must(t, facetest.Request{Method: "GET", Path: "/v3/contact_tags/" + tag + "?include_count=true"}, 200)["contacts_count"]
		all := e.must(t, facetest.Request{Method: "GET", Path: "/v3/contacts/counts"}, 200)["total"]
		return fmt.Sprintf("segment %v list %v tag %v total %v", seg, l, tg, all)
	}
	post := func(email, first string) string {
		t.Helper()
		return e.must(t, facetest.Request{Method: "POST", Path: "/v3/contacts", Body: ccContact{
			"email_address": map[string]string{"address": email, "permission_to_send": "explicit"}, "first_name": first, "job_title": "Engineer",
			"create_source": "Contact", "list_memberships": []string{list}, "taggings": []string{tag},
		}}, 201)["contact_id"].(string)
	}
	ada, bob := post("ada@example.com", "Ada"), post("bob@example.com", "Bob")
	if got := counts(); got != "segment 2 list 2 tag 2 total 2" {
		t.Fatalf("before the delete: %s", got)
	}

	// DELETE keeps the contact, deleted.
	e.Clock.Set(t0.Add(26 * time.Hour))
	if r := e.do(t, facetest.Request{Method: "DELETE", Path: "/v3/contacts/" + ada}); r.Status != 204 {
		t.Fatalf("DELETE = %d %s", r.Status, r.Body)
	}
	got := e.must(t, facetest.Request{Method: "GET", Path: "/v3/contacts/" + ada + "?include=list_memberships,taggings,custom_fields"}, 200)
	ea := got["email_address"].(map[string]any)
	if got["contact_id"] != ada || got["deleted_at"] != "2026-05-05" || got["first_name"] != "Ada" || got["job_title"] != "Engineer" ||
		got["create_source"] != "Contact" || got["created_at"] != "2026-05-04T10:20:30.456Z" || got["updated_at"] != "2026-05-05T12:20:30.456Z" ||
		ea["address"] != "ada@example.com" || ea["opt_out_source"] != "Account" || ea["opt_out_date"] != "2026-05-05T12:20:30.456Z" ||
		fmt.Sprint(got["list_memberships"], got["taggings"], got["custom_fields"]) != "[] [] []" {
		t.Fatalf("GET of the deleted contact = %v", got)
	}
	if got := counts(); got != "segment 1 list 1 tag 1 total 1" {
		t.Fatalf("after the delete: %s", got)
	}
	// SendGrid's face deletes for good: it never sees the contact.
	if _, err := e.Svc.Contact(ctx, acct, ada); segmentd.ErrorKindOf(err) != segmentd.KindNotFound {
		t.Fatalf("SendGrid's face reads the deleted contact: %v", err)
	}
	if _, byEmail, err := e.Svc.ContactsByEmails(ctx, acct, []string{"ada@example.com"}); err != nil || len(byEmail) != 0 {
		t.Fatalf("SendGrid's face finds the deleted contact's email: %v, %v", byEmail, err)
	}
	notFound := ccErr("contacts.api.not_found", fmt.Sprintf("contact %q does not exist", ada))
	facetest.WantError(t, e.do(t, facetest.Request{Method: "DELETE", Path: "/v3/contacts/" + ada}), 404, notFound)

	// The listings, with a third contact SendGrid's face wrote.
	e.upsert(t, acct, []segmentd.ContactPatch{{Email: facetest.Ptr("sg@example.com")}})
	byID := []string{"ada@example.com", "bob@example.com", "sg@example.com"} // ids are time-ordered
	for _, tt := range []struct {
		query string
		want  []string
	}{
		{"", byID[1:]},
		{"status=active", byID[1:]},
		{"status=deleted", byID[:1]},
		{"status=all", byID},
		{"status=deleted,active", byID},
		{"status=unsubscribed,deleted", byID[:1]},
		{"status=deleted&email=ada@example.com", byID[:1]},
		{"status=deleted&email=bob@example.com", nil},
		{"status=all&lists=" + list, byID[1:2]},
		{"status=deleted&updated_after=2026-05-05", byID[:1]},
		{"status=deleted&updated_before=2026-05-05", nil},
		{"status=all&created_before=2026-05-05", byID[:2]},
	} {
		pages, first := e.contactPages(t, "/v3/contacts?limit=1&include_count=true&"+tt.query)
		if got := flat(pages); !slices.Equal(got, tt.want) || first["contacts_count"] != float64(len(tt.want)) {
			t.Errorf("?%s: %v (contacts_count %v), want %v", tt.query, got, first["contacts_count"], tt.want)
		}
	}

	// PUT revives it under its id, with update_source Account only.
	facetest.WantError(t, e.do(t, facetest.Request{Method: "PUT", Path: "/v3/contacts/" + ada, Body: ccContact{
		"email_address": map[string]string{"address": "ada@example.com"}, "update_source": "Contact"}}), 400,
		ccErr("contacts.api.validation.error", fmt.Sprintf("contact %q is deleted: reviving it takes update_source Account", ada)))
	e.Clock.Set(t0.Add(48 * time.Hour))
	put := e.must(t, facetest.Request{Method: "PUT", Path: "/v3/contacts/" + ada, Body: ccContact{
		"email_address": map[string]string{"address": "ada@example.com"}, "first_name": "Augusta", "update_source": "Account", "list_memberships": []string{list},
	}}, 200)
	if put["contact_id"] != ada || put["deleted_at"] != nil || put["first_name"] != "Augusta" || put["create_source"] != "Contact" ||
		put["created_at"] != "2026-05-04T10:20:30.456Z" || put["updated_at"] != "2026-05-06T10:20:30.456Z" || fmt.Sprint(put["list_memberships"]) != fmt.Sprint([]any{list}) {
		t.Fatalf("PUT of the deleted contact = %v", put)
	}
	if c, err := e.Svc.Contact(ctx, acct, ada); err != nil || c.FirstName != "Augusta" {
		t.Fatalf("SendGrid's face after the revival: %+v, %v", c, err)
	}
	if pages, _ := e.contactPages(t, "/v3/contacts?status=deleted"); len(flat(pages)) != 0 {
		t.Fatalf("deleted after the revival: %v", pages)
	}
	if got := counts(); got != "segment 2 list 2 tag 1 total 3" {
		t.Fatalf("after the revival: %s", got)
	}

	// contact_delete keeps its contacts too; POST of the address revives
	// the contact under its id, with the body's fields.
	if a := e.activity(t, "contact_delete", map[string]any{"contact_ids": []string{bob}}); a["state"] != "completed" {
		t.Fatalf("contact_delete = %v", a)
	}
	if got := e.must(t, facetest.Request{Method: "GET", Path: "/v3/contacts/" + bob}, 200); got["deleted_at"] != "2026-05-06" {
		t.Fatalf("GET after contact_delete = %v", got)
	}
	if got := counts(); got != "segment 1 list 1 tag 0 total 2" {
		t.Fatalf("after contact_delete: %s", got)
	}
	revived := e.must(t, facetest.Request{Method: "POST", Path: "/v3/contacts", Body: ccContact{
		"email_address": map[string]string{"address": "Bob@example.com"}, "last_name": "Builder", "create_source": "Account", "taggings": []string{tag}}}, 201)
	if revived["contact_id"] != bob || revived["first_name"] != nil || revived["last_name"] != "Builder" || revived["created_at"] != "2026-05-04T10:20:30.456Z" ||
		fmt.Sprint(revived["taggings"]) != fmt.Sprint([]any{tag}) {
		t.Fatalf("POST of a deleted contact's address = %v", revived)
	}
	if got := counts(); got != "segment 1 list 1 tag 1 total 3" {
		t.Fatalf("after POST revived bob: %s", got)
	}

	// The sign-up form revives too (200, updated), keeping the names.
	e.must(t, facetest.Request{Method: "DELETE", Path: "/v3/contacts/" + bob}, 204)
	signed := e.must(t, facetest.Request{Method: "POST", Path: "/v3/contacts/sign_up_form", Body: map[string]any{
		"email_address": "bob@example.com", "first_name": "Robert", "list_memberships": []string{list}}}, 200)
	if signed["contact_id"] != bob || signed["action"] != "updated" {
		t.Fatalf("sign-up of a deleted contact's address = %v", signed)
	}
	if c, err := e.Svc.Contact(ctx, acct, bob); err != nil || c.FirstName != "Robert" || c.LastName != "Builder" || fmt.Sprint(c.ListIDs) != fmt.Sprint([]string{list}) {
		t.Fatalf("bob after the sign-up: %+v, %v", c, err)
	}
	if got := counts(); got != "segment 2 list 2 tag 0 total 3" { // a revived contact's taggings are the write's
		t.Fatalf("after the sign-up revived bob: %s", got)
	}

	// SendGrid's face: its upsert of a deleted contact's address makes a
	// new contact (SendGrid deleted it for good) and the deleted one goes;
	// its own deletes keep nothing.
	_, byEmail, err := e.Svc.ContactsByEmails(ctx, acct, []string{"sg@example.com"})
	if err != nil {
		t.Fatal(err)
	}
	sgID := byEmail["sg@example.com"].ID
	e.must(t, facetest.Request{Method: "DELETE", Path: "/v3/contacts/" + sgID}, 204)
	e.upsert(t, acct, []segmentd.ContactPatch{{Email: facetest.Ptr("sg@example.com")}})
	_, byEmail, _ = e.Svc.ContactsByEmails(ctx, acct, []string{"sg@example.com"})
	if again := byEmail["sg@example.com"].ID; again == "" || again == sgID {
		t.Fatalf("SendGrid's upsert of a deleted address: id %q (was %q)", again, sgID)
	}
	facetest.WantError(t, e.do(t, facetest.Request{Method: "GET", Path: "/v3/contacts/" + sgID}), 404,
		ccErr("contacts.api.not_found", fmt.Sprintf("contact %q does not exist", sgID)))
	jobID, err := e.Svc.DeleteContacts(ctx, acct, []string{byEmail["sg@example.com"].ID}, false)
	if err != nil {
		t.Fatal(err)
	}
	if j := facetest.WaitJob(t, e.Svc, acct, jobID); j.Status != segmentd.JobCompleted {
		t.Fatalf("SendGrid's delete: %+v", j)
	}
	if pages, _ := e.contactPages(t, "/v3/contacts?status=all"); fmt.Sprint(flat(pages)) != "[ada@example.com bob@example.com]" {
		t.Fatalf("after SendGrid's delete: %v", pages)
	}

	// A reset forgets deleted contacts.
	e.must(t, facetest.Request{Method: "DELETE", Path: "/v3/contacts/" + ada}, 204)
	if _, err := e.Svc.ResetAccount(ctx, segmentd.DefaultAccountName); err != nil {
		t.Fatal(err)
	}
	if pages, _ := e.contactPages(t, "/v3/contacts?status=deleted"); len(flat(pages)) != 0 {
		t.Fatalf("deleted after a reset: %v", pages)
	}
}
