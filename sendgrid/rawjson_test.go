package sendgrid

import (
	"encoding/json"
	"reflect"
	"testing"
)

// TestRawWalk: the walk over checked JSON gives each member and element
// as encoding/json reads them, strings with brackets, quotes and escapes
// included.
func TestRawWalk(t *testing.T) {
	body := `{ "a\"]}" : "x\\\"}]" , "b":[1, {"c":"]["} ,null,true],"\u00e9" : -1.5e3 ,"d":{}, "e":[] }`
	var want map[string]json.RawMessage
	if err := json.Unmarshal([]byte(body), &want); err != nil {
		t.Fatal(err)
	}
	got := map[string]json.RawMessage{}
	var order []string
	if !eachMember([]byte(body), func(k, v []byte) bool { got[string(k)] = v; order = append(order, string(k)); return true }) {
		t.Fatal("eachMember refused an object")
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("members %q, want %q", got, want)
	}
	if !reflect.DeepEqual(order, []string{`a"]}`, "b", "é", "d", "e"}) {
		t.Errorf("order %q", order)
	}
	var elems []string
	if !eachElement(want["b"], func(v []byte) bool { elems = append(elems, string(v)); return true }) {
		t.Fatal("eachElement refused an array")
	}
	if !reflect.DeepEqual(elems, []string{"1", `{"c":"]["}`, "null", "true"}) {
		t.Errorf("elements %q", elems)
	}
	n := 0
	if !eachElement([]byte(" [ ] "), func([]byte) bool { n++; return true }) || n != 0 {
		t.Errorf("an empty array: %d elements", n)
	}
	if eachMember([]byte(`[1]`), func(_, _ []byte) bool { return true }) || eachElement([]byte(`{}`), func([]byte) bool { return true }) {
		t.Error("an array read as an object, or an object as an array")
	}
	stops := 0
	if eachMember([]byte(`{"a":1,"b":2}`), func(_, _ []byte) bool { stops++; return false }) || stops != 1 {
		t.Errorf("a false from fn: walked %d members and reported true", stops)
	}
}
