package audience

import (
	"context"
	"encoding/json"
	"slices"
	"strconv"
	"strings"

	"github.com/segmentd/segmentd"
)

// Constant Contact's imports (contacts_json_import, contacts_file_import)
// and sign-up form write a contact's Constant Contact-only attributes as a
// merge: the attributes a row gives are set, the others kept
// (docs/constantcontact.md "Imports").

// CCDetailsPatch is what an import row or a sign-up form gives of a
// contact's Constant Contact-only attributes (segmentd.CCDetails); a nil
// or zero member is not given, and the contact keeps its value.
type CCDetailsPatch struct {
	JobTitle    *string `json:"job_title,omitempty"`
	CompanyName *string `json:"company_name,omitempty"`
	Anniversary *string `json:"anniversary,omitempty"`
	// BirthdayMonth and BirthdayDay are given together, or are both 0.
	BirthdayMonth int `json:"birthday_month,omitempty"`
	BirthdayDay   int `json:"birthday_day,omitempty"`
	// PhoneKind and AddressKind, set by a sign-up form, are the kinds of
	// the contact's first phone number and postal address (the fields
	// SendGrid's face shares, which the form's patch writes).
	PhoneKind   *string `json:"phone_kind,omitempty"`
	AddressKind *string `json:"address_kind,omitempty"`
	// Phones and Addresses, given by an import row, are merged into the
	// contact's by kind when the import runs (mergeByKind).
	Phones    []segmentd.CCPhone `json:"phones,omitempty"`
	Addresses []CCAddressPatch   `json:"addresses,omitempty"`

	// The contact's phones and addresses after mergeByKind, when the row
	// gives some: the first one's kind and the others.
	mergedPhoneKind, mergedAddressKind string
	mergedPhones                       []segmentd.CCPhone
	mergedAddresses                    []segmentd.CCAddress
}

// CCAddressPatch is an import row's street address of one kind: the
// parts it gives (an empty part is not given). Street2 is the street's
// second line, which Constant Contact appends to the street.
type CCAddressPatch struct {
	Kind       string `json:"kind"`
	Street     string `json:"street,omitempty"`
	Street2    string `json:"street2,omitempty"`
	City       string `json:"city,omitempty"`
	State      string `json:"state,omitempty"`
	PostalCode string `json:"postal_code,omitempty"`
	Country    string `json:"country,omitempty"`
}

// IsZero reports whether p gives nothing.
func (p *CCDetailsPatch) IsZero() bool {
	return p.JobTitle == nil && p.CompanyName == nil && p.Anniversary == nil && p.BirthdayMonth == 0 &&
		p.PhoneKind == nil && p.AddressKind == nil && len(p.Phones) == 0 && len(p.Addresses) == 0
}

// merge is old with p's attributes set (the phones and addresses are
// mergeByKind's, which the patch's shared fields already carry). The write's source is Account
// (Constant Contact's opt_in_source for an import), the create source too
// when old has none.
func (p *CCDetailsPatch) merge(old segmentd.CCDetails) segmentd.CCDetails {
	d := old
	for _, f := range []struct {
		v   *string
		dst *string
	}{{p.JobTitle, &d.JobTitle}, {p.CompanyName, &d.CompanyName}, {p.Anniversary, &d.Anniversary}, {p.PhoneKind, &d.PhoneKind}, {p.AddressKind, &d.AddressKind}} {
		if f.v != nil {
			*f.dst = *f.v
		}
	}
	if len(p.Phones) > 0 {
		d.PhoneKind, d.Phones = p.mergedPhoneKind, p.mergedPhones
	}
	if len(p.Addresses) > 0 {
		d.AddressKind, d.Addresses = p.mergedAddressKind, p.mergedAddresses
	}
	if p.BirthdayMonth != 0 {
		d.BirthdayMonth, d.BirthdayDay = p.BirthdayMonth, p.BirthdayDay
	}
	d.UpdateSource = "Account"
	if d.CreateSource == "" {
		d.CreateSource = "Account"
	}
	return d
}

