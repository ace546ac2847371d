package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"

	"github.com/segmentd/segmentd/internal/cli"
	"github.com/segmentd/segmentd/query"
)

// runMigrateV1 implements `segmentd migrate-v1`: it reads a Segments v1 SGQL
// query from its arguments (or, when there are none, from stdin) and prints
// the equivalent Segments 2.0 SQL (docs/decisions.md §10).
//
//	segmentd migrate-v1 [--parent-list-id ID] [--custom-field name=Type ...] [QUERY]
//
// Custom fields are named with their types (Text, Number, Date) because the
// checker must know them; reserved fields need nothing.
func runMigrateV1(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	_ = ctx
	fs := flag.NewFlagSet("migrate-v1", flag.ContinueOnError)
	fs.SetOutput(stderr)
	parent := fs.String("parent-list-id", "", "the v1 segment's parent_list_id")
	var fields customFieldFlags
	fs.Var(&fields, "custom-field", "a custom field the query uses, as name=Text|Number|Date (repeatable)")
	fs.Usage = func() {
		fmt.Fprintln(fs.Output(), "usage: segmentd migrate-v1 [--parent-list-id ID] [--custom-field name=Type ...] [QUERY]")
		fmt.Fprintln(fs.Output(), "Converts a Segments v1 SGQL query (from QUERY or stdin) to Segments 2.0 SQL.")
		fs.PrintDefaults()
	}
	if err := cli.ParseFlags(fs, args, stdout); err != nil {
		return err
	}
	src := strings.Join(fs.Args(), " ")
	if fs.NArg() == 0 {
		b, err := io.ReadAll(io.LimitReader(stdin, query.MaxQueryLength+1))
		if err != nil {
			return fmt.Errorf("migrate-v1: read query: %w", err)
		}
		src = string(b)
	}
	src = strings.TrimSpace(src)
	if src == "" {
		return errors.New("migrate-v1: no query given")
	}
	cat, err := query.NewCatalog(fields)
	if err != nil {
		return fmt.Errorf("migrate-v1: %w", err)
	}
	q, err := query.ParseSGQL(src)
	if err != nil {
		return fmt.Errorf("migrate-v1: %w", err)
	}
	out, err := query.ConvertV1(q, cat, *parent)
	if err != nil {
		return fmt.Errorf("migrate-v1: %w", err)
	}
	_, err = fmt.Fprintln(stdout, out.String())
	return err
}

// customFieldFlags collects --custom-field name=Type values.
type customFieldFlags []query.CustomField

func (f *customFieldFlags) String() string {
	var parts []string
	for _, c := range *f {
		parts = append(parts, c.Name+"="+c.Type.String())
	}
	return strings.Join(parts, ",")
}

func (f *customFieldFlags) Set(s string) error {
	name, typ, ok := strings.Cut(s, "=")
	if !ok || name == "" {
		return fmt.Errorf("want name=Text|Number|Date, got %q", s)
	}
	var t query.FieldType
	switch strings.ToLower(typ) {
	case "text":
		t = query.Text
	case "number":
		t = query.Number
	case "date":
		t = query.Date
	default:
		return fmt.Errorf("unknown field type %q (want Text, Number or Date)", typ)
	}
	// The id only has to be unique here: the 2.0 text names fields by name.
	*f = append(*f, query.CustomField{ID: fmt.Sprintf("f%d", len(*f)+1), Name: name, Type: t})
	return nil
}
