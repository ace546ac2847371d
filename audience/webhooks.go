package audience

import (
	"context"
	"errors"
	"net/url"
	"slices"
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/segmentd/segmentd"
)

// Segment webhook subscriptions (docs/webhooks.md): an account's URLs
// that the entries and exits of its segments are pushed to. The hooks
// package serves them and delivers the messages; this file keeps the
// rules: what a subscription may name, the limits, and that an account
// only ever reaches its own.

var errNoHooks = errors.New("segmentd: no webhook store configured (Config.Hooks)")

// SubscriptionInput is what a subscription's owner sets; a nil field is
// left as it is (on create: its default).
type SubscriptionInput struct {
	URL         *string
	Description *string
	// Segments: an empty list means every segment.
	Segments   *[]segmentd.HookSegment
	EventTypes *[]string
	// Status may only be set to HookActive: a failing subscription
	// delivers again, from then on.
	Status *string
}

// CreateSubscription stores a new subscription with a fresh secret.
func (s *Service) CreateSubscription(ctx context.Context, acct int64, in SubscriptionInput) (segmentd.Subscription, error) {
	if s.cfg.Hooks == nil {
		return segmentd.Subscription{}, errNoHooks
	}
	now := s.clock.Now()
	sub := segmentd.Subscription{ID: segmentd.NewID(), AccountID: acct, EventTypes: segmentd.HookEventTypes,
		Secret: segmentd.NewHookSecret(), CreatedAt: now, UpdatedAt: now, HookState: segmentd.HookState{Status: segmentd.HookActive}}
	if in.URL == nil {
		return sub, segmentd.Errorf(segmentd.KindInvalid, "url", "url is required")
	}
	if in.Status != nil {
		return sub, segmentd.Errorf(segmentd.KindInvalid, "status", "status is set by delivery; a new subscription is active")
	}
	if err := s.applySubscription(ctx, &sub, in); err != nil {
		return sub, err
	}
	sub, err := s.cfg.Hooks.CreateSubscription(ctx, sub, segmentd.MaxSubscriptions)
	if err == nil {
		s.hooksChanged(acct)
	}
	return sub, err
}

// Subscriptions returns the account's subscriptions, oldest first.
func (s *Service) Subscriptions(ctx context.Context, acct int64) ([]segmentd.Subscription, error) {
	if s.cfg.Hooks == nil {
		return nil, errNoHooks
	}
	return s.cfg.Hooks.Subscriptions(ctx, acct)
}

// Subscription returns one of the account's subscriptions.
func (s *Service) Subscription(ctx context.Context, acct int64, id string) (segmentd.Subscription, error) {
	if s.cfg.Hooks == nil {
		return segmentd.Subscription{}, errNoHooks
	}
	return s.cfg.Hooks.Subscription(ctx, acct, id)
}

// UpdateSubscription changes what in sets. Setting Status to HookActive
// makes a failing subscription deliver again, the transitions from then
// on.
func (s *Service) UpdateSubscription(ctx context.Context, acct int64, id string, in SubscriptionInput) (segmentd.Subscription, error) {
	sub, err := s.Subscription(ctx, acct, id)
	if err != nil {
		return sub, err
	}
	if in.Status != nil && *in.Status != segmentd.HookActive {
		return sub, segmentd.Errorf(segmentd.KindInvalid, "status", "status may only be set to %q", segmentd.HookActive)
	}
	if err := s.applySubscription(ctx, &sub, in); err != nil {
		return sub, err
	}
	sub.UpdatedAt = s.clock.Now()
	if sub, err = s.cfg.Hooks.UpdateSubscription(ctx, sub); err != nil {
		return sub, err
	}
	if in.Status != nil && sub.Status != segmentd.HookActive {
		if err := s.cfg.Hooks.SetHookState(ctx, acct, id, segmentd.HookState{Status: segmentd.HookActive}, true); err != nil {
			return sub, err
		}
		if sub, err = s.cfg.Hooks.Subscription(ctx, acct, id); err != nil {
			return sub, err
		}
	}
	s.hooksChanged(acct)
	return sub, nil
}

// RotateHookSecret gives a subscription a new secret, which signs every
// message from then on, retries of an earlier one included. The secret it
// replaces signs them too, after the new one, for grace (0: not at all;
// at most segmentd.MaxHookSecretGrace), so that a receiver can change
// its secret in that time (docs/webhooks.md, "Rotating the secret"). A
// secret replaced before by a rotation whose grace still runs stops
// signing at once.
func (s *Service) RotateHookSecret(ctx context.Context, acct int64, id string, grace time.Duration) (segmentd.Subscription, error) {
	if grace < 0 || grace > segmentd.MaxHookSecretGrace {
		return segmentd.Subscription{}, segmentd.Errorf(segmentd.KindInvalid, "grace_seconds", "grace_seconds must be from 0 to %d (%s)",
			int64(segmentd.MaxHookSecretGrace/time.Second), "7 days")
	}
	sub, err := s.Subscription(ctx, acct, id)
	if err != nil {
		return sub, err
	}
	now := s.clock.Now()
	sub.OldSecret, sub.OldSecretUntil = "", time.Time{}
	if grace > 0 {
		sub.OldSecret, sub.OldSecretUntil = sub.Secret, now.Add(grace)
	}
	sub.Secret, sub.UpdatedAt = segmentd.NewHookSecret(), now
	if sub, err = s.cfg.Hooks.UpdateSubscription(ctx, sub); err == nil {
		s.hooksChanged(acct)
	}
	return sub, err
}

