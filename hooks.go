package segmentd

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"strings"
	"time"
)

// Segment webhooks (docs/webhooks.md): an account subscribes a URL to
// the entries and exits of its segments, and segmentd pushes each
// transition there, signed by the Standard Webhooks 1.0 rules.

// ScopeWebhooks lets a key manage the account's webhook subscriptions
// (segmentd's own /segmentd/v1/webhooks).
const ScopeWebhooks Scope = "segmentd.webhooks"

// The event types a subscription may ask for.
const (
	HookEntered = "segment.entered"
	HookExited  = "segment.exited"
)

// HookEventTypes are the event types, in the order messages name them.
var HookEventTypes = []string{HookEntered, HookExited}

// TransitionCause says why a contact entered or left a segment.
type TransitionCause string

const (
	// CauseContact: the contact was written, deleted, or put on or taken
	// off a list.
	CauseContact TransitionCause = "contact"
	// CauseEvent: engagement events of the contact arrived.
	CauseEvent TransitionCause = "event"
	// CauseClock: time passed a window of the segment's query, or events
	// aged out of retention.
	CauseClock TransitionCause = "clock"
	// CauseDefinition: the segment was created or its query, parent list
	// or the account's fields changed.
	CauseDefinition TransitionCause = "definition"
	// CauseBaseline marks a row of the membership history that is no
	// transition: what the receivers were told of a contact that was a
	// member, or not, since before the history (docs/history.md,
	// "Baseline rows"). It is timed at HistoryBaselineAt, so the history's
	// questions never see it, and no subscription wants it.
	CauseBaseline TransitionCause = "baseline"
)

// Transition is a contact entering or leaving a segment, as the engine
// made it.
type Transition struct {
	// Seq numbers the account's transitions in the outbox (0 before it is
	// stored): the order they happened in.
	Seq       int64
	AccountID int64
	// SegmentID is the engine's id: SendGrid's, or CCEnginePrefix and
	// Constant Contact's segment_id.
	SegmentID string
	ContactID string
	Email     string // the contact's email at that moment ("" when none)
	Entered   bool
	At        time.Time
	Cause     TransitionCause
}

// Type is the transition's event type.
func (t *Transition) Type() string {
	if t.Entered {
		return HookEntered
	}
	return HookExited
}

// HookSegment names a segment of either vendor in a subscription.
type HookSegment struct {
	Vendor string // VendorSendGrid or VendorConstantContact
	ID     string // SendGrid's id, or Constant Contact's segment_id in decimal
}

// The vendors a segment belongs to.
const (
	VendorSendGrid        = "sendgrid"
	VendorConstantContact = "constantcontact"
)

// HookSegmentOf names the segment of an engine id.
func HookSegmentOf(engineID string) HookSegment {
	if id, ok := strings.CutPrefix(engineID, CCEnginePrefix); ok {
		return HookSegment{Vendor: VendorConstantContact, ID: id}
	}
	return HookSegment{Vendor: VendorSendGrid, ID: engineID}
}

// EngineID is the segment's id in the membership engine.
func (h HookSegment) EngineID() string {
	if h.Vendor == VendorConstantContact {
		return CCEnginePrefix + h.ID
	}
	return h.ID
}

// Subscription states.
const (
	HookActive  = "active"
	HookFailing = "failing"
)

// Subscription is an account's webhook: where its transitions go and
// which.
type Subscription struct {
	ID          string
	AccountID   int64
	URL         string
	Description string
	Segments    []HookSegment // none: every segment
	EventTypes  []string      // a subset of HookEventTypes
	// Secret signs the messages: "whsec_" and base64 of its key. Stored
	// as is, since every message needs it.
	Secret string
	// OldSecret is the secret a rotation replaced, kept while its grace
	// lasts (until OldSecretUntil): every message is signed with both,
	// the new secret first (docs/webhooks.md, "Rotating the secret").
	// Empty when there is none.
	OldSecret      string
	OldSecretUntil time.Time
	CreatedAt      time.Time
	UpdatedAt      time.Time
	HookState
}

// HookState is where a subscription's delivery stands; the dispatcher
// writes it (HookStore.SetHookState).
type HookState struct {
	Status        string // HookActive or HookFailing
	FailingReason string // why it is failing
	// Cursor is the number of the last transition delivered; Inflight the
	// last one of the message being tried (0: none), which a retry sends
	// again as it was.
	Cursor, Inflight int64
	Attempts         int       // failed attempts of the message in flight
	FirstFailure     time.Time // of the current run of failures; zero when none
	NextAttempt      time.Time // zero: at once
}

// Wants reports whether the subscription takes a transition.
func (s *Subscription) Wants(t *Transition) bool {
	if s.Status != HookActive || t.Cause == CauseBaseline {
		return false
	}
	typ := t.Type()
	ok := false
	for _, e := range s.EventTypes {
		ok = ok || e == typ
	}
	if !ok {
		return false
	}
	if len(s.Segments) == 0 {
		return true
	}
	for _, seg := range s.Segments {
		if seg.EngineID() == t.SegmentID {
			return true
		}
	}
	return false
}

// Delivery is one attempt to deliver a message.
type Delivery struct {
	Seq            int64 // numbers the subscription's attempts; the log's cursor
	SubscriptionID string
	MessageID      string
	At             time.Time
	Transitions    int
	StatusCode     int // 0 when no answer came
	Latency        time.Duration
	Error          string
}

