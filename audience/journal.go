package audience

import (
	"context"
	"errors"
	"fmt"

	"github.com/segmentd/segmentd"
	"github.com/segmentd/segmentd/internal/journal"
)

// journaled is a job the journal accepted and saw no done record of.
type journaled struct {
	job     segmentd.Job
	items   int
	op      jobOp
	pos     journal.Pos
	applied bool // its store transaction committed; job holds its result
	// next and step are an import's progress: the batch it resumes at
	// (job holds its counts so far) and the step record that says so.
	next int
	step journal.Pos
}

// unfinished reads the journal's records and returns the jobs accepted
// and not finished, in the order they were accepted: those without a done
// record whose row the store does not have either (a done record can be
// lost to a crash after the row was stored).
func unfinished(ctx context.Context, store segmentd.Store, dir string, recs []journal.Record) ([]*journaled, error) {
	byID := map[string]*journaled{}
	var order []*journaled
	for _, r := range recs {
		where := func(err error) error {
			return fmt.Errorf("job journal %s, segment %d at %d: %w", dir, r.Pos.Seg, r.Pos.Off, err)
		}
		if len(r.Data) == 0 {
			return nil, where(errors.New("an empty record"))
		}
		kind := r.Data[0]
		if kind == recAccept {
			j, items, op, _, err := decodeAccept(r.Data, false)
			if err != nil {
				return nil, where(err)
			}
			e := &journaled{job: j, items: items, op: op, pos: r.Pos}
			byID[j.ID] = e
			order = append(order, e)
			continue
		}
		d := decoder{s: string(r.Data[1:])}
		id := d.str()
		e := byID[id]
		switch {
		case d.err != nil:
			return nil, where(d.err)
		case e == nil:
			continue // its accept record's segment has gone: the job is done
		case kind == recApplied:
			decodeApplied(&d, &e.job)
			e.applied = true
		case kind == recStep:
			e.next = decodeStep(&d, &e.job)
			e.step = r.Pos
		case kind == recDone:
			delete(byID, id)
		default:
			return nil, where(fmt.Errorf("a record of unknown kind %d", kind))
		}
		if d.err != nil {
			return nil, where(d.err)
		}
	}
	var out []*journaled
	for _, e := range order {
		if byID[e.job.ID] != e {
			continue // done
		}
		if _, err := store.Job(ctx, e.job.AccountID, e.job.ID); err == nil {
			continue
		} else if segmentd.ErrorKindOf(err) != segmentd.KindNotFound {
			return nil, err
		}
		out = append(out, e)
	}
	return out, nil
}

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
	jobs, err := unfinished(ctx, s.store, dir, recs)
	if err != nil {
		l.Close()
		return 0, err
	}
	var resume []*journaled
	for _, e := range jobs {
		if !e.applied {
			resume = append(resume, e)
			continue
		}
		// Its transaction committed, and the engine, loaded from the
		// store, has its changes: only its row is missing.
		j := e.job
		j.Finish(s.clock.Now())
		if err := s.store.CreateJob(ctx, j); err != nil {
			l.Close()
			return 0, err
		}
	}
	s.journal = l
	for _, e := range resume {
		l.Hold(e.pos)
		t := &jobTask{job: e.job, items: e.items, accepted: e.pos, journal: true, multi: e.op == opImport, next: e.next, step: e.step}
		if e.step != (journal.Pos{}) {
			l.Hold(e.step)
		}
		_ = s.backlog.reserve(e.job.AccountID, e.items, true, s.clock.Now()) // forced: never refused
		s.queueJob(t)
	}
	l.Trim()
	if s.imps != nil {
		s.imps.jobsKnown.Store(true)
	}
	return len(resume), nil
}

// UnfinishedJobs counts the jobs the journal in dir accepted whose row
// store does not have, without opening the journal for appends: what a
// server on this data directory would finish at its start.
func UnfinishedJobs(ctx context.Context, store segmentd.Store, dir string) (int, error) {
	recs, err := journal.ReadDir(dir)
	if err != nil {
		return 0, err
	}
	jobs, err := unfinished(ctx, store, dir, recs)
	return len(jobs), err
}
