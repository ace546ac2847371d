package segmentd

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"strings"
)

// WebhookKeyStore keeps each account's Event Webhook verification key: the
// public key SendGrid shows under "Signed Event Webhook Requests", as the
// base64 DER text SendGrid displays. The SQLite store implements it.
type WebhookKeyStore interface {
	// SetWebhookKey stores the account's key; "" removes it.
	SetWebhookKey(ctx context.Context, acct int64, key string) error
	// WebhookKey returns the account's key, "" when none is configured.
	WebhookKey(ctx context.Context, acct int64) (string, error)
}

// ParseWebhookKey reads a verification key as SendGrid shows it (base64 of
// a DER SubjectPublicKeyInfo) or as PEM ("-----BEGIN PUBLIC KEY-----"). It
// must be an ECDSA P-256 key: SendGrid signs with ECDSA over P-256 and
// SHA-256.
func ParseWebhookKey(s string) (*ecdsa.PublicKey, error) {
	s = strings.TrimSpace(s)
	var der []byte
	if strings.HasPrefix(s, "-----BEGIN") {
		b, _ := pem.Decode([]byte(s))
		if b == nil {
			return nil, Errorf(KindInvalid, "key", "the verification key is not valid PEM")
		}
		der = b.Bytes
	} else {
		var err error
		if der, err = base64.StdEncoding.DecodeString(strings.Join(strings.Fields(s), "")); err != nil {
			return nil, Errorf(KindInvalid, "key", "the verification key is neither PEM nor base64 DER")
		}
	}
	pub, err := x509.ParsePKIXPublicKey(der)
	if err != nil {
		return nil, Errorf(KindInvalid, "key", "the verification key is not a public key: %v", err)
	}
	ec, ok := pub.(*ecdsa.PublicKey)
	if !ok || ec.Curve != elliptic.P256() {
		return nil, Errorf(KindInvalid, "key", "the verification key must be an ECDSA P-256 public key")
	}
	return ec, nil
}
