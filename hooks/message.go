package hooks

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/segmentd/segmentd"
)

// Messages by the Standard Webhooks 1.0 rules (docs/webhooks.md, "The
// message").

// MessageType is the type of every message of transitions, and TestType
// that of a test message.
const (
	MessageType = "segment.transitions"
	TestType    = "webhook.test"
)

// Message is a message's body.
type Message struct {
	Type      string           `json:"type"`
	Timestamp string           `json:"timestamp"`
	Data      []TransitionJSON `json:"data"`
}

// TransitionJSON is one transition in a message.
type TransitionJSON struct {
	ID        string      `json:"id"`
	Type      string      `json:"type"`
	Timestamp string      `json:"timestamp"`
	AccountID int64       `json:"account_id"`
	Segment   SegmentJSON `json:"segment"`
	Contact   ContactJSON `json:"contact"`
	Cause     string      `json:"cause"`
}

// SegmentJSON names a segment and its vendor.
type SegmentJSON struct {
	Vendor string `json:"vendor"`
	ID     string `json:"id"`
}

// ContactJSON names a contact.
type ContactJSON struct {
	ID    string `json:"id"`
	Email string `json:"email"`
}

// TransitionID is a transition's stable id, the same in every message to
// every subscription: receivers de-duplicate on it.
func TransitionID(acct, seq int64) string {
	return "tr_" + strconv.FormatInt(acct, 10) + "_" + strconv.FormatInt(seq, 10)
}

// MessageID is the webhook-id of the message whose first transition is
// seq: the same on every retry.
func MessageID(subID string, seq int64) string {
	return "msg_" + subID + "_" + strconv.FormatInt(seq, 10)
}

func jsonTime(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05.000Z07:00") }

func transitionJSON(t *segmentd.Transition) TransitionJSON {
	seg := segmentd.HookSegmentOf(t.SegmentID)
	return TransitionJSON{
		ID: TransitionID(t.AccountID, t.Seq), Type: t.Type(), Timestamp: jsonTime(t.At), AccountID: t.AccountID,
		Segment: SegmentJSON(seg), Contact: ContactJSON{ID: t.ContactID, Email: t.Email}, Cause: string(t.Cause),
	}
}

// Sign returns the webhook-signature header of a message: "v1," and the
// base64 HMAC-SHA256 of "id.timestamp.body" keyed with the secret's bytes
// (the base64 after "whsec_").
func Sign(secret, id string, timestamp int64, body []byte) (string, error) {
	key, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(secret, "whsec_"))
	if err != nil {
		return "", fmt.Errorf("hooks: the secret is not whsec_ and base64: %w", err)
	}
	mac := hmac.New(sha256.New, key)
	fmt.Fprintf(mac, "%s.%d.", id, timestamp)
	mac.Write(body)
	return "v1," + base64.StdEncoding.EncodeToString(mac.Sum(nil)), nil
}

// Verify checks a message as a receiver does: one of the header's
// space-separated signatures must be the secret's, and the timestamp
// within tolerance of now. It is what the documentation's receiver
// example does, and what the tests check deliveries with.
func Verify(secret string, header map[string][]string, body []byte, now time.Time, tolerance time.Duration) error {
	get := func(k string) string {
		if v := header[k]; len(v) > 0 {
			return v[0]
		}
		return ""
	}
	id, ts, sigs := get("Webhook-Id"), get("Webhook-Timestamp"), get("Webhook-Signature")
	if id == "" || ts == "" || sigs == "" {
		return fmt.Errorf("hooks: missing webhook-id, webhook-timestamp or webhook-signature")
	}
	sec, err := strconv.ParseInt(ts, 10, 64)
	if err != nil {
		return fmt.Errorf("hooks: webhook-timestamp %q is not a number", ts)
	}
	if d := now.Sub(time.Unix(sec, 0)); d > tolerance || d < -tolerance {
		return fmt.Errorf("hooks: webhook-timestamp is %v away from now", d)
	}
	want, err := Sign(secret, id, sec, body)
	if err != nil {
		return err
	}
	for _, s := range strings.Fields(sigs) {
		if hmac.Equal([]byte(s), []byte(want)) {
			return nil
		}
	}
	return fmt.Errorf("hooks: no signature matches")
}

// encode renders a message body.
func encode(m Message) []byte {
	b, err := json.Marshal(m)
	if err != nil {
		panic(err) // only strings and numbers
	}
	return b
}
