package sendgrid

import (
	"fmt"
	"reflect"
	"strings"
	"testing"

	"github.com/segmentd/segmentd"
)

var decodeFields = map[string]segmentd.FieldDefinition{
	"w1": {ID: "w1", Name: "plan", Type: segmentd.FieldText},
	"n2": {ID: "n2", Name: "score", Type: segmentd.FieldNumber},
	"d3": {ID: "d3", Name: "signup", Type: segmentd.FieldDate},
}

var decodeBodies = []string{
	`{"contacts":[{"email":"a@example.com"}]}`,
	`{"list_ids":["AB0C4A6E-2A0B-4A53-9F5C-1B2C3D4E5F60"],"contacts":[{"email":"a@example.com","first_name":null,"postal_code":12345}]}`,
	`{"contacts":[{"email":"a@example.com","alternate_emails":null},{"external_id":"x","alternate_emails":["b@example.com"]}]}`,
	`{"contacts":[{"email":"a@example.com","custom_fields":{"w1":"pro","n2":"42","d3":"2024-05-01","w9":"unknown id"}}]}`,
	`{"contacts":[{"email":"a@example.com","custom_fields":{"w1":null,"n2":7.5,"d3":"05/01/2024"}}],"list_ids":null}`,
	`{"contacts":[{"email":"em\u0061il@example.com","city":"Lisbo\u00e3"}]}`,
	// Bodies the fast path must hand to the precise decoder:
	`{"list_ids":["a"],"list_ids":["b"],"contacts":[{"email":"a@example.com"}]}`,
	`{"contacts":[{"email":"a@example.com","email":"b@example.com"}]}`,
	`{"contacts":[{"email":"a@example.com","first_name":"\ud800"}]}`,
	"{\"contacts\":[{\"email\":\"a@example.com\",\"first_name\":\"\xff\"}]}",
	`null`,
	`{"contacts":[{"email":"a@example.com","nickname":"x"}]}`,
	`{"contacts":[{"id":"x"}]}`,
	`{"contacts":[{"email":5}]}`,
	`{"contacts":[{"alternate_emails":[null]}]}`,
	`{"contacts":[{"email":"a@example.com","custom_fields":{"n2":"many"}}]}`,
	`{"contacts":[]}`,
	`{"contacts":[{"email":"a@example.com"}],"extra":1}`,
	`{"contacts":[{"email":"a@example.com"}]} trailing`,
	`{"contacts":[{"email":"a@example.com"}],"contacts":[{"email":"b@example.com"}]}`,
	`[]`,
}

// checkDecoders: whatever the fast path accepts, the precise decoder
// accepts too, with the same result.
func checkDecoders(t *testing.T, body string) (fastOK bool) {
	lists, patches, ok := decodeUpsertFast([]byte(body), decodeFields)
	if !ok {
		return false
	}
	slowLists, slowPatches, err := decodeUpsert([]byte(body), decodeFields)
	if err != nil {
		t.Fatalf("%s: the fast path accepted what decodeUpsert refuses: %v", body, err)
	}
	if !reflect.DeepEqual(lists, slowLists) || !reflect.DeepEqual(patches, slowPatches) {
		t.Fatalf("%s: the decoders disagree:\nfast %v %+v\nslow %v %+v", body, lists, patches, slowLists, slowPatches)
	}
	return true
}

func TestUpsertDecodersAgree(t *testing.T) {
	accepted := 0
	for _, body := range decodeBodies {
		if checkDecoders(t, body) {
			accepted++
		}
	}
	if accepted != 6 {
		t.Fatalf("the fast path accepted %d of the 6 well-formed bodies", accepted)
	}
}

func FuzzUpsertDecoders(f *testing.F) {
	for _, b := range decodeBodies {
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, body string) { checkDecoders(t, body) })
}

// BenchmarkDecodeUpsert decodes a 30,000-contact upsert body (about 6 MB,
// SendGrid's limits) on the fast path, and, apart, the body check that
// path starts with, so that the share of the check shows: bytes/s of each.
//
//	go test -run '^$' -bench DecodeUpsert ./sendgrid/
func BenchmarkDecodeUpsert(b *testing.B) {
	var body strings.Builder
	body.WriteString(`{"list_ids":["AB0C4A6E-2A0B-4A53-9F5C-1B2C3D4E5F60"],"contacts":[`)
	for i := range segmentd.MaxUpsertContacts {
		if i > 0 {
			body.WriteByte(',')
		}
		fmt.Fprintf(&body, `{"email":"user%d@example.com","first_name":"Chloé","last_name":"Müller","city":"Kraków","country":"PL","postal_code":"%05d","custom_fields":{"w1":"teal","n2":%d,"d3":"2024-05-%02d"}}`,
			i, i%100000, i%500, 1+i%28)
	}
	body.WriteString(`]}`)
	doc := []byte(body.String())
	b.Logf("body: %d contacts, %d bytes", segmentd.MaxUpsertContacts, len(doc))
	b.Run("check", func(b *testing.B) {
		b.SetBytes(int64(len(doc)))
		for b.Loop() {
			if err := checkBody(doc, false); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("fast", func(b *testing.B) {
		b.SetBytes(int64(len(doc)))
		for b.Loop() {
			if _, _, ok := decodeUpsertFast(doc, decodeFields); !ok {
				b.Fatal("the fast path refused the body")
			}
		}
	})
}
