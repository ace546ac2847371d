package engine

import (
	"cmp"
	"fmt"
	"maps"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/RoaringBitmap/roaring/v2"
	"github.com/segmentd/segmentd"
	"github.com/segmentd/segmentd/criteria"
	"github.com/segmentd/segmentd/query"
)

// Engine is the membership engine of every account of one server. The zero
// value is not usable; call New.
//
// Every method takes the account id, and those that evaluate anything take
// now, the request's time: the engine has no clock of its own (time is
// injected, docs/decisions.md §1).
//
// Rebuilding from the store at start: SetFields, then PutContacts in
// batches, then AddEvents, then PutSegment for each live segment (loading
// contacts before segments skips the per-contact re-checks, and events
// before them are only recorded: loadEvents).
type Engine struct {
	mu    sync.Mutex
	accts map[int64]*account
	sink  atomic.Pointer[recorder] // transitions.go
	// marks are the transition marks of the snapshot last read
	// (SnapshotMarks).
	marks atomic.Pointer[map[int64]int64]
	// compareAbove is compareContacts but in tests.
	compareAbove uint64
	// memos are column-wise evaluation's per-value verdict buffers
	// (colwise.go), reused: one is as long as an account's dictionary.
	memos sync.Pool
	// bitsets are column-wise evaluation's bitsets (colwise.go)
	bitsets sync.Pool
	// loads are loadEvents' buffers (*loadBufs), and pages
	// PrepareEvents' (*eventPage): a rebuild passes pages of 50,000
	// events, too large for an account to keep between batches, and
	// allocating them anew for every page was about a sixth of what a
	// rebuild allocated.
	loads, pages sync.Pool
}

// New returns an empty engine.
func New() *Engine {
	return &Engine{accts: make(map[int64]*account), compareAbove: compareContacts}
}

// account is one account's index. Every field is guarded by mu.
type account struct {
	mu sync.RWMutex
	// now is the time (unix ms) the time-dependent memberships are exact
	// as of: the latest time anything was evaluated at.
	now int64

	cat      *query.Catalog
	cols     map[string]*column // custom columns by field id
	slotCols []*column          // by catalogue slot

	dict   *dict   // contact strings
	evDict *dict   // event strings
	der    derived // a preview's indexes, derived.go
	ids    contactIDs
	free   []uint32
	live   *roaring.Bitmap

	text [query.NumTextFields][]uint32
	// writes counts the write-locked sections released (release), for
	// the caches that stay exact until the next one (identifiers.go).
	writes uint64
	// idents[f] holds the contacts with identifier f set (f < numIdents:
	// email, phone_number_id, external_id, anonymous_id), for
	// IdentifierCounts by bitmap intersection.
	idents           [numIdents]*roaring.Bitmap
	created, updated []int64
	alt              map[uint32][]string
	lists            map[string]*list
	listOrder        []*list // by id
	listsDirty       bool
	tags             tagSets
	events           [][]byte // varint-encoded, see store.go
	// lastEv is the timestamp of each contact's last encoded event, which
	// the next one is encoded after (found without decoding the run).
	lastEv  []int64
	nEvents int
	// loading is set while a rebuild's events come in (PrepareEvents):
	// runs grow by doubling, and EndEvents packs them once every event
	// is in.
	loading bool
	camps   campaignSet // the campaigns of every event given, see criteria.go

	segs   map[string]*segment
	active []*segment // live segments whose query checks, by id
	progs  []*query.Program
	tsegs  []*segment // the time-dependent ones kept exact by wakes
	tprogs []*query.Program
	rescan []*segment // time-dependent ones re-evaluated in full
	need   need
	plan   timePlan
	planID string

	wakes  wakeHeap
	wakeAt []int64

	// saved holds the segment members of a snapshot just read, until
	// PutSegments adopts what it can; any contact write discards them.
	saved map[string]*savedSegment

	scratch scratch // the writer's
	evBuf   []byte  // the writer's, for encoding events
	// checks and sorted are the writer's verdict buffers of event batches
	// (contactEvents, applyChecks), reused so a batch allocates none.
	checks, sorted []eventCheck
	runs           []eventRun    // AddEventsMany's
	evs            []query.Event // AddEventsMany's merged runs
	subSegs        []*segment
	subProgs       []*query.Program
	subNeed        need
	// byTypes caches, per set of event types (eventSubset), the active
	// segments events of those types can affect; replan clears it.
	byTypes map[string]*subset

	// The writer's transition notes (transitions.go): the account's id,
	// whether a sink records them, the cause the entry point declared,
	// the time (unix ms) changes happen at, and the notes not yet sunk.
	id    int64
	rec   bool
	cause segmentd.TransitionCause
	stamp int64
	notes []segmentd.Transition
}

// subset is some of an account's active segments, with their programs and
// what they read together.
type subset struct {
	segs  []*segment
	progs []*query.Program
	pos   []int32 // the segments' positions in active
	need  need
}

func newAccount() *account {
	cat, _ := query.NewCatalog(nil)
	a := &account{cat: cat, cols: make(map[string]*column), segs: make(map[string]*segment)}
	a.resetContacts()
	return a
}

func (a *account) resetContacts() {
	a.saved = nil
	a.dict = newDict()
	a.evDict = newDict()
	a.ids, a.free = contactIDs{}, nil
	a.live = roaring.New()
	for f := range a.text {
		a.text[f] = nil
	}
	for f := range a.idents {
		a.idents[f] = roaring.New()
	}
	a.created, a.updated, a.events, a.lastEv, a.nEvents = nil, nil, nil, nil, 0
	a.der.domains, a.der.grams, a.der.latest, a.der.keyed, a.der.nKeyed = nil, nil, nil, nil, 0
	a.der.values, a.der.earliest = nil, nil
	a.der.days, a.der.dayTooBig = nil, nil
	a.alt = make(map[uint32][]string)
	a.lists, a.listOrder = make(map[string]*list), nil
	a.tags = newTagSets()
	for _, c := range a.cols {
		c.codes, c.nums, c.times = nil, nil, nil
	}
	a.wakes, a.wakeAt = nil, nil
}

// segment is one live segment of an account.
type segment struct {
	id      string
	q       *query.Query
	parent  string // parent list id, "" for all contacts
	prog    *query.Program
	err     error // why the query no longer checks; prog is nil then
	usesNow bool
	an      *analysis
	need    need
	// evTypes are the event types whose events can change its result,
	// unless evAll (query.Checked.EventTypes).
	evTypes []string
	evAll   bool
	sig     string // binding of its names in the catalogue it was compiled against
	members *roaring.Bitmap

	// cc is set for a Constant Contact segment: q is its translation, made
	// with the campaigns ccUsed (see criteria.go).
	cc     *criteria.Criteria
	ccUsed []string

	entries, exits uint64

	// idents caches IdentifierCounts (identifiers.go), read and stored
	// under the read lock.
	idents atomic.Pointer[identCounts]
}

