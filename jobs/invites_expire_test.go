package jobs_test

import (
	"errors"
	"testing"
	"time"

	"github.com/hibiken/asynq"

	"tether/jobs"
	"tether/worker/redistest"
)

// Two scheduler replicas enqueueing the same hourly slot make one task.
func TestNewInvitesExpireTaskIsOnePerSlot(t *testing.T) {
	t.Parallel()
	opt, _ := redistest.Client(t, 3)
	client := asynq.NewClient(opt)
	t.Cleanup(func() { _ = client.Close() })
	slot := time.Date(2026, 3, 4, 5, 7, 0, 0, time.UTC)
	task, err := jobs.NewInvitesExpireTask(slot)
	if err != nil {
		t.Fatal(err)
	}
	info, err := client.EnqueueContext(t.Context(), task)
	if err != nil {
		t.Fatal(err)
	}
	if info.ID != "invites:expire:20260304T050700Z" || info.Queue != jobs.QueueLow || info.Retention != jobs.InvitesExpireRetention {
		t.Errorf("task %s on %s kept %s", info.ID, info.Queue, info.Retention)
	}
	again, _ := jobs.NewInvitesExpireTask(slot)
	if _, err := client.EnqueueContext(t.Context(), again); !errors.Is(err, asynq.ErrTaskIDConflict) {
		t.Errorf("second enqueue of the slot: %v, want ErrTaskIDConflict", err)
	}
	if next := slot.Add(time.Hour); jobs.InvitesExpireRetention <= next.Sub(slot) {
		t.Errorf("retention %s does not outlast the hourly period", jobs.InvitesExpireRetention)
	}
}
