package query

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// miniSchema validates a JSON value against the subset of JSON Schema that
// docs/query-json.schema.json uses ($ref, oneOf, type, enum, const,
// required, properties, additionalProperties: false, items, pattern).
type miniSchema struct {
	root map[string]any
}

func (s *miniSchema) resolve(node map[string]any) map[string]any {
	for {
		ref, ok := node["$ref"].(string)
		if !ok {
			return node
		}
		name := strings.TrimPrefix(ref, "#/$defs/")
		node = s.root["$defs"].(map[string]any)[name].(map[string]any)
	}
}

func (s *miniSchema) validate(node map[string]any, v any, path string) error {
	node = s.resolve(node)
	if alts, ok := node["oneOf"].([]any); ok {
		n := 0
		var errs []string
		for _, a := range alts {
			if err := s.validate(a.(map[string]any), v, path); err == nil {
				n++
			} else {
				errs = append(errs, err.Error())
			}
		}
		if n != 1 {
			return fmt.Errorf("%s: matches %d of oneOf (%s)", path, n, strings.Join(errs, "; "))
		}
		return nil
	}
	if c, ok := node["const"]; ok && v != c {
		return fmt.Errorf("%s: %v is not %v", path, v, c)
	}
	if enum, ok := node["enum"].([]any); ok {
		found := false
		for _, e := range enum {
			if e == v {
				found = true
			}
		}
		if !found {
			return fmt.Errorf("%s: %v not in enum", path, v)
		}
	}
	switch t := node["type"]; t {
	case "object":
		m, ok := v.(map[string]any)
		if !ok {
			return fmt.Errorf("%s: not an object", path)
		}
		for _, r := range asSlice(node["required"]) {
			if _, ok := m[r.(string)]; !ok {
				return fmt.Errorf("%s: missing %s", path, r)
			}
		}
		props, _ := node["properties"].(map[string]any)
		for k, val := range m {
			p, ok := props[k]
			if !ok {
				if node["additionalProperties"] == false {
					return fmt.Errorf("%s: unexpected property %s", path, k)
				}
				continue
			}
			if err := s.validate(p.(map[string]any), val, path+"."+k); err != nil {
				return err
			}
		}
	case "array":
		a, ok := v.([]any)
		if !ok {
			return fmt.Errorf("%s: not an array", path)
		}
		if items, ok := node["items"].(map[string]any); ok {
			for i, e := range a {
				if err := s.validate(items, e, fmt.Sprintf("%s[%d]", path, i)); err != nil {
					return err
				}
			}
		}
	case "string":
		str, ok := v.(string)
		if !ok {
			return fmt.Errorf("%s: not a string", path)
		}
		if p, ok := node["pattern"].(string); ok && !regexp.MustCompile(p).MatchString(str) {
			return fmt.Errorf("%s: %q does not match %s", path, str, p)
		}
	case "boolean":
		if _, ok := v.(bool); !ok {
			return fmt.Errorf("%s: not a boolean", path)
		}
	case "null":
		if v != nil {
			return fmt.Errorf("%s: not null", path)
		}
	}
	return nil
}

func asSlice(v any) []any {
	a, _ := v.([]any)
	return a
}

// TestQueryJSONSchema checks the query_json of every parsable corpus query
// against the published JSON Schema.
func TestQueryJSONSchema(t *testing.T) {
	data, err := os.ReadFile(filepath.Join("..", "docs", "query-json.schema.json"))
	if err != nil {
		t.Fatal(err)
	}
	var root map[string]any
	if err := json.Unmarshal(data, &root); err != nil {
		t.Fatal(err)
	}
	s := &miniSchema{root: root}
	n := 0
	for _, e := range readCorpus(t) {
		q, err := Parse(e.Lang, e.Src)
		if err != nil {
			continue
		}
		js, err := JSON(q)
		if err != nil {
			t.Fatal(err)
		}
		var v any
		if err := json.Unmarshal(js, &v); err != nil {
			t.Fatal(err)
		}
		if err := s.validate(root, v, "$"); err != nil {
			t.Errorf("%s:%d: %v\n%s", e.File, e.Line, err, js)
		}
		n++
	}
	if n < 200 {
		t.Errorf("validated only %d queries", n)
	}
	// The validator itself must reject a wrong document.
	if err := s.validate(root, map[string]any{"dialect": "sgql", "contacts": map[string]any{"op": "XOR", "l": nil, "pos": "1:1"}}, "$"); err == nil {
		t.Error("schema accepted op XOR")
	}
}
