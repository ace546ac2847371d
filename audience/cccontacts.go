package audience

import (
	"context"
	"time"

	"github.com/segmentd/segmentd"
)

// Constant Contact's contact writes (POST, PUT and DELETE
// /v3/contacts/{contact_id}) act on one contact and answer with it, so
// they are not jobs: each runs on the job worker (onWorker), ahead of the
// contact jobs still queued, and returns once the store has committed it
// and the engine reflects it. They write the same contacts as SendGrid's
// upserts, through the same store calls (docs/constantcontact.md "One
// contact, two faces").

// CCContactWrite is a Constant Contact contact write: the patch of the
// fields both vendors have, and the lists the contact is to be on.
type CCContactWrite struct {
	Patch segmentd.ContactPatch
	// Lists, when not nil, are the lists the contact is to be on, and on
	// no others (Constant Contact's list_memberships); nil leaves its
	// lists as they are.
	Lists []string
	// Tags, when not nil, are the tags the contact is to have, and no
	// others (Constant Contact's taggings); nil leaves its tags as they
	// are.
	Tags []string
	// CC are the contact's Constant Contact-only attributes as the write
	// gives them (a field left out of the body is zero: cleared). The
	// sources and the opt-in and opt-out bookkeeping are the Service's:
	// Source is the write's create_source (POST) or update_source (PUT).
	CC     segmentd.CCDetails
	Source string
	// Keep* leave those attributes as the contact has them (a PUT without
	// the sub-resource or the permission).
	KeepPhones, KeepAddresses, KeepNotes, KeepPermission bool
	// Merge are the attributes a sign-up form sets (SignUpCCContact),
	// merged into the contact's; CC and the Keep flags are a PUT's.
	Merge CCDetailsPatch
}

// ccDetails is the contact's Constant Contact-only attributes after write
// w of it at now: old merged with w by the Keep flags, the sources set
// (Account when the body names none), and the permission's opt-in or
// opt-out recorded when the write moves it to explicit or unsubscribed.
func ccDetails(old segmentd.CCDetails, w *CCContactWrite, create bool, now time.Time) segmentd.CCDetails {
	d := w.CC
	source := w.Source
	if source == "" {
		source = "Account"
	}
	d.CreateSource, d.UpdateSource = old.CreateSource, source
	if create || d.CreateSource == "" {
		d.CreateSource = source
	}
	if w.KeepPhones {
		d.PhoneKind, d.Phones = old.PhoneKind, old.Phones
	}
	if w.KeepAddresses {
		d.AddressKind, d.Addresses = old.AddressKind, old.Addresses
	}
	if w.KeepNotes {
		d.Notes = old.Notes
	}
	d.OptInSource, d.OptInDate, d.OptOutSource, d.OptOutDate = old.OptInSource, old.OptInDate, old.OptOutSource, old.OptOutDate
	if w.KeepPermission {
		d.Permission = old.Permission
	}
	if d.Permission != old.Permission {
		switch d.Permission {
		case "explicit":
			d.OptInSource, d.OptInDate = source, now
		case "unsubscribed":
			d.OptOutSource, d.OptOutDate = source, now
		}
	}
	return d
}

// msgEmailTaken answers a write whose email is another contact's.
const msgEmailTaken = "a contact with email_address %s already exists"