// Limits of webhook subscriptions.
const (
	MaxSubscriptions          = 20   // per account
	MaxSubscriptionSegs       = 100  // segments named by one subscription
	MaxHookURL                = 2048 // bytes
	MaxHookDescription        = 200  // characters
	MaxHookDeliveriesKept     = 1000 // attempts kept per subscription
	MaxHookDeliveriesPage     = 100
	DefaultHookDeliveriesPage = 20
)

// How long a rotated secret still signs: the default when the rotation
// names none, and the most it may name.
const (
	DefaultHookSecretGrace = 24 * time.Hour
	MaxHookSecretGrace     = 7 * 24 * time.Hour
)

// OldSecretAt returns the replaced secret that still signs messages at t,
// or "" when there is none or its grace is over.
func (s *Subscription) OldSecretAt(t time.Time) string {
	if s.OldSecret == "" || !t.Before(s.OldSecretUntil) {
		return ""
	}
	return s.OldSecret
}

// NewHookSecret returns a fresh signing secret: "whsec_" and the base64
// of 32 random bytes (Standard Webhooks).
func NewHookSecret() string {
	var b [32]byte
	_, _ = rand.Read(b[:])
	return "whsec_" + base64.StdEncoding.EncodeToString(b[:])
}

// HookStore keeps webhook subscriptions, the outbox of transitions they
// deliver and their delivery logs. Both stores implement it; everything
// is scoped to one account.
type HookStore interface {
	// CreateSubscription stores a new subscription, whose cursor starts
	// at the account's last transition number. More than max
	// subscriptions in the account is KindInvalid.
	CreateSubscription(ctx context.Context, s Subscription, max int) (Subscription, error)
	// Subscriptions returns the account's subscriptions, oldest first
	// (acct 0: every account's).
	Subscriptions(ctx context.Context, acct int64) ([]Subscription, error)
	Subscription(ctx context.Context, acct int64, id string) (Subscription, error)
	// UpdateSubscription replaces what its owner sets (URL, description,
	// segments, event types, secret and old secret, UpdatedAt) and leaves
	// HookState.
	UpdateSubscription(ctx context.Context, s Subscription) (Subscription, error)
	// SetHookState replaces a subscription's delivery state. With restart
	// the cursor is set to the account's last transition number instead
	// of st.Cursor (a failing subscription made active again takes the
	// transitions from then on). The cursor never moves back: one below
	// the stored cursor leaves it as it is. Without restart (the
	// dispatcher's writes), a store shared by several servers returns
	// ErrDeliveryFenced, storing nothing, when another server took the
	// delivery lock over since this one took it, as AppendTransitions.
	SetHookState(ctx context.Context, acct int64, id string, st HookState, restart bool) error
	DeleteSubscription(ctx context.Context, acct int64, id string) error

	// AppendTransitions numbers transitions of one account after its last
	// (Transition.Seq is set) and stores them, all or none: in the outbox
	// those whose deliver is true (deliver nil: every one), and with
	// history every one in the membership history (HistoryStore).
	// A store shared by several servers returns ErrDeliveryFenced,
	// storing nothing, when another server took the delivery lock over
	// since this one took it (DeliveryLock).
	AppendTransitions(ctx context.Context, acct int64, ts []Transition, deliver []bool, history bool) error
	// Transitions returns up to limit of the account's stored transitions
	// numbered after after and at most through (0: no bound), in order.
	Transitions(ctx context.Context, acct int64, after, through int64, limit int) ([]Transition, error)
	// ForgetTransitions deletes the account's transitions up to through.
	ForgetTransitions(ctx context.Context, acct int64, through int64) error

	// AddDelivery records an attempt (Delivery.Seq is assigned) and keeps
	// only the subscription's last keep.
	AddDelivery(ctx context.Context, acct int64, d Delivery, keep int) (Delivery, error)
	// Deliveries returns up to limit attempts of a subscription numbered
	// below before (0: from the newest), newest first.
	Deliveries(ctx context.Context, acct int64, subID string, before int64, limit int) ([]Delivery, error)
}

// Outbox takes the engine's transitions for delivery (the hooks
// package's dispatcher).
type Outbox interface {
	// Record takes transitions of one account, in the order they were
	// made. The engine calls it under the account's lock: it must not
	// block.
	Record(acct int64, ts []Transition)
	// Flush returns when every transition recorded before the call is
	// stored.
	Flush(ctx context.Context) error
	// Changed says that an account's subscriptions changed.
	Changed(acct int64)
	// Wants reports whether the account has a subscription: the engine
	// notes no transition of an account without one. The engine calls it
	// under the account's lock: it must not block.
	Wants(acct int64) bool
}

// DeliveryLock elects, among the servers sharing one store, the one that
// delivers webhooks and keeps the membership history (docs/webhooks.md,
// "Several servers on one PostgreSQL database"). The PostgreSQL store
// implements it with an advisory lock held by a session of its own; a
// store only one server opens needs none.
type DeliveryLock interface {
	// TryLockDelivery takes the lock unless another server holds it (ok
	// false). While it is held, lost is closed when it is lost (the
	// session died); release gives it up.
	TryLockDelivery(ctx context.Context) (ok bool, lost <-chan struct{}, release func(), err error)
}

// ErrDeliveryFenced is what HookStore.AppendTransitions (and the
// dispatcher's HookStore.SetHookState) answers, having
// stored nothing, on a server whose delivery lock another server has
// taken over since this one took it (docs/webhooks.md, "The fence"): the
// lock is lost, and its lost channel is closed.
var ErrDeliveryFenced = errors.New("another server took the webhook delivery lock over; nothing was stored")