// CCImportRow is one contact of an import: the patch of the fields both
// vendors have and its Constant Contact-only attributes, or Err when the
// row is malformed (an error of the activity, not of the request).
type CCImportRow struct {
	Patch   segmentd.ContactPatch
	Details CCDetailsPatch
	Err     error
}

// ImportCCContacts is a JSON or CSV import (t JobCCJSONImport or
// JobCCFileImport): the good rows, validated as an upsert's, written and
// added to lists by a job, as SendGrid's upsert is, and their Constant
// Contact-only attributes merged. A malformed row (its Err, or a patch
// an upsert refuses) is one of the activity's errors, counted in its
// error_count, and the other rows are imported. path names the request's
// array in errors ("import_data").
func (s *Service) ImportCCContacts(ctx context.Context, acct int64, t segmentd.JobType, path string, rows []CCImportRow, lists []string) (segmentd.Job, error) {
	if len(rows) == 0 {
		return segmentd.Job{}, segmentd.Errorf(segmentd.KindInvalid, path, "%s must hold at least one contact", path)
	}
	if len(rows) > MaxImportContacts {
		return segmentd.Job{}, segmentd.Errorf(segmentd.KindTooLarge, path, "%s may hold at most %d contacts, not %d", path, MaxImportContacts, len(rows))
	}
	fields, err := s.FieldsByID(ctx, acct)
	if err != nil {
		return segmentd.Job{}, err
	}
	if lists, err = s.targetLists(ctx, acct, "list_ids", lists, 1); err != nil {
		return segmentd.Job{}, err
	}
	in := &jobInput{op: opCCImport, lists: lists}
	for i := range rows {
		r := &rows[i]
		if r.Err == nil {
			r.Err = segmentd.ValidatePatch(&r.Patch, path+"["+strconv.Itoa(i)+"]", fields)
		}
		if r.Err != nil {
			in.rowErrors = append(in.rowErrors, segmentd.JobError{Index: i, Message: errorMessage(r.Err)})
			continue
		}
		in.patches = append(in.patches, r.Patch)
		in.details = append(in.details, r.Details)
		in.rowOf = append(in.rowOf, i)
	}
	return s.submitActivity(ctx, acct, t, len(rows), in)
}

// errorMessage is what a client reads of err.
func errorMessage(err error) string {
	if e, ok := err.(*segmentd.Error); ok {
		return e.Message
	}
	return err.Error()
}

// applyCCImport is an import's store stage: the good rows' upsert, then
// the Constant Contact-only attributes of the rows that give some, each
// merged into the contact's (a write of its own); the job's errors are
// the malformed rows' and the upsert's, by row.
func (s *Service) applyCCImport(j *segmentd.Job, in *jobInput) (func(), error) {
	ctx := context.Background()
	acct := j.AccountID
	var publish func()
	var res segmentd.UpsertResult
	if len(in.patches) > 0 {
		if err := s.mergeByKind(ctx, acct, in); err != nil {
			return nil, err
		}
		var err error
		if res, publish, err = s.upsertBatch(acct, in.patches, in.lists); err != nil {
			return nil, err
		}
	}
	j.Created, j.Updated = res.Created, res.Updated
	failed := make(map[int]bool, len(res.Errors))
	errs := slices.Clone(in.rowErrors)
	for _, e := range res.Errors {
		failed[e.Index] = true
		e.Index = in.rowOf[e.Index]
		errs = append(errs, e)
	}
	sortJobErrors(errs)
	j.Errored = len(errs)
	j.Errors = errs[:min(len(errs), segmentd.MaxJobErrors)]
	written, err := s.mergeCCDetails(ctx, acct, in, failed)
	if err != nil {
		return nil, err
	}
	return func() {
		if publish != nil {
			publish()
		}
		if len(written) > 0 && s.members != nil && !s.cfg.Shared {
			// The attributes moved the contacts' updated_at; a shared
			// store's history brings that.
			s.members.PutContacts(acct, written, s.clock.Now())
		}
	}, nil
}

