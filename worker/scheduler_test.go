package worker_test

import (
	"context"
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

// Two replicas running their loops on a 1-second schedule: every slot is enqueued once.
func TestTwoSchedulerLoopsOneTaskPerSlot(t *testing.T) {
	b := setup(t)
	e := pruneEvery(t, "@every 1s")
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	for range 2 {
		s := b.newScheduler(t, e)
		wg.Add(1)
		go func() { defer wg.Done(); _ = s.Run(ctx) }()
	}
	time.Sleep(2500 * time.Millisecond) // two or three slots pass
	cancel()
	wg.Wait()

	pending, err := b.inspector.ListPendingTasks(jobs.QueueLow)
	if err != nil {
		t.Fatal(err)
	}
	if len(pending) < 2 {
		t.Fatalf("%d tasks after 2.5s of a 1s schedule, want at least 2", len(pending))
	}
	seen := map[string]bool{}
	for _, p := range pending {
		pl, err := jobs.Decode[jobs.EventsPrune](p.Payload)
		if err != nil {
			t.Fatal(err)
		}
		if seen[pl.Slot] {
			t.Errorf("slot %s enqueued twice", pl.Slot)
		}
		seen[pl.Slot] = true
		if p.ID != "events:prune:"+pl.Slot {
			t.Errorf("task id %q does not derive from its slot %s", p.ID, pl.Slot)
		}
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
