package audience

import (
	"context"
	"crypto/ecdsa"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"strconv"
	"strings"

	"github.com/segmentd/segmentd"
)

// Principal is an authenticated caller: the account acted on and the key used.
type Principal struct {
	Account segmentd.Account
	Key     segmentd.APIKey
}

// apiKey reads the key whose secret is given and its account: an unknown
// key is KindUnauthorized.
func (s *Service) apiKey(ctx context.Context, secret string) (segmentd.APIKey, segmentd.Account, error) {
	hash := segmentd.HashAPIKey(secret)
	var key segmentd.APIKey
	var acct segmentd.Account
	var err error
	if r, ok := s.store.(segmentd.APIKeyAccountReader); ok {
		key, acct, err = r.APIKeyWithAccount(ctx, hash)
		if segmentd.ErrorKindOf(err) == segmentd.KindNotFound && key.ID != 0 {
			return key, acct, err // the key's account is gone, as Account says
		}
	} else {
		key, err = s.store.APIKeyByHash(ctx, hash)
		if err == nil {
			acct, err = s.store.Account(ctx, key.AccountID)
			if err != nil {
				return key, acct, err
			}
		}
	}
	if segmentd.ErrorKindOf(err) == segmentd.KindNotFound {
		return key, acct, segmentd.Errorf(segmentd.KindUnauthorized, "", "authorization required")
	}
	return key, acct, err
}

// Authenticate resolves an API key secret, and optionally SendGrid's
// on-behalf-of subuser name, to the account the request acts on. need is the
// scope the operation requires. Every face passes its On-Behalf-Of header
// here, so that the header means the same on all of them
// (docs/decisions.md §15). A forbidden request (a scope the key lacks, an
// account that is not its subuser) is still the key's: with that error the
// Principal carries the key, and only the key, so that a face can count
// the request against it (the SendGrid face's rate limits). After any
// other error the Principal is empty.
func (s *Service) Authenticate(ctx context.Context, secret, onBehalfOf string, need segmentd.Scope) (Principal, error) {
	if secret == "" {
		return Principal{}, segmentd.Errorf(segmentd.KindUnauthorized, "", "authorization required")
	}
	key, acct, err := s.apiKey(ctx, secret)
	if err != nil {
		return Principal{}, err
	}
	if onBehalfOf = strings.TrimSpace(onBehalfOf); onBehalfOf != "" {
		// "account-id <id>" addresses a customer account by id; anything else
		// is a subuser's name (docs/sendgrid.md "Conventions").
		var sub segmentd.Account
		if rest, ok := strings.CutPrefix(onBehalfOf, "account-id "); ok {
			id, perr := strconv.ParseInt(strings.TrimSpace(rest), 10, 64)
			if perr != nil {
				return Principal{Key: key}, segmentd.Errorf(segmentd.KindForbidden, "on-behalf-of", "on-behalf-of: account %s is not a subuser of this account", segmentd.Quote(rest))
			}
			sub, err = s.store.Account(ctx, id)
		} else {
			sub, err = s.store.AccountByName(ctx, onBehalfOf)
		}
		if segmentd.ErrorKindOf(err) == segmentd.KindNotFound || err == nil && sub.ParentID != acct.ID {
			return Principal{Key: key}, segmentd.Errorf(segmentd.KindForbidden, "on-behalf-of", "on-behalf-of: %s is not a subuser of this account", segmentd.Quote(onBehalfOf))
		}
		if err != nil {
			return Principal{}, err
		}
		acct = sub
	}
	if !key.Has(need) {
		return Principal{Key: key}, segmentd.Errorf(segmentd.KindForbidden, "", "access forbidden: this API key lacks the %s scope", need)
	}
	return Principal{Account: acct, Key: key}, nil
}

// Bootstrap makes sure the default account exists and has a key. When
// secret is non-empty it is installed as a full-access key of the default
// account (if not already present). When no key exists at all and secret is
// empty, a key is generated and returned, to be printed once.
func (s *Service) Bootstrap(ctx context.Context, secret string) (generated string, err error) {
	acct, err := s.EnsureDefaultAccount(ctx)
	if err != nil {
		return "", err
	}
	if secret != "" {
		_, err := s.store.APIKeyByHash(ctx, segmentd.HashAPIKey(secret))
		if segmentd.ErrorKindOf(err) != segmentd.KindNotFound {
			return "", err
		}
		_, err = s.store.CreateAPIKey(ctx, segmentd.APIKey{AccountID: acct.ID, Name: "bootstrap (--api-key)", Hash: segmentd.HashAPIKey(secret), Scopes: segmentd.AllScopes, CreatedAt: s.clock.Now()})
		return "", err
	}
	n, err := s.store.CountAPIKeys(ctx)
	if err != nil || n > 0 {
		return "", err
	}
	generated = segmentd.NewAPIKeySecret()
	_, err = s.store.CreateAPIKey(ctx, segmentd.APIKey{AccountID: acct.ID, Name: "bootstrap (generated)", Hash: segmentd.HashAPIKey(generated), Scopes: segmentd.AllScopes, CreatedAt: s.clock.Now()})
	return generated, err
}

// EnsureDefaultAccount returns the default account, creating it on first use.
func (s *Service) EnsureDefaultAccount(ctx context.Context) (segmentd.Account, error) {
	acct, err := s.store.AccountByName(ctx, segmentd.DefaultAccountName)
	if segmentd.ErrorKindOf(err) == segmentd.KindNotFound {
		acct, err = s.store.CreateAccount(ctx, segmentd.DefaultAccountName, 0, s.clock.Now())
		acct, err = s.markNewGap(ctx, acct, err)
	}
	return acct, err
}

// AccountByName returns the account of that name.
func (s *Service) AccountByName(ctx context.Context, name string) (segmentd.Account, error) {
	return s.store.AccountByName(ctx, name)
}

// CreateAccount creates an account; with a non-empty parent it is a subuser
// of the account of that name.
func (s *Service) CreateAccount(ctx context.Context, name, parent string) (segmentd.Account, error) {
	if err := checkAccountName(name); err != nil {
		return segmentd.Account{}, err
	}
	var parentID int64
	if parent != "" {
		p, err := s.store.AccountByName(ctx, parent)
		if segmentd.ErrorKindOf(err) == segmentd.KindNotFound {
			return segmentd.Account{}, segmentd.Errorf(segmentd.KindNotFound, "parent", "parent account %s does not exist", segmentd.Quote(parent))
		}
		if err != nil {
			return segmentd.Account{}, err
		}
		parentID = p.ID
	}
	a, err := s.store.CreateAccount(ctx, name, parentID, s.clock.Now())
	return s.markNewGap(ctx, a, err)
}

// CreateAPIKey creates a key for the named account and returns its secret,
// which is shown once and never stored.
func (s *Service) CreateAPIKey(ctx context.Context, account, name string, scopes []segmentd.Scope) (string, segmentd.APIKey, error) {
	acct, err := s.store.AccountByName(ctx, account)
	if err != nil {
		return "", segmentd.APIKey{}, err
	}
	if len(scopes) == 0 {
		scopes = segmentd.AllScopes
	}
	secret := segmentd.NewAPIKeySecret()
	k, err := s.store.CreateAPIKey(ctx, segmentd.APIKey{AccountID: acct.ID, Name: name, Hash: segmentd.HashAPIKey(secret), Scopes: scopes, CreatedAt: s.clock.Now()})
	return secret, k, err
}

// Event Webhook verification keys: what the webhook face needs beyond
// AddEvents.

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
		pub, err := segmentd.ParseWebhookKey(key)
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
	return segmentd.ParseWebhookKey(k)
}
