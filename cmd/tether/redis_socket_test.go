package main

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"github.com/hibiken/asynq"

	"tether/jobs"
	"tether/worker/redistest"
)

// An operator with Redis on the same host points every process at its Unix socket:
// `tether all` (worker, scheduler, serve) starts on it, a verb queues through it, and
// the worker runs what the verb queued.
func TestAllOverARedisSocket(t *testing.T) {
	sock := redistest.Socket(t)
	env := allEnv(t, "redis-socket://"+sock+"?db=3")
	logs, stop := start(t, env, "all")
	waitListening(t, logs)

	var out, errOut bytes.Buffer
	if err := run(context.Background(), []string{"tether", "connections", "sweep"}, func(k string) string { return env[k] },
		strings.NewReader(""), &out, &errOut); err != nil {
		t.Fatalf("connections sweep over the socket: %v (%s)", err, errOut.String())
	}
	f := strings.Fields(out.String())
	if len(f) < 2 || f[0] != "queued" {
		t.Fatalf("output %q, want \"queued <task id>: …\"", out.String())
	}
	id := strings.TrimSuffix(f[1], ":")

	in := asynq.NewInspector(asynq.RedisClientOpt{Network: "unix", Addr: sock, DB: 3})
	defer in.Close()
	var info *asynq.TaskInfo
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		var err error
		if info, err = in.GetTaskInfo(jobs.QueueConnections, id); err == nil && info.State == asynq.TaskStateCompleted {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if info == nil || info.State != asynq.TaskStateCompleted || info.Type != jobs.TypeConnectionsSweep {
		t.Fatalf("sweep task %s in the socket's database 3: %+v; log:\n%s", id, info, logs.String())
	}
	if got := string(info.Result); !strings.HasPrefix(got, "due=0 ") {
		t.Errorf("sweep result %q, want due=0 (an empty store)", got)
	}
	if err := stop(); err != nil {
		t.Errorf("all after SIGTERM returned %v, want nil", err)
	}
}
