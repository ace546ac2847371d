package audience

import (
	"context"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/segmentd/segmentd"
)

// The control plane (docs/admin.md): accounts created with a key in one
// call, listed, reset and deleted, and API keys listed and revoked, for
// the admin face and the command line.

// MaxAccountName is the longest account name, in characters.
const MaxAccountName = 64

// checkAccountName checks a new account's name. It is what SendGrid's
// On-Behalf-Of header names a subuser by, which segmentd reads trimmed,
// and "account-id <id>" there names an account by id
// (docs/decisions.md §15): a name must read the same in that header.
func checkAccountName(name string) error {
	switch {
	case name == "":
		return segmentd.Errorf(segmentd.KindInvalid, "name", "account name is required")
	case utf8.RuneCountInString(name) > MaxAccountName:
		return segmentd.Errorf(segmentd.KindInvalid, "name", "account name %s is longer than %d characters", segmentd.Quote(name), MaxAccountName)
	case strings.TrimSpace(name) != name:
		return segmentd.Errorf(segmentd.KindInvalid, "name", "account name %s begins or ends with white space", segmentd.Quote(name))
	case strings.HasPrefix(name, "account-id "):
		return segmentd.Errorf(segmentd.KindInvalid, "name", "account name %s would read as an account id in On-Behalf-Of", segmentd.Quote(name))
	}
	return segmentd.CheckName("name", name)
}

// Accounts returns every account, by id.
func (s *Service) Accounts(ctx context.Context) ([]segmentd.Account, error) {
	return s.store.Accounts(ctx)
}

// CreateAccountWithKey creates an account (a subuser of the account named
// parent when parent is not "") and a key of it with every scope, and
// returns the key's secret, which is shown once and never stored.
func (s *Service) CreateAccountWithKey(ctx context.Context, name, parent string) (segmentd.Account, string, segmentd.APIKey, error) {
	a, err := s.CreateAccount(ctx, name, parent)
	if err != nil {
		return a, "", segmentd.APIKey{}, err
	}
	secret, k, err := s.CreateAPIKey(ctx, name, "created with the account", nil)
	if err != nil {
		// Not half an answer: the account goes again.
		if derr := s.store.DeleteAccount(context.WithoutCancel(ctx), a.ID); derr != nil {
			s.log.Error("removing an account whose key could not be created", "account", a.ID, "err", derr)
		}
		return segmentd.Account{}, "", segmentd.APIKey{}, err
	}
	return a, secret, k, nil
}

// APIKeys returns the keys of the account named account, or of every
// account when account is "", by id.
func (s *Service) APIKeys(ctx context.Context, account string) ([]segmentd.APIKey, error) {
	var id int64
	if account != "" {
		a, err := s.store.AccountByName(ctx, account)
		if err != nil {
			return nil, err
		}
		id = a.ID
	}
	return s.store.APIKeys(ctx, id)
}

// RevokeAPIKey deletes a key. Every request looks its key up in the
// store, so the key is refused at once, by every server of the store.
func (s *Service) RevokeAPIKey(ctx context.Context, id int64) error {
	return s.store.RevokeAPIKey(ctx, id)
}

// ResetAccount empties the named account (Store.ResetAccount): every
// contact, list, field definition, segment of either vendor, event and job
// of it is gone, from the store and from the engine; its keys and webhook
// key stay. It runs after every write of the account acknowledged before
// it, and the writes acknowledged after it apply to the empty account.
func (s *Service) ResetAccount(ctx context.Context, name string) (segmentd.Account, error) {
	a, err := s.store.AccountByName(ctx, name)
	if err != nil {
		return a, err
	}
	return a, s.clearAccount(ctx, a.ID, func() error {
		_, err := s.store.ResetAccount(ctx, a.ID)
		return err
	})
}

// DeleteAccount deletes the named account with its data and keys
// (Store.DeleteAccount; one with subusers is KindConflict), after every
// write of it acknowledged before, as ResetAccount does.
func (s *Service) DeleteAccount(ctx context.Context, name string) (segmentd.Account, error) {
	a, err := s.store.AccountByName(ctx, name)
	if err != nil {
		return a, err
	}
	return a, s.clearAccount(ctx, a.ID, func() error { return s.store.DeleteAccount(ctx, a.ID) })
}