// CreateCCContact creates a contact, which must have an email address no
// contact has (as its email or an alternate email): KindConflict
// otherwise. An address of a deleted contact revives that contact, under
// its id, with the write's fields (docs/constantcontact.md "Deleted
// contacts").
func (s *Service) CreateCCContact(ctx context.Context, acct int64, w CCContactWrite) (segmentd.Contact, error) {
	if err := s.checkCCWrite(ctx, acct, &w); err != nil {
		return segmentd.Contact{}, err
	}
	email, _ := w.Patch.Identifier(segmentd.IdentifierEmail)
	var out segmentd.Contact
	err := s.ccWrite(ctx, acct, func() ([]segmentd.Contact, error) {
		// Checked on the worker, where no other write of the account
		// runs in between.
		if err := s.emailFree(ctx, acct, email, ""); err != nil {
			return nil, err
		}
		now := s.clock.Now()
		put := segmentd.ContactPut{Email: email, Patch: w.Patch, Lists: w.Lists, Tags: w.Tags, CC: ccDetails(segmentd.CCDetails{}, &w, true, now)}
		d, err := s.store.DeletedContactByEmail(ctx, acct, email)
		switch {
		case err == nil:
			put.ID, put.Revive = d.ID, true
		case segmentd.ErrorKindOf(err) != segmentd.KindNotFound:
			return nil, err
		}
		// The whole write is then one transaction of the store's.
		out, err = s.store.PutContact(ctx, acct, put, now)
		return []segmentd.Contact{out}, err
	})
	return out, err
}

// UpdateCCContact writes a contact by id, in one transaction of the
// store's (Store.PutContact): the patch's fields, its lists when w.Lists
// is not nil, its tags when w.Tags is not nil, its Constant Contact-only
// attributes. The contact's other identifiers (SendGrid's external_id, …)
// are kept. A new email address, which no other contact may have
// (KindConflict), replaces the contact's first. A deleted contact is
// revived under its id, when w.Source is Account (the spec's rule).
func (s *Service) UpdateCCContact(ctx context.Context, acct int64, id string, w CCContactWrite) (segmentd.Contact, error) {
	if err := s.checkCCWrite(ctx, acct, &w); err != nil {
		return segmentd.Contact{}, err
	}
	var out segmentd.Contact
	err := s.ccWrite(ctx, acct, func() ([]segmentd.Contact, error) {
		c, revive, err := s.liveOrDeleted(ctx, acct, id)
		if err != nil {
			return nil, err
		}
		if revive && w.Source != "Account" {
			return nil, segmentd.Errorf(segmentd.KindInvalid, "update_source", "contact %s is deleted: reviving it takes update_source Account", segmentd.Quote(id))
		}
		p := w.Patch
		email, _ := p.Identifier(segmentd.IdentifierEmail)
		if email != c.Email || revive {
			if err := s.emailFree(ctx, acct, email, id); err != nil {
				return nil, err
			}
		}
		now := s.clock.Now()
		out, err = s.store.PutContact(ctx, acct, segmentd.ContactPut{ID: id, Revive: revive, Email: email, Patch: p,
			Lists: w.Lists, Tags: w.Tags, CC: ccDetails(c.CC, &w, false, now)}, now)
		return []segmentd.Contact{out}, err
	})
	return out, err
}

// liveOrDeleted reads contact id: the live contact, or (revive) what is
// kept of a deleted one as a contact; neither is KindNotFound.
func (s *Service) liveOrDeleted(ctx context.Context, acct int64, id string) (c segmentd.Contact, revive bool, err error) {
	c, err = s.store.Contact(ctx, acct, id)
	if segmentd.ErrorKindOf(err) != segmentd.KindNotFound {
		return c, false, err
	}
	d, err := s.store.DeletedContact(ctx, acct, id)
	if err != nil {
		return c, false, err
	}
	return DeletedAsContact(d), true, nil
}

// DeletedAsContact is what is kept of a deleted contact, as a contact.
func DeletedAsContact(d segmentd.DeletedContact) segmentd.Contact {
	return segmentd.Contact{ID: d.ID, Email: d.Email, FirstName: d.FirstName, LastName: d.LastName, CC: d.CC,
		CreatedAt: d.CreatedAt, UpdatedAt: d.DeletedAt}
}

// DeleteCCContact deletes a contact by id, at once, and keeps it as
// deleted (Store.BuryContacts).
func (s *Service) DeleteCCContact(ctx context.Context, acct int64, id string) error {
	return s.ccWrite(ctx, acct, func() ([]segmentd.Contact, error) {
		n, err := s.store.BuryContacts(ctx, acct, []string{id}, s.clock.Now())
		if err == nil && n == 0 {
			err = segmentd.Errorf(segmentd.KindNotFound, "contact_id", "contact %s does not exist", segmentd.Quote(id))
		}
		return nil, err
	}, id)
}

