package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/segmentd/segmentd"
)

// Segment webhooks (segmentd.HookStore, docs/webhooks.md): subscriptions,
// the outbox of transitions and the delivery logs. Every statement names
// its account, so Citus routes it to one node.

var _ segmentd.HookStore = (*Store)(nil)

// hookCounter names the account_counters row that numbers the account's
// transitions.
const hookCounter = "webhook_transition"

const subscriptionColumns = `account_id, id, url, description, segments, event_types, secret, created_at, updated_at,
	status, failing_reason, cursor, inflight, attempts, first_failure, next_attempt, old_secret, old_secret_until`

// qLastTransition reads the account's last transition number.
const qLastTransition = "SELECT coalesce(max(value), 0) FROM account_counters WHERE account_id = $1 AND name = '" + hookCounter + "'"

// CreateSubscription implements segmentd.HookStore. The count and the
// insert run under the account's lock, so two creates cannot both pass
// the limit.
func (s *Store) CreateSubscription(ctx context.Context, sub segmentd.Subscription, max int) (segmentd.Subscription, error) {
	segs, err := json.Marshal(hookSegments(sub.Segments))
	if err != nil {
		return sub, err
	}
	err = s.inTx(ctx, func(tx pgx.Tx) error {
		if err := lockAccount(ctx, tx, sub.AccountID); err != nil {
			return err
		}
		var n int
		if err := tx.QueryRow(ctx, "SELECT count(*) FROM webhook_subscriptions WHERE account_id = $1", sub.AccountID).Scan(&n); err != nil {
			return err
		}
		if n >= max {
			return segmentd.Errorf(segmentd.KindInvalid, "", "an account may have at most %d webhook subscriptions", max)
		}
		if err := tx.QueryRow(ctx, qLastTransition, sub.AccountID).Scan(&sub.Cursor); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, "INSERT INTO webhook_subscriptions ("+subscriptionColumns+") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18)",
			sub.AccountID, sub.ID, sub.URL, sub.Description, string(segs), strings.Join(sub.EventTypes, " "), sub.Secret,
			toMS(sub.CreatedAt), toMS(sub.UpdatedAt), sub.Status, sub.FailingReason, sub.Cursor, sub.Inflight, sub.Attempts,
			optMS(sub.FirstFailure), optMS(sub.NextAttempt), sub.OldSecret, optMS(sub.OldSecretUntil))
		return err
	})
	if err != nil {
		return segmentd.Subscription{}, err
	}
	return s.Subscription(ctx, sub.AccountID, sub.ID)
}

// hookSegment is a HookSegment as stored (JSON).
type hookSegment struct {
	Vendor string `json:"vendor"`
	ID     string `json:"id"`
}

func hookSegments(segs []segmentd.HookSegment) []hookSegment {
	out := make([]hookSegment, len(segs))
	for i, s := range segs {
		out[i] = hookSegment(s)
	}
	return out
}

func optMS(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return toMS(t)
}

func fromOptMS(ms int64) time.Time {
	if ms == 0 {
		return time.Time{}
	}
	return fromMS(ms)
}

func scanSubscription(row pgx.Row) (segmentd.Subscription, error) {
	var sub segmentd.Subscription
	var segs []byte
	var types string
	var created, updated, first, next, oldUntil int64
	if err := row.Scan(&sub.AccountID, &sub.ID, &sub.URL, &sub.Description, &segs, &types, &sub.Secret, &created, &updated,
		&sub.Status, &sub.FailingReason, &sub.Cursor, &sub.Inflight, &sub.Attempts, &first, &next, &sub.OldSecret, &oldUntil); err != nil {
		return sub, err
	}
	var hs []hookSegment
	if err := json.Unmarshal(segs, &hs); err != nil {
		return sub, err
	}
	for _, h := range hs {
		sub.Segments = append(sub.Segments, segmentd.HookSegment(h))
	}
	sub.EventTypes = strings.Fields(types)
	sub.CreatedAt, sub.UpdatedAt = fromMS(created), fromMS(updated)
	sub.FirstFailure, sub.NextAttempt = fromOptMS(first), fromOptMS(next)
	sub.OldSecretUntil = fromOptMS(oldUntil)
	return sub, nil
}

// Subscriptions implements segmentd.HookStore.
func (s *Store) Subscriptions(ctx context.Context, acct int64) ([]segmentd.Subscription, error) {
	q := "SELECT " + subscriptionColumns + " FROM webhook_subscriptions"
	var args []any
	if acct != 0 {
		q += " WHERE account_id = $1"
		args = append(args, acct)
	}
	subs, err := queryAll(ctx, s.db, scanSubscription, q+" ORDER BY created_at, id", args...)
	return subs, classify(err)
}