// clearAccount runs clear, a reset or deletion of acct in the store, in
// its turn among the account's writes, and then brings the engine and the
// Service's per-account state to it.
//
// It first waits until the account has no job waiting (internal tasks go
// ahead of queued jobs, backlog.go), then runs on the job worker, after
// the job being written: so every job accepted before it has written when
// clear runs. Before clear it also waits for the engine stage of those
// earlier tasks, which writes their job rows: so the reset takes those
// rows too, and no row of a job from before it is written after it. In a
// shared store, jobs are ordered by the store's queue instead (queue.go):
// it waits until the account has no pending job there.
func (s *Service) clearAccount(ctx context.Context, acct int64, clear func() error) error {
	if s.cfg.Jobs != nil {
		if err := s.waitNoJobs(ctx, acct); err != nil {
			return err
		}
	} else if err := s.waitQueued(ctx, acct); err != nil {
		return err
	}
	return s.onWorker(ctx, func() (func(), error) {
		s.drainFinish()
		if err := clear(); err != nil {
			return nil, err
		}
		return func() {
			if s.cfg.Shared {
				// The history says what happened (AccountChanges.ResetAt,
				// Dropped), as it says it to every other server.
				if err := s.sync(context.Background(), acct); err != nil {
					s.log.Error("bringing an account's reset to the engine", "account", acct, "err", err)
				}
				return
			}
			s.forgetAccount(acct)
			// A write of the catalog racing the reset may have committed
			// after it: the engine takes what the store holds now.
			if s.members != nil {
				if _, err := s.store.Account(context.Background(), acct); err == nil {
					if err := s.reloadCatalog(context.Background(), acct, s.clock.Now()); err != nil {
						s.log.Error("reloading an account's catalog after its reset", "account", acct, "err", err)
					}
				}
			}
		}, nil
	})
}

// drainFinish waits, on the worker's store stage, until the engine stage
// has finished every task the store stage passed it so far, and their
// rows are written (writeRows).
func (s *Service) drainFinish() {
	barrier := &jobTask{wait: make(chan error, 1), sharedExempt: true, barrier: true}
	s.finish <- barrier
	<-barrier.wait
}

// waitQueued waits until none of the account's jobs waits in the backlog
// (a store of its own).
func (s *Service) waitQueued(ctx context.Context, acct int64) error {
	for wait := time.Millisecond; s.backlog.queuedJobs(acct) > 0; wait = min(2*wait, 20*time.Millisecond) {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(wait):
		}
	}
	return nil
}

// waitNoJobs waits until the account has no pending job in the shared
// store's queue.
func (s *Service) waitNoJobs(ctx context.Context, acct int64) error {
	for wait := time.Millisecond; ; wait = min(2*wait, 20*time.Millisecond) {
		head, err := s.cfg.Jobs.NextJob(ctx, acct, time.Now())
		if err != nil || head.ID == "" {
			return err
		}
		if head.Lapsed {
			s.startAccount(acct) // its server stopped: this one runs it
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(wait):
		}
	}
}

// forgetAccount drops what the engine and the Service hold of an account
// that was reset or deleted.
func (s *Service) forgetAccount(acct int64) {
	if s.members != nil {
		s.members.DropAccount(acct)
	}
	for id := range s.given.get(acct) {
		s.forgetSchedule(id)
	}
	s.given.drop(acct)
}

// drop forgets what the engine was given of an account.
func (g *given) drop(acct int64) {
	g.mu.Lock()
	defer g.mu.Unlock()
	delete(g.m, acct)
}

// missing returns the accounts that had changes and that mark does not
// list.
func (ps *points) missing(mark segmentd.ChangeMark) []int64 {
	ps.mu.Lock()
	unlisted := map[int64]*point{}
	for acct, p := range ps.m {
		if _, ok := mark.Seqs[acct]; !ok {
			unlisted[acct] = p
		}
	}
	ps.mu.Unlock()
	var out []int64
	for acct, p := range unlisted {
		p.mu.Lock()
		had := p.change > 0
		p.mu.Unlock()
		if had {
			out = append(out, acct)
		}
	}
	return out
}

// remove forgets a deleted account's point.
func (ps *points) remove(acct int64) {
	ps.mu.Lock()
	defer ps.mu.Unlock()
	delete(ps.m, acct)
}