// DeletedCCContact is a contact Constant Contact's face deleted, or
// KindNotFound.
func (s *Service) DeletedCCContact(ctx context.Context, acct int64, id string) (segmentd.DeletedContact, error) {
	return s.store.DeletedContact(ctx, acct, id)
}

func setIdentifier(p *segmentd.ContactPatch, t segmentd.IdentifierType, v string) {
	switch t {
	case segmentd.IdentifierPhoneNumberID:
		p.PhoneNumberID = &v
	case segmentd.IdentifierExternalID:
		p.ExternalID = &v
	case segmentd.IdentifierAnonymousID:
		p.AnonymousID = &v
	}
}

// checkCCWrite validates a write before it is queued: the patch by
// segmentd's rules, an email address, and lists that exist.
func (s *Service) checkCCWrite(ctx context.Context, acct int64, w *CCContactWrite) error {
	fields, err := s.FieldsByID(ctx, acct)
	if err != nil {
		return err
	}
	if _, ok := w.Patch.Identifier(segmentd.IdentifierEmail); !ok {
		return segmentd.Errorf(segmentd.KindInvalid, "email_address.address", "email_address.address is required")
	}
	if err := segmentd.ValidatePatch(&w.Patch, "contact", fields); err != nil {
		return err
	}
	if w.Lists != nil {
		w.Lists = dedupe(w.Lists)
	}
	for _, id := range w.Lists {
		if _, err := s.store.List(ctx, acct, id); err != nil {
			if segmentd.ErrorKindOf(err) == segmentd.KindNotFound {
				return segmentd.Errorf(segmentd.KindInvalid, "list_memberships", "list %s does not exist", segmentd.Quote(id))
			}
			return err
		}
	}
	if w.Tags != nil {
		w.Tags = dedupe(w.Tags)
	}
	if len(w.Tags) > segmentd.MaxContactTags {
		return segmentd.Errorf(segmentd.KindInvalid, "taggings", "taggings may hold at most %d tag ids, not %d", segmentd.MaxContactTags, len(w.Tags))
	}
	for _, id := range w.Tags {
		if _, err := s.store.Tag(ctx, acct, id); err != nil {
			if segmentd.ErrorKindOf(err) == segmentd.KindNotFound {
				return segmentd.Errorf(segmentd.KindInvalid, "taggings", "tag %s does not exist", segmentd.Quote(id))
			}
			return err
		}
	}
	return nil
}

// emailFree returns KindConflict when email is a contact's other than
// except.
func (s *Service) emailFree(ctx context.Context, acct int64, email, except string) error {
	m, err := s.store.ContactsByEmails(ctx, acct, []string{email})
	if err != nil {
		return err
	}
	if c, ok := m[email]; ok && c.ID != except {
		return segmentd.Errorf(segmentd.KindConflict, "email_address.address", msgEmailTaken, segmentd.Quote(email))
	}
	return nil
}

// upsertOne writes one patch through the store's upsert and returns the
// contact as stored.
func (s *Service) upsertOne(ctx context.Context, acct int64, p segmentd.ContactPatch, lists []string, now time.Time) (segmentd.Contact, error) {
	res, err := s.store.UpsertContacts(ctx, acct, []segmentd.ContactPatch{p}, lists, now)
	if err != nil {
		return segmentd.Contact{}, err
	}
	if len(res.Errors) > 0 {
		e := res.Errors[0]
		return segmentd.Contact{}, segmentd.Errorf(segmentd.KindConflict, e.Field, "%s", e.Message)
	}
	if len(res.Contacts) == 0 || res.ListsAdded {
		// Nothing changed, or the store left the contact's lists unread
		// (UpsertResult.ListsAdded; a store reads them for one contact):
		// the contact as it is, every list with it.
		m, err := s.store.ContactsByEmails(ctx, acct, []string{*p.Email})
		return m[*p.Email], err
	}
	return res.Contacts[0], nil
}