func (e *Engine) get(acct int64) *account {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.accts[acct]
}

func (e *Engine) writer(acct int64) *account {
	e.mu.Lock()
	a, ok := e.accts[acct]
	if !ok {
		a = newAccount()
		e.accts[acct] = a
	}
	e.mu.Unlock()
	a.mu.Lock()
	return a
}

// reader read-locks the account after bringing its time-dependent segments
// to now. It returns nil (and holds no lock) for an unknown account.
func (e *Engine) reader(acct int64, now time.Time) *account {
	a := e.get(acct)
	if a == nil {
		return nil
	}
	ms := now.UnixMilli()
	a.mu.RLock()
	if a.due(ms) {
		a.mu.RUnlock()
		a.mu.Lock()
		a.begin(e, acct, segmentd.CauseClock)
		a.advance(ms)
		e.release(a)
		a.mu.RLock()
	}
	return a
}

// clock brings a write-locked account to now and returns the time to
// evaluate at: now, or the account's time if now is earlier.
func (a *account) clock(now time.Time) int64 {
	ms := now.UnixMilli()
	if ms > a.now {
		a.advance(ms)
	}
	a.stamp = a.now
	return a.now
}

// Accounts returns the ids of the accounts the engine holds, in
// ascending order (for metrics: Stats of each).
func (e *Engine) Accounts() []int64 {
	e.mu.Lock()
	defer e.mu.Unlock()
	return slices.Sorted(maps.Keys(e.accts))
}

// DropAccount forgets an account entirely (it was deleted).
func (e *Engine) DropAccount(acct int64) {
	e.mu.Lock()
	defer e.mu.Unlock()
	delete(e.accts, acct)
}

// SetFields replaces the account's custom field definitions (reserved ones
// in defs are ignored; the order of the others is their catalogue slot).
// Values are kept by field id, so a rename keeps them and a deleted field's
// values are dropped. Every segment is checked again against the new
// catalogue: one that no longer checks (its field was deleted) matches
// nobody and SegmentError reports why; one whose names now resolve to other
// fields is re-evaluated; the rest are only recompiled.
func (e *Engine) SetFields(acct int64, defs []segmentd.FieldDefinition, now time.Time) error {
	var custom []query.CustomField
	for _, d := range defs {
		if d.Reserved {
			continue
		}
		custom = append(custom, query.CustomField{ID: d.ID, Name: d.Name, Type: queryType(d.Type)})
	}
	cat, err := query.NewCatalog(custom)
	if err != nil {
		return err
	}
	a := e.writerFor(acct, segmentd.CauseDefinition)
	defer e.release(a)
	ms := a.clock(now)

	cols := make(map[string]*column, len(custom))
	slotCols := make([]*column, len(custom))
	for i, f := range custom {
		c, ok := a.cols[f.ID]
		if !ok || c.typ != f.Type {
			c = &column{id: f.ID, typ: f.Type}
		}
		cols[f.ID] = c
		slotCols[i] = c
	}
	for id, c := range a.cols {
		if cols[id] != c {
			c.releaseAll(a.dict)
		}
	}
	a.cat, a.cols, a.slotCols = cat, cols, slotCols
	a.scratch.rec.Custom = nil

	for _, s := range a.segs {
		ch, err := a.checkSegment(s)
		if err != nil {
			a.breakSegment(s, err)
			continue
		}
		sig := binding(s.an, cat)
		stale := s.prog == nil || sig != s.sig
		a.compile(s, ch, sig)
		if stale {
			a.evaluate(s, ms)
		}
	}
	a.replan(ms)
	return nil
}

func (a *account) breakSegment(s *segment, err error) {
	s.prog, s.err, s.sig = nil, err, ""
	a.noteEach(s, s.members, false)
	s.exits += s.members.GetCardinality()
	s.members.Clear()
}

func (a *account) compile(s *segment, ch *query.Checked, sig string) {
	s.prog = query.Compile(ch)
	s.err = nil
	s.sig = sig
	s.usesNow = ch.UsesNow
	s.need = needOf(ch)
	s.evTypes, s.evAll = ch.EventTypes()
}

// replan rebuilds the account's evaluation plan after segments or fields
// changed: the ordered programs, the union of what they read, and the time
// plan (recomputing every contact's wake if its shape changed).
func (a *account) replan(now int64) {
	a.active, a.progs = a.active[:0], a.progs[:0]
	a.tsegs, a.tprogs, a.rescan = a.tsegs[:0], a.tprogs[:0], a.rescan[:0]
	a.need = need{}
	a.byTypes = nil
	var plan timePlan
	ids := slices.Sorted(maps.Keys(a.segs))
	for _, id := range ids {
		s := a.segs[id]
		if s.prog == nil {
			continue
		}
		a.active = append(a.active, s)
		a.progs = append(a.progs, s.prog)
		a.need.merge(s.need)
		if !s.usesNow {
			continue
		}
		if !s.an.invertible || len(s.an.nowShifts) == 0 {
			a.rescan = append(a.rescan, s)
			continue
		}
		a.tsegs = append(a.tsegs, s)
		a.tprogs = append(a.tprogs, s.prog)
		plan.add(s.an, s.need, a.cat)
	}
	if len(a.scratch.out) < len(a.progs) {
		a.scratch.out = make([]bool, len(a.progs))
	}
	var dateIDs []string
	for _, s := range plan.dateSlots {
		dateIDs = append(dateIDs, a.slotCols[s].id)
	}
	id := fmt.Sprint(plan.nowShifts, plan.recChains, plan.consts, plan.created, plan.updated, plan.events, dateIDs)
	if len(a.tsegs) == 0 {
		id = ""
	}
	a.plan = plan
	if id != a.planID {
		a.planID = id
		a.rescheduleAll(now)
	}
}

// recheck evaluates contact idx against segs (whose programs are progs) at
// now and updates their members, counting entries and exits.
func (a *account) recheck(sc *scratch, idx uint32, now int64, segs []*segment, progs []*query.Program, n *need) {
	if len(progs) == 0 {
		return
	}
	r := a.record(idx, sc, n)
	if len(sc.out) < len(progs) {
		sc.out = make([]bool, len(progs))
	}
	out := sc.out[:len(progs)]
	query.MatchAll(progs, r, unixMilli(now), out)
	for i, s := range segs {
		a.setMember(s, idx, a.verdict(s, idx, out[i]))
	}
}

