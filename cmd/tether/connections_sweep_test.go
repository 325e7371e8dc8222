package main

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"github.com/hibiken/asynq"

	"tether/jobs"
	"tether/worker/redistest"
)

// tether connections sweep queues one sweep that a worker picks up; without Redis it says
// which route does the same.
func TestConnectionsSweepVerbQueuesASweep(t *testing.T) {
	opt, _ := redistest.Client(t, 0)
	env := map[string]string{"TETHER_REDIS_URL": redistest.URL(opt), "TETHER_LOG_LEVEL": "warn"}
	var out, errOut bytes.Buffer
	if err := run(context.Background(), []string{"tether", "connections", "sweep"}, func(k string) string { return env[k] },
		strings.NewReader(""), &out, &errOut); err != nil {
		t.Fatalf("connections sweep: %v (%s)", err, errOut.String())
	}
	f := strings.Fields(out.String())
	if len(f) < 2 || f[0] != "queued" {
		t.Fatalf("output %q, want \"queued <task id>: …\"", out.String())
	}
	id := strings.TrimSuffix(f[1], ":")
	in := asynq.NewInspector(opt)
	defer in.Close()
	info, err := in.GetTaskInfo(jobs.QueueConnections, id)
	if err != nil || info.Type != jobs.TypeConnectionsSweep || info.State != asynq.TaskStatePending {
		t.Fatalf("task %q: %+v, %v", id, info, err)
	}

	err = run(context.Background(), []string{"tether", "connections", "sweep"}, func(string) string { return "" },
		strings.NewReader(""), &out, &errOut)
	if err == nil || !strings.Contains(err.Error(), "POST /v1/connections/sweep") {
		t.Fatalf("without TETHER_REDIS_URL: %v, want it to name POST /v1/connections/sweep", err)
	}
}
