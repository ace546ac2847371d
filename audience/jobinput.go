package audience

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/segmentd/segmentd"
)

// jobOp is what a contact job does.
type jobOp byte

const (
	opUpsert jobOp = iota + 1
	opDelete
	opDeleteAll
	opDeleteIdentifier
	opRemoveFromList
	opImport
	// Constant Contact's activities (ccactivities.go).
	opListsAdd
	opListsRemove
	opCCDelete
	opTagsAdd
	opTagsRemove
	// opCCImport is a Constant Contact import: an upsert whose rows carry
	// Constant Contact-only attributes, and whose malformed rows are
	// errors of the job (ccimports.go).
	opCCImport
)

// jobInput is what a contact job applies: its request, validated and
// parsed. It is all a job needs to run, so that a job read back from the
// journal runs exactly as it would have when accepted (apply).
type jobInput struct {
	op      jobOp
	patches []segmentd.ContactPatch // opUpsert
	// lists are the lists an upsert adds its contacts to, or, for
	// opRemoveFromList, the one list.
	lists []string
	// ids are contact ids: those to delete (opDelete), to take off the list
	// (opRemoveFromList), or the one contact (opDeleteIdentifier).
	ids   []string
	ident segmentd.IdentifierType // opDeleteIdentifier
	// value is the identifier's value (opDeleteIdentifier), or the
	// import's id (opImport).
	value string
	// batches and rows are an import's stored batches and the data rows
	// they hold (opImport).
	batches int
	rows    int
	// from, all and exclude are an activity's source besides ids
	// (opListsAdd, opListsRemove, opCCDelete): the members of the lists
	// from, or every contact, less exclude.
	from    []string
	all     bool
	exclude []string
	// tags are the tags a tagging activity gives or takes (opTagsAdd,
	// opTagsRemove).
	tags []string
	// details are the Constant Contact-only attributes of each patch,
	// rowOf each patch's row in the request, and rowErrors the errors of
	// the request's malformed rows (opCCImport).
	details   []CCDetailsPatch
	rowOf     []int
	rowErrors []segmentd.JobError
}

// hasSource reports whether op's input carries an activity's source.
func (op jobOp) hasSource() bool {
	return op == opListsAdd || op == opListsRemove || op == opCCDelete || op.tagging()
}

// tagging reports whether op is a tagging activity, whose input carries
// its tags after its source.
func (op jobOp) tagging() bool { return op == opTagsAdd || op == opTagsRemove }

// items is the job's weight in its account's backlog: the contacts or ids
// it names (at least 1).
func (in *jobInput) items() int {
	return max(1, len(in.patches)+len(in.rowErrors), len(in.ids), in.rows)
}

// The journal's records (docs/jobs.md). Each starts with its kind and the
// job's id; the encoding is varints and length-prefixed strings.
const (
	recAccept  byte = 1 // the job and its input, written before the 202
	recApplied byte = 2 // the job's result, written once its transaction committed
	recDone    byte = 3 // the job's row is stored
	// recStep is an import's progress: a batch of it committed. Its job
	// resumes after the batch the last one names (its counts so far
	// included), so no batch is applied twice.
	recStep byte = 4
)

// encoder appends a record's fields.
type encoder []byte

func (e *encoder) byte(b byte)      { *e = append(*e, b) }
func (e *encoder) uint(v uint64)    { *e = binary.AppendUvarint(*e, v) }
func (e *encoder) int(v int64)      { *e = binary.AppendVarint(*e, v) }
func (e *encoder) float(f float64)  { *e = binary.LittleEndian.AppendUint64(*e, math.Float64bits(f)) }
func (e *encoder) str(s string)     { e.uint(uint64(len(s))); *e = append(*e, s...) }
func (e *encoder) time(t time.Time) { e.int(t.Unix()); e.uint(uint64(t.Nanosecond())) }
func (e *encoder) strs(ss []string) {
	e.uint(uint64(len(ss)))
	for _, s := range ss {
		e.str(s)
	}
}