// verdict is whether contact idx belongs to s, given whether it matches
// s's query: it must also be on s's parent list, if any.
func (a *account) verdict(s *segment, idx uint32, match bool) bool {
	if match && s.parent != "" {
		l := a.lists[s.parent]
		return l != nil && l.bm.Contains(idx)
	}
	return match
}

// setMember puts contact idx in or out of s's members, counting an entry
// or an exit if that changes them.
func (a *account) setMember(s *segment, idx uint32, in bool) {
	if in == s.members.Contains(idx) {
		return
	}
	if in {
		s.members.Add(idx)
		s.entries++
	} else {
		s.members.Remove(idx)
		s.exits++
	}
	a.note(s, idx, in)
}

// candidates returns the contacts a segment with the given parent list can
// hold.
func (a *account) candidates(parent string) *roaring.Bitmap {
	if parent == "" {
		return a.live
	}
	if l := a.lists[parent]; l != nil {
		return l.bm
	}
	return roaring.New()
}

// scan evaluates prog over cands at now and returns the matching indexes in
// ascending order. Large scans are split across the machine's cores, each
// with its own scratch (reading the columns concurrently is safe: the caller
// holds the account's lock).
func (a *account) scan(prog *query.Program, n *need, cands *roaring.Bitmap, now int64) []uint32 {
	all := cands.ToArray()
	t := unixMilli(now)
	workers := runtime.GOMAXPROCS(0)
	if len(all) < 20000 || workers < 2 {
		sc := a.scanScratch(n)
		out := all[:0]
		for _, idx := range all {
			if prog.Match(a.record(idx, sc, n), t) {
				out = append(out, idx)
			}
		}
		return out
	}
	parts := make([][]uint32, workers)
	inParts(all, workers, func(w int, part []uint32) {
		sc := a.scanScratch(n)
		var out []uint32
		for _, idx := range part {
			if prog.Match(a.record(idx, sc, n), t) {
				out = append(out, idx)
			}
		}
		parts[w] = out
	})
	out := all[:0]
	for _, p := range parts {
		out = append(out, p...)
	}
	return out
}

// inParts splits all into workers contiguous parts and runs f on each
// part in a goroutine of its own; it returns when all are done.
func inParts(all []uint32, workers int, f func(w int, part []uint32)) {
	chunk := (len(all) + workers - 1) / workers
	var wg sync.WaitGroup
	for w := range workers {
		lo := min(w*chunk, len(all))
		hi := min(lo+chunk, len(all))
		wg.Go(func() { f(w, all[lo:hi]) })
	}
	wg.Wait()
}

func (a *account) scanScratch(n *need) *scratch {
	sc := &scratch{}
	if n.lists {
		sc.cursors = a.listCursors()
	}
	return sc
}

// evaluate recomputes a segment's members over all its candidates at now.
func (a *account) evaluate(s *segment, now int64) {
	if s.prog == nil {
		a.breakSegment(s, s.err)
		return
	}
	m := roaring.BitmapOf(a.scan(s.prog, &s.need, a.candidates(s.parent), now)...)
	m.RunOptimize()
	a.noteDiff(s, s.members, m)
	s.entries += roaring.AndNot(m, s.members).GetCardinality()
	s.exits += roaring.AndNot(s.members, m).GetCardinality()
	s.members = m
}

// PutContacts inserts or replaces contacts with their full state (every
// field, ListIDs, CustomFields by field id; SegmentIDs is ignored), and
// re-checks each against every live segment of the account at now,
// recording entries and exits. Events already recorded for a contact are
// kept. Custom values of fields unknown to the account are ignored.
func (e *Engine) PutContacts(acct int64, cs []segmentd.Contact, now time.Time) {
	e.putContacts(acct, cs, false, now)
}

// PutContactsAddingLists is PutContacts, except that a contact the engine
// holds stays on the lists it is on and joins those of its ListIDs (an
// upsert whose store did not read the lists of the stored contacts it
// changed, segmentd.UpsertResult.ListsAdded). An unknown contact is
// created on its ListIDs, as PutContacts would.
func (e *Engine) PutContactsAddingLists(acct int64, cs []segmentd.Contact, now time.Time) {
	e.putContacts(acct, cs, true, now)
}

// putContacts is PutContacts, or with keepLists PutContactsAddingLists.
func (e *Engine) putContacts(acct int64, cs []segmentd.Contact, keepLists bool, now time.Time) {
	a := e.writerFor(acct, segmentd.CauseContact)
	defer e.release(a)
	ms := a.clock(now)
	var d delta
	for i := range cs {
		c := &cs[i]
		idx, ok := a.ids.lookup(c.ID)
		if !ok {
			idx = a.alloc(c.ID)
		}
		a.write(idx, c, !ok, keepLists, &d)
		d.all = !ok
		a.touched(idx, ms, &d)
	}
	a.pruneLists()
	a.tags.prune()
}

// AddToLists puts contacts on lists (an upsert that changed none of their
// fields) and re-checks those that joined one; unknown ids are ignored.
func (e *Engine) AddToLists(acct int64, ids, listIDs []string, now time.Time) {
	if len(ids) == 0 || len(listIDs) == 0 {
		return
	}
	a := e.writerFor(acct, segmentd.CauseContact)
	defer e.release(a)
	ms := a.clock(now)
	ls := make([]*list, len(listIDs))
	for i, id := range listIDs {
		ls[i] = a.list(id)
	}
	for _, id := range ids {
		idx, ok := a.ids.lookup(id)
		if !ok {
			continue
		}
		d := delta{}
		for _, l := range ls {
			if l.bm.CheckedAdd(idx) {
				d.lists = true
			}
		}
		if d.lists {
			a.touched(idx, ms, &d)
		}
	}
	a.listsDirty = true // a list nobody joined
	a.pruneLists()
}

// touched re-checks a written contact against the segments its change can
// affect and reschedules its wake.
func (a *account) touched(idx uint32, now int64, d *delta) {
	a.saved = nil
	if d.all {
		a.recheck(&a.scratch, idx, now, a.active, a.progs, &a.need)
	} else {
		segs, progs := a.subSegs[:0], a.subProgs[:0]
		n := &a.subNeed
		*n = need{slots: n.slots[:0]}
		for i, s := range a.active {
			if d.affects(&s.need) || d.lists && s.parent != "" {
				segs = append(segs, s)
				progs = append(progs, a.progs[i])
				n.merge(s.need)
			}
		}
		a.subSegs, a.subProgs = segs, progs
		a.recheck(&a.scratch, idx, now, segs, progs, n)
	}
	if len(a.tsegs) > 0 && d.timeChanged(&a.plan) {
		a.schedule(idx, a.plan.wake(a.timeValues(&a.plan, idx, &a.scratch), now))
	}
}

