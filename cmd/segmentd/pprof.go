package main

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"time"

	"github.com/segmentd/segmentd"
)

// checkPprofAddr accepts "" (no profiler) or a host:port whose host is a
// loopback IP address or "localhost": the profiler shows the process's
// memory and command line and can make it spend CPU, so it never listens
// where another host reaches it (docs/operations.md).
func checkPprofAddr(addr string) error {
	if addr == "" {
		return nil
	}
	host, _, err := net.SplitHostPort(addr)
	if err == nil && host != "localhost" {
		if ip := net.ParseIP(host); ip == nil || !ip.IsLoopback() {
			err = fmt.Errorf("not loopback")
		}
	}
	if err != nil {
		return fmt.Errorf("--pprof must be a loopback address such as 127.0.0.1:6060 or [::1]:6060, not %s: the profiler is never served where another host reaches it", segmentd.Quote(addr))
	}
	return nil
}

// servePprof serves Go's profiler (net/http/pprof) on a listener of its
// own until ctx ends, and returns the address it listens on.
func servePprof(ctx context.Context, addr string, log *slog.Logger) (net.Addr, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("--pprof: %w", err)
	}
	// "localhost" may resolve to anything: what was bound must be loopback.
	if ta, ok := ln.Addr().(*net.TCPAddr); !ok || !ta.IP.IsLoopback() {
		ln.Close()
		return nil, fmt.Errorf("--pprof %s listens on %s, which is not loopback", segmentd.Quote(addr), ln.Addr())
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go func() {
		if err := srv.Serve(ln); err != nil && err != http.ErrServerClosed {
			log.Error("serving the profiler", "err", err)
		}
	}()
	go func() {
		<-ctx.Done()
		_ = srv.Close()
	}()
	return ln.Addr(), nil
}