// mergeCCDetails writes the attributes of the rows that give some (and
// were not refused), and returns the contacts as they now are.
func (s *Service) mergeCCDetails(ctx context.Context, acct int64, in *jobInput, failed map[int]bool) ([]segmentd.Contact, error) {
	var emails []string
	for i := range in.details {
		if !failed[i] && !in.details[i].IsZero() && in.patches[i].Email != nil {
			emails = append(emails, *in.patches[i].Email)
		}
	}
	if len(emails) == 0 {
		return nil, nil
	}
	var written []segmentd.Contact
	now := s.clock.Now()
	const chunk = 500
	for start := 0; start < len(in.details); start += chunk {
		var es []string
		end := min(start+chunk, len(in.details))
		for i := start; i < end; i++ {
			if !failed[i] && !in.details[i].IsZero() && in.patches[i].Email != nil {
				es = append(es, *in.patches[i].Email)
			}
		}
		if len(es) == 0 {
			continue
		}
		byEmail, err := s.store.ContactsByEmails(ctx, acct, es)
		if err != nil {
			return nil, err
		}
		var ids []string
		for i := start; i < end; i++ {
			if failed[i] || in.details[i].IsZero() || in.patches[i].Email == nil {
				continue
			}
			c, ok := byEmail[*in.patches[i].Email]
			if !ok {
				continue
			}
			d := in.details[i].merge(c.CC)
			changed, err := s.store.SetCCDetails(ctx, acct, c.ID, d, now)
			if err != nil {
				return nil, err
			}
			c.CC = d
			byEmail[*in.patches[i].Email] = c // a later row of the same contact merges into this one
			if changed {
				ids = append(ids, c.ID)
			}
		}
		for _, id := range dedupe(ids) {
			c, err := s.store.Contact(ctx, acct, id)
			if err != nil {
				return nil, err
			}
			written = append(written, c)
		}
	}
	return written, nil
}

// sortJobErrors orders errors by their row.
func sortJobErrors(errs []segmentd.JobError) {
	slices.SortStableFunc(errs, func(a, b segmentd.JobError) int { return a.Index - b.Index })
}

// A row's attributes in a journal record are a JSON object.
func (e *encoder) details(p *CCDetailsPatch) {
	b, _ := json.Marshal(p) // strings, ints and slices of them: never fails
	e.str(string(b))
}

func (d *decoder) details() CCDetailsPatch {
	var p CCDetailsPatch
	if s := d.str(); d.err == nil && json.Unmarshal([]byte(s), &p) != nil {
		d.fail("a contact's attributes")
	}
	return p
}

