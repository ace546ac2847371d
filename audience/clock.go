package audience

import (
	"context"
	"os"
	"strings"
	"time"
)

// The clock's notes (docs/webhooks.md, "The clock while the server is
// down"). A time-window segment changes as the clock moves, and the
// engine makes those transitions as it catches up with the clock: when it
// is loaded at start, a clock transition that fell while the server was
// down would be absorbed by the load, which records nothing. So the
// server notes its clock's time in Config.ClockPath every second; the
// next start loads the engine as of the last note (the writes the store
// holds all happened before it), turns recording on, and only then moves
// every account's clock to now: the wakes that fell due meanwhile fire
// at their own times, recorded and delivered like any.

// clockNoteEvery is how often the clock's time is noted.
const clockNoteEvery = time.Second

// loadTime is the time the engine is loaded as of: the last clock note
// when there is one before now (and transitions are recorded), now
// otherwise.
func (s *Service) loadTime() time.Time {
	now := s.clock.Now()
	if s.cfg.ClockPath == "" || s.cfg.Outbox == nil {
		return now
	}
	b, err := os.ReadFile(s.cfg.ClockPath)
	if err != nil {
		return now
	}
	t, err := time.Parse(time.RFC3339Nano, strings.TrimSpace(string(b)))
	if err != nil || !t.Before(now) {
		return now
	}
	s.log.Info("loading the engine as of the clock's last note", "noted", t, "now", now)
	return t
}

// engineNow is the time the engine takes a change at: the load's time
// while it loads, and the clock's otherwise.
func (s *Service) engineNow() time.Time {
	if t := s.loadingAt.Load(); t != nil {
		return *t
	}
	return s.clock.Now()
}

// clockUp moves every account's clock to now, with recording on, and
// starts noting the clock. It returns that now.
func (s *Service) clockUp(ctx context.Context) (time.Time, error) {
	accts, err := s.store.Accounts(ctx)
	if err != nil {
		return time.Time{}, err
	}
	now := s.clock.Now()
	for _, a := range accts {
		s.members.Count(a.ID, "", now) // a read brings the account's clock to now
	}
	if s.cfg.ClockPath == "" {
		return now, nil
	}
	s.noteClock()
	cctx, stop := context.WithCancel(context.Background())
	done := make(chan struct{})
	s.stopClock = func() {
		stop()
		<-done
	}
	go func() {
		defer close(done)
		t := time.NewTicker(clockNoteEvery)
		defer t.Stop()
		for {
			select {
			case <-cctx.Done():
				s.noteClock()
				return
			case <-t.C:
				s.noteClock()
			}
		}
	}()
	return now, nil
}

// noteClock writes the clock's time to ClockPath, beside it and renamed
// in place, so that a kill never leaves half a note.
func (s *Service) noteClock() {
	tmp := s.cfg.ClockPath + ".tmp"
	if err := os.WriteFile(tmp, []byte(s.clock.Now().UTC().Format(time.RFC3339Nano)+"\n"), 0o600); err != nil {
		s.log.Warn("noting the clock's time", "err", err)
		return
	}
	if err := os.Rename(tmp, s.cfg.ClockPath); err != nil {
		s.log.Warn("noting the clock's time", "err", err)
	}
}