// ccWrite runs write on the job worker and brings what it wrote to the
// engine before returning: the written contacts (and the events that were
// waiting for them), or the deletion of deleted.
func (s *Service) ccWrite(ctx context.Context, acct int64, write func() (written []segmentd.Contact, err error), deleted ...string) error {
	err := s.onWorker(ctx, func() (func(), error) {
		written, err := write()
		if err != nil {
			return nil, err
		}
		waiting, err := s.attachEvents(ctx, acct, written)
		if err != nil {
			s.log.Error("attaching waiting events", "account", acct, "err", err)
		}
		if s.cfg.Shared || s.members == nil {
			return nil, nil // a shared store's history brings it (below)
		}
		return func() {
			now := s.clock.Now()
			if len(deleted) > 0 {
				s.members.DeleteContacts(acct, deleted, now)
			}
			s.members.PutContacts(acct, written, now)
			s.members.AddEvents(acct, waiting, now)
		}, nil
	})
	if err == nil && s.cfg.Shared {
		err = s.sync(ctx, acct)
	}
	return err
}

// SignUpCCContact is Constant Contact's create-or-update by email
// (POST /v3/contacts/sign_up_form): a contact with w's email is updated
// with the fields w sets and added to w.Lists (its other lists and fields
// stay); otherwise one is created. created tells which. An address that
// is another contact's alternate email is KindConflict.
func (s *Service) SignUpCCContact(ctx context.Context, acct int64, w CCContactWrite) (c segmentd.Contact, created bool, err error) {
	if err := s.checkCCWrite(ctx, acct, &w); err != nil {
		return segmentd.Contact{}, false, err
	}
	email, _ := w.Patch.Identifier(segmentd.IdentifierEmail)
	err = s.ccWrite(ctx, acct, func() ([]segmentd.Contact, error) {
		m, err := s.store.ContactsByEmails(ctx, acct, []string{email})
		if err != nil {
			return nil, err
		}
		old, found := m[email]
		if found && old.Email != email {
			return nil, segmentd.Errorf(segmentd.KindConflict, "email_address", msgEmailTaken, segmentd.Quote(email))
		}
		now := s.clock.Now()
		if !found {
			// A deleted contact of the address is revived (the spec:
			// "Updating a deleted contact restores the contact"), with
			// the names it had unless the form gives them.
			d, err := s.store.DeletedContactByEmail(ctx, acct, email)
			switch {
			case err == nil:
				p := w.Patch
				if p.FirstName == nil {
					p.FirstName = &d.FirstName
				}
				if p.LastName == nil {
					p.LastName = &d.LastName
				}
				c, err = s.store.PutContact(ctx, acct, segmentd.ContactPut{ID: d.ID, Revive: true, Email: email, Patch: p, Lists: w.Lists, CC: w.Merge.merge(d.CC)}, now)
				return []segmentd.Contact{c}, err
			case segmentd.ErrorKindOf(err) != segmentd.KindNotFound:
				return nil, err
			}
		}
		created = !found
		if c, err = s.upsertOne(ctx, acct, w.Patch, w.Lists, now); err != nil || w.Merge.IsZero() {
			return []segmentd.Contact{c}, err
		}
		// The Constant Contact-only attributes follow, in a write of
		// their own, as a PUT's do.
		if c, err = s.store.Contact(ctx, acct, c.ID); err != nil {
			return nil, err
		}
		if _, err := s.store.SetCCDetails(ctx, acct, c.ID, w.Merge.merge(c.CC), now); err != nil {
			return nil, err
		}
		c, err = s.store.Contact(ctx, acct, c.ID)
		return []segmentd.Contact{c}, err
	})
	return c, created, err
}
