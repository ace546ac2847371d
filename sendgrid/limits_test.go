package sendgrid_test

import (
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/segmentd/segmentd/internal/facetest"
)

// Big payloads are built once per test binary and reused.
var (
	bigOnce        sync.Once
	upsert30000    []byte // exactly the contact limit
	upsert30001    []byte // one over
	upsertOver6MB  []byte // 6 MB + 1 byte, few contacts
	hundredAndOne  []string
	hundredAndOneE []string
)

func bigPayloads() {
	bigOnce.Do(func() {
		contacts := func(n int) []byte {
			var b strings.Builder
			b.WriteString(`{"contacts":[`)
			for i := range n {
				if i > 0 {
					b.WriteByte(',')
				}
				fmt.Fprintf(&b, `{"email":"user%d@example.com","first_name":"User %d"}`, i, i)
			}
			b.WriteString(`]}`)
			return []byte(b.String())
		}
		upsert30000 = contacts(30000)
		upsert30001 = contacts(30001)

		// A valid body that is too large: whitespace padding.
		head := `{"contacts":[{"email":"big@example.com"}]`
		pad := 6<<20 + 1 - len(head) - 1
		upsertOver6MB = []byte(head + strings.Repeat(" ", pad) + "}")

		for i := range 101 {
			hundredAndOne = append(hundredAndOne, fmt.Sprintf("00000000-0000-4000-8000-%012d", i))
			hundredAndOneE = append(hundredAndOneE, fmt.Sprintf("u%d@example.com", i))
		}
	})
}

func TestLimits(t *testing.T) {
	bigPayloads()
	e := newEnv(t)

	cases := []errCase{
		{"30,001 contacts", call{method: "PUT", path: contactsPath, body: upsert30001},
			400, errBody("contacts", "contacts may hold at most 30000 contacts per request, got 30001")},
		{"body over 6 MB", call{method: "PUT", path: contactsPath, body: upsertOver6MB},
			400, errBody("", "request body must not exceed 6 MB (6291456 bytes)")},
		{"101 batch ids", call{method: "POST", path: contactsPath + "/batch", body: map[string]any{"ids": hundredAndOne}},
			400, errBody("ids", "ids may hold at most 100 ids")},
		{"101 emails", call{method: "POST", path: contactsPath + "/search/emails", body: map[string]any{"emails": hundredAndOneE}},
			400, errBody("emails", "emails may hold at most 100 addresses")},
		{"101 identifiers", call{method: "POST", path: contactsPath + "/search/identifiers/email", body: map[string]any{"identifiers": hundredAndOneE}},
			400, bareErr("identifiers", "identifiers may hold at most 100 values")},
		{"list body over 1 MB", call{method: "POST", path: listsPath, body: `{"name":"` + strings.Repeat("x", 1<<20) + `"}`},
			400, errBody("", "request body must not exceed 1 MB (1048576 bytes)")},
	}
	e.wantErrors(t, cases)
	r := e.do(t, call{method: "GET", path: contactsPath + "/count"})
	if m := facetest.WantStatus(t, r, 200); m["contact_count"] != float64(0) {
		t.Errorf("rejected requests stored contacts: %s", r.Body)
	}

	// Exactly 30,000 contacts are accepted and all created.
	start := time.Now()
	job := e.upsert(t, upsert30000)
	res := job["results"].(map[string]any)
	if job["status"] != "completed" || res["created_count"] != float64(30000) {
		t.Fatalf("30,000-contact job = %v", job)
	}
	t.Logf("30,000 contacts upserted in %v", time.Since(start))
	r = e.do(t, call{method: "GET", path: contactsPath})
	var sample struct {
		Result       []any `json:"result"`
		ContactCount int   `json:"contact_count"`
	}
	facetest.WantStatus(t, r, http.StatusOK)
	r.Decode(t, &sample)
	if len(sample.Result) != 50 || sample.ContactCount != 30000 {
		t.Errorf("sample has %d contacts, count %d; want 50 and 30000", len(sample.Result), sample.ContactCount)
	}
}
