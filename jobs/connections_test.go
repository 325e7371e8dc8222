package jobs_test

import (
	"strconv"
	"testing"
	"time"

	"github.com/hibiken/asynq"

	"tether/jobs"
	"tether/sync/connections"
	"tether/worker/redistest"
)

// The refresh that scheduled a connection's next refresh and every sweep that finds it
// due make one task; a healthy connection's work goes to its own queue, a broken one's to
// low; the payload carries ids only.
func TestConnectionTasksAreOnePerDueTime(t *testing.T) {
	t.Parallel()
	opt, _ := redistest.Client(t, 3)
	client := asynq.NewClient(opt)
	t.Cleanup(func() { _ = client.Close() })
	inspector := asynq.NewInspector(opt)
	t.Cleanup(func() { _ = inspector.Close() })
	q := jobs.ConnectionQueue{Client: client}
	due := time.Now().Add(time.Hour).Truncate(time.Second)
	healthy := connections.Due{ID: "conn-1", OrgID: "org-1", Kind: connections.KindZoom, State: connections.StateHealthy}
	for range 3 {
		if err := q.Schedule(t.Context(), connections.OpRefresh, healthy, due); err != nil {
			t.Fatal(err)
		}
	}
	broken := connections.Due{ID: "conn-2", OrgID: "org-1", Kind: connections.KindZoom, State: connections.StateError}
	if err := q.Schedule(t.Context(), connections.OpRefresh, broken, due); err != nil {
		t.Fatal(err)
	}
	scheduled, err := inspector.ListScheduledTasks(jobs.QueueConnections)
	if err != nil {
		t.Fatal(err)
	}
	if len(scheduled) != 1 {
		t.Fatalf("%d refresh tasks of one connection and due time, want 1", len(scheduled))
	}
	info := scheduled[0]
	wantID := jobs.TypeConnectionRefresh + ":conn-1:" + strconv.FormatInt(due.Unix(), 10)
	if info.ID != wantID || info.Retention != jobs.ConnectionTaskRetention || !info.NextProcessAt.Equal(due) ||
		string(info.Payload) != `{"org_id":"org-1","connection_id":"conn-1"}` {
		t.Fatalf("task %s kept %s at %s with %s", info.ID, info.Retention, info.NextProcessAt, info.Payload)
	}
	low, err := inspector.ListScheduledTasks(jobs.QueueLow)
	if err != nil || len(low) != 1 || low[0].ID != jobs.TypeConnectionRefresh+":conn-2:"+strconv.FormatInt(due.Unix(), 10) {
		t.Fatalf("broken connection's task on low: %v %v", low, err)
	}
	if err := q.Schedule(t.Context(), connections.OpVerify, healthy, due); err != nil {
		t.Fatal(err)
	}
	if s, _ := inspector.ListScheduledTasks(jobs.QueueConnections); len(s) != 2 {
		t.Fatalf("a verification at the same time is another task: %d tasks", len(s))
	}
}

func TestConnectionsSweepTaskIsOnePerSlot(t *testing.T) {
	slot := time.Date(2026, 3, 4, 5, 10, 0, 0, time.UTC)
	task, err := jobs.NewConnectionsSweepTask(slot)
	if err != nil {
		t.Fatal(err)
	}
	p, err := jobs.Decode[jobs.ConnectionsSweep](task.Payload())
	if err != nil || p.Slot != "20260304T051000Z" {
		t.Fatalf("payload %+v, %v", p, err)
	}
	if jobs.ConnectionsSweepRetention <= 5*time.Minute {
		t.Fatalf("retention %s does not outlast the 5-minute slot", jobs.ConnectionsSweepRetention)
	}
	if _, err := jobs.Decode[jobs.ConnectionTask]([]byte(`{"org_id":"o"}`)); err == nil {
		t.Fatal("a refresh payload without its connection id was accepted")
	}
}

// A due time inside a second runs no earlier than it: Asynq schedules in whole seconds, and
// a task run early is skipped as not due while its TaskID refuses the sweep's re-queue.
func TestConnectionTaskNeverRunsBeforeItsDueTime(t *testing.T) {
	t.Parallel()
	opt, _ := redistest.Client(t, 3)
	client := asynq.NewClient(opt)
	t.Cleanup(func() { _ = client.Close() })
	due := time.Now().Add(time.Hour).Truncate(time.Second).Add(800 * time.Millisecond)
	task, err := jobs.NewConnectionTask(connections.OpRefresh,
		connections.Due{ID: "conn-early", OrgID: "org-1", Kind: connections.KindZoom, State: connections.StateHealthy}, due)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := client.EnqueueContext(t.Context(), task); err != nil {
		t.Fatal(err)
	}
	inspector := asynq.NewInspector(opt)
	t.Cleanup(func() { _ = inspector.Close() })
	// What Redis holds (the score the forwarder compares with now), not the client's echo.
	scheduled, err := inspector.ListScheduledTasks(jobs.QueueConnections)
	if err != nil || len(scheduled) != 1 {
		t.Fatalf("scheduled: %v %v", scheduled, err)
	}
	info := scheduled[0]
	if info.NextProcessAt.Before(due) {
		t.Fatalf("task due %s is processed at %s, before it is due", due.Format(time.StampMilli), info.NextProcessAt.Format(time.StampMilli))
	}
	if want := jobs.ConnectionTaskID(jobs.TypeConnectionRefresh, "conn-early", due); info.ID != want {
		t.Fatalf("TaskID %s, want %s (deactivation deletes by it)", info.ID, want)
	}
}