// DeleteSubscription deletes a subscription and its delivery log.
func (s *Service) DeleteSubscription(ctx context.Context, acct int64, id string) error {
	if s.cfg.Hooks == nil {
		return errNoHooks
	}
	err := s.cfg.Hooks.DeleteSubscription(ctx, acct, id)
	if err == nil {
		s.hooksChanged(acct)
	}
	return err
}

// HookDeliveries returns a page of a subscription's delivery log, newest
// first: up to limit attempts numbered below before (0: from the newest).
func (s *Service) HookDeliveries(ctx context.Context, acct int64, id string, before int64, limit int) ([]segmentd.Delivery, error) {
	if _, err := s.Subscription(ctx, acct, id); err != nil {
		return nil, err
	}
	if limit < 1 || limit > segmentd.MaxHookDeliveriesPage {
		return nil, segmentd.Errorf(segmentd.KindInvalid, "limit", "limit must be between 1 and %d", segmentd.MaxHookDeliveriesPage)
	}
	if before < 0 {
		return nil, segmentd.Errorf(segmentd.KindInvalid, "before", "before must be a delivery's number")
	}
	return s.cfg.Hooks.Deliveries(ctx, acct, id, before, limit)
}

func (s *Service) hooksChanged(acct int64) {
	if s.cfg.Outbox != nil {
		s.cfg.Outbox.Changed(acct)
	}
}

// applySubscription checks in and sets it on sub.
func (s *Service) applySubscription(ctx context.Context, sub *segmentd.Subscription, in SubscriptionInput) error {
	if in.URL != nil {
		if err := checkHookURL(*in.URL); err != nil {
			return err
		}
		sub.URL = *in.URL
	}
	if in.Description != nil {
		if utf8.RuneCountInString(*in.Description) > segmentd.MaxHookDescription {
			return segmentd.Errorf(segmentd.KindInvalid, "description", "description must be at most %d characters", segmentd.MaxHookDescription)
		}
		if err := segmentd.CheckText("description", *in.Description); err != nil {
			return err
		}
		sub.Description = *in.Description
	}
	if in.EventTypes != nil {
		types := *in.EventTypes
		if len(types) == 0 {
			return segmentd.Errorf(segmentd.KindInvalid, "event_types", "event_types must name at least one of %q and %q", segmentd.HookEntered, segmentd.HookExited)
		}
		for i, t := range types {
			if !slices.Contains(segmentd.HookEventTypes, t) {
				return segmentd.Errorf(segmentd.KindInvalid, "event_types", "event_types[%d] %s is not %q or %q", i, segmentd.Quote(t), segmentd.HookEntered, segmentd.HookExited)
			}
			if slices.Contains(types[:i], t) {
				return segmentd.Errorf(segmentd.KindInvalid, "event_types", "event_types[%d] repeats %q", i, t)
			}
		}
		sub.EventTypes = slices.Clone(types)
	}
	if in.Segments != nil {
		segs := *in.Segments
		if len(segs) > segmentd.MaxSubscriptionSegs {
			return segmentd.Errorf(segmentd.KindInvalid, "segments", "segments may name at most %d segments", segmentd.MaxSubscriptionSegs)
		}
		for i, seg := range segs {
			if err := s.checkHookSegment(ctx, sub.AccountID, i, seg); err != nil {
				return err
			}
			if slices.Contains(segs[:i], seg) {
				return segmentd.Errorf(segmentd.KindInvalid, "segments", "segments[%d] repeats segment %s", i, segmentd.Quote(seg.ID))
			}
		}
		sub.Segments = slices.Clone(segs)
		if len(segs) == 0 {
			sub.Segments = nil
		}
	}
	return nil
}

// checkHookURL accepts an absolute http or https URL of at most
// MaxHookURL bytes.
func checkHookURL(raw string) error {
	if len(raw) > segmentd.MaxHookURL {
		return segmentd.Errorf(segmentd.KindInvalid, "url", "url must be at most %d bytes", segmentd.MaxHookURL)
	}
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.Fragment != "" {
		return segmentd.Errorf(segmentd.KindInvalid, "url", "url %s is not an absolute http or https URL without a fragment", segmentd.Quote(raw))
	}
	return nil
}

// checkHookSegment requires a live segment of the account.
func (s *Service) checkHookSegment(ctx context.Context, acct int64, i int, seg segmentd.HookSegment) error {
	missing := segmentd.Errorf(segmentd.KindInvalid, "segments", "segments[%d]: the account has no %s segment %s", i, seg.Vendor, segmentd.Quote(seg.ID))
	switch seg.Vendor {
	case segmentd.VendorSendGrid:
		if s.segs == nil {
			return missing
		}
		got, err := s.segs.Segment(ctx, acct, seg.ID)
		if segmentd.ErrorKindOf(err) == segmentd.KindNotFound || err == nil && !got.Live() {
			return missing
		}
		return err
	case segmentd.VendorConstantContact:
		n, err := strconv.ParseInt(seg.ID, 10, 64)
		if err != nil || s.cfg.CCSegments == nil || strconv.FormatInt(n, 10) != seg.ID {
			return missing
		}
		got, err := s.cfg.CCSegments.CCSegment(ctx, acct, n)
		if segmentd.ErrorKindOf(err) == segmentd.KindNotFound || err == nil && !got.Live() {
			return missing
		}
		return err
	}
	return segmentd.Errorf(segmentd.KindInvalid, "segments", "segments[%d].vendor %s is not %q or %q", i, segmentd.Quote(seg.Vendor), segmentd.VendorSendGrid, segmentd.VendorConstantContact)
}