// Subscription implements segmentd.HookStore.
func (s *Store) Subscription(ctx context.Context, acct int64, id string) (segmentd.Subscription, error) {
	sub, err := scanSubscription(s.db.QueryRow(ctx, "SELECT "+subscriptionColumns+" FROM webhook_subscriptions WHERE account_id = $1 AND id = $2", acct, id))
	if errors.Is(err, pgx.ErrNoRows) {
		return sub, subscriptionNotFound(id)
	}
	return sub, classify(err)
}

func subscriptionNotFound(id string) error {
	return notFound("id", "webhook subscription %s does not exist", segmentd.Quote(id))
}

// UpdateSubscription implements segmentd.HookStore.
func (s *Store) UpdateSubscription(ctx context.Context, sub segmentd.Subscription) (segmentd.Subscription, error) {
	segs, err := json.Marshal(hookSegments(sub.Segments))
	if err != nil {
		return sub, err
	}
	err = s.inTx(ctx, func(tx pgx.Tx) error {
		return execOne(ctx, tx, subscriptionNotFound(sub.ID), `UPDATE webhook_subscriptions SET url = $1, description = $2, segments = $3,
			event_types = $4, secret = $5, old_secret = $6, old_secret_until = $7, updated_at = $8 WHERE account_id = $9 AND id = $10`,
			sub.URL, sub.Description, string(segs), strings.Join(sub.EventTypes, " "), sub.Secret, sub.OldSecret, optMS(sub.OldSecretUntil),
			toMS(sub.UpdatedAt), sub.AccountID, sub.ID)
	})
	if err != nil {
		return segmentd.Subscription{}, err
	}
	return s.Subscription(ctx, sub.AccountID, sub.ID)
}

// SetHookState implements segmentd.HookStore.
// The dispatcher's writes (without restart) check the delivery fence
// (elect.go) as a store of transitions does, so that a server another one
// took the lock over from writes no delivery state after the take, and
// the cursor never moves back, so that one written by the old holder as
// the take commits does not take the new holder's back either (docs/webhooks.md,
// "The fence"). The fence's epoch is read from a reference table, as in
// AppendTransitions: on Citus the write stays a one-node transaction.
func (s *Store) SetHookState(ctx context.Context, acct int64, id string, st segmentd.HookState, restart bool) error {
	return s.inTx(ctx, func(tx pgx.Tx) error {
		if restart {
			if err := tx.QueryRow(ctx, qLastTransition, acct).Scan(&st.Cursor); err != nil {
				return err
			}
		} else if err := s.fence.check(ctx, tx); err != nil {
			return err
		}
		return execOne(ctx, tx, subscriptionNotFound(id), `UPDATE webhook_subscriptions SET status = $1, failing_reason = $2, cursor = GREATEST(cursor, $3),
			inflight = $4, attempts = $5, first_failure = $6, next_attempt = $7 WHERE account_id = $8 AND id = $9`,
			st.Status, st.FailingReason, st.Cursor, st.Inflight, st.Attempts, optMS(st.FirstFailure), optMS(st.NextAttempt), acct, id)
	})
}

// DeleteSubscription implements segmentd.HookStore. Its delivery log goes
// with it.
func (s *Store) DeleteSubscription(ctx context.Context, acct int64, id string) error {
	return s.inTx(ctx, func(tx pgx.Tx) error {
		if err := execOne(ctx, tx, subscriptionNotFound(id), "DELETE FROM webhook_subscriptions WHERE account_id = $1 AND id = $2", acct, id); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, "DELETE FROM webhook_replays WHERE account_id = $1 AND subscription_id = $2", acct, id); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, "DELETE FROM webhook_deliveries WHERE account_id = $1 AND subscription_id = $2", acct, id)
		return err
	})
}

