// Package bench holds segmentd's load generators, the `segmentd bench
// ingest`, `segmentd bench segments` and `segmentd events bench` commands.
// Each starts the segmentd binary itself (os.Executable) as a child server
// on a loopback port, drives it as a client would, and prints what it
// measured: throughput, latency, the child's peak RSS and CPU, database
// size. The child is a separate process so that its memory and CPU are
// measured alone.
//
// It is a tool, not part of the server: nothing but cmd/segmentd imports
// it. It reaches the server through its HTTP API, except that segmentd
// bench segments fills the SQLite file directly before starting the child
// (millions of events would take long through the webhook) and measures
// the engine in-process from that file.
package bench
