package segmentd

import (
	"context"
	"errors"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Config holds the Service's tunable limits.
type Config struct {
	MaxCustomFields int // default MaxCustomFields
	MaxLiveSegments int // default DefaultMaxLiveSegments
	JobQueue        int // jobs waiting to run before a new one blocks its caller; default 2 (each may hold 30,000 decoded contacts)
	Refresh         RefreshMode
	SearchTimeout   time.Duration // contacts search deadline; default 20 s (SendGrid's 408)

	// Segments keeps segments; Membership answers who is in them. Both are
	// needed for the segment operations and contacts search. The offline
	// commands (accounts, keys, events load) run without Membership: their
	// writes then skip the engine, which the server rebuilds at start.
	Segments   SegmentStore
	Membership Membership
	// CCSegments keeps Constant Contact segments (nil: the Constant
	// Contact face is not served).
	CCSegments CCSegmentStore
	// MaxLiveCCSegments bounds an account's live Constant Contact segments
	// (default DefaultMaxLiveCCSegments).
	MaxLiveCCSegments int
	// Events keeps engagement events (Service.AddEvents; nil: none).
	Events EventStore
	// WebhookKeys keeps Event Webhook verification keys (nil: no account
	// has one, so webhook requests are not signature-checked).
	WebhookKeys WebhookKeyStore
	// SnapshotPath is the membership engine's snapshot file
	// (WriteSnapshot, LoadMembership); "" keeps no snapshot.
	SnapshotPath string
}

// Service applies SendGrid's rules (validation, limits, asynchronous jobs) on
// top of a Store. The API faces call it; it never knows about HTTP.
type Service struct {
	store  Store
	clock  Clock
	log    *slog.Logger
	cfg    Config
	queue  chan *jobTask // stage 1: store writes, in order
	finish chan *jobTask // stage 2: engine updates and job results, in order
	done   chan struct{}
	closed sync.Once

	pendingMu sync.Mutex
	pending   map[string]*Job // queued or running jobs, by id

	segs    SegmentStore
	members Membership
	snaps   snapshots

	snapMu   sync.Mutex      // one engine snapshot written at a time
	lastSnap *snapshotHeader // the marks of the last engine snapshot written or loaded
	loaded   *SnapshotInfo   // the snapshot LoadMembership loaded
	// prunedBefore is the retention cut of PruneEvents at start, which a
	// snapshot's events are pruned to as well.
	prunedBefore time.Time
}

// NewService returns a Service and starts its job worker. Jobs run one at a
// time in submission order, so two upserts of one contact apply in the order
// they were acknowledged.
func NewService(store Store, clock Clock, log *slog.Logger, cfg Config) *Service {
	if cfg.MaxCustomFields == 0 {
		cfg.MaxCustomFields = MaxCustomFields
	}
	if cfg.JobQueue == 0 {
		cfg.JobQueue = 2
	}
	if cfg.SearchTimeout == 0 {
		cfg.SearchTimeout = 20 * time.Second
	}
	if cfg.MaxLiveSegments == 0 {
		cfg.MaxLiveSegments = DefaultMaxLiveSegments
	}
	if cfg.MaxLiveCCSegments == 0 {
		cfg.MaxLiveCCSegments = DefaultMaxLiveCCSegments
	}
	s := &Service{store: store, clock: clock, log: log, cfg: cfg, queue: make(chan *jobTask, cfg.JobQueue), finish: make(chan *jobTask, cfg.JobQueue), done: make(chan struct{}), pending: make(map[string]*Job),
		segs: cfg.Segments, members: cfg.Membership, snaps: snapshots{m: make(map[string]*snapshot)}}
	go s.write()
	go s.complete()
	return s
}

// jobTask is a queued job. Jobs run in two stages, each one job at a time
// in submission order: write commits the job's store transaction; then
// publish passes what changed to the engine and the job is completed. The
// engine work of one job overlaps the next job's transaction.
type jobTask struct {
	job     Job
	write   func(*Job) (publish func(), err error)
	publish func()
	err     error
	// wait, when set, makes this an internal task (no job record): its
	// caller waits for it on this channel (see run).
	wait chan error
	// events, when set, makes this an event batch (AddEvents), written by
	// writeEvents instead of write.
	events *eventsJob
}

func (s *Service) write() {
	defer close(s.finish)
	var next *jobTask // taken from the queue but not yet run
	for open := true; open || next != nil; {
		t := next
		if t == nil {
			if t, open = <-s.queue; !open {
				return
			}
		}
		if t.events == nil {
			next = nil
			t.publish, t.err = t.write(&t.job)
			s.finish <- t
			continue
		}
		var group []*jobTask
		var closed bool
		group, next, closed = s.gatherEvents(t)
		open = open && !closed
		s.writeEvents(group)
		for _, g := range group {
			s.finish <- g
		}
	}
}

// gatherEvents returns event batch t with the batches of its account
// already queued behind it, up to the first other task (next, taken from
// the queue) or maxGroupedEvents; closed reports that the queue was found
// closed.
func (s *Service) gatherEvents(t *jobTask) (group []*jobTask, next *jobTask, closed bool) {
	group = []*jobTask{t}
	for n := len(t.events.evs); n < maxGroupedEvents; {
		select {
		case u, ok := <-s.queue:
			if !ok {
				return group, nil, true
			}
			if u.events == nil || u.events.acct != t.events.acct {
				return group, u, false
			}
			group = append(group, u)
			n += len(u.events.evs)
		default:
			return group, nil, false
		}
	}
	return group, nil, false
}

func (s *Service) complete() {
	defer close(s.done)
	for t := range s.finish {
		if t.wait != nil {
			if t.err == nil && t.publish != nil {
				t.publish()
			}
			t.wait <- t.err
			continue
		}
		j := &t.job
		if t.err != nil {
			s.log.Error("job failed", "job_id", j.ID, "account", j.AccountID, "type", j.Type, "err", t.err)
			j.Errored = j.Requested
			msg := "the job could not be processed"
			var e *Error
			if errors.As(t.err, &e) {
				msg = e.Message
			}
			j.Errors = []JobError{{Index: -1, Message: msg}}
		} else if t.publish != nil {
			t.publish()
		}
		j.Finish(s.clock.Now())
		// Reads see the result at once; the row follows, so that writing it
		// never holds up the reader waiting for the store's writer.
		s.pendingMu.Lock()
		final := *j
		s.pending[j.ID] = &final
		s.pendingMu.Unlock()
		if err := s.store.CreateJob(context.Background(), final); err != nil {
			s.log.Error("recording job result", "job_id", j.ID, "err", err)
		}
		s.pendingMu.Lock()
		delete(s.pending, j.ID)
		s.pendingMu.Unlock()
	}
}

// Close finishes the queued jobs and stops the worker. It does not close the store.
func (s *Service) Close() {
	s.closed.Do(func() { close(s.queue) })
	<-s.done
}

// Store returns the underlying store (for wiring and tests).
func (s *Service) Store() Store { return s.store }

// Clock returns the service's clock.
func (s *Service) Clock() Clock { return s.clock }

// Principal is an authenticated caller: the account acted on and the key used.
type Principal struct {
	Account Account
	Key     APIKey
}

// Authenticate resolves an API key secret, and optionally SendGrid's
// on-behalf-of subuser name, to the account the request acts on. need is the
// scope the operation requires.
func (s *Service) Authenticate(ctx context.Context, secret, onBehalfOf string, need Scope) (Principal, error) {
	if secret == "" {
		return Principal{}, Errorf(KindUnauthorized, "", "authorization required")
	}
	key, err := s.store.APIKeyByHash(ctx, HashAPIKey(secret))
	if ErrorKindOf(err) == KindNotFound {
		return Principal{}, Errorf(KindUnauthorized, "", "authorization required")
	}
	if err != nil {
		return Principal{}, err
	}
	acct, err := s.store.Account(ctx, key.AccountID)
	if err != nil {
		return Principal{}, err
	}
	if onBehalfOf = strings.TrimSpace(onBehalfOf); onBehalfOf != "" {
		// "account-id <id>" addresses a customer account by id; anything else
		// is a subuser's name (sendgrid-api.md §0).
		var sub Account
		if rest, ok := strings.CutPrefix(onBehalfOf, "account-id "); ok {
			id, perr := strconv.ParseInt(strings.TrimSpace(rest), 10, 64)
			if perr != nil {
				return Principal{}, Errorf(KindForbidden, "on-behalf-of", "on-behalf-of: account %q is not a subuser of this account", rest)
			}
			sub, err = s.store.Account(ctx, id)
		} else {
			sub, err = s.store.AccountByName(ctx, onBehalfOf)
		}
		if ErrorKindOf(err) == KindNotFound || err == nil && sub.ParentID != acct.ID {
			return Principal{}, Errorf(KindForbidden, "on-behalf-of", "on-behalf-of: %q is not a subuser of this account", onBehalfOf)
		}
		if err != nil {
			return Principal{}, err
		}
		acct = sub
	}
	if !key.Has(need) {
		return Principal{}, Errorf(KindForbidden, "", "access forbidden: this API key lacks the %s scope", need)
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
		_, err := s.store.APIKeyByHash(ctx, HashAPIKey(secret))
		if ErrorKindOf(err) != KindNotFound {
			return "", err
		}
		_, err = s.store.CreateAPIKey(ctx, APIKey{AccountID: acct.ID, Name: "bootstrap (--api-key)", Hash: HashAPIKey(secret), Scopes: AllScopes, CreatedAt: s.clock.Now()})
		return "", err
	}
	n, err := s.store.CountAPIKeys(ctx)
	if err != nil || n > 0 {
		return "", err
	}
	generated = NewAPIKeySecret()
	_, err = s.store.CreateAPIKey(ctx, APIKey{AccountID: acct.ID, Name: "bootstrap (generated)", Hash: HashAPIKey(generated), Scopes: AllScopes, CreatedAt: s.clock.Now()})
	return generated, err
}

// EnsureDefaultAccount returns the default account, creating it on first use.
func (s *Service) EnsureDefaultAccount(ctx context.Context) (Account, error) {
	acct, err := s.store.AccountByName(ctx, DefaultAccountName)
	if ErrorKindOf(err) == KindNotFound {
		acct, err = s.store.CreateAccount(ctx, DefaultAccountName, 0, s.clock.Now())
	}
	return acct, err
}

// CreateAccount creates an account; with a non-empty parent it is a subuser
// of the account of that name.
func (s *Service) CreateAccount(ctx context.Context, name, parent string) (Account, error) {
	if name == "" {
		return Account{}, Errorf(KindInvalid, "name", "account name is required")
	}
	var parentID int64
	if parent != "" {
		p, err := s.store.AccountByName(ctx, parent)
		if err != nil {
			return Account{}, err
		}
		parentID = p.ID
	}
	return s.store.CreateAccount(ctx, name, parentID, s.clock.Now())
}

// CreateAPIKey creates a key for the named account and returns its secret,
// which is shown once and never stored.
func (s *Service) CreateAPIKey(ctx context.Context, account, name string, scopes []Scope) (string, APIKey, error) {
	acct, err := s.store.AccountByName(ctx, account)
	if err != nil {
		return "", APIKey{}, err
	}
	if len(scopes) == 0 {
		scopes = AllScopes
	}
	secret := NewAPIKeySecret()
	k, err := s.store.CreateAPIKey(ctx, APIKey{AccountID: acct.ID, Name: name, Hash: HashAPIKey(secret), Scopes: scopes, CreatedAt: s.clock.Now()})
	return secret, k, err
}

// --- custom field definitions

// FieldDefinitions returns the account's custom fields.
func (s *Service) FieldDefinitions(ctx context.Context, acct int64) ([]FieldDefinition, error) {
	return s.store.FieldDefinitions(ctx, acct)
}

// FieldsByID returns the account's custom fields keyed by id.
func (s *Service) FieldsByID(ctx context.Context, acct int64) (map[string]FieldDefinition, error) {
	defs, err := s.store.FieldDefinitions(ctx, acct)
	if err != nil {
		return nil, err
	}
	m := make(map[string]FieldDefinition, len(defs))
	for _, d := range defs {
		m[d.ID] = d
	}
	return m, nil
}

// CreateField creates a custom field definition.
func (s *Service) CreateField(ctx context.Context, acct int64, name string, t FieldType) (FieldDefinition, error) {
	if err := ValidateFieldName(name); err != nil {
		return FieldDefinition{}, err
	}
	switch t {
	case FieldText, FieldNumber, FieldDate:
	default:
		return FieldDefinition{}, Errorf(KindInvalid, "field_type", "field_type must be one of Text, Number, Date")
	}
	f, err := s.store.CreateFieldDefinition(ctx, acct, name, t, s.cfg.MaxCustomFields, s.clock.Now())
	if err != nil {
		return f, err
	}
	return f, s.fieldsChanged(ctx, acct)
}

// RenameField renames a custom field; its type never changes. Stored values
// are keyed by id, so contacts keep their values under the new name.
func (s *Service) RenameField(ctx context.Context, acct int64, id, name string) (FieldDefinition, error) {
	if isReservedFieldID(id) {
		return FieldDefinition{}, Errorf(KindInvalid, "custom_field_id", "reserved field %q cannot be updated", id)
	}
	if err := ValidateFieldName(name); err != nil {
		return FieldDefinition{}, err
	}
	f, err := s.store.RenameFieldDefinition(ctx, acct, id, name)
	if err != nil {
		return f, err
	}
	return f, s.fieldsChanged(ctx, acct)
}

// DeleteField deletes a custom field and its value on every contact.
func (s *Service) DeleteField(ctx context.Context, acct int64, id string) error {
	if isReservedFieldID(id) {
		return Errorf(KindInvalid, "custom_field_id", "reserved field %q cannot be deleted", id)
	}
	if err := s.store.DeleteFieldDefinition(ctx, acct, id); err != nil {
		return err
	}
	return s.fieldsChanged(ctx, acct)
}

func isReservedFieldID(id string) bool {
	for _, f := range ReservedFields {
		if f.ID == id {
			return true
		}
	}
	return false
}

// --- lists

// ListPage is one page of lists.
type ListPage struct {
	Lists []List
	Next  string // page token of the next page, "" on the last page
	Total int
}

// CreateList creates a list.
func (s *Service) CreateList(ctx context.Context, acct int64, name string) (List, error) {
	if err := validateListName(name); err != nil {
		return List{}, err
	}
	return s.store.CreateList(ctx, acct, name, s.clock.Now())
}

func validateListName(name string) error {
	if strings.TrimSpace(name) == "" {
		return Errorf(KindInvalid, "name", "name is required")
	}
	if len([]rune(name)) > MaxListNameLength {
		return Errorf(KindInvalid, "name", "name must be at most %d characters", MaxListNameLength)
	}
	return nil
}

// Lists returns one page of lists. pageToken is the opaque token of a
// previous page's Next (the id of the last list on that page).
func (s *Service) Lists(ctx context.Context, acct int64, pageToken string, pageSize int) (ListPage, error) {
	if pageSize == 0 {
		pageSize = DefaultListPageSize
	}
	if pageSize < 1 || pageSize > MaxListPageSize {
		return ListPage{}, Errorf(KindInvalid, "page_size", "page_size must be between 1 and %d", MaxListPageSize)
	}
	if pageToken != "" && !IsUUID(pageToken) {
		return ListPage{}, Errorf(KindInvalid, "page_token", "page_token is not a valid page token")
	}
	lists, err := s.store.Lists(ctx, acct, pageToken, pageSize+1)
	if err != nil {
		return ListPage{}, err
	}
	total, err := s.store.CountLists(ctx, acct)
	if err != nil {
		return ListPage{}, err
	}
	page := ListPage{Lists: lists, Total: total}
	if len(lists) > pageSize {
		page.Lists = lists[:pageSize]
		page.Next = lists[pageSize-1].ID
	}
	return page, nil
}

// List returns a list and, when sample is set, up to 50 of its most
// recently added contacts.
func (s *Service) List(ctx context.Context, acct int64, id string, sample bool) (List, []Contact, error) {
	l, err := s.store.List(ctx, acct, id)
	if err != nil || !sample {
		return l, nil, err
	}
	cs, err := s.store.ListSample(ctx, acct, id, ListSampleSize)
	return l, s.withSegmentIDs(acct, cs, s.clock.Now()), err
}

// RenameList changes a list's name.
func (s *Service) RenameList(ctx context.Context, acct int64, id, name string) (List, error) {
	if err := validateListName(name); err != nil {
		return List{}, err
	}
	return s.store.RenameList(ctx, acct, id, name, s.clock.Now())
}

// DeleteList deletes a list at once. With deleteContacts, the contacts that
// were on it are deleted by a job whose id is returned.
func (s *Service) DeleteList(ctx context.Context, acct int64, id string, deleteContacts bool) (string, error) {
	members, err := s.store.DeleteList(ctx, acct, id)
	if err != nil {
		return "", err
	}
	if s.members != nil {
		s.members.DeleteList(acct, id, s.clock.Now())
	}
	if !deleteContacts {
		return "", nil
	}
	return s.submit(ctx, acct, JobDelete, len(members), func(j *Job) (func(), error) {
		n, err := s.store.DeleteContacts(context.Background(), acct, members)
		j.Deleted = n
		return func() { s.contactsDeleted(acct, members) }, err
	})
}

// RemoveListContacts takes contacts off a list (they are not deleted) in a job.
func (s *Service) RemoveListContacts(ctx context.Context, acct int64, listID string, contactIDs []string) (string, error) {
	if len(contactIDs) == 0 {
		return "", Errorf(KindInvalid, "contact_ids", "contact_ids is required")
	}
	if len(contactIDs) > MaxListRemoveIDs {
		return "", Errorf(KindTooLarge, "contact_ids", "contact_ids may hold at most %d ids", MaxListRemoveIDs)
	}
	for _, id := range contactIDs {
		if !IsUUID(id) {
			return "", Errorf(KindInvalid, "contact_ids", "contact id %q is not a valid UUID", id)
		}
	}
	if _, err := s.store.List(ctx, acct, listID); err != nil {
		return "", err
	}
	found, err := s.store.ContactsByIDs(ctx, acct, contactIDs)
	if err != nil {
		return "", err
	}
	if len(found) != len(dedupe(contactIDs)) {
		return "", Errorf(KindNotFound, "contact_ids", "one or more contact ids do not exist")
	}
	return s.submit(ctx, acct, JobDelete, len(contactIDs), func(j *Job) (func(), error) {
		n, err := s.store.RemoveListMembers(context.Background(), acct, listID, contactIDs)
		j.Deleted = n
		return func() { s.contactsChanged(context.Background(), acct, contactIDs) }, err
	})
}

// ListContactCount returns the number of contacts on a list.
func (s *Service) ListContactCount(ctx context.Context, acct int64, id string) (int, error) {
	l, err := s.store.List(ctx, acct, id)
	return l.ContactCount, err
}

// --- contacts

// UpsertContacts validates an upsert and queues it as a job; it returns the
// job id. Validation failures reject the whole request and store nothing.
func (s *Service) UpsertContacts(ctx context.Context, acct int64, patches []ContactPatch, listIDs []string) (string, error) {
	if len(patches) == 0 {
		return "", Errorf(KindInvalid, "contacts", "contacts must hold at least one contact")
	}
	if len(patches) > MaxUpsertContacts {
		return "", Errorf(KindTooLarge, "contacts", "contacts may hold at most %d contacts per request", MaxUpsertContacts)
	}
	fields, err := s.FieldsByID(ctx, acct)
	if err != nil {
		return "", err
	}
	for i := range patches {
		if err := ValidatePatch(&patches[i], "contacts["+strconv.Itoa(i)+"]", fields); err != nil {
			return "", err
		}
	}
	listIDs = dedupe(listIDs)
	for _, id := range listIDs {
		if !IsUUID(id) {
			return "", Errorf(KindInvalid, "list_ids", "list id %q is not a valid UUID", id)
		}
		if _, err := s.store.List(ctx, acct, id); err != nil {
			if ErrorKindOf(err) == KindNotFound {
				return "", Errorf(KindNotFound, "list_ids", "list %q does not exist", id)
			}
			return "", err
		}
	}
	return s.submit(ctx, acct, JobUpsert, len(patches), func(j *Job) (func(), error) {
		res, err := s.store.UpsertContacts(context.Background(), acct, patches, listIDs, s.clock.Now())
		if err != nil {
			return nil, err
		}
		j.Created, j.Updated = res.Created, res.Updated
		j.Errored = len(res.Errors)
		j.Errors = res.Errors
		if len(j.Errors) > MaxJobErrors {
			j.Errors = j.Errors[:MaxJobErrors]
		}
		// Events that arrived before their contact count from now on.
		waiting, err := s.attachEvents(context.Background(), acct, res.Contacts)
		if err != nil {
			s.log.Error("attaching waiting events", "account", acct, "err", err)
		}
		return func() {
			if s.members != nil {
				now := s.clock.Now()
				s.members.PutContacts(acct, res.Contacts, now)
				s.members.AddEvents(acct, waiting, now)
			}
		}, nil
	})
}

// submit queues a job and returns its id at once. A job lives in memory
// until it has finished: it reads completed only after its transaction has
// committed and the engine has taken its changes; its row is written then.
// Acknowledging a request never waits for the store's single writer (which
// the running job holds). A job lost to a crash before it finished is
// unknown after the restart, and none of its writes were acknowledged.
func (s *Service) submit(ctx context.Context, acct int64, t JobType, requested int, write func(*Job) (publish func(), err error)) (string, error) {
	task := &jobTask{job: Job{ID: NewID(), AccountID: acct, Type: t, Status: JobPending, Requested: requested, StartedAt: s.clock.Now()}, write: write}
	pending := task.job
	s.pendingMu.Lock()
	s.pending[pending.ID] = &pending
	s.pendingMu.Unlock()
	select {
	case s.queue <- task:
	case <-ctx.Done():
		s.pendingMu.Lock()
		delete(s.pending, pending.ID)
		s.pendingMu.Unlock()
		return "", ctx.Err()
	}
	return pending.ID, nil
}

// Job returns a job by id, pending or finished.
func (s *Service) Job(ctx context.Context, acct int64, id string) (Job, error) {
	s.pendingMu.Lock()
	j, ok := s.pending[id]
	var pending Job
	if ok {
		pending = *j
	}
	s.pendingMu.Unlock()
	if ok {
		if pending.AccountID != acct {
			return Job{}, Errorf(KindNotFound, "id", "job %q does not exist", id)
		}
		return pending, nil
	}
	return s.store.Job(ctx, acct, id)
}

// SampleContacts returns up to 50 recent contacts sorted by email, and the
// account's contact count.
func (s *Service) SampleContacts(ctx context.Context, acct int64) ([]Contact, int, error) {
	cs, err := s.store.SampleContacts(ctx, acct, ListSampleSize)
	if err != nil {
		return nil, 0, err
	}
	n, err := s.store.CountContacts(ctx, acct)
	return s.withSegmentIDs(acct, cs, s.clock.Now()), n, err
}

// Contact returns one contact.
func (s *Service) Contact(ctx context.Context, acct int64, id string) (Contact, error) {
	c, err := s.store.Contact(ctx, acct, id)
	if err == nil && s.members != nil {
		c.SegmentIDs = s.sendGridSegmentsOf(acct, c.ID, s.clock.Now())
	}
	return c, err
}

// MaxBatchIDs is the limit of POST /contacts/batch and of search by identifiers.
const MaxBatchIDs = 100

// ContactsByIDs returns the contacts that exist among ids (at most 100).
func (s *Service) ContactsByIDs(ctx context.Context, acct int64, ids []string) ([]Contact, error) {
	if len(ids) == 0 {
		return nil, Errorf(KindInvalid, "ids", "ids is required")
	}
	if len(ids) > MaxBatchIDs {
		return nil, Errorf(KindTooLarge, "ids", "ids may hold at most %d ids", MaxBatchIDs)
	}
	cs, err := s.store.ContactsByIDs(ctx, acct, ids)
	return s.withSegmentIDs(acct, cs, s.clock.Now()), err
}

// MaxSearchEmails bounds POST /contacts/search/emails (segmentd's limit;
// SendGrid states none).
const MaxSearchEmails = 100

// ContactsByEmails looks addresses up among emails and alternate emails.
// Empty strings are ignored; any malformed address rejects the request
// (sendgrid-api.md §1). The map is keyed by the lower-cased address.
func (s *Service) ContactsByEmails(ctx context.Context, acct int64, emails []string) ([]string, map[string]Contact, error) {
	var keys []string
	for i, e := range emails {
		if strings.TrimSpace(e) == "" {
			continue
		}
		if len(e) > 100 {
			return nil, nil, Errorf(KindInvalid, "emails["+strconv.Itoa(i)+"]", "email %q is longer than 100 characters", e)
		}
		n := NormalizeEmail(e)
		if !ValidEmail(n) {
			return nil, nil, Errorf(KindInvalid, "emails["+strconv.Itoa(i)+"]", "email %q is not a valid email address", e)
		}
		keys = append(keys, n)
	}
	if len(keys) == 0 {
		return nil, nil, Errorf(KindInvalid, "emails", "emails must hold at least one address")
	}
	if len(keys) > MaxSearchEmails {
		return nil, nil, Errorf(KindTooLarge, "emails", "emails may hold at most %d addresses", MaxSearchEmails)
	}
	keys = dedupe(keys)
	found, err := s.store.ContactsByEmails(ctx, acct, keys)
	return keys, s.mapWithSegmentIDs(acct, found), err
}

// ContactsByIdentifier looks contacts up by one identifier type.
func (s *Service) ContactsByIdentifier(ctx context.Context, acct int64, t IdentifierType, values []string) (map[string]Contact, error) {
	if len(values) == 0 {
		return nil, Errorf(KindInvalid, "identifiers", "identifiers must hold at least one value")
	}
	if len(values) > MaxBatchIDs {
		return nil, Errorf(KindTooLarge, "identifiers", "identifiers may hold at most %d values", MaxBatchIDs)
	}
	for i, v := range values {
		if strings.TrimSpace(v) == "" {
			return nil, Errorf(KindInvalid, "identifiers["+strconv.Itoa(i)+"]", "identifier must not be empty")
		}
		if t == IdentifierEmail {
			values[i] = NormalizeEmail(v)
			if !ValidEmail(values[i]) {
				return nil, Errorf(KindInvalid, "identifiers["+strconv.Itoa(i)+"]", "email %q is not a valid email address", v)
			}
		}
	}
	found, err := s.store.ContactsByIdentifier(ctx, acct, t, dedupe(values))
	return s.mapWithSegmentIDs(acct, found), err
}

// CountContacts returns the account's number of contacts.
func (s *Service) CountContacts(ctx context.Context, acct int64) (int, error) {
	return s.store.CountContacts(ctx, acct)
}

// MaxDeleteIDs bounds DELETE /contacts?ids= (segmentd's limit; SendGrid
// states none).
const MaxDeleteIDs = 30000

// DeleteContacts deletes contacts by id, or all of them, in a job. Exactly
// one of ids and all must be given.
func (s *Service) DeleteContacts(ctx context.Context, acct int64, ids []string, all bool) (string, error) {
	if (len(ids) > 0) == all {
		return "", Errorf(KindInvalid, "ids", "exactly one of ids or delete_all_contacts=true must be given")
	}
	if all {
		n, err := s.store.CountContacts(ctx, acct)
		if err != nil {
			return "", err
		}
		return s.submit(ctx, acct, JobDelete, n, func(j *Job) (func(), error) {
			d, err := s.store.DeleteAllContacts(context.Background(), acct)
			j.Deleted = d
			return func() {
				if s.members != nil {
					s.members.DeleteAllContacts(acct, s.clock.Now())
				}
			}, err
		})
	}
	if len(ids) > MaxDeleteIDs {
		return "", Errorf(KindTooLarge, "ids", "ids may hold at most %d contact ids", MaxDeleteIDs)
	}
	for _, id := range ids {
		if !IsUUID(id) {
			return "", Errorf(KindInvalid, "ids", "contact id %q is not a valid UUID", id)
		}
	}
	ids = dedupe(ids)
	return s.submit(ctx, acct, JobDelete, len(ids), func(j *Job) (func(), error) {
		d, err := s.store.DeleteContacts(context.Background(), acct, ids)
		j.Deleted = d
		return func() { s.contactsDeleted(acct, ids) }, err
	})
}

// DeleteIdentifier removes one identifier from a contact in a job. Removing
// the contact's last identifier fails the job, as at SendGrid.
func (s *Service) DeleteIdentifier(ctx context.Context, acct int64, contactID string, t IdentifierType, value string) (string, error) {
	if value == "" {
		return "", Errorf(KindInvalid, "identifier_value", "identifier_value is required")
	}
	if t == IdentifierEmail {
		value = NormalizeEmail(value)
	}
	if _, err := s.store.Contact(ctx, acct, contactID); err != nil {
		return "", err
	}
	return s.submit(ctx, acct, JobDelete, 1, func(j *Job) (func(), error) {
		if err := s.store.DeleteIdentifier(context.Background(), acct, contactID, t, value, s.clock.Now()); err != nil {
			return nil, err
		}
		j.Deleted = 1
		return func() { s.contactsChanged(context.Background(), acct, []string{contactID}) }, nil
	})
}

func dedupe(s []string) []string {
	seen := make(map[string]bool, len(s))
	out := s[:0:0]
	for _, v := range s {
		if !seen[v] {
			seen[v] = true
			out = append(out, v)
		}
	}
	return out
}
