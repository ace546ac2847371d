package segmentd

import (
	"context"
	"strings"
	"time"
)

// Membership history (docs/history.md): every entry and exit the engine
// makes is kept, for every account, for a bounded time, so that a user
// can ask how a segment's size moved, what entered and left it in a
// range, whether a contact was in it at a past time, and who its
// members were then.

// ScopeHistory lets a key read the account's membership history
// (segmentd's own /segmentd/v1/segments/…/history).
const ScopeHistory Scope = "segmentd.history"

// DefaultHistoryRetention is how long the history keeps a transition
// unless configured otherwise (--history-retention).
const DefaultHistoryRetention = 90 * 24 * time.Hour

// Limits of the history API.
const (
	MaxHistoryPoints     = 1000 // points of one size series
	MaxHistoryPage       = 1000 // transitions or members of one page
	DefaultHistoryPage   = 100
	MaxHistoryPruneBatch = 10000 // rows one prune statement deletes
	HistoryIntervalHour  = "hour"
	HistoryIntervalDay   = "day"
)

// HistoryCount is the number of entries and exits of a segment whose
// times fall in one interval of a series: (start+Bucket*step,
// start+(Bucket+1)*step].
type HistoryCount struct {
	Bucket          int64
	Entered, Exited int
}

// HistoryCursor is where a page of a segment's transitions stopped: the
// last one's time and number.
type HistoryCursor struct {
	At  time.Time
	Seq int64
}

// HistoryStore keeps the membership history. Both stores implement it;
// the transitions are written by HookStore.AppendTransitions (the
// dispatcher's writer), so that a transition has one number in the
// history and in the outbox. Segment ids are the engine's (cc:<id> for
// Constant Contact's). A time "after t" is strictly after.
type HistoryStore interface {
	// HistoryCounts counts a segment's entries and exits after after, by
	// intervals of step: transitions at after+step*(k, k+1] count in
	// bucket k. Buckets without any are left out; the rest come in order.
	HistoryCounts(ctx context.Context, acct int64, segmentID string, after time.Time, step time.Duration) ([]HistoryCount, error)
	// HistoryTransitions returns up to limit of a segment's transitions
	// timed in [from, to) and ordered by time then number, after the
	// cursor (zero: from the first).
	HistoryTransitions(ctx context.Context, acct int64, segmentID string, from, to time.Time, after HistoryCursor, limit int) ([]Transition, error)
	// HistoryNextOf returns the first transition of a contact in a segment
	// timed after t (ok false when none is kept).
	HistoryNextOf(ctx context.Context, acct int64, segmentID, contactID string, t time.Time) (tr Transition, ok bool, err error)
	// HistoryFirstAfter returns, for every contact with a transition in a
	// segment timed after t, the first such transition, ordered by
	// contact id.
	HistoryFirstAfter(ctx context.Context, acct int64, segmentID string, t time.Time) ([]Transition, error)
	// PruneHistory deletes up to limit transitions of every account timed
	// before before, and says how many it deleted. It keeps a segment and
	// contact's last transition when that is an entry, however old, so
	// that the last kept transition of every pair says whether the
	// receivers were last told it is a member (an exit, or none, says it
	// is not).
	PruneHistory(ctx context.Context, before time.Time, limit int) (int, error)
	// HistoryLastEntries returns, for every contact whose last transition
	// (by number) in a segment is an entry, that transition: the members
	// the history says the receivers were last told of.
	HistoryLastEntries(ctx context.Context, acct int64, segmentID string) ([]Transition, error)
	// HistoryGap says whether the account's history may lack transitions
	// the engine made (docs/webhooks.md, "A start without a marked
	// snapshot"): true for an account that existed before the record was
	// kept, and after MarkHistoryGap.
	HistoryGap(ctx context.Context, acct int64) (bool, error)
	// HistoryMark returns the number of the account's last stored
	// transition (0: none yet).
	HistoryMark(ctx context.Context, acct int64) (int64, error)
	// HistoryAfter returns the account's transitions numbered after after,
	// of every segment, in number order (the reconciliation at start:
	// docs/webhooks.md, "Durability").
	HistoryAfter(ctx context.Context, acct int64, after int64) ([]Transition, error)
	HookReplayStore
}