// decoder reads a record's fields from one string, so that the strings it
// returns share the record's memory instead of taking an allocation each.
// The first error sticks; every read after it returns zero values.
type decoder struct {
	s   string
	err error
	// strSlab and valSlab hold the strings and custom field values that
	// a record's patches point to, many to an allocation: a 30,000-contact
	// upsert's decode made eleven allocations a contact, one for each.
	strSlab []string
	valSlab []segmentd.Value
}

// strPtr reads a string and returns a pointer to it, in strSlab.
func (d *decoder) strPtr() *string {
	if len(d.strSlab) == cap(d.strSlab) {
		d.strSlab = make([]string, 0, 1024)
	}
	d.strSlab = append(d.strSlab, d.str())
	return &d.strSlab[len(d.strSlab)-1]
}

// value returns a new zero value in valSlab.
func (d *decoder) value() *segmentd.Value {
	if len(d.valSlab) == cap(d.valSlab) {
		d.valSlab = make([]segmentd.Value, 0, 256)
	}
	d.valSlab = append(d.valSlab, segmentd.Value{})
	return &d.valSlab[len(d.valSlab)-1]
}

func (d *decoder) fail(what string) {
	if d.err == nil {
		d.err = fmt.Errorf("journal record: %s is damaged", what)
	}
}

func (d *decoder) byte() byte {
	if d.err != nil || len(d.s) < 1 {
		d.fail("a byte")
		return 0
	}
	b := d.s[0]
	d.s = d.s[1:]
	return b
}

func (d *decoder) uint() uint64 {
	if d.err != nil {
		return 0
	}
	var v uint64
	for i, shift := 0, uint(0); i < len(d.s) && i < binary.MaxVarintLen64; i, shift = i+1, shift+7 {
		b := d.s[i]
		v |= uint64(b&0x7f) << shift
		if b < 0x80 {
			d.s = d.s[i+1:]
			return v
		}
	}
	d.fail("a number")
	return 0
}

func (d *decoder) int() int64 {
	u := d.uint()
	v := int64(u >> 1)
	if u&1 != 0 {
		v = ^v
	}
	return v
}

// count reads a length that must fit in what is left of the record (each
// counted item takes at least a byte).
func (d *decoder) count() int {
	n := d.uint()
	if n > uint64(len(d.s)) {
		d.fail("a length")
		return 0
	}
	return int(n)
}

func (d *decoder) float() float64 {
	if d.err != nil || len(d.s) < 8 {
		d.fail("a number")
		return 0
	}
	f := math.Float64frombits(binary.LittleEndian.Uint64([]byte(d.s[:8])))
	d.s = d.s[8:]
	return f
}

func (d *decoder) str() string {
	n := d.count()
	if d.err != nil {
		return ""
	}
	s := d.s[:n]
	d.s = d.s[n:]
	return s
}

func (d *decoder) time() time.Time {
	sec := d.int()
	nsec := d.uint()
	if nsec >= 1e9 {
		d.fail("a time")
		return time.Time{}
	}
	return time.Unix(sec, int64(nsec)).UTC()
}

func (d *decoder) strs() []string {
	n := d.count()
	if n == 0 {
		return nil
	}
	out := make([]string, n)
	for i := range out {
		out[i] = d.str()
	}
	return out
}

// patchStrings are the patch's text fields in their fixed order in a
// record: bit i of a patch's mask says that field i is present. (A test
// checks that every field of ContactPatch comes through a record.)
var patchStrings = []func(*segmentd.ContactPatch) **string{
	func(p *segmentd.ContactPatch) **string { return &p.Email },
	func(p *segmentd.ContactPatch) **string { return &p.PhoneNumberID },
	func(p *segmentd.ContactPatch) **string { return &p.ExternalID },
	func(p *segmentd.ContactPatch) **string { return &p.AnonymousID },
	func(p *segmentd.ContactPatch) **string { return &p.FirstName },
	func(p *segmentd.ContactPatch) **string { return &p.LastName },
	func(p *segmentd.ContactPatch) **string { return &p.AddressLine1 },
	func(p *segmentd.ContactPatch) **string { return &p.AddressLine2 },
	func(p *segmentd.ContactPatch) **string { return &p.City },
	func(p *segmentd.ContactPatch) **string { return &p.StateProvinceRegion },
	func(p *segmentd.ContactPatch) **string { return &p.PostalCode },
	func(p *segmentd.ContactPatch) **string { return &p.Country },
	func(p *segmentd.ContactPatch) **string { return &p.PhoneNumber },
	func(p *segmentd.ContactPatch) **string { return &p.WhatsApp },
	func(p *segmentd.ContactPatch) **string { return &p.Line },
	func(p *segmentd.ContactPatch) **string { return &p.Facebook },
	func(p *segmentd.ContactPatch) **string { return &p.UniqueName },
}

