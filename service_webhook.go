package segmentd

import (
	"context"
	"crypto/ecdsa"
	"crypto/x509"
	"encoding/base64"
	"errors"
)

// This file holds what the Event Webhook face needs from the Service beyond
// AddEvents: the account's signature verification key.

var errNoWebhookKeys = errors.New("segmentd: no webhook key store configured (Config.WebhookKeys)")

// SetWebhookKey configures (or, with key "", removes) the verification key
// of the account named name. The key is checked and stored in SendGrid's
// own form, base64 DER, whatever form it was given in.
func (s *Service) SetWebhookKey(ctx context.Context, name, key string) error {
	if s.cfg.WebhookKeys == nil {
		return errNoWebhookKeys
	}
	acct, err := s.store.AccountByName(ctx, name)
	if err != nil {
		return err
	}
	stored := ""
	if key != "" {
		pub, err := ParseWebhookKey(key)
		if err != nil {
			return err
		}
		der, err := x509.MarshalPKIXPublicKey(pub)
		if err != nil {
			return err
		}
		stored = base64.StdEncoding.EncodeToString(der)
	}
	return s.cfg.WebhookKeys.SetWebhookKey(ctx, acct.ID, stored)
}

// WebhookKey returns the account's verification key, nil when none is
// configured (or no key store is): then webhook requests are not verified.
func (s *Service) WebhookKey(ctx context.Context, acct int64) (*ecdsa.PublicKey, error) {
	if s.cfg.WebhookKeys == nil {
		return nil, nil
	}
	k, err := s.cfg.WebhookKeys.WebhookKey(ctx, acct)
	if err != nil || k == "" {
		return nil, err
	}
	return ParseWebhookKey(k)
}
