package main

import (
	"testing"
	"time"

	"github.com/hibiken/asynq"

	"tether/jobs"
)

// The --wait lines of invite, permissions and members print the worker's sentence and how
// long the work has been retrying; a last error the worker did not word (a chain recorded
// by an older worker) is never quoted.
func TestWaitLinesPrintTheSentenceNotTheChain(t *testing.T) {
	now := time.Date(2026, 12, 1, 2, 30, 0, 0, time.UTC)
	sentence := "the import failed on attempt 2 of 4: Salesforce answered HTTP 500, a failure on its side; tether retries it"
	chain := "stream users (query 1 of 1): salesforce: HTTP 500 UNKNOWN_EXCEPTION: An unexpected error occurred."
	retry := func(lastErr string) *asynq.TaskInfo {
		return &asynq.TaskInfo{ID: "t1", State: asynq.TaskStateRetry, LastErr: lastErr, Retried: 2, MaxRetry: 3,
			LastFailedAt: now.Add(-5 * time.Second), NextProcessAt: now.Add(40 * time.Second)}
	}
	deactivation := func(payload []byte) *asynq.TaskInfo {
		ti := retry("the deactivation failed on attempt 3 of 13: Zoom answered HTTP 503, a failure on its side; tether retries it")
		ti.Payload = payload
		return ti
	}
	asked, err := jobs.NewMembersDeactivateTask("o1", "m1", now.Add(-12*time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, got, want string
	}{
		{
			name: "a deactivation, from the time its payload says it was asked",
			got:  retryLine(deactivation(asked.Payload()), deactivationAsked(deactivation(asked.Payload())), "the deactivation was asked", now),
			want: "its task runs again at 2026-12-01T02:30:40Z (retrying for 12m0s since the deactivation was asked): " +
				"the deactivation failed on attempt 3 of 13: Zoom answered HTTP 503, a failure on its side; tether retries it",
		},
		{
			name: "a deactivation queued before its payload said when",
			got:  retryLine(deactivation([]byte(`{"org_id":"o1","membership_id":"m1"}`)), deactivationAsked(deactivation([]byte(`{"org_id":"o1","membership_id":"m1"}`))), "the deactivation was asked", now),
			want: "its task runs again at 2026-12-01T02:30:40Z: " +
				"the deactivation failed on attempt 3 of 13: Zoom answered HTTP 503, a failure on its side; tether retries it",
		},
		{
			name: "a retry, with the import's start",
			got:  retryLine(retry(sentence), now.Add(-95*time.Second), "the import started", now),
			want: "its task runs again at 2026-12-01T02:30:40Z (retrying for 1m35s since the import started): " + sentence,
		},
		{
			name: "a retry without a row's time",
			got:  retryLine(retry(sentence), time.Time{}, "", now),
			want: "its task runs again at 2026-12-01T02:30:40Z: " + sentence,
		},
		{
			name: "scheduled, never failed",
			got:  retryLine(&asynq.TaskInfo{ID: "t1", State: asynq.TaskStateScheduled, NextProcessAt: now.Add(time.Minute)}, now.Add(-time.Minute), "the import started", now),
			want: "its task runs again at 2026-12-01T02:31:00Z",
		},
		{
			name: "a chain from an older worker",
			got:  retryLine(retry(chain), time.Time{}, "", now),
			want: "its task runs again at 2026-12-01T02:30:40Z: its last attempt failed; the worker's log has the error (task_id t1)",
		},
		{
			name: "gave up",
			got: gaveUpLine(&asynq.TaskInfo{ID: "t1", State: asynq.TaskStateArchived,
				LastErr: "the permission audit gave up after 6 attempts: Salesforce answered HTTP 500, a failure on its side; later, run `tether permissions check --org o1` again"}, "the audit"),
			want: "its task gave up: the permission audit gave up after 6 attempts: Salesforce answered HTTP 500, a failure on its side; " +
				"later, run `tether permissions check --org o1` again; the audit is marked failed by the worker or the reconciler",
		},
		{
			name: "gave up with a chain",
			got:  gaveUpLine(&asynq.TaskInfo{ID: "t1", State: asynq.TaskStateArchived, LastErr: chain + ": skip retry for the task"}, "the import"),
			want: "its task gave up: its last attempt failed; the worker's log has the error (task_id t1); the import is marked failed by the worker or the reconciler",
		},
	}
	for _, tt := range tests {
		if tt.got != tt.want {
			t.Errorf("%s:\n got %q\nwant %q", tt.name, tt.got, tt.want)
		}
	}
}
