package worker

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/hibiken/asynq"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/robfig/cron/v3"
	"github.com/rs/zerolog"

	"tether/jobs"
)

// Periodic is one task the scheduler enqueues on a schedule.
type Periodic struct {
	Name     string        // for logs and metrics: the task type
	Schedule cron.Schedule // in UTC (cron.ParseStandard)
	// Task builds the task for a slot. It must give the task a TaskID derived from the slot
	// and a Retention longer than the schedule's period: that is what makes several
	// replicas enqueue one task per slot.
	Task func(slot time.Time) (*asynq.Task, error)
	// CatchUp: on start, also enqueue the latest slot that passed within this window, so a
	// restart across a slot does not skip a run (a no-op when the slot already ran and its
	// TaskID is still retained). Zero disables it.
	CatchUp time.Duration
}

// Periodics returns tether's periodic tasks. pruneSpec is a 5-field cron expression in UTC.
func Periodics(pruneSpec string) ([]Periodic, error) {
	prune, err := cron.ParseStandard(pruneSpec)
	if err != nil {
		return nil, fmt.Errorf("prune schedule %q: %w", pruneSpec, err)
	}
	expire, err := cron.ParseStandard(jobs.InvitesExpireSchedule)
	if err != nil {
		return nil, fmt.Errorf("invite expiry schedule %q: %w", jobs.InvitesExpireSchedule, err)
	}
	sweep, err := cron.ParseStandard(jobs.ConnectionsSweepSchedule)
	if err != nil {
		return nil, fmt.Errorf("connections sweep schedule %q: %w", jobs.ConnectionsSweepSchedule, err)
	}
	return []Periodic{
		{Name: jobs.TypeConnectionsSweep, Schedule: sweep, Task: jobs.NewConnectionsSweepTask, CatchUp: 5 * time.Minute},
		{Name: jobs.TypeEventsPrune, Schedule: prune, Task: jobs.NewEventsPruneTask, CatchUp: 24 * time.Hour},
		{Name: jobs.TypeInvitesExpire, Schedule: expire, Task: jobs.NewInvitesExpireTask, CatchUp: time.Hour},
	}, nil
}

// SchedulerParams configures a Scheduler.
type SchedulerParams struct {
	Redis      asynq.RedisConnOpt // required
	Logger     zerolog.Logger
	Registerer prometheus.Registerer // nil: metrics not registered
	Entries    []Periodic
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// After waits for a duration on that clock; nil means time.After. Tests pass a fake
	// pair so slots pass without sleeping.
	After func(time.Duration) <-chan time.Time
}

// Scheduler enqueues periodic tasks. Several replicas may run at once: each slot's task has
// a deterministic TaskID, so Redis accepts the first replica's enqueue and refuses the
// others' (asynq.ErrTaskIDConflict), and the task runs once per slot. Asynq's own Scheduler
// is not used because it fixes the TaskID at registration, so it cannot vary per slot.
type Scheduler struct {
	p        SchedulerParams
	client   *asynq.Client
	enqueued *prometheus.CounterVec // name, result: enqueued, duplicate, error
}

// NewScheduler validates p and connects a client. Close it with Run's return or Close.
func NewScheduler(p SchedulerParams) (*Scheduler, error) {
	if p.Redis == nil {
		return nil, errors.New("scheduler: SchedulerParams.Redis is required")
	}
	for _, e := range p.Entries {
		if e.Schedule == nil || e.Task == nil || e.Name == "" {
			return nil, fmt.Errorf("scheduler: entry %q needs Name, Schedule and Task", e.Name)
		}
	}
	clock := p.Now
	if clock == nil {
		clock = time.Now
	}
	// cron schedules follow the location of the time they are given: keep them in UTC.
	p.Now = func() time.Time { return clock().UTC() }
	if p.After == nil {
		p.After = time.After
	}
	s := &Scheduler{
		p:      p,
		client: asynq.NewClient(p.Redis),
		enqueued: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "tether_scheduler_enqueues_total",
			Help: "Periodic enqueues by task and result (enqueued; duplicate: another replica had it; error).",
		}, []string{"task", "result"}),
	}
	if p.Registerer != nil {
		if err := p.Registerer.Register(s.enqueued); err != nil {
			_ = s.client.Close()
			return nil, fmt.Errorf("scheduler: register metrics: %w", err)
		}
	}
	return s, nil
}