// DeleteContacts removes contacts (unknown ids are ignored); they leave
// every segment.
func (e *Engine) DeleteContacts(acct int64, ids []string, now time.Time) {
	a := e.writerFor(acct, segmentd.CauseContact)
	defer e.release(a)
	a.clock(now)
	for _, id := range ids {
		if idx, ok := a.ids.lookup(id); ok {
			a.drop(idx)
		}
	}
	a.pruneLists()
	a.tags.prune()
}

// DeleteAllContacts removes every contact of the account; segments stay,
// empty.
func (e *Engine) DeleteAllContacts(acct int64, now time.Time) {
	a := e.writerFor(acct, segmentd.CauseContact)
	defer e.release(a)
	a.clock(now)
	for _, id := range slices.Sorted(maps.Keys(a.segs)) {
		s := a.segs[id]
		a.noteEach(s, s.members, false)
		s.exits += s.members.GetCardinality()
		s.members = roaring.New()
	}
	a.resetContacts()
}

// RemoveList takes every contact off a list (the list was deleted) and
// re-checks them.
func (e *Engine) RemoveList(acct int64, listID string, now time.Time) {
	a := e.writerFor(acct, segmentd.CauseContact)
	defer e.release(a)
	ms := a.clock(now)
	l := a.lists[listID]
	if l == nil {
		return
	}
	idxs := l.bm.ToArray()
	l.bm.Clear()
	a.listsDirty = true
	a.pruneLists()
	d := delta{lists: true}
	for _, idx := range idxs {
		a.touched(idx, ms, &d)
	}
}

// AddEvents records engagement events of a contact and re-checks it, and
// records the events' campaigns (see criteria.go). It reports false (and
// records only the campaigns) when the contact is unknown.
func (e *Engine) AddEvents(acct int64, contactID string, evs []query.Event, now time.Time) bool {
	a := e.writerFor(acct, segmentd.CauseEvent)
	defer e.release(a)
	ms := a.clock(now)
	idx, ok := a.ids.lookup(contactID)
	if ok {
		checks := a.checks[:0]
		a.contactEvents(idx, evs, ms, a.live.GetCardinality() > e.compareAbove, &checks)
		a.applyChecks(checks)
		a.checks = checks[:0]
	}
	if a.camps.noteAll(evs) {
		a.campaignsChanged(ms)
	}
	return ok
}

// PruneEvents forgets the account's events that happened before before
// (the store's retention) and re-checks the contacts that lost some.
func (e *Engine) PruneEvents(acct int64, before, now time.Time) {
	a := e.writerFor(acct, segmentd.CauseClock)
	defer e.release(a)
	ms := a.clock(now)
	cut := before.UnixMilli()
	a.der.pruneDays(cut) // the entries of the events pruned below
	for idx, run := range a.events {
		if len(run) > 0 && a.pruneEvents(uint32(idx), cut) {
			a.touched(uint32(idx), ms, &delta{events: true})
		}
	}
}

// ContactEvents are events of one contact.
type ContactEvents struct {
	ContactID string
	Events    []query.Event
}

// AddEventsMany is AddEvents for the events of many contacts, under one
// lock. The contacts are re-checked in index order and the verdicts applied
// segment by segment afterwards, so each segment's bitmap is read front to
// back instead of at random (at a million contacts, 200 segments' bitmaps
// are far larger than the caches). A contact's events of the batch apply
// together, as one AddEvents: a segment it enters and leaves within the
// batch counts neither. Of events of unknown contacts, only their
// campaigns are recorded (see criteria.go).
func (e *Engine) AddEventsMany(acct int64, batch []ContactEvents, now time.Time) {
	e.addEventsMany(acct, batch, nil, now, false)
}

// addEventsMany is AddEventsMany; load marks the account loading when it
// has no segment (loadEventsMany). noted, when not nil, are the batch's
// campaigns already noted (PrepareEvents'): the account's set takes them
// rather than each event's.
func (e *Engine) addEventsMany(acct int64, batch []ContactEvents, noted *campaignSet, now time.Time, load bool) {
	a := e.writerFor(acct, segmentd.CauseEvent)
	defer e.release(a)
	ms := a.clock(now)
	if len(a.active) == 0 {
		a.loading = a.loading || load
		bufs, _ := e.loads.Get().(*loadBufs)
		if bufs == nil {
			bufs = new(loadBufs)
		}
		a.loadEvents(batch, noted, ms, bufs)
		e.loads.Put(bufs)
		return
	}
	runs := a.runs[:0]
	camps := false
	for _, ce := range batch {
		if idx, ok := a.ids.lookup(ce.ContactID); ok {
			runs = append(runs, eventRun{idx, int32(len(runs)), ce.Events})
		}
		camps = a.camps.noteAll(ce.Events) || camps
	}
	// In index order, a contact's own runs in their order.
	slices.SortFunc(runs, func(x, y eventRun) int { return cmp.Or(cmp.Compare(x.idx, y.idx), cmp.Compare(x.at, y.at)) })
	// A contact's runs become one (SendGrid posts a message's processed,
	// delivered and open events together), so its events are decoded once.
	merged, buf := runs[:0], a.evs[:0]
	for i := 0; i < len(runs); {
		r, j := runs[i], i+1
		for j < len(runs) && runs[j].idx == r.idx {
			j++
		}
		if j > i+1 {
			from := len(buf)
			for _, o := range runs[i:j] {
				buf = append(buf, o.evs...)
			}
			r.evs = buf[from:]
		}
		merged = append(merged, r)
		i = j
	}
	runs = merged
	compare := a.live.GetCardinality() > e.compareAbove
	checks := a.checks[:0]
	for _, r := range runs {
		a.contactEvents(r.idx, r.evs, ms, compare, &checks)
		if len(checks) >= maxEventChecks {
			a.applyChecks(checks)
			checks = checks[:0]
		}
	}
	a.applyChecks(checks)
	a.checks = checks[:0]
	if cap(runs) <= keptEventRuns && cap(buf) <= keptEventRuns {
		a.runs, a.evs = runs[:0], buf[:0]
	}
	if camps {
		a.campaignsChanged(ms)
	}
}