// mergeByKind merges the phones and addresses of the import's rows that
// give some into their contacts' (read before the upsert, by email): an
// entry of a kind replaces the contact's entry of that kind (an address
// part by part), or is added; the row's entries come first when there are
// more than Constant Contact's 3. The first phone and address are the
// patch's shared fields; the kinds and the others go to the row's details
// (mergedPhones, mergedAddresses).
func (s *Service) mergeByKind(ctx context.Context, acct int64, in *jobInput) error {
	const chunk = 500
	for start := 0; start < len(in.patches); start += chunk {
		end := min(start+chunk, len(in.patches))
		var emails []string
		for i := start; i < end; i++ {
			if d := &in.details[i]; (len(d.Phones) > 0 || len(d.Addresses) > 0) && in.patches[i].Email != nil {
				emails = append(emails, *in.patches[i].Email)
			}
		}
		if len(emails) == 0 {
			continue
		}
		old, err := s.store.ContactsByEmails(ctx, acct, emails)
		if err != nil {
			return err
		}
		for i := start; i < end; i++ {
			d, p := &in.details[i], &in.patches[i]
			if p.Email == nil {
				continue
			}
			c := old[*p.Email]
			if len(d.Phones) > 0 {
				have := []segmentd.CCPhone{}
				if c.PhoneNumber != "" {
					have = append(have, segmentd.CCPhone{Number: c.PhoneNumber, Kind: c.CC.PhoneKind})
				}
				have = append(have, c.CC.Phones...)
				ps := mergeEntries(have, d.Phones, func(a segmentd.CCPhone) string { return a.Kind }, func(_, n segmentd.CCPhone) segmentd.CCPhone { return n })
				p.PhoneNumber = &ps[0].Number
				d.mergedPhoneKind, d.mergedPhones = ps[0].Kind, ps[1:]
			}
			if len(d.Addresses) > 0 {
				have := []CCAddressPatch{}
				if c.AddressLine1+c.AddressLine2+c.City+c.StateProvinceRegion+c.PostalCode+c.Country != "" {
					have = append(have, CCAddressPatch{Kind: c.CC.AddressKind, Street: c.AddressLine1, Street2: c.AddressLine2, City: c.City,
						State: c.StateProvinceRegion, PostalCode: c.PostalCode, Country: c.Country})
				}
				for _, a := range c.CC.Addresses {
					l1, l2, _ := strings.Cut(a.Street, "\n")
					have = append(have, CCAddressPatch{Kind: a.Kind, Street: l1, Street2: l2, City: a.City, State: a.State, PostalCode: a.PostalCode, Country: a.Country})
				}
				as := mergeEntries(have, d.Addresses, func(a CCAddressPatch) string { return a.Kind }, mergeAddress)
				f := as[0]
				p.AddressLine1, p.AddressLine2, p.City, p.StateProvinceRegion, p.PostalCode, p.Country = &f.Street, &f.Street2, &f.City, &f.State, &f.PostalCode, &f.Country
				d.mergedAddressKind = f.Kind
				d.mergedAddresses = []segmentd.CCAddress{}
				for _, a := range as[1:] {
					d.mergedAddresses = append(d.mergedAddresses, segmentd.CCAddress{Kind: a.Kind, Street: strings.TrimSuffix(a.Street+"\n"+a.Street2, "\n"),
						City: a.City, State: a.State, PostalCode: a.PostalCode, Country: a.Country})
				}
			}
		}
	}
	return nil
}

// mergeEntries merges given into have by kind (each given entry replaces,
// through upd, the first entry of its kind not replaced yet, or is
// added), keeping at most 3: the given ones, then the others in order.
func mergeEntries[T any](have, given []T, kind func(T) string, upd func(old, n T) T) []T {
	out := slices.Clone(have)
	replaced := make([]bool, len(out))
	var added []T
	for _, g := range given {
		i := slices.IndexFunc(out, func(h T) bool { return kind(h) == kind(g) })
		for i >= 0 && replaced[i] {
			j := slices.IndexFunc(out[i+1:], func(h T) bool { return kind(h) == kind(g) })
			if j < 0 {
				i = -1
				break
			}
			i += 1 + j
		}
		if i < 0 {
			added = append(added, g)
			continue
		}
		out[i], replaced[i] = upd(out[i], g), true
	}
	out = append(out, added...)
	if len(out) <= segmentd.MaxCCAddresses {
		return out
	}
	// Over the limit: the row's entries first, then the contact's others.
	var keep []T
	for i, e := range out {
		if i >= len(have) || replaced[i] {
			keep = append(keep, e)
		}
	}
	for i, e := range out[:len(have)] {
		if !replaced[i] && len(keep) < segmentd.MaxCCAddresses {
			keep = append(keep, e)
		}
	}
	return keep[:min(len(keep), segmentd.MaxCCAddresses)]
}

// mergeAddress sets the parts n gives on old.
func mergeAddress(old, n CCAddressPatch) CCAddressPatch {
	for _, f := range []struct{ v, dst *string }{{&n.Street, &old.Street}, {&n.Street2, &old.Street2}, {&n.City, &old.City},
		{&n.State, &old.State}, {&n.PostalCode, &old.PostalCode}, {&n.Country, &old.Country}} {
		if *f.v != "" {
			*f.dst = *f.v
		}
	}
	return old
}