// Close releases the Redis connection.
func (s *Scheduler) Close() error { return s.client.Close() }

// Run enqueues each entry at each of its slots until ctx is done, then closes the
// scheduler. A failed enqueue is logged and counted; the next slot is tried as usual.
func (s *Scheduler) Run(ctx context.Context) error {
	defer s.client.Close()
	s.CatchUp(ctx)
	now := s.p.Now()
	next := make([]time.Time, len(s.p.Entries))
	for i, e := range s.p.Entries {
		next[i] = e.Schedule.Next(now)
	}
	s.p.Logger.Info().Int("entries", len(s.p.Entries)).Msg("scheduler started")
	for {
		i := earliest(next)
		if i < 0 {
			<-ctx.Done()
			return nil
		}
		select {
		case <-ctx.Done():
			s.p.Logger.Info().Msg("scheduler stopped")
			return nil
		case <-s.p.After(next[i].Sub(s.p.Now())):
		}
		_, _ = s.EnqueueSlot(ctx, s.p.Entries[i], next[i])
		next[i] = s.p.Entries[i].Schedule.Next(next[i])
	}
}

// CatchUp enqueues, for each entry with a CatchUp window, the latest slot that passed within
// it. Run calls it on start. Errors are logged and counted.
func (s *Scheduler) CatchUp(ctx context.Context) {
	now := s.p.Now()
	for _, e := range s.p.Entries {
		if e.CatchUp <= 0 {
			continue
		}
		if slot, ok := latestSlot(e.Schedule, now, e.CatchUp); ok {
			_, _ = s.EnqueueSlot(ctx, e, slot)
		}
	}
}

// EnqueueSlot enqueues e's task for slot. It returns true when this call enqueued it,
// false with a nil error when another replica (or an earlier call) already had, and the
// error otherwise.
func (s *Scheduler) EnqueueSlot(ctx context.Context, e Periodic, slot time.Time) (bool, error) {
	log := s.p.Logger.With().Str("task_type", e.Name).Str("slot", jobs.FormatSlot(slot)).Logger()
	t, err := e.Task(slot)
	if err != nil {
		s.enqueued.WithLabelValues(e.Name, "error").Inc()
		log.Error().Err(err).Msg("build periodic task")
		return false, fmt.Errorf("build %s task for slot %s: %w", e.Name, jobs.FormatSlot(slot), err)
	}
	info, err := s.client.EnqueueContext(ctx, t)
	switch {
	case errors.Is(err, asynq.ErrTaskIDConflict):
		s.enqueued.WithLabelValues(e.Name, "duplicate").Inc()
		log.Debug().Msg("slot already enqueued by another replica")
		return false, nil
	case err != nil:
		s.enqueued.WithLabelValues(e.Name, "error").Inc()
		log.Error().Err(err).Msg("enqueue periodic task")
		return false, fmt.Errorf("enqueue %s for slot %s: %w", e.Name, jobs.FormatSlot(slot), err)
	}
	s.enqueued.WithLabelValues(e.Name, "enqueued").Inc()
	log.Info().Str("task_id", info.ID).Msg("periodic task enqueued")
	return true, nil
}

// latestSlot returns the last slot of sched in (now-window, now].
func latestSlot(sched cron.Schedule, now time.Time, window time.Duration) (time.Time, bool) {
	var last time.Time
	for t := sched.Next(now.Add(-window)); !t.IsZero() && !t.After(now); t = sched.Next(t) {
		last = t
	}
	return last, !last.IsZero()
}

func earliest(ts []time.Time) int {
	best := -1
	for i, t := range ts {
		if t.IsZero() {
			continue
		}
		if best < 0 || t.Before(ts[best]) {
			best = i
		}
	}
	return best
}