// maskAlternates is the mask bit of AlternateEmails.
var maskAlternates = uint64(1) << len(patchStrings)

func (e *encoder) patch(p *segmentd.ContactPatch) {
	var mask uint64
	for i, f := range patchStrings {
		if *f(p) != nil {
			mask |= 1 << i
		}
	}
	if p.AlternateEmails != nil {
		mask |= maskAlternates
	}
	e.uint(mask)
	for _, f := range patchStrings {
		if v := *f(p); v != nil {
			e.str(*v)
		}
	}
	if p.AlternateEmails != nil {
		e.strs(*p.AlternateEmails)
	}
	e.uint(uint64(len(p.CustomFields)))
	for id, v := range p.CustomFields {
		e.str(id)
		if v == nil {
			e.byte(0) // clears the field
			continue
		}
		e.byte(1)
		e.str(string(v.Type))
		switch v.Type {
		case segmentd.FieldText:
			e.str(v.Text)
		case segmentd.FieldNumber:
			e.float(v.Number)
		case segmentd.FieldDate:
			e.time(v.Time)
		default:
			e.str(v.Text)
			e.float(v.Number)
			e.time(v.Time)
		}
	}
}

func (d *decoder) patch() segmentd.ContactPatch {
	var p segmentd.ContactPatch
	mask := d.uint()
	if mask >= maskAlternates<<1 {
		d.fail("a contact's fields")
		return p
	}
	for i, f := range patchStrings {
		if mask&(1<<i) != 0 {
			*f(&p) = d.strPtr()
		}
	}
	if mask&maskAlternates != 0 {
		alts := d.strs()
		if alts == nil {
			alts = []string{}
		}
		p.AlternateEmails = &alts
	}
	if n := d.count(); n > 0 {
		p.CustomFields = make(map[string]*segmentd.Value, n)
		for range n {
			id := d.str()
			if d.byte() == 0 {
				p.CustomFields[id] = nil
				continue
			}
			v := d.value()
			v.Type = segmentd.FieldType(d.str())
			switch v.Type {
			case segmentd.FieldText:
				v.Text = d.str()
			case segmentd.FieldNumber:
				v.Number = d.float()
			case segmentd.FieldDate:
				v.Time = d.time()
			default:
				v.Text, v.Number, v.Time = d.str(), d.float(), d.time()
			}
			p.CustomFields[id] = v
		}
	}
	return p
}

// encodeAccept is the record that accepts j with its input.
func encodeAccept(j *segmentd.Job, in *jobInput) []byte {
	e := encoder(make([]byte, 0, 64+len(in.patches)*128))
	e.byte(recAccept)
	e.str(j.ID)
	e.int(j.AccountID)
	e.str(string(j.Type))
	e.uint(uint64(j.Requested))
	e.time(j.StartedAt)
	e.uint(uint64(in.items()))
	e.byte(byte(in.op))
	e.strs(in.lists)
	e.strs(in.ids)
	e.str(string(in.ident))
	e.str(in.value)
	e.uint(uint64(len(in.patches)))
	for i := range in.patches {
		e.patch(&in.patches[i])
	}
	if in.op == opImport {
		e.uint(uint64(in.batches))
		e.uint(uint64(in.rows))
	}
	if in.op.hasSource() {
		e.strs(in.from)
		all := byte(0)
		if in.all {
			all = 1
		}
		e.byte(all)
		e.strs(in.exclude)
	}
	if in.op.tagging() {
		e.strs(in.tags)
	}
	if in.op == opCCImport {
		for i := range in.details {
			e.details(&in.details[i])
			e.uint(uint64(in.rowOf[i]))
		}
		e.uint(uint64(len(in.rowErrors)))
		for _, je := range in.rowErrors {
			e.uint(uint64(je.Index))
			e.str(je.Message)
		}
	}
	return e
}

