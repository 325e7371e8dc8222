package worker_test

import (
	"context"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"

	"tether/jobs"
	"tether/sync/onboarding"
	"tether/worker"
	"tether/worker/redistest"
)

// sendSeen records the attempts a worker ran.
type sendSeen struct {
	mu  sync.Mutex
	ids []string
}

func (s *sendSeen) Send(_ context.Context, _, inviteID string, _ int) (onboarding.Outcome, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.ids = append(s.ids, inviteID)
	return onboarding.Sent, nil
}
func (s *sendSeen) Fail(context.Context, string, string, string) error          { return nil }
func (s *sendSeen) Settle(context.Context, string, string, int) (bool, error)   { return false, nil }
func (s *sendSeen) Retrying(context.Context, string, string, int, string) error { return nil }
func (s *sendSeen) seen() []string                                              { s.mu.Lock(); defer s.mu.Unlock(); return slices.Clone(s.ids) }

// TestQueueSendsBatch: sends queued in one pipeline are the tasks asynq.Client would
// queue (the Inspector reads the same type, payload, queue, retries, timeout and
// retention), an existing TaskID is left alone, the script is loaded when Redis lacks
// it, and a worker runs each once.
func TestQueueSendsBatch(t *testing.T) {
	opt, rdb := redistest.Client(t, 14)
	client := asynq.NewClient(opt)
	inspector := asynq.NewInspector(opt)
	t.Cleanup(func() { _ = client.Close(); _ = inspector.Close() })
	ctx := t.Context()

	// "ref" is queued the usual way; "b" too, before the batch, to be left alone.
	for _, id := range []string{"ref", "b"} {
		task, err := jobs.NewInviteSendTask("org1", id, 1)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := client.Enqueue(task); err != nil {
			t.Fatal(err)
		}
	}
	// With the script cache empty (as after a Redis restart) the batch's EVALSHAs are
	// refused, the script is loaded and only they run again: still ref, a, b, c once
	// each below. The flush is server-wide; every other script user falls back to EVAL.
	if err := rdb.ScriptFlush(ctx).Err(); err != nil {
		t.Fatal(err)
	}
	q := worker.InviteSendQueue{Client: client, Redis: rdb}
	if err := q.QueueSends(ctx, "org1", []string{"a", "b", "c"}); err != nil {
		t.Fatal(err)
	}
	if err := q.QueueSends(ctx, "org1", []string{"a"}); err != nil {
		t.Fatalf("batch again: %v", err)
	}
	ref, err := inspector.GetTaskInfo(jobs.QueueDefault, jobs.TaskIDInvitesSend("org1", "ref", 1))
	if err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{"a", "c"} {
		got, err := inspector.GetTaskInfo(jobs.QueueDefault, jobs.TaskIDInvitesSend("org1", id, 1))
		if err != nil {
			t.Fatalf("batch-queued %s: %v", id, err)
		}
		want, _ := jobs.InviteSendSpec("org1", id, 1)
		if got.Type != ref.Type || string(got.Payload) != string(want.Payload) || got.Queue != ref.Queue || got.MaxRetry != ref.MaxRetry ||
			got.Timeout != ref.Timeout || got.Retention != ref.Retention || got.Deadline != ref.Deadline || got.State != asynq.TaskStatePending {
			t.Fatalf("batch-queued %s: %+v\nqueued by the client: %+v", id, got, ref)
		}
	}
	pending, err := inspector.ListPendingTasks(jobs.QueueDefault)
	if err != nil || len(pending) != 4 {
		t.Fatalf("%d pending tasks (%v), want 4: ref, a, b, c once each", len(pending), err)
	}

	seen := &sendSeen{}
	w, err := worker.New(worker.Params{Redis: opt, Logger: zerolog.Nop(), Registerer: prometheus.NewRegistry(),
		Concurrency: 2, TaskCheckInterval: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	if err := worker.Register(w, complete(t, worker.Services{Invites: seen})); err != nil {
		t.Fatal(err)
	}
	start(t, w)
	for _, id := range []string{"ref", "a", "b", "c"} {
		waitState(t, inspector, jobs.TaskIDInvitesSend("org1", id, 1), asynq.TaskStateCompleted)
	}
	got := seen.seen()
	slices.Sort(got)
	if !slices.Equal(got, []string{"a", "b", "c", "ref"}) {
		t.Fatalf("sends run: %v, want a, b, c, ref once each", got)
	}
}

func waitState(t *testing.T, in *asynq.Inspector, id string, state asynq.TaskState) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		info, err := in.GetTaskInfo(jobs.QueueDefault, id)
		if err == nil && info.State == state {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("task %s never reached %s (last: %+v, %v)", id, state, info, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