// loadEventsMany is AddEventsMany for a rebuild's pages (PrepareEvents):
// the account's runs grow by doubling until endLoad packs them.
func (e *Engine) loadEventsMany(acct int64, batch []ContactEvents, camps *campaignSet, now time.Time) {
	e.addEventsMany(acct, batch, camps, now, true)
}

// endLoad ends the loads of loadEventsMany: the runs are packed.
func (e *Engine) endLoad(acct int64) {
	a := e.writerFor(acct, segmentd.CauseEvent)
	defer e.release(a)
	if a.loading {
		a.packEvents()
	}
}

// loadEvents is AddEventsMany for an account without a segment to check,
// as during the rebuild at start (events are loaded before segments): no
// verdict to make, so no order to sort the runs into (a contact's runs
// keep theirs) and no subset of segments to find per run; the events are
// only recorded. bufs are its buffers, reused from batch to batch. noted,
// when not nil, are the batch's campaigns (addEventsMany).
func (a *account) loadEvents(batch []ContactEvents, noted *campaignSet, ms int64, bufs *loadBufs) {
	camps := false
	if noted != nil {
		camps = a.camps.noteSet(noted)
	}
	ids, at := bufs.ids[:0], bufs.at[:0]
	for _, ce := range batch {
		ids = append(ids, ce.ContactID)
	}
	at = slices.Grow(at, len(ids))[:len(ids)]
	a.ids.lookupMany(ids, at)
	for start := 0; start < len(batch); start += loadGroup {
		end := min(start+loadGroup, len(batch))
		bufs.touched += a.touchRuns(at[start:end])
		for i := start; i < end; i++ {
			ce := &batch[i]
			if at[i] >= 0 {
				a.saved = nil // a write before the segments are loaded: see adopt
				a.addEvents(uint32(at[i]), ce.Events)
			}
			if noted == nil {
				camps = a.camps.noteAll(ce.Events) || camps
			}
		}
	}
	clear(ids)
	bufs.ids, bufs.at = ids[:0], at[:0]
	if camps {
		a.campaignsChanged(ms)
	}
}

// loadGroup is how many runs loadEvents touches (touchRuns) before it
// adds their events.
const loadGroup = 16

// touchRuns reads, for each contact of at (-1: none), the words addEvents
// will: its run's slice header and last byte and its last event's time.
// A rebuild's contacts come at random, nearly each a miss of every cache:
// read one after another, as addEvents must, each miss waits on the last;
// read here, where none depends on another, the processor has them in
// flight together. It returns a sum of what it read, which the caller
// keeps, so that the reads are not dropped.
func (a *account) touchRuns(at []int64) int64 {
	var sum int64
	for _, i := range at {
		if i < 0 {
			continue
		}
		b := a.events[i]
		if len(b) > 0 {
			sum += int64(b[len(b)-1])
		}
		sum += a.lastEv[i]
	}
	return sum
}

// loadBufs are loadEvents' buffers: the batch's contact ids and their
// indexes.
type loadBufs struct {
	ids     []string
	at      []int64
	touched int64 // touchRuns' sums, never read
}

// eventRun is events of one contact in AddEventsMany: at is its place in
// the batch.
type eventRun struct {
	idx uint32
	at  int32
	evs []query.Event
}

// keptEventRuns bounds the buffers AddEventsMany keeps for the next batch
// (a rebuild passes pages of 50,000 events).
const keptEventRuns = 1 << 14

// maxEventChecks bounds the verdicts AddEventsMany holds before applying
// them (a rebuild or replay passes millions of events at once).
const maxEventChecks = 1 << 16

// eventCheck is a segment's verdict on a contact that got events, to be
// applied to the segment's members (applyChecks).
type eventCheck struct {
	pos int32 // the segment's position in a.active
	idx uint32
	in  bool
}

// compareContacts is the account size from which contactEvents compares
// verdicts before and after a contact's events rather than with the
// segments' members: 200 segments' bitmaps of 262,144 contacts are 6.5 MB,
// more than the caches hold, so a look at one costs a trip to memory, while
// below that the second evaluation costs more than the look.
const compareContacts = 1 << 18

// contactEvents records events of contact idx, re-checks it against the
// segments they can change and moves its wake earlier if they make it so.
// With compare, it evaluates those segments before and after the events
// and appends to checks only the verdicts that changed (at now, every
// segment's members are its verdicts: the wakes keep time-dependent ones
// exact); otherwise it appends every verdict. The contact's stored events
// are decoded once (only those of the types the segments can see), for
// both evaluations: the new events are appended to the record.
func (a *account) contactEvents(idx uint32, evs []query.Event, ms int64, compare bool, checks *[]eventCheck) {
	a.saved = nil // a write before the segments are loaded: see adopt
	a.addWake(idx, evs, ms)
	sub := a.eventSubset(evs)
	n := len(sub.progs)
	if n == 0 {
		a.addEvents(idx, evs)
		return
	}
	sc := &a.scratch
	if len(sc.out) < 2*n {
		sc.out = make([]bool, 2*n)
	}
	out, before := sc.out[:n], sc.out[n:2*n]
	r := a.record(idx, sc, &sub.need)
	if compare {
		query.MatchAll(sub.progs, r, unixMilli(ms), before)
	}
	a.addEvents(idx, evs)
	r.Events = append(r.Events, evs...)
	query.MatchAll(sub.progs, r, unixMilli(ms), out)
	for i, s := range sub.segs {
		in := a.verdict(s, idx, out[i])
		if compare && (out[i] == before[i] || in == a.verdict(s, idx, before[i])) {
			continue
		}
		*checks = append(*checks, eventCheck{pos: sub.pos[i], idx: idx, in: in})
	}
}

// addWake moves contact idx's wake earlier when one of its new events'
// times makes a time-dependent condition flip sooner. Events only add time
// values, and a wake is the soonest flip over all of them, so the wake the
// contact has stands for the others (it is after now: advance has run the
// due ones); a wake too early would only cost a re-check.
func (a *account) addWake(idx uint32, evs []query.Event, ms int64) {
	if len(a.tsegs) == 0 || !a.plan.events {
		return
	}
	v := a.scratch.times[:0]
	for i := range evs {
		v = append(v, evs[i].Timestamp)
	}
	a.scratch.times = v
	cur := int64(noWake)
	if int(idx) < len(a.wakeAt) {
		cur = a.wakeAt[idx]
	}
	if w := a.plan.wake(v, ms); w < cur {
		a.schedule(idx, w)
	}
}

