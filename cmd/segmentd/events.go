package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/segmentd/segmentd"
	"github.com/segmentd/segmentd/audience"
	"github.com/segmentd/segmentd/internal/bench"
	"github.com/segmentd/segmentd/internal/cli"
	"github.com/segmentd/segmentd/postgres"
	"github.com/segmentd/segmentd/webhook"
)

// runEventsPack is `segmentd events pack --database-url URL`: it packs
// the PostgreSQL store's event rows stored before its packed blocks
// (postgres.Store.PackEventRows), in the foreground, printing how far it
// got; a server started on the database does the same in the background.
// Servers may run meanwhile: the packing takes each account's lock for a
// few blocks at a time, and one process packs at a time.
func runEventsPack(ctx context.Context, args, env []string, stdout, stderr io.Writer) error {
	var cfg config
	fs := flag.NewFlagSet("events pack", flag.ContinueOnError)
	fs.SetOutput(stderr)
	storeFlags(fs, &cfg, env)
	if err := cli.ParseFlags(fs, args, stdout); err != nil {
		return err
	}
	if fs.NArg() > 0 || !isPostgres(cfg.databaseURL) {
		return errors.New("usage: segmentd events pack --database-url postgres://… (the SQLite store packs its event rows when it opens)")
	}
	st, err := openStore(ctx, cfg, stderr)
	if err != nil {
		return err
	}
	defer st.Close()
	start, shown := time.Now(), time.Now()
	waiting := false
	n, err := st.shared.PackEventRows(ctx, func(p postgres.PackProgress) {
		switch {
		case p.Waiting && !waiting:
			waiting = true
			fmt.Fprintln(stdout, "another process packs the event rows; waiting for it")
		case !p.Waiting && time.Since(shown) >= time.Second:
			shown = time.Now()
			fmt.Fprintf(stdout, "%d events packed (account %d)\n", p.Packed, p.Account)
		}
	})
	if err != nil {
		return fmt.Errorf("packing the event rows of %s (%d events packed; run it again to go on): %w", st.where, n, err)
	}
	fmt.Fprintf(stdout, "%d events packed in %.1f s; no event row with a contact is left to pack in %s\n", n, time.Since(start).Seconds(), st.where)
	return nil
}

