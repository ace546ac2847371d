package postgres

import (
	"slices"
	"testing"
)

func TestSplitStatements(t *testing.T) {
	for _, tt := range []struct {
		sql  string
		want []string
	}{
		{"SELECT 1; SELECT 2", []string{"SELECT 1", "SELECT 2"}},
		{"-- a comment; still a comment\nSELECT 1;\n-- trailing; comment\n", []string{"-- a comment; still a comment\nSELECT 1"}},
		{"SELECT 'a;b', \"c;d\"; SELECT 'it''s; fine'", []string{"SELECT 'a;b', \"c;d\"", "SELECT 'it''s; fine'"}},
		{"DO $$ BEGIN PERFORM 1; END $$; SELECT $1", []string{"DO $$ BEGIN PERFORM 1; END $$", "SELECT $1"}},
		{"DO $body$ x; $$ y; $body$;", []string{"DO $body$ x; $$ y; $body$"}},
		{"/* a; b */ SELECT 1;;", []string{"/* a; b */ SELECT 1"}},
	} {
		if got := splitStatements(tt.sql); !slices.Equal(got, tt.want) {
			t.Errorf("splitStatements(%q) = %q, want %q", tt.sql, got, tt.want)
		}
	}
}
