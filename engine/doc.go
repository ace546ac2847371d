// Package engine is segmentd's membership engine: an in-memory, columnar
// index of each account's contacts and engagement events that answers "who
// is in this segment" exactly and at once (docs/decisions.md §1).
//
// Per account, contacts get a dense uint32 index (reused after a delete);
// their reserved text fields and custom text values are dictionary-encoded
// uint32 columns, Number and Date custom fields are typed columns keyed by
// field id, list membership is one roaring bitmap per list, events are a
// compact per-contact slice of dictionary codes. Every live segment holds
// its members as a roaring bitmap. A write re-checks the written contacts
// against every live segment of the account (query.MatchAll over a
// query.Record materialised from the columns into a reused buffer) and
// records entries and exits; segments that read the clock are kept exact as
// time passes by per-contact wake times (see timewin.go).
//
// A contact id is held as its 16 UUID bytes, with a hash table from id to
// index (contactids.go). At 1M contacts and 10M events an account's index
// takes about 360 bytes a contact of Go heap; Stats estimates it, rounding
// allocations as the allocator does (docs/snapshot.md).
//
// A write re-checks only the segments whose inputs it changed (the
// per-contact delta against what each query reads, query.Checked.Inputs); a
// new contact is checked against all of them. New events re-check only the
// segments that events of their types can change (query.Checked.EventTypes),
// and AddEventsMany applies a batch's changed verdicts segment by segment.
//
// Rebuilding at start: SetFields, PutContacts in pages, AddEvents, then
// PutSegments with every live segment (one pass over the contacts for all
// of them). Loading contacts and events before segments exist costs no
// re-checks.
//
// The engine never defines what a query means: it evaluates query.Program,
// the query package's compiled form, asks the query package what a query
// reads (to know which parts of a contact to materialise), and reads the
// AST only for the names it binds and to know when a clock comparison can
// flip.
//
// It imports the domain package, the query package and roaring, never
// net/http or a store: the service feeds it (and rebuilds it from the store
// at start) and the API faces read counts, samples and segment_ids from it.
// It holds no package-level mutable state; an Engine is safe for concurrent
// use, with readers of an account in parallel and writers exclusive
// (one sync.RWMutex per account). Accounts never share data.
package engine
