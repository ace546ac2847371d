package engine

import (
	"github.com/RoaringBitmap/roaring/v2"
	"github.com/segmentd/segmentd"
	"github.com/segmentd/segmentd/query"
)

// Transitions (docs/webhooks.md). While a sink is set, every change of a
// segment's members is noted as a segmentd.Transition: the contact, its
// email as it is at that moment, entered or left, the engine's time of
// the evaluation, and the cause the entry point that made it declared.
// The notes of one call go to the sink in one slice, in the order they
// were made, before the account's lock is released; so the sink sees
// each account's transitions in order.

// Sink takes an account's transitions. It is called with the account
// locked: it must return at once.
type Sink = func(acct int64, ts []segmentd.Transition)

// recorder is where transitions go, and which accounts they are noted for
// (wants nil: every account).
type recorder struct {
	sink  Sink
	wants func(acct int64) bool
}

// RecordTransitions sets the sink (nil stops recording) and, when wants is
// not nil, the accounts whose transitions are noted at all. The engine
// records nothing until it is set: the load at start would otherwise
// announce every member as an entry.
func (e *Engine) RecordTransitions(sink Sink, wants func(acct int64) bool) {
	if sink == nil {
		e.sink.Store(nil)
		return
	}
	e.sink.Store(&recorder{sink, wants})
}

// writerFor write-locks the account and prepares it to note transitions of
// the cause.
func (e *Engine) writerFor(acct int64, cause segmentd.TransitionCause) *account {
	a := e.writer(acct)
	a.begin(e, acct, cause)
	return a
}

// begin prepares a write-locked account to note transitions of the cause.
func (a *account) begin(e *Engine, acct int64, cause segmentd.TransitionCause) {
	r := e.sink.Load()
	a.id, a.cause, a.rec = acct, cause, r != nil && (r.wants == nil || r.wants(acct))
}

// release hands the account's noted transitions to the sink, counts the
// write and unlocks it.
func (e *Engine) release(a *account) {
	e.flushNotes(a)
	a.writes++
	a.mu.Unlock()
}

// flushNotes hands the account's noted transitions to the sink.
func (e *Engine) flushNotes(a *account) {
	if len(a.notes) == 0 {
		return
	}
	ts := a.notes
	a.notes = nil
	if r := e.sink.Load(); r != nil {
		r.sink(a.id, ts)
	}
}

// note records that contact idx entered (in) or left segment s.
func (a *account) note(s *segment, idx uint32, in bool) {
	if !a.rec {
		return
	}
	email := ""
	if col := a.text[query.FieldEmail]; int(idx) < len(col) {
		email = a.dict.str(col[idx])
	}
	a.notes = append(a.notes, segmentd.Transition{
		AccountID: a.id, SegmentID: s.id, ContactID: a.ids.str(idx), Email: email,
		Entered: in, At: unixMilli(a.stamp), Cause: a.cause,
	})
}

// noteDiff records the transitions of s's members going from old to m.
func (a *account) noteDiff(s *segment, old, m *roaring.Bitmap) {
	if !a.rec {
		return
	}
	a.noteEach(s, roaring.AndNot(old, m), false)
	a.noteEach(s, roaring.AndNot(m, old), true)
}

// noteEach records every contact of m entering (in) or leaving s.
func (a *account) noteEach(s *segment, m *roaring.Bitmap, in bool) {
	if !a.rec {
		return
	}
	it := m.Iterator()
	for it.HasNext() {
		a.note(s, it.Next(), in)
	}
}