// applyChecks applies verdicts segment by segment (a counting sort by
// segment, which keeps each segment's verdicts in the order they were
// made: by contact index, a contact's later verdict winning).
func (a *account) applyChecks(checks []eventCheck) {
	if len(checks) == 0 {
		return
	}
	start := make([]int, len(a.active)+1)
	for _, c := range checks {
		start[c.pos+1]++
	}
	for p := 1; p < len(start); p++ {
		start[p] += start[p-1]
	}
	if cap(a.sorted) < len(checks) {
		a.sorted = make([]eventCheck, len(checks))
	}
	sorted := a.sorted[:len(checks)]
	for _, c := range checks {
		sorted[start[c.pos]] = c
		start[c.pos]++
	}
	for _, c := range sorted {
		a.setMember(a.active[c.pos], c.idx, c.in)
	}
}

// maxTypeSubsets bounds the cache of eventSubset: event types are the
// webhook's to name, so the combinations are not bounded.
const maxTypeSubsets = 64

// eventSubset returns the active segments that events of the types in evs
// can affect, computed once per set of types until the next replan.
func (a *account) eventSubset(evs []query.Event) *subset {
	types := make([]string, 0, 2)
	for i := range evs {
		if !slices.Contains(types, evs[i].Type) {
			types = append(types, evs[i].Type)
		}
	}
	var key string
	switch len(types) {
	case 0:
	case 1: // most runs: no key to build
		key = types[0]
	default:
		slices.Sort(types)
		key = strings.Join(types, "\x00")
	}
	if sub, ok := a.byTypes[key]; ok {
		return sub
	}
	sub := &subset{}
	for i, s := range a.active {
		if !s.need.events {
			continue
		}
		if !s.evAll && !slices.ContainsFunc(types, func(t string) bool { return slices.Contains(s.evTypes, t) }) {
			continue
		}
		sub.segs = append(sub.segs, s)
		sub.progs = append(sub.progs, a.progs[i])
		sub.pos = append(sub.pos, int32(i))
		sub.need.merge(s.need)
	}
	if a.byTypes == nil {
		a.byTypes = make(map[string]*subset)
	}
	if len(a.byTypes) < maxTypeSubsets {
		a.byTypes[key] = sub
	}
	return sub
}

// Check parses src in dialect lang and checks it against the account's
// current custom fields, for a segment or a contacts search alike. Errors
// are *query.Error with a position.
func (e *Engine) Check(acct int64, lang query.Lang, src string) (*query.Checked, error) {
	q, err := query.Parse(lang, src)
	if err != nil {
		return nil, err
	}
	return query.Check(q, e.catalog(acct))
}

func (e *Engine) catalog(acct int64) *query.Catalog {
	if a := e.get(acct); a != nil {
		a.mu.RLock()
		defer a.mu.RUnlock()
		return a.cat
	}
	cat, _ := query.NewCatalog(nil)
	return cat
}

// PutSegment creates or replaces segment id with the query of ch (checked
// again against the account's current fields, so a Checked from an older
// catalogue is safe), restricted to the members of parentListID when it is
// not "". Its members are evaluated over all the account's contacts at now.
// If the query no longer checks, the segment is kept, matches nobody, and
// the error is returned (and reported by SegmentError).
func (e *Engine) PutSegment(acct int64, id string, ch *query.Checked, parentListID string, now time.Time) error {
	a := e.writerFor(acct, segmentd.CauseDefinition)
	defer e.release(a)
	ms := a.clock(now)
	s := a.segmentOrNew(id)
	s.q, s.parent, s.an, s.cc = ch.Query, parentListID, analyze(ch.Query), nil
	c2, err := query.Check(ch.Query, a.cat)
	return a.settle(s, c2, err, ms)
}

// segmentOrNew returns segment id, created empty when it is new.
func (a *account) segmentOrNew(id string) *segment {
	s := a.segs[id]
	if s == nil {
		s = &segment{id: id, members: roaring.New()}
		a.segs[id] = s
	}
	return s
}

// settle finishes putting segment s, whose query checked as ch or failed
// with err: with an error it is kept and matches nobody; otherwise it is
// compiled and evaluated at ms. Either way the wakes are planned anew.
func (a *account) settle(s *segment, ch *query.Checked, err error, ms int64) error {
	if err != nil {
		a.breakSegment(s, err)
	} else {
		a.compile(s, ch, binding(s.an, a.cat))
		a.evaluate(s, ms)
	}
	a.replan(ms)
	return err
}

// SegmentDef is one segment of PutSegments: a Query, or Constant Contact
// Criteria (then Query is ignored).
type SegmentDef struct {
	ID           string
	Query        *query.Query
	Criteria     *criteria.Criteria
	ParentListID string
}

// PutSegments creates or replaces several segments at once, evaluating them
// together in one pass over the contacts (one Record per contact for all of
// them, query.MatchAll): the way to load an account's segments when the
// engine is rebuilt at start. The result holds, per def, the check error
// (nil when the segment is fine; a segment with an error is kept and
// matches nobody, as with PutSegment).
func (e *Engine) PutSegments(acct int64, defs []SegmentDef, now time.Time) []error {
	a := e.writerFor(acct, segmentd.CauseDefinition)
	defer e.release(a)
	ms := a.clock(now)
	errs := make([]error, len(defs))
	var segs []*segment
	var progs []*query.Program
	var n need
	for i, d := range defs {
		s := a.segmentOrNew(d.ID)
		s.q, s.parent, s.cc = d.Query, d.ParentListID, d.Criteria
		if s.cc == nil {
			s.an = analyze(s.q)
		}
		ch, err := a.checkSegment(s)
		if err != nil {
			a.breakSegment(s, err)
			errs[i] = err
			continue
		}
		a.compile(s, ch, binding(s.an, a.cat))
		if a.adopt(s) {
			continue
		}
		segs = append(segs, s)
		progs = append(progs, s.prog)
		n.merge(s.need)
	}
	if len(segs) > 0 {
		found := a.scanMany(progs, &n, ms)
		for i, s := range segs {
			m := found[i]
			if s.parent != "" {
				m.And(a.candidates(s.parent))
			}
			m.RunOptimize()
			a.noteDiff(s, s.members, m)
			s.entries += roaring.AndNot(m, s.members).GetCardinality()
			s.exits += roaring.AndNot(s.members, m).GetCardinality()
			s.members = m
		}
	}
	a.saved = nil
	a.replan(ms)
	return errs
}

