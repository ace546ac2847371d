package sendgrid_test

import (
	"testing"

	"github.com/segmentd/segmentd"
	"github.com/segmentd/segmentd/internal/facetest"
)

// endpoints is every operation of the face with a request that would
// succeed, for the checks that apply to all of them.
func endpoints(list, contact, job string) []call {
	return []call{
		{method: "POST", path: fieldsPath, body: `{"name":"f","field_type":"Text"}`},
		{method: "GET", path: fieldsPath},
		{method: "PATCH", path: fieldsPath + "/w1", body: `{"name":"g"}`},
		{method: "DELETE", path: fieldsPath + "/w1"},
		{method: "POST", path: listsPath, body: `{"name":"l"}`},
		{method: "GET", path: listsPath},
		{method: "GET", path: listsPath + "/" + list},
		{method: "PATCH", path: listsPath + "/" + list, body: `{"name":"m"}`},
		{method: "DELETE", path: listsPath + "/" + list},
		{method: "DELETE", path: listsPath + "/" + list + "/contacts", query: map[string]string{"contact_ids": contact}},
		{method: "GET", path: listsPath + "/" + list + "/contacts/count"},
		{method: "PUT", path: contactsPath, body: `{"contacts":[{"email":"a@example.com"}]}`},
		{method: "GET", path: contactsPath},
		{method: "DELETE", path: contactsPath, query: map[string]string{"ids": contact}},
		{method: "GET", path: contactsPath + "/count"},
		{method: "GET", path: contactsPath + "/" + contact},
		{method: "POST", path: contactsPath + "/batch", body: `{"ids":["` + contact + `"]}`},
		{method: "POST", path: contactsPath + "/search/emails", body: `{"emails":["a@example.com"]}`},
		{method: "POST", path: contactsPath + "/search/identifiers/email", body: `{"identifiers":["a@example.com"]}`},
		{method: "DELETE", path: contactsPath + "/" + contact + "/identifiers", body: `{"identifier_type":"EMAIL","identifier_value":"a@example.com"}`},
		{method: "GET", path: contactsPath + "/imports/" + job},
	}
}

// Every operation answers 401 without a valid key, 403 without the scope
// it needs, and a generic E3 500 when the store fails, each validated
// against the operation's schema (or SendGrid's common envelope where the
// operation documents none).
func TestEveryEndpointAuthAndServerErrors(t *testing.T) {
	e := newEnv(t)
	const id = "00000000-0000-4000-8000-000000000001"
	readOnly := e.NewKey(segmentd.DefaultAccountName, "", segmentd.ScopeSendGridRead)
	writeOnly := e.NewKey(segmentd.DefaultAccountName, "", segmentd.ScopeSendGridWrite)
	for _, c := range endpoints(id, id, id) {
		t.Run(c.method+" "+c.path, func(t *testing.T) {
			e.wantRefusals(t, c, readOnly, writeOnly)
			c.key = facetest.Ptr("SG.not.a-key")
			facetest.WantError(t, e.do(t, c), 401, authErr("authorization required"))
		})
	}

	broken := newEnv(t)
	if err := broken.Store.Close(); err != nil {
		t.Fatal(err)
	}
	for _, c := range endpoints(id, id, id) {
		t.Run("500 "+c.method+" "+c.path, func(t *testing.T) {
			facetest.WantError(t, broken.do(t, c), 500, `{"errors":[{"message":"internal server error"}]}`)
		})
	}
}
