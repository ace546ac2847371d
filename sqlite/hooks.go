package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"strings"
	"time"

	"github.com/segmentd/segmentd"
)

// Segment webhooks (segmentd.HookStore, docs/webhooks.md): subscriptions,
// the outbox of transitions and the delivery logs.

var _ segmentd.HookStore = (*Store)(nil)

// hookCounter names the account_counters row that numbers the account's
// transitions.
const hookCounter = "webhook_transition"

const subscriptionColumns = `account_id, id, url, description, segments, event_types, secret, created_at, updated_at,
	status, failing_reason, cursor, inflight, attempts, first_failure, next_attempt, old_secret, old_secret_until`

// CreateSubscription implements segmentd.HookStore.
func (s *Store) CreateSubscription(ctx context.Context, sub segmentd.Subscription, max int) (segmentd.Subscription, error) {
	segs, err := json.Marshal(hookSegments(sub.Segments))
	if err != nil {
		return sub, err
	}
	err = s.writeTx(ctx, func(tx *sql.Tx) error {
		var n int
		if err := tx.QueryRowContext(ctx, "SELECT count(*) FROM webhook_subscriptions WHERE account_id = ?", sub.AccountID).Scan(&n); err != nil {
			return err
		}
		if n >= max {
			return segmentd.Errorf(segmentd.KindInvalid, "", "an account may have at most %d webhook subscriptions", max)
		}
		if sub.Cursor, err = lastTransition(ctx, tx, sub.AccountID); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, "INSERT INTO webhook_subscriptions ("+subscriptionColumns+") VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
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

func lastTransition(ctx context.Context, q queryer, acct int64) (int64, error) {
	var last int64
	err := q.QueryRowContext(ctx, "SELECT coalesce(max(value), 0) FROM account_counters WHERE account_id = ? AND name = ?", acct, hookCounter).Scan(&last)
	return last, err
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

func scanSubscription(row rowScanner) (segmentd.Subscription, error) {
	var sub segmentd.Subscription
	var segs, types string
	var created, updated, first, next, oldUntil int64
	if err := row.Scan(&sub.AccountID, &sub.ID, &sub.URL, &sub.Description, &segs, &types, &sub.Secret, &created, &updated,
		&sub.Status, &sub.FailingReason, &sub.Cursor, &sub.Inflight, &sub.Attempts, &first, &next, &sub.OldSecret, &oldUntil); err != nil {
		return sub, err
	}
	var hs []hookSegment
	if err := json.Unmarshal([]byte(segs), &hs); err != nil {
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
		q += " WHERE account_id = ?"
		args = append(args, acct)
	}
	return queryAll(ctx, s.read, scanSubscription, q+" ORDER BY created_at, id", args...)
}

// Subscription implements segmentd.HookStore.
func (s *Store) Subscription(ctx context.Context, acct int64, id string) (segmentd.Subscription, error) {
	sub, err := scanSubscription(s.read.QueryRowContext(ctx, "SELECT "+subscriptionColumns+" FROM webhook_subscriptions WHERE account_id = ? AND id = ?", acct, id))
	if err == sql.ErrNoRows {
		return sub, subscriptionNotFound(id)
	}
	return sub, err
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
	err = s.writeTx(ctx, func(tx *sql.Tx) error {
		return execOne(ctx, tx, subscriptionNotFound(sub.ID), `UPDATE webhook_subscriptions SET url = ?, description = ?, segments = ?,
			event_types = ?, secret = ?, old_secret = ?, old_secret_until = ?, updated_at = ? WHERE account_id = ? AND id = ?`,
			sub.URL, sub.Description, string(segs), strings.Join(sub.EventTypes, " "), sub.Secret, sub.OldSecret, optMS(sub.OldSecretUntil),
			toMS(sub.UpdatedAt), sub.AccountID, sub.ID)
	})
	if err != nil {
		return segmentd.Subscription{}, err
	}
	return s.Subscription(ctx, sub.AccountID, sub.ID)
}

// SetHookState implements segmentd.HookStore.
func (s *Store) SetHookState(ctx context.Context, acct int64, id string, st segmentd.HookState, restart bool) error {
	return s.writeTx(ctx, func(tx *sql.Tx) error {
		if restart {
			var err error
			if st.Cursor, err = lastTransition(ctx, tx, acct); err != nil {
				return err
			}
		}
		return execOne(ctx, tx, subscriptionNotFound(id), `UPDATE webhook_subscriptions SET status = ?, failing_reason = ?, cursor = max(cursor, ?),
			inflight = ?, attempts = ?, first_failure = ?, next_attempt = ? WHERE account_id = ? AND id = ?`,
			st.Status, st.FailingReason, st.Cursor, st.Inflight, st.Attempts, optMS(st.FirstFailure), optMS(st.NextAttempt), acct, id)
	})
}

// DeleteSubscription implements segmentd.HookStore. Its delivery log goes
// with it.
func (s *Store) DeleteSubscription(ctx context.Context, acct int64, id string) error {
	return s.writeTx(ctx, func(tx *sql.Tx) error {
		if err := execOne(ctx, tx, subscriptionNotFound(id), "DELETE FROM webhook_subscriptions WHERE account_id = ? AND id = ?", acct, id); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, "DELETE FROM webhook_replays WHERE account_id = ? AND subscription_id = ?", acct, id); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, "DELETE FROM webhook_deliveries WHERE account_id = ? AND subscription_id = ?", acct, id)
		return err
	})
}

// AppendTransitions implements segmentd.HookStore. It keeps the emails
// event ingestion remembers: a transition changes no contact.
func (s *Store) AppendTransitions(ctx context.Context, acct int64, ts []segmentd.Transition, deliver []bool, history bool) error {
	if len(ts) == 0 {
		return nil
	}
	return s.writeTxKeep(ctx, true, func(tx *sql.Tx) error {
		var last int64
		err := tx.QueryRowContext(ctx, `INSERT INTO account_counters (account_id, name, value) VALUES (?, ?, ?)
			ON CONFLICT (account_id, name) DO UPDATE SET value = value + excluded.value RETURNING value`, acct, hookCounter, len(ts)).Scan(&last)
		if err != nil {
			return err
		}
		first := last - int64(len(ts)) + 1
		for i := range ts {
			ts[i].Seq, ts[i].AccountID = first+int64(i), acct
		}
		if history {
			if err := appendHistory(ctx, tx, acct, ts); err != nil {
				return err
			}
		}
		st, err := tx.PrepareContext(ctx, `INSERT INTO webhook_outbox (account_id, seq, at, segment_id, contact_id, email, entered, cause)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?)`)
		if err != nil {
			return err
		}
		defer st.Close()
		for i := range ts {
			t := &ts[i]
			if deliver != nil && !deliver[i] {
				continue
			}
			if _, err := st.ExecContext(ctx, acct, t.Seq, toMS(t.At), t.SegmentID, t.ContactID, t.Email, t.Entered, string(t.Cause)); err != nil {
				return err
			}
		}
		return nil
	})
}

// Transitions implements segmentd.HookStore.
func (s *Store) Transitions(ctx context.Context, acct int64, after, through int64, limit int) ([]segmentd.Transition, error) {
	q := "SELECT account_id, seq, at, segment_id, contact_id, email, entered, cause FROM webhook_outbox WHERE account_id = ? AND seq > ?"
	args := []any{acct, after}
	if through > 0 {
		q += " AND seq <= ?"
		args = append(args, through)
	}
	return queryAll(ctx, s.read, scanTransition, q+" ORDER BY seq LIMIT ?", append(args, limit)...)
}

func scanTransition(row rowScanner) (segmentd.Transition, error) {
	var t segmentd.Transition
	var at int64
	var cause string
	err := row.Scan(&t.AccountID, &t.Seq, &at, &t.SegmentID, &t.ContactID, &t.Email, &t.Entered, &cause)
	t.At, t.Cause = fromMS(at), segmentd.TransitionCause(cause)
	return t, err
}

// ForgetTransitions implements segmentd.HookStore.
func (s *Store) ForgetTransitions(ctx context.Context, acct int64, through int64) error {
	return s.writeTx(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, "DELETE FROM webhook_outbox WHERE account_id = ? AND seq <= ?", acct, through)
		return err
	})
}

