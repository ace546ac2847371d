package sendgrid

import (
	"net/http/httptest"
	"slices"
	"testing"
)

// TestQueryList: every form clients send an array query parameter in, the
// indexed form in the order of its indices.
func TestQueryList(t *testing.T) {
	for _, tt := range []struct {
		query string
		want  []string
	}{
		{"ids=a,b", []string{"a", "b"}},
		{"ids=a&ids=b", []string{"a", "b"}},
		{"ids[]=a&ids[]=b", []string{"a", "b"}},
		{"ids%5B%5D=a&ids%5B%5D=b", []string{"a", "b"}},
		{"ids[0]=a&ids[1]=b", []string{"a", "b"}},
		{"ids[1]=b&ids[0]=a", []string{"a", "b"}},
		{"ids%5B1%5D=b&ids%5B0%5D=a", []string{"a", "b"}},
		{"ids[10]=k&ids[2]=c&ids[9]=j", []string{"c", "j", "k"}},
		{"ids[007]=h&ids[6]=g", []string{"g", "h"}},
		{"ids[0]=a,b&ids[1]=c", []string{"a", "b", "c"}},
		{"ids=a&ids[]=b&ids[0]=c", []string{"a", "b", "c"}},
		{"ids[99999999999999999999]=z&ids[1]=a", []string{"a", "z"}},
		// Not this parameter, or not an index.
		{"ids[x]=a&ids[]=b&idsx[0]=c&ids[-1]=d&ids[0=e&contact_ids[0]=f&5]=g", []string{"b"}},
		{"ids[]=&ids[0]=", nil},
	} {
		r := httptest.NewRequest("GET", "/x?"+tt.query, nil)
		if got := queryList(r, "ids"); !slices.Equal(got, tt.want) {
			t.Errorf("%s: %q, want %q", tt.query, got, tt.want)
		}
	}
}
