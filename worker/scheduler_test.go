package worker_test

import (
	"context"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/robfig/cron/v3"
	"github.com/rs/zerolog"

	"tether/jobs"
	"tether/worker"
)

func pruneEvery(t *testing.T, spec string) worker.Periodic {
	t.Helper()
	sched, err := cron.ParseStandard(spec)
	if err != nil {
		t.Fatal(err)
	}
	return worker.Periodic{Name: jobs.TypeEventsPrune, Schedule: sched, Task: jobs.NewEventsPruneTask}
}

func (b *testBundle) newScheduler(t *testing.T, entries ...worker.Periodic) *worker.Scheduler {
	t.Helper()
	s, err := worker.NewScheduler(worker.SchedulerParams{Redis: b.redis, Logger: zerolog.New(b.logs), Entries: entries})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// Two replicas enqueueing the same slots at the same moment: one task per slot.
func TestTwoSchedulersOneTaskPerSlot(t *testing.T) {
	b := setup(t)
	e := pruneEvery(t, "17 3 * * *")
	replicas := []*worker.Scheduler{b.newScheduler(t), b.newScheduler(t)}
	t.Cleanup(func() {
		for _, r := range replicas {
			_ = r.Close()
		}
	})

	day := time.Date(2026, 5, 1, 3, 17, 0, 0, time.UTC)
	slots := []time.Time{day, day.AddDate(0, 0, 1), day.AddDate(0, 0, 2)}
	var mu sync.Mutex
	won := map[time.Time]int{}
	var wg sync.WaitGroup
	for _, slot := range slots {
		for _, r := range replicas {
			wg.Add(1)
			go func() {
				defer wg.Done()
				ok, err := r.EnqueueSlot(context.Background(), e, slot)
				if err != nil {
					t.Error(err)
				}
				if ok {
					mu.Lock()
					won[slot]++
					mu.Unlock()
				}
			}()
		}
	}
	wg.Wait()
	for _, slot := range slots {
		if won[slot] != 1 {
			t.Errorf("slot %s enqueued %d times, want exactly 1", slot, won[slot])
		}
	}
	pending, err := b.inspector.ListPendingTasks(jobs.QueueLow)
	if err != nil {
		t.Fatal(err)
	}
	if len(pending) != len(slots) {
		t.Errorf("%d tasks pending, want %d (one per slot)", len(pending), len(slots))
	}
}

// fakeClock is a shared clock for scheduler replicas: After registers a waiter that
// Advance fires once the clock passes its time.
type fakeClock struct {
	mu      sync.Mutex
	now     time.Time
	waiters []waiter
}

type waiter struct {
	at time.Time
	ch chan time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) After(d time.Duration) <-chan time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	ch := make(chan time.Time, 1)
	c.waiters = append(c.waiters, waiter{c.now.Add(d), ch})
	return ch
}

// waiting is how many After calls have not fired yet.
func (c *fakeClock) waiting() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.waiters)
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
	kept := c.waiters[:0]
	for _, w := range c.waiters {
		if w.at.After(c.now) {
			kept = append(kept, w)
			continue
		}
		w.ch <- c.now
	}
	c.waiters = kept
}

// Two replicas running their loops over three slots of a 5-minute schedule: each slot is
// enqueued once, with the slot's id.
func TestTwoSchedulerLoopsOneTaskPerSlot(t *testing.T) {
	b := setup(t)
	e := pruneEvery(t, "*/5 * * * *")
	clock := &fakeClock{now: time.Date(2026, 5, 1, 3, 1, 0, 0, time.UTC)}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	for range 2 {
		s, err := worker.NewScheduler(worker.SchedulerParams{
			Redis: b.redis, Logger: zerolog.New(b.logs), Entries: []worker.Periodic{e},
			Now: clock.Now, After: clock.After,
		})
		if err != nil {
			t.Fatal(err)
		}
		wg.Add(1)
		go func() { defer wg.Done(); _ = s.Run(ctx) }()
	}
	defer func() { cancel(); wg.Wait() }()

	want := []string{"events:prune:20260501T030500Z", "events:prune:20260501T031000Z", "events:prune:20260501T031500Z"}
	for n := range want {
		waitUntil(t, "both replicas waiting for the next slot", func() bool { return clock.waiting() == 2 })
		clock.Advance(5 * time.Minute)
		waitUntil(t, "the slot's task", func() bool {
			pending, _ := b.inspector.ListPendingTasks(jobs.QueueLow)
			return len(pending) == n+1
		})
	}
	waitUntil(t, "both replicas to finish the last slot", func() bool { return clock.waiting() == 2 })
	pending, err := b.inspector.ListPendingTasks(jobs.QueueLow)
	if err != nil {
		t.Fatal(err)
	}
	got := ids(pending)
	slices.Sort(got)
	if !slices.Equal(got, want) {
		t.Errorf("tasks %v, want exactly %v", got, want)
	}
}

func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// On start a scheduler enqueues the slot it missed (within CatchUp); a replica starting
// after that slot already ran enqueues nothing.
func TestSchedulerCatchesUpMissedSlotOnce(t *testing.T) {
	b := setup(t)
	e := pruneEvery(t, "17 3 * * *")
	e.CatchUp = 24 * time.Hour
	now := time.Date(2026, 5, 1, 9, 0, 0, 0, time.UTC) // 03:17 slot missed
	for i := range 2 {
		s, err := worker.NewScheduler(worker.SchedulerParams{
			Redis: b.redis, Logger: zerolog.Nop(), Entries: []worker.Periodic{e},
			Now: func() time.Time { return now },
		})
		if err != nil {
			t.Fatal(err)
		}
		s.CatchUp(context.Background())
		_ = s.Close()
		pending, _ := b.inspector.ListPendingTasks(jobs.QueueLow)
		if len(pending) != 1 || pending[0].ID != "events:prune:20260501T031700Z" {
			t.Fatalf("after start %d: pending %v, want only events:prune:20260501T031700Z", i+1, ids(pending))
		}
	}
}

func ids(ts []*asynq.TaskInfo) []string {
	var out []string
	for _, t := range ts {
		out = append(out, t.ID)
	}
	return out
}
