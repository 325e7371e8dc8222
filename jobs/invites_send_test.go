package jobs_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/hibiken/asynq"

	"tether/jobs"
	"tether/worker/redistest"
)

func TestNewInviteSendTaskOptions(t *testing.T) {
	t.Parallel()
	opt, _ := redistest.Client(t, 3)
	client := asynq.NewClient(opt)
	t.Cleanup(func() { _ = client.Close() })
	ctx := context.Background()

	task, err := jobs.NewInviteSendTask("org1", "inv1", 1)
	if err != nil {
		t.Fatal(err)
	}
	info, err := client.EnqueueContext(ctx, task)
	if err != nil {
		t.Fatal(err)
	}
	if info.ID != "invites:send:org1:inv1:1" {
		t.Errorf("TaskID = %q", info.ID)
	}
	if info.Queue != jobs.QueueDefault || info.MaxRetry != jobs.InvitesSendMaxRetry || info.Timeout != time.Minute || info.Retention != jobs.InvitesSendRetention {
		t.Errorf("options: queue %s, max retry %d, timeout %s, retention %s", info.Queue, info.MaxRetry, info.Timeout, info.Retention)
	}
	p, err := jobs.Decode[jobs.InvitesSend](info.Payload)
	if err != nil || p != (jobs.InvitesSend{OrgID: "org1", InviteID: "inv1", Attempt: 1}) {
		t.Errorf("Decode(payload) = %+v, %v", p, err)
	}

	// The same attempt again (an import re-run after a crash) is refused; the next one is not.
	again, _ := jobs.NewInviteSendTask("org1", "inv1", 1)
	if _, err := client.EnqueueContext(ctx, again); !errors.Is(err, asynq.ErrTaskIDConflict) {
		t.Errorf("second enqueue of attempt 1: err = %v, want ErrTaskIDConflict", err)
	}
	next, _ := jobs.NewInviteSendTask("org1", "inv1", 2)
	if _, err := client.EnqueueContext(ctx, next); err != nil {
		t.Errorf("enqueue of attempt 2: %v", err)
	}
}

func TestInvitesSendValidate(t *testing.T) {
	t.Parallel()
	for _, p := range []jobs.InvitesSend{
		{InviteID: "i", Attempt: 1},
		{OrgID: "o", Attempt: 1},
		{OrgID: "o", InviteID: "i"},
		{OrgID: "o", InviteID: "i", Attempt: -1},
	} {
		if _, err := jobs.NewInviteSendTask(p.OrgID, p.InviteID, p.Attempt); !errors.Is(err, jobs.ErrInvalidPayload) {
			t.Errorf("NewInviteSendTask(%+v) error = %v, want ErrInvalidPayload", p, err)
		}
	}
}