// AppendTransitions implements segmentd.HookStore. The counter's row lock
// orders two servers' appends of one account, and a takeover of the
// delivery lock after them (the fence, elect.go).
func (s *Store) AppendTransitions(ctx context.Context, acct int64, ts []segmentd.Transition, deliver []bool, history bool) error {
	if len(ts) == 0 {
		return nil
	}
	return s.inTx(ctx, func(tx pgx.Tx) error {
		var last int64
		err := tx.QueryRow(ctx, `INSERT INTO account_counters AS c (account_id, name, value) VALUES ($1, $2, $3)
			ON CONFLICT (account_id, name) DO UPDATE SET value = c.value + excluded.value RETURNING value`, acct, hookCounter, len(ts)).Scan(&last)
		if err != nil {
			return err
		}
		// The counter is locked: check the delivery fence (elect.go).
		if err := s.fence.check(ctx, tx); err != nil {
			return err
		}
		first := last - int64(len(ts)) + 1
		rows := make([][]any, 0, len(ts))
		for i := range ts {
			t := &ts[i]
			t.Seq, t.AccountID = first+int64(i), acct
			if deliver == nil || deliver[i] {
				rows = append(rows, []any{acct, t.Seq, toMS(t.At), t.SegmentID, t.ContactID, t.Email, t.Entered, string(t.Cause)})
			}
		}
		if history {
			if err := appendHistory(ctx, tx, acct, ts); err != nil {
				return err
			}
		}
		if len(rows) == 0 {
			return nil
		}
		_, err = tx.CopyFrom(ctx, pgx.Identifier{"webhook_outbox"},
			[]string{"account_id", "seq", "at", "segment_id", "contact_id", "email", "entered", "cause"}, pgx.CopyFromRows(rows))
		return err
	})
}

// Transitions implements segmentd.HookStore.
func (s *Store) Transitions(ctx context.Context, acct int64, after, through int64, limit int) ([]segmentd.Transition, error) {
	q := "SELECT account_id, seq, at, segment_id, contact_id, email, entered, cause FROM webhook_outbox WHERE account_id = $1 AND seq > $2"
	args := []any{acct, after}
	if through > 0 {
		q += " AND seq <= $4"
		args = append(args, limit, through)
	} else {
		args = append(args, limit)
	}
	ts, err := queryAll(ctx, s.db, scanTransition, q+" ORDER BY seq LIMIT $3", args...)
	return ts, classify(err)
}

func scanTransition(row pgx.Row) (segmentd.Transition, error) {
	var t segmentd.Transition
	var at int64
	var cause string
	err := row.Scan(&t.AccountID, &t.Seq, &at, &t.SegmentID, &t.ContactID, &t.Email, &t.Entered, &cause)
	t.At, t.Cause = fromMS(at), segmentd.TransitionCause(cause)
	return t, err
}

// ForgetTransitions implements segmentd.HookStore.
func (s *Store) ForgetTransitions(ctx context.Context, acct int64, through int64) error {
	_, err := s.db.Exec(ctx, "DELETE FROM webhook_outbox WHERE account_id = $1 AND seq <= $2", acct, through)
	return classify(err)
}

// AddDelivery implements segmentd.HookStore. The subscription's row is
// locked first, so that a test message and a delivery logged at once take
// two numbers. (A deleted subscription locks nothing; its log is deleted
// with it.)
func (s *Store) AddDelivery(ctx context.Context, acct int64, d segmentd.Delivery, keep int) (segmentd.Delivery, error) {
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, "SELECT 1 FROM webhook_subscriptions WHERE account_id = $1 AND id = $2 FOR UPDATE", acct, d.SubscriptionID); err != nil {
			return err
		}
		if err := tx.QueryRow(ctx, "SELECT coalesce(max(seq), 0) + 1 FROM webhook_deliveries WHERE account_id = $1 AND subscription_id = $2",
			acct, d.SubscriptionID).Scan(&d.Seq); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `INSERT INTO webhook_deliveries (account_id, subscription_id, seq, message_id, at, transitions,
			status_code, latency_us, error) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)`, acct, d.SubscriptionID, d.Seq, d.MessageID, toMS(d.At),
			d.Transitions, d.StatusCode, d.Latency.Microseconds(), d.Error); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, "DELETE FROM webhook_deliveries WHERE account_id = $1 AND subscription_id = $2 AND seq <= $3",
			acct, d.SubscriptionID, d.Seq-int64(keep))
		return err
	})
	return d, err
}

// Deliveries implements segmentd.HookStore.
func (s *Store) Deliveries(ctx context.Context, acct int64, subID string, before int64, limit int) ([]segmentd.Delivery, error) {
	q := `SELECT subscription_id, seq, message_id, at, transitions, status_code, latency_us, error FROM webhook_deliveries
		WHERE account_id = $1 AND subscription_id = $2`
	args := []any{acct, subID, limit}
	if before > 0 {
		q += " AND seq < $4"
		args = append(args, before)
	}
	ds, err := queryAll(ctx, s.db, scanDelivery, q+" ORDER BY seq DESC LIMIT $3", args...)
	return ds, classify(err)
}

func scanDelivery(row pgx.Row) (segmentd.Delivery, error) {
	var d segmentd.Delivery
	var at, us int64
	err := row.Scan(&d.SubscriptionID, &d.Seq, &d.MessageID, &at, &d.Transitions, &d.StatusCode, &us, &d.Error)
	d.At, d.Latency = fromMS(at), time.Duration(us)*time.Microsecond
	return d, err
}
