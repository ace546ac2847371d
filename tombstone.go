package segmentd

import (
	"context"
	"time"
)

// DeletedContact is what the store keeps of a contact Constant Contact's
// face deleted (docs/constantcontact.md "Deleted contacts"): Constant
// Contact keeps a deleted contact, shows it by id and under
// status=deleted, and revives it under the same id. The contact itself
// is deleted as any other (its lists, tags, fields and segment
// memberships go, and the engine forgets it); this record is all that is
// left of it, and SendGrid's face never shows it.
type DeletedContact struct {
	ID        string
	Email     string
	FirstName string
	LastName  string
	// CC are the contact's Constant Contact-only attributes as they were
	// when it was deleted (its sources and consent are shown).
	CC        CCDetails
	CreatedAt time.Time
	DeletedAt time.Time
}

// ContactPut is the whole new state of one contact, which Store.PutContact
// writes in one transaction (Constant Contact's PUT /v3/contacts/{id},
// and its writes that revive a deleted contact).
type ContactPut struct {
	// ID is the contact's id; "" creates a contact (with a new id, and
	// an email no live contact has: KindConflict otherwise).
	ID string
	// Revive creates the contact again under ID from its DeletedContact,
	// which goes: the contact must be deleted, not live (KindNotFound
	// otherwise). The revived contact keeps the deleted one's CreatedAt.
	Revive bool
	// Email is the contact's email address (normalised and valid), which
	// replaces the one it has; another live contact's is KindConflict. A
	// deleted contact of that address that is not this one goes.
	Email string
	// Patch is merged into the contact by ApplyPatch; the identifiers
	// it leaves out keep the contact's values (SetMissingIdentifiers).
	Patch ContactPatch
	// Lists, when not nil, are the lists the contact is on afterwards,
	// and no others; Tags likewise its tags. An unknown list or tag is
	// KindNotFound and changes nothing.
	Lists, Tags []string
	// CC are the contact's Constant Contact-only attributes afterwards.
	CC CCDetails
}

// DeletedContactStore keeps Constant Contact's deleted contacts.
type DeletedContactStore interface {
	// BuryContacts deletes the contacts of ids that exist, as
	// DeleteContacts does, and keeps a DeletedContact of each, deleted at
	// now (one of the same email kept before goes). It returns how many
	// it deleted.
	BuryContacts(ctx context.Context, acct int64, ids []string, now time.Time) (int, error)
	// DeletedContacts returns up to limit deleted contacts ordered by id,
	// starting after the id afterID ("" for the first page).
	DeletedContacts(ctx context.Context, acct int64, afterID string, limit int) ([]DeletedContact, error)
	// DeletedContact returns the deleted contact of that id, or
	// KindNotFound; DeletedContactByEmail the one of that (lower-cased)
	// address.
	DeletedContact(ctx context.Context, acct int64, id string) (DeletedContact, error)
	DeletedContactByEmail(ctx context.Context, acct int64, email string) (DeletedContact, error)
	CountDeletedContacts(ctx context.Context, acct int64) (int, error)
	// PutContact writes p in one transaction: the email, the patch, the
	// lists, the tags and the Constant Contact-only attributes, or
	// nothing when any part fails. An unknown contact is KindNotFound. It
	// returns the contact as stored, which is one change of it in the
	// account's history.
	PutContact(ctx context.Context, acct int64, p ContactPut, now time.Time) (Contact, error)
}

// SetMissingIdentifiers gives p each identifier of c's other than the
// email that p leaves out, so that an upsert of p reaches c.
func SetMissingIdentifiers(p *ContactPatch, c *Contact) {
	for _, t := range Identifiers[1:] {
		v := c.Identifier(t)
		if _, ok := p.Identifier(t); ok || v == "" {
			continue
		}
		switch t {
		case IdentifierPhoneNumberID:
			p.PhoneNumberID = &v
		case IdentifierExternalID:
			p.ExternalID = &v
		case IdentifierAnonymousID:
			p.AnonymousID = &v
		}
	}
}
