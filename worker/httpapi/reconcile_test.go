package httpapi_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/prometheus/client_golang/prometheus"

	"tether/jobs"
	"tether/worker"
	"tether/worker/httpapi"
	"tether/worker/redistest"
)

// The operator's "run it now" routes queue a real task, and say when Redis cannot take it
// instead of answering 202 for work that does not exist.
func TestRunNowRoutesQueueATask(t *testing.T) {
	type now func(ctx context.Context) (string, error)
	for _, tc := range []struct {
		path     string
		queue    string
		taskType string
		params   func(now) httpapi.Params // sets the route's producer
	}{
		{"/v1/reconcile", jobs.QueueDefault, jobs.TypeReconcile,
			func(f now) httpapi.Params { return httpapi.Params{Reconcile: f} }},
		{"/v1/connections/sweep", jobs.QueueConnections, jobs.TypeConnectionsSweep,
			func(f now) httpapi.Params { return httpapi.Params{SweepConnections: f} }},
	} {
		t.Run(tc.path, func(t *testing.T) {
			opt, _ := redistest.Client(t, 0)
			client := asynq.NewClient(opt)
			t.Cleanup(func() { client.Close() })
			down := asynq.NewClient(asynq.RedisClientOpt{Addr: "127.0.0.1:1", DialTimeout: 200 * time.Millisecond})
			t.Cleanup(func() { down.Close() })
			serve := func(q worker.Enqueuer) string {
				p := tc.params(func(ctx context.Context) (string, error) {
					if tc.taskType == jobs.TypeReconcile {
						return worker.ReconcileNow(ctx, q, time.Now())
					}
					return worker.SweepConnectionsNow(ctx, q, time.Now())
				})
				p.Gatherer, p.AdminUser, p.AdminPassword = prometheus.NewRegistry(), "admin", "pw"
				s, err := httpapi.New(p)
				if err != nil {
					t.Fatal(err)
				}
				srv := httptest.NewServer(s)
				t.Cleanup(srv.Close)
				return srv.URL
			}
			type answer struct {
				TaskID string `json:"task_id"`
				Error  struct {
					Code string `json:"code"`
				} `json:"error"`
			}
			post := func(url string, auth bool) (int, answer) {
				req, _ := http.NewRequestWithContext(t.Context(), http.MethodPost, url+tc.path, nil)
				if auth {
					req.SetBasicAuth("admin", "pw")
				}
				res, err := http.DefaultClient.Do(req)
				if err != nil {
					t.Fatal(err)
				}
				defer res.Body.Close()
				var body answer
				if err := json.NewDecoder(res.Body).Decode(&body); err != nil {
					t.Fatalf("answer %d is not JSON: %v", res.StatusCode, err)
				}
				return res.StatusCode, body
			}
			up := serve(client)
			if code, _ := post(up, false); code != http.StatusUnauthorized {
				t.Fatalf("without credentials: %d, want 401", code)
			}
			code, body := post(up, true)
			if code != http.StatusAccepted || body.TaskID == "" {
				t.Fatalf("%d %v, want 202 with a task id", code, body)
			}
			in := asynq.NewInspector(opt)
			t.Cleanup(func() { in.Close() })
			info, err := in.GetTaskInfo(tc.queue, body.TaskID)
			if err != nil || info.Type != tc.taskType {
				t.Fatalf("queued task %q: %+v, %v", body.TaskID, info, err)
			}
			if code, body := post(serve(down), true); code != http.StatusServiceUnavailable || body.Error.Code != "not_queued" {
				t.Fatalf("Redis down: %d %v, want 503 not_queued", code, body)
			}
		})
	}
}