// AddDelivery implements segmentd.HookStore.
func (s *Store) AddDelivery(ctx context.Context, acct int64, d segmentd.Delivery, keep int) (segmentd.Delivery, error) {
	err := s.writeTx(ctx, func(tx *sql.Tx) error {
		if err := tx.QueryRowContext(ctx, "SELECT coalesce(max(seq), 0) + 1 FROM webhook_deliveries WHERE account_id = ? AND subscription_id = ?",
			acct, d.SubscriptionID).Scan(&d.Seq); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO webhook_deliveries (account_id, subscription_id, seq, message_id, at, transitions,
			status_code, latency_us, error) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`, acct, d.SubscriptionID, d.Seq, d.MessageID, toMS(d.At),
			d.Transitions, d.StatusCode, d.Latency.Microseconds(), d.Error); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, "DELETE FROM webhook_deliveries WHERE account_id = ? AND subscription_id = ? AND seq <= ?",
			acct, d.SubscriptionID, d.Seq-int64(keep))
		return err
	})
	return d, err
}

// Deliveries implements segmentd.HookStore.
func (s *Store) Deliveries(ctx context.Context, acct int64, subID string, before int64, limit int) ([]segmentd.Delivery, error) {
	q := `SELECT subscription_id, seq, message_id, at, transitions, status_code, latency_us, error FROM webhook_deliveries
		WHERE account_id = ? AND subscription_id = ?`
	args := []any{acct, subID}
	if before > 0 {
		q += " AND seq < ?"
		args = append(args, before)
	}
	return queryAll(ctx, s.read, scanDelivery, q+" ORDER BY seq DESC LIMIT ?", append(args, limit)...)
}

func scanDelivery(row rowScanner) (segmentd.Delivery, error) {
	var d segmentd.Delivery
	var at, us int64
	err := row.Scan(&d.SubscriptionID, &d.Seq, &d.MessageID, &at, &d.Transitions, &d.StatusCode, &us, &d.Error)
	d.At, d.Latency = fromMS(at), time.Duration(us)*time.Microsecond
	return d, err
}
