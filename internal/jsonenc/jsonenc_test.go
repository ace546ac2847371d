package jsonenc

import (
	"encoding/json"
	"math"
	"strings"
	"testing"
)

// TestAppendString compares every kind of string with encoding/json's
// own writing of it.
func TestAppendString(t *testing.T) {
	for _, s := range []string{
		"", "plain", "a b-c_d.e@f", `quo"te`, `back\slash`, "<b>&amp;</b>",
		"tab\there", "nul\x00", "é", "日本", "\u2028\u2029", "bad \xff utf-8", "\x7f",
	} {
		want, err := json.Marshal(s)
		if err != nil {
			t.Fatal(err)
		}
		if got := AppendString([]byte("x"), s); string(got) != "x"+string(want) {
			t.Errorf("AppendString(%q) = %s, want x%s", s, got, want)
		}
		if got, want := AppendStored([]byte("x"), s), "x"+unescapedHTML(t, s); string(got) != want {
			t.Errorf("AppendStored(%q) = %s, want %s", s, got, want)
		}
	}
}

// unescapedHTML is s as an encoding/json Encoder writes it with
// SetEscapeHTML(false), its newline cut.
func unescapedHTML(t *testing.T, s string) string {
	var b strings.Builder
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(s); err != nil {
		t.Fatal(err)
	}
	return strings.TrimSuffix(b.String(), "\n")
}

// TestAppendFloat compares numbers on both sides of the exponent form's
// bounds, and the shortened negative exponent, with encoding/json.
func TestAppendFloat(t *testing.T) {
	for _, f := range []float64{
		0, math.Copysign(0, -1), 1, -1, 0.5, 42.25, 1e-6, 9.99e-7, 1e-7, 1.5e-10, 1e20, 1e21,
		-1e21, 123456789012345678, 1e300, math.SmallestNonzeroFloat64, math.MaxFloat64, 0.1 + 0.2,
	} {
		want, err := json.Marshal(f)
		if err != nil {
			t.Fatal(err)
		}
		if got := AppendFloat(nil, f); string(got) != string(want) {
			t.Errorf("AppendFloat(%v) = %s, want %s", f, got, want)
		}
	}
}

// FuzzAppend checks any string and any finite number against
// encoding/json.
func FuzzAppend(f *testing.F) {
	f.Add("a<b", 1.5)
	f.Add("\xff", 1e-7)
	f.Fuzz(func(t *testing.T, s string, x float64) {
		want, _ := json.Marshal(s)
		if got := AppendString(nil, s); string(got) != string(want) {
			t.Fatalf("AppendString(%q) = %s, want %s", s, got, want)
		}
		if got, want := AppendStored(nil, s), unescapedHTML(t, s); string(got) != want {
			t.Fatalf("AppendStored(%q) = %s, want %s", s, got, want)
		}
		if math.IsNaN(x) || math.IsInf(x, 0) {
			return
		}
		want, _ = json.Marshal(x)
		if got := AppendFloat(nil, x); string(got) != string(want) {
			t.Fatalf("AppendFloat(%v) = %s, want %s", x, got, want)
		}
	})
}
