package segmentd

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"strings"
	"time"
)

// Account owns contacts, lists, fields and segments. Accounts never see each
// other's data. A subuser is an account with a parent; a key of the parent
// may act as the subuser through SendGrid's on-behalf-of header.
type Account struct {
	ID        int64
	ParentID  int64 // 0 for a top-level account
	Name      string
	CreatedAt time.Time
}

// DefaultAccountName names the account the bootstrap key belongs to.
const DefaultAccountName = "default"

// Scope is a permission carried by an API key.
type Scope string

const (
	ScopeSendGridRead         Scope = "sendgrid.read"
	ScopeSendGridWrite        Scope = "sendgrid.write"
	ScopeConstantContactRead  Scope = "constantcontact.read"
	ScopeConstantContactWrite Scope = "constantcontact.write"
	ScopeEventsWrite          Scope = "events.write"
)

// AllScopes is what the bootstrap key and `segmentd keys create` (without
// --scopes) grant.
var AllScopes = []Scope{ScopeSendGridRead, ScopeSendGridWrite, ScopeConstantContactRead, ScopeConstantContactWrite, ScopeEventsWrite, ScopeWebhooks, ScopeHistory}

// ParseScopes reads a comma- or space-separated scope list.
func ParseScopes(s string) ([]Scope, error) {
	var out []Scope
	for _, f := range strings.FieldsFunc(s, func(r rune) bool { return r == ',' || r == ' ' }) {
		ok := false
		for _, known := range AllScopes {
			if Scope(f) == known {
				ok = true
			}
		}
		if !ok {
			return nil, Errorf(KindInvalid, "scopes", "unknown scope %s", Quote(f))
		}
		out = append(out, Scope(f))
	}
	return out, nil
}

// APIKey is a stored key. The secret itself is never stored, only its hash.
type APIKey struct {
	ID        int64
	AccountID int64
	Name      string
	Hash      string
	Scopes    []Scope
	CreatedAt time.Time
}

// Has reports whether the key carries scope s.
func (k APIKey) Has(s Scope) bool {
	for _, have := range k.Scopes {
		if have == s {
			return true
		}
	}
	return false
}

// NewAPIKeySecret returns a fresh secret in SendGrid's "SG.<id>.<secret>"
// shape, so that clients that check the prefix are content.
func NewAPIKeySecret() string {
	var a [16]byte
	var b [32]byte
	_, _ = rand.Read(a[:])
	_, _ = rand.Read(b[:])
	enc := base64.RawURLEncoding
	return "SG." + enc.EncodeToString(a[:]) + "." + enc.EncodeToString(b[:])
}

// HashAPIKey is how keys are stored and looked up. A fast hash suffices: the
// secrets are 48 random bytes, not passwords.
func HashAPIKey(secret string) string {
	sum := sha256.Sum256([]byte(secret))
	return hex.EncodeToString(sum[:])
}