// scanMany evaluates progs over every live contact at now, split across
// the machine's cores, and returns each program's matches. Each worker
// turns its matches into bitmaps, so only the final union (of disjoint
// ranges) is left to the caller's goroutine.
func (a *account) scanMany(progs []*query.Program, n *need, now int64) []*roaring.Bitmap {
	all := a.live.ToArray()
	t := unixMilli(now)
	workers := max(1, min(runtime.GOMAXPROCS(0), len(all)/20000))
	parts := make([][]*roaring.Bitmap, workers)
	inParts(all, workers, func(w int, part []uint32) {
		sc := a.scanScratch(n)
		out := make([]bool, len(progs))
		res := make([][]uint32, len(progs))
		for _, idx := range part {
			query.MatchAll(progs, a.record(idx, sc, n), t, out)
			for i, in := range out {
				if in {
					res[i] = append(res[i], idx)
				}
			}
		}
		bms := make([]*roaring.Bitmap, len(progs))
		for i, r := range res {
			bms[i] = roaring.BitmapOf(r...)
			res[i] = nil
		}
		parts[w] = bms
	})
	found := make([]*roaring.Bitmap, len(progs))
	for i := range found {
		bms := make([]*roaring.Bitmap, len(parts))
		for w, p := range parts {
			bms[w] = p[i]
		}
		found[i] = roaring.FastOr(bms...)
	}
	return found
}

// RemoveSegment forgets a segment.
func (e *Engine) RemoveSegment(acct int64, id string) {
	a := e.writerFor(acct, segmentd.CauseDefinition)
	defer e.release(a)
	if _, ok := a.segs[id]; ok {
		delete(a.segs, id)
		a.replan(a.now)
	}
}

// SegmentError reports why a segment matches nobody because its query no
// longer checks against the account's fields (nil when it is fine or
// unknown).
func (e *Engine) SegmentError(acct int64, id string) error {
	a := e.get(acct)
	if a == nil {
		return nil
	}
	a.mu.RLock()
	defer a.mu.RUnlock()
	if s := a.segs[id]; s != nil {
		return s.err
	}
	return nil
}

// Count returns the number of contacts in a segment as of now (0 for an
// unknown segment).
func (e *Engine) Count(acct int64, segmentID string, now time.Time) int {
	a := e.reader(acct, now)
	if a == nil {
		return 0
	}
	defer a.mu.RUnlock()
	if s := a.segs[segmentID]; s != nil {
		return int(s.members.GetCardinality())
	}
	return 0
}

// ContactCount returns the number of the account's contacts (0 for an unknown
// account). The engine holds every contact the store does once the writes
// that made them reached it (jobs pass them before they read completed),
// so this is the store's count without counting the store: a bitmap
// cardinality, whatever the account's size.
func (e *Engine) ContactCount(acct int64) int {
	a := e.get(acct)
	if a == nil {
		return 0
	}
	a.mu.RLock()
	defer a.mu.RUnlock()
	return int(a.live.GetCardinality())
}

// ListCount returns the number of contacts on a list (0 for a list nobody
// is on, or an unknown one: the engine forgets a list when its last
// contact leaves, and never learns of an empty one).
func (e *Engine) ListCount(acct int64, listID string) int {
	a := e.get(acct)
	if a == nil {
		return 0
	}
	a.mu.RLock()
	defer a.mu.RUnlock()
	if l := a.lists[listID]; l != nil {
		return int(l.bm.GetCardinality())
	}
	return 0
}

// ListSample returns up to limit contact ids of a list, the greatest
// index first: the contacts that reached the engine last. An index is
// given in the order contacts come (a rebuild reads them by id, and the
// stores issue increasing ids), so this is newest-created first, but for
// a new contact given an index a deletion freed, which it takes at that
// place. The walk from the bitmap's end stops after limit ids, so the
// cost does not grow with the list (docs/decisions.md §19).
func (e *Engine) ListSample(acct int64, listID string, limit int) []string {
	a := e.get(acct)
	if a == nil || limit <= 0 {
		return nil
	}
	a.mu.RLock()
	defer a.mu.RUnlock()
	l := a.lists[listID]
	if l == nil {
		return nil
	}
	out := make([]string, 0, min(limit, int(l.bm.GetCardinality())))
	it := l.bm.ReverseIterator()
	for it.HasNext() && len(out) < limit {
		out = append(out, a.ids.str(it.Next()))
	}
	return out
}

// Members returns up to limit contact ids of a segment as of now (all of
// them when limit < 0), in the engine's index order: deterministic for a
// given history of writes, and the same across calls until the members
// change. It is the segment's sample.
func (e *Engine) Members(acct int64, segmentID string, limit int, now time.Time) []string {
	a := e.reader(acct, now)
	if a == nil {
		return nil
	}
	defer a.mu.RUnlock()
	s := a.segs[segmentID]
	if s == nil {
		return nil
	}
	return a.idsOf(s.members, limit)
}

// MembersFrom returns up to limit contact ids of a segment as of now,
// starting at its offset-th member in index order (none past the end).
func (e *Engine) MembersFrom(acct int64, segmentID string, offset, limit int, now time.Time) []string {
	a := e.reader(acct, now)
	if a == nil {
		return nil
	}
	defer a.mu.RUnlock()
	s := a.segs[segmentID]
	if s == nil || offset < 0 || uint64(offset) >= s.members.GetCardinality() || limit <= 0 {
		return nil
	}
	first, err := s.members.Select(uint32(offset))
	if err != nil {
		return nil
	}
	out := make([]string, 0, min(limit, int(s.members.GetCardinality())-offset))
	it := s.members.Iterator()
	it.AdvanceIfNeeded(first)
	for it.HasNext() && len(out) < limit {
		out = append(out, a.ids.str(it.Next()))
	}
	return out
}

func (a *account) idsOf(m *roaring.Bitmap, limit int) []string {
	n := int(m.GetCardinality())
	if limit >= 0 && limit < n {
		n = limit
	}
	out := make([]string, 0, n)
	it := m.Iterator()
	for it.HasNext() && len(out) < n {
		out = append(out, a.ids.str(it.Next()))
	}
	return out
}

// SegmentsOf returns the sorted ids of the segments a contact is in as of
// now (a contact response's segment_ids).
func (e *Engine) SegmentsOf(acct int64, contactID string, now time.Time) []string {
	return e.SegmentsOfMany(acct, []string{contactID}, now)[0]
}

// SegmentsOfMany is SegmentsOf for several contacts, under one read lock
// and one look at the clock: out[i] holds the sorted segment ids of
// contactIDs[i] (nil for an unknown contact or one in no segment).
func (e *Engine) SegmentsOfMany(acct int64, contactIDs []string, now time.Time) [][]string {
	out := make([][]string, len(contactIDs))
	for i, sets := range e.SetsOfMany(acct, contactIDs, now) {
		out[i] = sets.SegmentIDs
	}
	return out
}

