package bench

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"slices"
	"time"

	"github.com/segmentd/segmentd/internal/cli"
)

// Servers implements "segmentd bench servers": two child servers over one
// PostgreSQL database, as behind a load balancer. Each write is an Event
// Webhook batch posted to server A, answered once A's engine holds it; the
// bench then times how long server B takes to count it (its follower
// woken by the database's notification), and prints p50, p99 and the
// worst.
func Servers(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("bench servers", flag.ContinueOnError)
	fs.SetOutput(stderr)
	databaseURL := fs.String("database-url", "", "the PostgreSQL database both servers share (postgres://…; required)")
	writes := fs.Int("writes", 300, "writes posted to A and awaited on B")
	if err := cli.ParseFlags(fs, args, stdout); err != nil {
		return err
	}
	if *databaseURL == "" || *writes < 1 {
		return errors.New("usage: segmentd bench servers --database-url postgres://… [--writes N]")
	}
	loc := storeLoc{url: *databaseURL}
	var children [2]*benchServer
	for i := range children {
		dir, err := os.MkdirTemp("", "segmentd-bench-server-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(dir)
		if children[i], err = startBenchServer(ctx, dir, io.Discard, loc.args()...); err != nil {
			return err
		}
		defer children[i].stop()
	}
	a, b := children[0].client(), children[1].client()
	// Each server installed its own bootstrap key in the shared database:
	// A's works on B too.
	b.key = children[0].key

	tag := time.Now().UnixNano()
	var body []byte
	body = fmt.Appendf(body, `{"contacts":[`)
	for i := range *writes {
		if i > 0 {
			body = append(body, ',')
		}
		body = fmt.Appendf(body, `{"email":"fresh%d-%d@example.com"}`, tag, i)
	}
	body = append(body, "]}"...)
	job, err := a.upsert(body)
	if err != nil {
		return err
	}
	if err := a.waitJob(ctx, job); err != nil {
		return err
	}
	var seg struct {
		ID string `json:"id"`
	}
	q, _ := json.Marshal(map[string]string{"name": fmt.Sprint("opened ", tag), "query_dsl": fmt.Sprintf(
		"SELECT c.contact_id, c.updated_at FROM contact_data c JOIN event_data e ON c.contact_id = e.contact_id WHERE e.event_type = 'open' AND c.email LIKE 'fresh%d-%%'", tag)})
	if err := a.do("POST", "/v3/marketing/segments/2.0", q, 201, &seg); err != nil {
		return err
	}
	defer func() { _ = a.do("DELETE", "/v3/marketing/segments/2.0/"+seg.ID, nil, 202, nil) }()

	count := func(c *benchClient) (int, error) {
		var v struct {
			ContactsCount int `json:"contacts_count"`
		}
		err := c.do("GET", "/v3/marketing/segments/2.0/"+seg.ID+"?contacts_sample=false", nil, 200, &v)
		return v.ContactsCount, err
	}
	fmt.Fprintf(stdout, "segmentd bench servers: %d writes to server A, each awaited on server B (one database)\n", *writes)
	lat := make([]time.Duration, 0, *writes)
	for i := range *writes {
		ev := fmt.Appendf(nil, `[{"email":"fresh%d-%d@example.com","event":"open","timestamp":%d,"sg_event_id":"fresh-%d-%d"}]`, tag, i, time.Now().Unix(), tag, i)
		if err := a.do("POST", "/webhooks/sendgrid/events", ev, 200, nil); err != nil {
			return err
		}
		acked := time.Now()
		for {
			n, err := count(b)
			if err != nil {
				return err
			}
			if n > i {
				break
			}
			if time.Since(acked) > time.Minute {
				return fmt.Errorf("bench servers: write %d not visible on B within a minute", i)
			}
		}
		lat = append(lat, time.Since(acked))
	}
	slices.Sort(lat)
	pct := func(p float64) time.Duration { return lat[min(len(lat)-1, int(p*float64(len(lat))))] }
	fmt.Fprintf(stdout, "write on A visible on B: p50 %.1f ms, p99 %.1f ms, max %.1f ms\n", ms(pct(0.50)), ms(pct(0.99)), ms(lat[len(lat)-1]))
	return nil
}
