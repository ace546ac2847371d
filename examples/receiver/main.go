// Command receiver is an example of a program that receives segmentd's
// segment webhooks (docs/webhooks.md): it checks each message's Standard
// Webhooks signature against the subscription's secret, refuses a message
// whose timestamp is more than five minutes away, de-duplicates
// transitions by their ids, and prints each new one.
//
// It uses the standard library only, so it can be copied into a project
// that does not import segmentd:
//
//	SEGMENTD_WEBHOOK_SECRET=whsec_… go run ./examples/receiver -addr 127.0.0.1:9090
package main

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"
)

// tolerance is how far a message's webhook-timestamp may be from now: a
// captured message replayed later is refused.
const tolerance = 5 * time.Minute

// maxBody bounds what is read of a request: segmentd's messages stay under
// 256 KiB.
const maxBody = 1 << 20

// transition is the part of a message's data this receiver uses.
type transition struct {
	ID        string `json:"id"`
	Type      string `json:"type"` // segment.entered or segment.exited
	Timestamp string `json:"timestamp"`
	Segment   struct {
		Vendor string `json:"vendor"`
		ID     string `json:"id"`
	} `json:"segment"`
	Contact struct {
		ID    string `json:"id"`
		Email string `json:"email"`
	} `json:"contact"`
	Cause string `json:"cause"`
}

// receiver verifies messages and hands each transition it has not seen to
// handle, in the order of the message.
type receiver struct {
	secrets [][]byte // the keys: during a rotation, the new secret's and the old one's
	now     func() time.Time
	handle  func(transition)

	mu   sync.Mutex
	seen map[string]bool // a real receiver keeps this in its database
}

func newReceiver(secrets []string, handle func(transition)) (*receiver, error) {
	r := &receiver{now: time.Now, handle: handle, seen: map[string]bool{}}
	for _, s := range secrets {
		key, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(s, "whsec_"))
		if err != nil || !strings.HasPrefix(s, "whsec_") {
			return nil, errors.New("a secret is whsec_ followed by base64")
		}
		r.secrets = append(r.secrets, key)
	}
	if len(r.secrets) == 0 {
		return nil, errors.New("no secret")
	}
	return r, nil
}

// verify checks the three Standard Webhooks headers: the signature is
// "v1," and the base64 HMAC-SHA256 of "<id>.<timestamp>.<body>", keyed
// with the secret's bytes; the header may hold several, space-separated.
func (r *receiver) verify(h http.Header, body []byte) error {
	id, ts, sigs := h.Get("webhook-id"), h.Get("webhook-timestamp"), h.Get("webhook-signature")
	if id == "" || ts == "" || sigs == "" {
		return errors.New("missing webhook-id, webhook-timestamp or webhook-signature")
	}
	sec, err := strconv.ParseInt(ts, 10, 64)
	if err != nil {
		return errors.New("webhook-timestamp is not a number")
	}
	if d := r.now().Sub(time.Unix(sec, 0)); d > tolerance || d < -tolerance {
		return fmt.Errorf("webhook-timestamp is %v away from now", d.Round(time.Second))
	}
	for _, key := range r.secrets {
		mac := hmac.New(sha256.New, key)
		fmt.Fprintf(mac, "%s.%d.", id, sec)
		mac.Write(body)
		want := "v1," + base64.StdEncoding.EncodeToString(mac.Sum(nil))
		for _, s := range strings.Fields(sigs) {
			if hmac.Equal([]byte(s), []byte(want)) {
				return nil
			}
		}
	}
	return errors.New("no signature matches")
}

func (r *receiver) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	body, err := io.ReadAll(http.MaxBytesReader(w, req.Body, maxBody))
	if err != nil {
		http.Error(w, "body too large", http.StatusRequestEntityTooLarge)
		return
	}
	if err := r.verify(req.Header, body); err != nil {
		http.Error(w, err.Error(), http.StatusUnauthorized)
		return
	}
	var m struct {
		Type string       `json:"type"`
		Data []transition `json:"data"`
	}
	if err := json.Unmarshal(body, &m); err != nil {
		http.Error(w, "not a message", http.StatusBadRequest)
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, t := range m.Data {
		// A retry sends the same message again, and a replay the same
		// transitions: the id says it was handled.
		if r.seen[t.ID] {
			continue
		}
		r.seen[t.ID] = true
		r.handle(t)
	}
	w.WriteHeader(http.StatusNoContent) // any 2xx; anything else is retried
}

func main() {
	addr := flag.String("addr", "127.0.0.1:9090", "the address to listen on")
	flag.Parse()
	secrets := strings.Fields(os.Getenv("SEGMENTD_WEBHOOK_SECRET")) // several while rotating
	r, err := newReceiver(secrets, func(t transition) {
		fmt.Printf("%s %s %s/%s %s %s (%s)\n", t.Timestamp, t.Type, t.Segment.Vendor, t.Segment.ID, t.Contact.ID, t.Contact.Email, t.Cause)
	})
	if err != nil {
		log.Fatalf("receiver: SEGMENTD_WEBHOOK_SECRET: %v", err)
	}
	log.Printf("receiver: listening on %s", *addr)
	log.Fatal(http.ListenAndServe(*addr, r))
}