// runEvents is `segmentd events load`: NDJSON events, one Event Webhook
// event per line, stored through the Service in batches. It writes to the
// store only, where a running server's engine would never see them, so it
// holds the data directory as a server does (lock.go) and refuses one a
// server holds: load before serving, or post to the webhook instead.
func runEvents(ctx context.Context, args, env []string, stdin io.Reader, stdout, stderr io.Writer) error {
	const use = "usage: segmentd events load [FILE|-] [--account NAME] [--batch N] [--data DIR] [--database-url URL]\n" +
		"       segmentd events bench [--events N] [--batch N] [--parallel N] [--contacts N] [--segments N] [--data DIR] [--database-url URL]\n" +
		"       segmentd events pack --database-url URL"
	if len(args) > 0 && isHelp(args[0]) {
		fmt.Fprintln(stdout, use)
		return nil
	}
	if len(args) > 0 && args[0] == "bench" {
		return bench.Events(ctx, args[1:], stdout, stderr)
	}
	if len(args) > 0 && args[0] == "pack" {
		return runEventsPack(ctx, args[1:], env, stdout, stderr)
	}
	if len(args) == 0 || args[0] != "load" {
		return errors.New(use)
	}
	var cfg config
	var account string
	var batch int
	fs := flag.NewFlagSet("events load", flag.ContinueOnError)
	fs.SetOutput(stderr)
	storeFlags(fs, &cfg, env)
	fs.StringVar(&account, "account", segmentd.DefaultAccountName, "account the events belong to")
	fs.IntVar(&batch, "batch", 1000, fmt.Sprintf("events per store transaction (at most %d)", segmentd.MaxAddEvents))
	file, rest := "-", args[1:]
	if len(rest) > 0 && !strings.HasPrefix(rest[0], "-") {
		file, rest = rest[0], rest[1:]
	}
	if err := cli.ParseFlags(fs, rest, stdout); err != nil {
		return err
	}
	if fs.NArg() == 1 && file == "-" {
		file = fs.Arg(0)
	} else if fs.NArg() > 0 {
		return errors.New(use)
	}
	if batch < 1 || batch > segmentd.MaxAddEvents {
		return fmt.Errorf("--batch must be between 1 and %d", segmentd.MaxAddEvents)
	}
	in := stdin
	if file != "-" {
		f, err := os.Open(file)
		if err != nil {
			return err
		}
		defer f.Close()
		in = f
	}
	// On SQLite, the loader holds the data directory as a server does; a
	// PostgreSQL database takes writers side by side, and the servers
	// following it learn the events from its history.
	if !isPostgres(cfg.databaseURL) {
		lock, err := holdData(cfg, "segmentd events load", "stop it first, or post the events to its Event Webhook (POST /webhooks/sendgrid/events)")
		if err != nil {
			return err
		}
		defer lock.release()
	}
	return withService(ctx, cfg, stderr, func(svc *audience.Service) error {
		acct, err := svc.AccountByName(ctx, account)
		if err != nil {
			return err
		}
		start := time.Now()
		var total segmentd.EventsResult
		var lines, rejected int
		evs := make([]segmentd.Event, 0, batch)
		flush := func() error {
			if len(evs) == 0 {
				return nil
			}
			res, err := svc.AddEvents(ctx, acct.ID, evs)
			if err != nil {
				return err
			}
			total.Added += res.Added
			total.Duplicates += res.Duplicates
			total.Unmatched += res.Unmatched
			evs = evs[:0]
			return nil
		}
		sc := bufio.NewScanner(in)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			lines++
			line := bytes.TrimSpace(sc.Bytes())
			if len(line) == 0 {
				continue
			}
			ev, err := webhook.Event(line)
			if err != nil {
				rejected++
				if rejected <= 10 {
					fmt.Fprintf(stderr, "line %d: %v\n", lines, err)
				}
				continue
			}
			if evs = append(evs, ev); len(evs) == batch {
				if err := flush(); err != nil {
					return err
				}
			}
		}
		if err := sc.Err(); err != nil {
			return fmt.Errorf("line %d: %w", lines+1, err)
		}
		if err := flush(); err != nil {
			return err
		}
		el := time.Since(start)
		n := total.Added + total.Duplicates
		fmt.Fprintf(stdout, "loaded %d events into %q: stored %d, duplicates %d, unmatched %d, rejected %d in %v (%.0f events/s)\n",
			n, account, total.Added, total.Duplicates, total.Unmatched, rejected, el.Round(time.Millisecond), float64(n)/el.Seconds())
		return nil
	})
}

// runSetWebhookKey is `segmentd accounts set-webhook-key NAME --key KEY`.
func runSetWebhookKey(ctx context.Context, args, env []string, stdout, stderr io.Writer) error {
	const use = "usage: segmentd accounts set-webhook-key NAME --key BASE64 (--key \"\" removes it)"
	var cfg config
	var key string
	fs := flag.NewFlagSet("accounts set-webhook-key", flag.ContinueOnError)
	fs.SetOutput(stderr)
	storeFlags(fs, &cfg, env)
	fs.StringVar(&key, "key", "", "the verification key SendGrid shows for the signed Event Webhook (base64 DER or PEM)")
	name, err := parseNamed(fs, args, stdout)
	if err != nil {
		return err
	}
	keySet := false
	fs.Visit(func(f *flag.Flag) { keySet = keySet || f.Name == "key" })
	if name == "" || !keySet {
		return errors.New(use)
	}
	return withService(ctx, cfg, stderr, func(svc *audience.Service) error {
		if err := svc.SetWebhookKey(ctx, name, key); err != nil {
			return err
		}
		if key == "" {
			fmt.Fprintf(stdout, "removed the webhook verification key of %q: its webhook requests are not verified\n", name)
		} else {
			fmt.Fprintf(stdout, "set the webhook verification key of %q: its webhook requests must be signed\n", name)
		}
		return nil
	})
}
