package criteria

import (
	"fmt"
	"slices"
	"testing"

	"github.com/segmentd/segmentd/query"
)

// The form's vocabulary names exactly what Parse and Select accept.
func TestFormVocabulary(t *testing.T) {
	if got, want := len(contactOpOrder), len(contactOps); got != want {
		t.Fatalf("contactOpOrder has %d operators, contactOps %d", got, want)
	}
	tracking := TrackingFields()
	if len(tracking) != len(trackingFields) {
		t.Fatalf("TrackingFields %v, want the %d of trackingFields", tracking, len(trackingFields))
	}
	cat, err := query.NewCatalog(nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range tracking {
		if _, ok := trackingFields[f]; !ok {
			t.Errorf("tracking field %q is not one Parse reads", f)
		}
		doc := fmt.Sprintf(`{"version":"1.0.0","criteria":{"type":"and","group":[{"source":"tracking","field":%q,"op":"contains-any","const_value":"campaigns"}]}}`, f)
		c, err := Parse(doc)
		if err == nil {
			_, err = c.Select(cat, nil)
		}
		if err != nil {
			t.Errorf("tracking field %s: %v", f, err)
		}
	}
	fields := ContactFields()
	if fields[0].Name != "email_address" || !slices.ContainsFunc(fields, func(f ContactField) bool { return f.Name == "whatsapp" }) {
		t.Errorf("ContactFields = %v, want email_address first and segmentd's own fields after", fields)
	}
	seen := map[string]bool{}
	for _, f := range fields {
		if seen[f.Name] {
			t.Errorf("contact field %s listed twice", f.Name)
		}
		seen[f.Name] = true
		ops := ContactOps(f.Type)
		if len(ops) < 4 {
			t.Errorf("%s (%v): operators %v", f.Name, f.Type, ops)
		}
		for _, op := range ops {
			operands := map[query.FieldType]string{query.Text: `,"const_value":"x"`, query.Number: `,"const_value":"1"`, query.Date: `,"const_value":"2024-01-01"`}[f.Type]
			switch op {
			case "is-empty", "is-not-empty":
				operands = ""
			case "in-last-n-days":
				operands = `,"date_param":"7"`
			}
			doc := fmt.Sprintf(`{"version":"1.0.0","criteria":{"type":"and","group":[{"source":"contact","field":%q,"op":%q%s}]}}`, f.Name, op, operands)
			c, err := Parse(doc)
			if err == nil {
				_, err = c.Select(cat, nil)
			}
			if err != nil {
				t.Errorf("%s %s: %v", f.Name, op, err)
			}
		}
	}
}