// SetsOfMany returns, for each of contactIDs, whether the engine holds
// it and its sorted list and segment ids as of now, under one read lock
// (segmentd.Membership). A contact's lists are one probe of each list's
// bitmap, about a microsecond for the 50 lists of issue 14's account,
// where the SQLite store seeks it in each list (docs/sqlite.md, "Lists
// from the engine").
func (e *Engine) SetsOfMany(acct int64, contactIDs []string, now time.Time) []segmentd.ContactSets {
	out := make([]segmentd.ContactSets, len(contactIDs))
	a := e.reader(acct, now)
	if a == nil {
		return out
	}
	defer a.mu.RUnlock()
	for i, id := range contactIDs {
		idx, ok := a.ids.lookup(id)
		if !ok {
			continue
		}
		o := &out[i]
		o.Held = true
		for _, l := range a.listOrder { // sorted by id
			if l.bm.Contains(idx) {
				o.ListIDs = append(o.ListIDs, l.id)
			}
		}
		for _, s := range a.active { // sorted by id
			if s.members.Contains(idx) {
				o.SegmentIDs = append(o.SegmentIDs, s.id)
			}
		}
	}
	return out
}

// Search evaluates a contacts-search query over all the account's contacts
// at now and returns the ids of the first limit matches (index order) and
// the total number of matches. ch is checked again against the current
// fields; the error is that check's.
func (e *Engine) Search(acct int64, ch *query.Checked, limit int, now time.Time) ([]string, int, error) {
	a := e.reader(acct, now)
	if a == nil {
		return nil, 0, nil
	}
	defer a.mu.RUnlock()
	c2, err := query.Check(ch.Query, a.cat)
	if err != nil {
		return nil, 0, err
	}
	n := needOf(c2)
	ms := max(now.UnixMilli(), a.now)
	found := a.scan(query.Compile(c2), &n, a.live, ms)
	if limit < 0 || limit > len(found) {
		limit = len(found)
	}
	ids := make([]string, limit)
	for i, idx := range found[:limit] {
		ids[i] = a.ids.str(idx)
	}
	return ids, len(found), nil
}

// Advance brings every account to now: due time-window re-checks run, and
// segments the engine cannot schedule are re-evaluated. Reads do this for
// their own account on demand, so calling Advance (say, once a second) only
// moves the work off the read path. A now earlier than an account's time is
// a deliberate clock move and re-evaluates its time-dependent segments.
func (e *Engine) Advance(now time.Time) {
	e.mu.Lock()
	accts := make(map[int64]*account, len(e.accts))
	maps.Copy(accts, e.accts)
	e.mu.Unlock()
	ms := now.UnixMilli()
	for id, a := range accts {
		a.mu.Lock()
		a.begin(e, id, segmentd.CauseClock)
		if ms < a.now {
			a.rewind(ms)
		} else {
			a.advance(ms)
		}
		e.release(a)
	}
}

// SegmentStats describes one segment.
type SegmentStats struct {
	ID            string
	Count         int
	Entries       uint64 // contacts that entered since the segment was created
	Exits         uint64
	TimeDependent bool
	// Rescan is true for a time-dependent segment whose clock expressions
	// the engine cannot schedule: it is re-evaluated in full whenever the
	// clock moves.
	Rescan bool
	Err    error
}

// Stats describes an account's index and its memory use.
type Stats struct {
	Contacts int
	Events   int
	Lists    int
	Segments []SegmentStats // by id
	// Bytes estimates the heap the account's index holds (columns,
	// dictionary, maps, bitmaps, events, wakes), each allocation rounded up
	// as Go's allocator rounds it (see memsize.go); BytesPerContact divides
	// it by Contacts. Event runs and strings that a snapshot load carved
	// out of one allocation are counted as if allocated alone, a little
	// more than they take.
	Bytes           int64
	BytesPerContact float64
	// EventBytes is the part of Bytes that holds events: the contacts'
	// event runs and their slice headers. DerivedBytes is the part the
	// preview's derived indexes hold (derived.go): the email-domain
	// column and the latest-event arrays, as far as previews built them.
	EventBytes, DerivedBytes int64
}

// Counts reports an account's contacts, segments and events (zeros for an
// unknown one): Stats without its walk of the index, cheap enough for
// every scrape of the metrics.
func (e *Engine) Counts(acct int64) (contacts, segments, events int) {
	a := e.get(acct)
	if a == nil {
		return 0, 0, 0
	}
	a.mu.RLock()
	defer a.mu.RUnlock()
	return int(a.live.GetCardinality()), len(a.segs), a.nEvents
}

// Stats reports an account's size and memory (zero for an unknown one).
func (e *Engine) Stats(acct int64) Stats {
	a := e.get(acct)
	if a == nil {
		return Stats{}
	}
	a.mu.RLock()
	defer a.mu.RUnlock()
	st := Stats{Contacts: int(a.live.GetCardinality()), Events: a.nEvents, Lists: len(a.lists)}
	b := a.dict.size() + a.evDict.size()
	b += a.ids.size() + int64(cap(a.free))*4
	b += int64(a.live.GetSizeInBytes())
	for f := range a.text {
		b += int64(cap(a.text[f])) * 4
	}
	b += int64(cap(a.created)+cap(a.updated)) * 8
	b += int64(len(a.alt)) * mapEntryBytes(4+4+24)
	for _, v := range a.alt {
		b += allocSize(int64(cap(v)) * 16)
		for _, s := range v {
			b += allocSize(int64(len(s)))
		}
	}
	st.EventBytes = int64(cap(a.events))*24 + int64(cap(a.lastEv))*8
	for _, evs := range a.events {
		st.EventBytes += allocSize(int64(cap(evs)))
	}
	st.DerivedBytes = a.der.size()
	b += st.EventBytes + st.DerivedBytes
	for _, c := range a.cols {
		b += c.size()
	}
	for _, l := range a.listOrder {
		b += int64(l.bm.GetSizeInBytes()) + 64
	}
	b += int64(cap(a.wakeAt))*8 + int64(cap(a.wakes))*16
	ids := slices.Sorted(maps.Keys(a.segs))
	for _, id := range ids {
		s := a.segs[id]
		b += int64(s.members.GetSizeInBytes())
		st.Segments = append(st.Segments, SegmentStats{
			ID: id, Count: int(s.members.GetCardinality()), Entries: s.entries, Exits: s.exits,
			TimeDependent: s.usesNow, Rescan: slices.Contains(a.rescan, s), Err: s.err,
		})
	}
	st.Bytes = b
	if st.Contacts > 0 {
		st.BytesPerContact = float64(b) / float64(st.Contacts)
	}
	return st
}
