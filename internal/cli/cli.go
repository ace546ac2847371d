// Package cli holds the conventions every segmentd command line follows,
// shared by cmd/segmentd and the benchmark commands of internal/bench.
package cli

import (
	"bytes"
	"errors"
	"flag"
	"io"
)

// ParseFlags parses args into fs. Asked for with -h or --help, the usage
// goes to stdout and flag.ErrHelp is returned (the command line treats it
// as success); after a bad flag the usage goes with the error to fs's
// output, stderr.
func ParseFlags(fs *flag.FlagSet, args []string, stdout io.Writer) error {
	errOut := fs.Output()
	var buf bytes.Buffer
	fs.SetOutput(&buf)
	err := fs.Parse(args)
	fs.SetOutput(errOut)
	if errors.Is(err, flag.ErrHelp) {
		errOut = stdout
	}
	_, _ = buf.WriteTo(errOut)
	return err
}
