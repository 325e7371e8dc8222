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

// The operator's "run it now" verbs queue one task that a worker picks up; without Redis
// they say which route does the same.
func TestRunNowVerbsQueueATask(t *testing.T) {
	for _, tc := range []struct {
		args     []string
		queue    string
		taskType string
		route    string
	}{
		{[]string{"tether", "reconcile"}, jobs.QueueDefault, jobs.TypeReconcile, "POST /v1/reconcile"},
		{[]string{"tether", "connections", "sweep"}, jobs.QueueConnections, jobs.TypeConnectionsSweep, "POST /v1/connections/sweep"},
	} {
		t.Run(strings.Join(tc.args[1:], " "), func(t *testing.T) {
			opt, _ := redistest.Client(t, 0)
			env := map[string]string{"TETHER_REDIS_URL": redistest.URL(opt), "TETHER_LOG_LEVEL": "warn"}
			var out, errOut bytes.Buffer
			if err := run(context.Background(), tc.args, func(k string) string { return env[k] },
				strings.NewReader(""), &out, &errOut); err != nil {
				t.Fatalf("%v (%s)", err, errOut.String())
			}
			f := strings.Fields(out.String())
			if len(f) < 2 || f[0] != "queued" {
				t.Fatalf("output %q, want \"queued <task id>: …\"", out.String())
			}
			// The sweep runs only what is due: a connection a refused OAuth client left
			// needs_admin waits 6 h for its probe, so the operator is told the verb that
			// runs one now.
			if tc.taskType == jobs.TypeConnectionsSweep && !strings.Contains(out.String(), "tether connections refresh ORG CONNECTION") {
				t.Errorf("sweep output %q does not name connections refresh", out.String())
			}
			id := strings.TrimSuffix(f[1], ":")
			in := asynq.NewInspector(opt)
			defer in.Close()
			info, err := in.GetTaskInfo(tc.queue, id)
			if err != nil || info.Type != tc.taskType || info.State != asynq.TaskStatePending {
				t.Fatalf("task %q: %+v, %v", id, info, err)
			}

			err = run(context.Background(), tc.args, func(string) string { return "" },
				strings.NewReader(""), &out, &errOut)
			if err == nil || !strings.Contains(err.Error(), tc.route) {
				t.Fatalf("without TETHER_REDIS_URL: %v, want it to name %s", err, tc.route)
			}
		})
	}
}
