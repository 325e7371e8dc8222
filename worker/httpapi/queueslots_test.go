package httpapi_test

import (
	"maps"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/prometheus/client_golang/prometheus"

	"tether/jobs"
	"tether/worker/httpapi"
	"tether/worker/redistest"
)

// slotsByQueue reads tether_queue_worker_slots from reg.
func slotsByQueue(t *testing.T, reg prometheus.Gatherer) (map[string]float64, error) {
	t.Helper()
	mfs, err := reg.Gather()
	got := map[string]float64{}
	for _, mf := range mfs {
		if mf.GetName() != "tether_queue_worker_slots" {
			continue
		}
		for _, m := range mf.GetMetric() {
			got[m.GetLabel()[0].GetValue()] = m.GetGauge().GetValue()
		}
	}
	return got, err
}

// Every queue of tether's is reported, at 0 when no live server fetches from it; a
// stopped server's slots go; Redis away is no reading, not a reading of 0.
func TestQueueWorkerSlots(t *testing.T) {
	opt, _ := redistest.Client(t, dbAPI)
	insp := asynq.NewInspector(opt)
	defer insp.Close()
	reg := httpapi.NewRegistry(insp)
	srv := asynq.NewServer(opt, asynq.Config{Concurrency: 3, Queues: map[string]int{jobs.QueueConnections: 1},
		LogLevel: asynq.ErrorLevel})
	if err := srv.Start(asynq.NewServeMux()); err != nil {
		t.Fatal(err)
	}
	want := map[string]float64{jobs.QueueCritical: 0, jobs.QueueConnections: 3, jobs.QueueDefault: 0, jobs.QueueLow: 0}
	deadline := time.Now().Add(10 * time.Second)
	for {
		got, err := slotsByQueue(t, reg)
		if err == nil && maps.Equal(got, want) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("tether_queue_worker_slots = %v, %v; want %v", got, err, want)
		}
		time.Sleep(20 * time.Millisecond)
	}
	srv.Shutdown()
	want[jobs.QueueConnections] = 0
	if got, err := slotsByQueue(t, reg); err != nil || !maps.Equal(got, want) {
		t.Errorf("after the server stopped: %v, %v; want %v", got, err, want)
	}

	down := httpapi.NewRegistry(asynq.NewInspector(asynq.RedisClientOpt{Addr: "127.0.0.1:1", DialTimeout: time.Second}))
	if got, err := slotsByQueue(t, down); err == nil || len(got) != 0 {
		t.Errorf("Redis unreachable: %v, %v; want an error and no reading", got, err)
	}
	// /metrics still answers then, with every other series: an outage must not blind the
	// dashboards that should show it.
	s, err := httpapi.New(httpapi.Params{Gatherer: down})
	if err != nil {
		t.Fatal(err)
	}
	rec := httptest.NewRecorder()
	s.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	if body := rec.Body.String(); rec.Code != http.StatusOK || !strings.Contains(body, "go_goroutines ") ||
		strings.Contains(body, "tether_queue_worker_slots{") {
		t.Errorf("GET /metrics with Redis unreachable = %d:\n%.600s\nwant 200, the Go runtime's series and no queue slots", rec.Code, body)
	}
}
