package cli

import (
	"bytes"
	"errors"
	"flag"
	"strings"
	"testing"
)

func TestParseFlags(t *testing.T) {
	for _, tt := range []struct {
		args               []string
		wantErr            error
		wantStdout, wantEr bool
	}{
		{args: []string{"--n", "2"}},
		{args: []string{"-h"}, wantErr: flag.ErrHelp, wantStdout: true},
		{args: []string{"--help"}, wantErr: flag.ErrHelp, wantStdout: true},
		{args: []string{"--nope"}, wantEr: true},
	} {
		var stdout, stderr bytes.Buffer
		fs := flag.NewFlagSet("x", flag.ContinueOnError)
		fs.SetOutput(&stderr)
		n := fs.Int("n", 1, "a number")
		err := ParseFlags(fs, tt.args, &stdout)
		switch {
		case tt.wantErr != nil && !errors.Is(err, tt.wantErr), tt.wantErr == nil && tt.wantEr != (err != nil):
			t.Errorf("%v: err = %v", tt.args, err)
		case tt.wantStdout != strings.Contains(stdout.String(), "a number"), tt.wantEr != strings.Contains(stderr.String(), "a number"):
			t.Errorf("%v: stdout %q, stderr %q", tt.args, &stdout, &stderr)
		case err == nil && *n != 2:
			t.Errorf("%v: n = %d", tt.args, *n)
		}
		if fs.Output() != &stderr {
			t.Errorf("%v: the flag set's output was not restored", tt.args)
		}
	}
}
