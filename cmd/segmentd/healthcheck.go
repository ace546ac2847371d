package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"time"

	"github.com/segmentd/segmentd"
	"github.com/segmentd/segmentd/internal/cli"
)

// runHealthcheck asks a server's GET /healthz and fails unless it answers
// 200: the container's HEALTHCHECK, whose image has no curl
// (docs/operations.md, "Containers"). It reads the address as serve does
// (--addr, SEGMENTD_ADDR); a server listening on every interface
// (0.0.0.0, ::, or no host) is asked on loopback.
func runHealthcheck(ctx context.Context, args, env []string, stdout, stderr io.Writer) error {
	var addr string
	var timeout time.Duration
	fs := flag.NewFlagSet("healthcheck", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&addr, "addr", envOr(env, "SEGMENTD_ADDR", "127.0.0.1:8080"), "the server's listen address (env SEGMENTD_ADDR)")
	fs.DurationVar(&timeout, "timeout", 3*time.Second, "how long to wait for the answer")
	if err := cli.ParseFlags(fs, args, stdout); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("healthcheck: unexpected argument %q", fs.Arg(0))
	}
	url, err := healthURL(addr)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("healthcheck: %s: %w", url, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 1024))
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("healthcheck: %s answered %d %s", url, resp.StatusCode, segmentd.Quote(string(body)))
	}
	fmt.Fprintf(stdout, "%s: %s", url, body)
	return nil
}

// healthURL is the /healthz URL of a server listening on addr.
func healthURL(addr string) (string, error) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil || port == "" || port == "0" {
		return "", errors.New("healthcheck: --addr must be the server's host:port, such as 127.0.0.1:8080, not " + segmentd.Quote(addr))
	}
	switch host {
	case "", "0.0.0.0":
		host = "127.0.0.1"
	case "::":
		host = "::1"
	}
	return "http://" + net.JoinHostPort(host, port) + "/healthz", nil
}
