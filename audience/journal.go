package audience

import (
	"context"
	"errors"
	"fmt"

	"github.com/segmentd/segmentd"
	"github.com/segmentd/segmentd/internal/journal"
)

// OpenJournal opens the journal of accepted jobs in dir (docs/jobs.md) and
// resumes the jobs it holds that had not finished: a job whose row the
// store has is done; a job whose transaction committed (its applied
// record) gets its row from the result recorded; every other job is
// queued again, in the order it was accepted, before any new job. From
// then on every job is written to the journal before its id is returned.
//
// Call it once, after LoadMembership and before the Service takes jobs. A
// store shared with other servers orders jobs itself (Config.Jobs) and
// keeps no journal.
func (s *Service) OpenJournal(ctx context.Context, dir string, opts journal.Options) (resumed int, err error) {
	if s.cfg.Jobs != nil {
		return 0, errors.New("segmentd: a shared store keeps its jobs itself; it has no journal")
	}
	if s.journal != nil {
		return 0, errors.New("segmentd: the journal is open already")
	}
	l, recs, err := journal.Open(dir, opts)
	if err != nil {
		return 0, err
	}
	defer func() {
		if err != nil {
			l.Close()
		}
	}()
	type entry struct {
		job     segmentd.Job
		items   int
		pos     journal.Pos
		applied bool
		done    bool
	}
	byID := map[string]*entry{}
	var order []*entry
	for _, r := range recs {
		if len(r.Data) == 0 {
			return 0, fmt.Errorf("job journal %s, segment %d at %d: an empty record", dir, r.Pos.Seg, r.Pos.Off)
		}
		kind := r.Data[0]
		if kind == recAccept {
			j, items, _, err := decodeAccept(r.Data, false)
			if err != nil {
				return 0, fmt.Errorf("job journal %s, segment %d at %d: %w", dir, r.Pos.Seg, r.Pos.Off, err)
			}
			e := &entry{job: j, items: items, pos: r.Pos}
			byID[j.ID] = e
			order = append(order, e)
			continue
		}
		d := decoder{s: string(r.Data[1:])}
		e := byID[d.str()]
		if e == nil {
			continue // its accept record's segment has gone: the job is done
		}
		switch kind {
		case recApplied:
			decodeApplied(&d, &e.job)
			e.applied = true
		case recDone:
			e.done = true
		}
		if d.err != nil {
			return 0, fmt.Errorf("job journal %s, segment %d at %d: %w", dir, r.Pos.Seg, r.Pos.Off, d.err)
		}
	}
	var resume []*entry
	for _, e := range order {
		if e.done {
			continue
		}
		j := e.job
		// A done record can be lost to a crash after the row was stored.
		if _, err := s.store.Job(ctx, j.AccountID, j.ID); err == nil {
			continue
		} else if segmentd.ErrorKindOf(err) != segmentd.KindNotFound {
			return 0, err
		}
		if e.applied {
			// Its transaction committed, and the engine, loaded from the
			// store, has its changes: only its row is missing.
			j.Finish(s.clock.Now())
			if err := s.store.CreateJob(ctx, j); err != nil {
				return 0, err
			}
			continue
		}
		resume = append(resume, e)
	}
	s.journal = l
	for _, e := range resume {
		l.Hold(e.pos)
		_ = s.backlog.reserve(e.job.AccountID, e.items, true, s.clock.Now()) // forced: never refused
		s.queueJob(&jobTask{job: e.job, items: e.items, accepted: e.pos, journal: true})
	}
	l.Trim()
	return len(resume), nil
}