// decodeAccept reads an accept record: the job, its backlog items, its
// operation, and, when withInput, its input (decoded only when the job is
// about to run).
func decodeAccept(rec []byte, withInput bool) (segmentd.Job, int, jobOp, *jobInput, error) {
	d := decoder{s: string(rec)}
	if d.byte() != recAccept {
		return segmentd.Job{}, 0, 0, nil, errors.New("journal record: not an accepted job")
	}
	j := segmentd.Job{ID: d.str(), AccountID: d.int(), Type: segmentd.JobType(d.str()), Status: segmentd.JobPending}
	j.Requested = int(d.uint())
	j.StartedAt = d.time()
	items := int(d.uint())
	op := jobOp(d.byte())
	if !withInput {
		return j, items, op, nil, d.err
	}
	in := &jobInput{op: op}
	in.lists = d.strs()
	in.ids = d.strs()
	in.ident = segmentd.IdentifierType(d.str())
	in.value = d.str()
	if n := d.count(); n > 0 {
		in.patches = make([]segmentd.ContactPatch, n)
		for i := range in.patches {
			in.patches[i] = d.patch()
		}
	}
	if in.op == opImport {
		in.batches, in.rows = int(d.uint()), int(d.uint())
	}
	if in.op.hasSource() {
		in.from = d.strs()
		in.all = d.byte() == 1
		in.exclude = d.strs()
	}
	if in.op.tagging() {
		in.tags = d.strs()
	}
	if in.op == opCCImport && len(in.patches) > 0 {
		in.details, in.rowOf = make([]CCDetailsPatch, len(in.patches)), make([]int, len(in.patches))
		for i := range in.patches {
			in.details[i] = d.details()
			in.rowOf[i] = int(d.uint())
		}
	}
	if in.op == opCCImport {
		for range d.count() {
			in.rowErrors = append(in.rowErrors, segmentd.JobError{Index: int(d.uint()), Message: d.str()})
		}
	}
	if d.err == nil && (in.op < opUpsert || in.op > opCCImport) {
		d.fail("the job's operation")
	}
	if d.err == nil && len(d.s) > 0 {
		d.fail("the record's length")
	}
	return j, items, op, in, d.err
}

// encodeApplied is the record of a job whose store stage has run: its
// counts and errors (its status follows from them, and its finish time is
// when its row is written).
func encodeApplied(j *segmentd.Job) []byte {
	var e encoder
	e.byte(recApplied)
	e.str(j.ID)
	e.uint(uint64(j.Created))
	e.uint(uint64(j.Updated))
	e.uint(uint64(j.Deleted))
	e.uint(uint64(j.Errored))
	e.uint(uint64(len(j.Errors)))
	for _, je := range j.Errors {
		e.int(int64(je.Index))
		e.str(je.Field)
		e.str(je.Message)
	}
	return e
}

// decodeApplied sets j's counts and errors from an applied record.
func decodeApplied(d *decoder, j *segmentd.Job) {
	j.Created, j.Updated, j.Deleted, j.Errored = int(d.uint()), int(d.uint()), int(d.uint()), int(d.uint())
	n := d.count()
	j.Errors = nil
	for range n {
		j.Errors = append(j.Errors, segmentd.JobError{Index: int(d.int()), Field: d.str(), Message: d.str()})
	}
}

// encodeStep is the record of an import whose batches before next have
// committed, with the job's counts so far.
func encodeStep(j *segmentd.Job, next int) []byte {
	var e encoder
	e.byte(recStep)
	e.str(j.ID)
	e.uint(uint64(next))
	e.uint(uint64(j.Created))
	e.uint(uint64(j.Updated))
	e.uint(uint64(j.Errored))
	return e
}

// decodeStep sets j's counts from a step record and returns the import's
// next batch.
func decodeStep(d *decoder, j *segmentd.Job) int {
	next := int(d.uint())
	j.Created, j.Updated, j.Errored = int(d.uint()), int(d.uint()), int(d.uint())
	return next
}

func encodeDone(id string) []byte {
	var e encoder
	e.byte(recDone)
	e.str(id)
	return e
}