// HistoryGapMarker records that an account's history may lack
// transitions: a start that could not make good what was not stored, or a
// server that stores no history (--history-retention=0). Both stores
// implement it; a store's history then says nothing more about what the
// receivers were told of the account's segments.
type HistoryGapMarker interface {
	MarkHistoryGap(ctx context.Context, acct int64) error
	// ClearHistoryGap records that the account's history is again the
	// record of what the receivers were told: called once its baseline
	// rows are stored (docs/webhooks.md, "The baseline").
	ClearHistoryGap(ctx context.Context, acct int64) error
}

// historyCauses numbers the causes as the stores keep them.
var historyCauses = []TransitionCause{"", CauseContact, CauseEvent, CauseClock, CauseDefinition, CauseBaseline}

// HistoryBaselineAt is the time of every baseline row (CauseBaseline):
// the Unix epoch, before any time the history's questions take, so that
// "member since before the history" answers as the engine does now.
var HistoryBaselineAt = time.UnixMilli(0).UTC()

// HistoryKind packs whether a transition entered and its cause into the
// small number the stores keep: 1 for an entry, plus the cause times 2.
func HistoryKind(t *Transition) int {
	k := 0
	for i, c := range historyCauses {
		if c == t.Cause {
			k = i * 2
		}
	}
	if t.Entered {
		k++
	}
	return k
}

// SetHistoryKind unpacks HistoryKind into t.
func SetHistoryKind(t *Transition, k int) {
	t.Entered = k&1 == 1
	t.Cause = ""
	if c := k / 2; c > 0 && c < len(historyCauses) {
		t.Cause = historyCauses[c]
	}
}

// HookReplay is a subscription's replay of the transitions timed in
// [From, To): the history's transitions sent again with their original
// ids, segment by segment, each in time order.
type HookReplay struct {
	SubscriptionID string
	From, To       time.Time
	// Segments are the engine ids left to replay, the first in progress;
	// After is where in it the last message delivered stopped.
	Segments []string
	After    HistoryCursor
}

// HookReplayStore keeps the replays under way, one per subscription at
// most. Deleting a subscription or resetting its account deletes its
// replay.
type HookReplayStore interface {
	// HistorySegments returns the engine ids of the account's segments
	// the history has transitions of, ordered.
	HistorySegments(ctx context.Context, acct int64) ([]string, error)
	// PutHookReplay stores a replay, replacing the subscription's.
	PutHookReplay(ctx context.Context, acct int64, r HookReplay) error
	// HookReplay returns the subscription's replay (ok false: none).
	HookReplay(ctx context.Context, acct int64, subID string) (r HookReplay, ok bool, err error)
	DeleteHookReplay(ctx context.Context, acct int64, subID string) error
}

// HistoryContactKey is how the stores keep a contact id in the history:
// the 16 bytes of a UUID in its canonical lower-case form (what segmentd
// makes), and any other id as a zero byte and its text (two zero bytes
// when that would make 16), so that a key of 16 bytes is always a UUID.
// HistoryContactID reads it back.
func HistoryContactKey(id string) []byte {
	if b, ok := uuidBytes(id); ok {
		return b[:]
	}
	prefix := "\x00"
	if len(id)+1 == 16 {
		prefix = "\x00\x00"
	}
	return []byte(prefix + id)
}

// HistoryContactID is the contact id HistoryContactKey kept as key.
func HistoryContactID(key []byte) string {
	if len(key) != 16 {
		return strings.TrimLeft(string(key), "\x00")
	}
	const hexdigits = "0123456789abcdef"
	out := make([]byte, 0, 36)
	for i, c := range key {
		if i == 4 || i == 6 || i == 8 || i == 10 {
			out = append(out, '-')
		}
		out = append(out, hexdigits[c>>4], hexdigits[c&15])
	}
	return string(out)
}

// uuidBytes parses a UUID in its canonical lower-case form.
func uuidBytes(id string) (b [16]byte, ok bool) {
	if len(id) != 36 || id[8] != '-' || id[13] != '-' || id[18] != '-' || id[23] != '-' {
		return b, false
	}
	n := 0
	for i := 0; i < 36; i++ {
		if i == 8 || i == 13 || i == 18 || i == 23 {
			continue
		}
		c := id[i]
		var v byte
		switch {
		case c >= '0' && c <= '9':
			v = c - '0'
		case c >= 'a' && c <= 'f':
			v = c - 'a' + 10
		default:
			return b, false
		}
		b[n/2] |= v << (4 * (1 - n%2))
		n++
	}
	return b, true
}
