package httpapi_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"
	"github.com/rs/zerolog"

	"tether/jobs"
	"tether/worker"
	"tether/worker/httpapi"
	"tether/worker/redistest"
)

const dbAPI = 10 // a spare Redis DB: worker's tests use 1 and may run at the same time

type testBundle struct {
	srv    *httptest.Server
	redis  asynq.RedisClientOpt
	client *asynq.Client
}

// setup serves tether's API over a real Redis; dbPing stands in for the store's Ping.
func setup(t *testing.T, redisPing func(context.Context) error, dbPing func(context.Context) error) *testBundle {
	t.Helper()
	opt, rc := redistest.Client(t, dbAPI)
	if redisPing == nil {
		redisPing = func(ctx context.Context) error { return rc.Ping(ctx).Err() }
	}
	inspector := asynq.NewInspector(opt)
	t.Cleanup(func() { _ = inspector.Close() })
	reg := httpapi.NewRegistry(inspector)
	// tether's own counters, as in tether serve/all.
	if _, err := worker.New(worker.Params{Redis: opt, Registerer: reg}); err != nil {
		t.Fatal(err)
	}
	mon := httpapi.NewMonitoring(opt)
	t.Cleanup(func() { _ = mon.Close() })
	s, err := httpapi.New(httpapi.Params{
		Logger:        zerolog.Nop(),
		Gatherer:      reg,
		Checks:        []httpapi.Check{httpapi.RedisCheck(redisPing), httpapi.DatabaseCheck(dbPing)},
		Monitoring:    mon,
		AdminUser:     "admin",
		AdminPassword: "s3cret",
	})
	if err != nil {
		t.Fatal(err)
	}
	b := &testBundle{srv: httptest.NewServer(s), redis: opt, client: asynq.NewClient(opt)}
	t.Cleanup(func() { b.srv.Close(); _ = b.client.Close() })
	return b
}

func ok(context.Context) error { return nil }

func (b *testBundle) get(t *testing.T, path string, auth bool) (int, string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, b.srv.URL+path, nil)
	c := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	if auth {
		c = login(t, b.srv.URL, "admin", "s3cret")
	}
	res, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	body, _ := io.ReadAll(res.Body)
	return res.StatusCode, string(body)
}

func TestHealthz(t *testing.T) {
	b := setup(t, nil, ok)
	if code, body := b.get(t, "/healthz", false); code != 200 || body != "ok\n" {
		t.Errorf("/healthz = %d %q", code, body)
	}
}

func TestReadyz(t *testing.T) {
	b := setup(t, nil, ok)
	code, body := b.get(t, "/readyz", false)
	if code != 200 || !strings.Contains(body, `"redis":"ok"`) || !strings.Contains(body, `"database":"ok"`) {
		t.Errorf("/readyz with Redis and database up = %d %s", code, body)
	}
}

func TestReadyzRedisDown(t *testing.T) {
	down := redis.NewClient(&redis.Options{Addr: "127.0.0.1:1", MaxRetries: -1})
	t.Cleanup(func() { _ = down.Close() })
	b := setup(t, func(ctx context.Context) error { return down.Ping(ctx).Err() }, ok)
	code, body := b.get(t, "/readyz", false)
	var res struct {
		Status string            `json:"status"`
		Checks map[string]string `json:"checks"`
	}
	if err := json.Unmarshal([]byte(body), &res); err != nil {
		t.Fatalf("/readyz body %q: %v", body, err)
	}
	if code != 503 || res.Status != "unavailable" || res.Checks["redis"] != "fail" || res.Checks["database"] != "ok" {
		t.Errorf("/readyz with Redis down = %d %+v, want 503 naming redis", code, res)
	}
}

func TestReadyzDatabaseDown(t *testing.T) {
	b := setup(t, nil, func(context.Context) error { return errors.New("connection refused") })
	if code, body := b.get(t, "/readyz", false); code != 503 || !strings.Contains(body, `"database":"fail"`) {
		t.Errorf("/readyz with the database down = %d %s", code, body)
	}
}

func TestMetrics(t *testing.T) {
	b := setup(t, nil, ok)
	// A queue must exist for Asynq's collector to report it.
	task, _ := jobs.NewEventsPruneTask(jobs.MustSlot("20260501T031700Z"))
	if _, err := b.client.Enqueue(task); err != nil {
		t.Fatal(err)
	}
	code, body := b.get(t, "/metrics", false)
	if code != 200 {
		t.Fatalf("/metrics = %d", code)
	}
	for _, want := range []string{
		`asynq_tasks_enqueued_total{queue="low",state="pending"} 1`, // Asynq's queue collector
		"tether_tasks_in_flight 0",                                  // tether's own (the task counters appear once a task ran)
		"go_goroutines",
	} {
		if !strings.Contains(body, want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
}

func TestMonitoringRequiresAdmin(t *testing.T) {
	b := setup(t, nil, ok)
	if code, _ := b.get(t, "/monitoring/", false); code != http.StatusSeeOther {
		t.Errorf("/monitoring/ without a session = %d, want 303 to the login form", code)
	}
	if code, _ := b.get(t, "/monitoring/api/queues", false); code != http.StatusUnauthorized {
		t.Errorf("/monitoring/api/queues without a session = %d, want 401", code)
	}
	// Basic credentials are ambient (browsers resend them cross-site): not accepted here.
	req, _ := http.NewRequest(http.MethodGet, b.srv.URL+"/monitoring/api/queues", nil)
	req.SetBasicAuth("admin", "s3cret")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusUnauthorized {
		t.Errorf("basic credentials on /monitoring/api/queues = %d, want 401", res.StatusCode)
	}
	form := url.Values{"user": {"admin"}, "password": {"wrong"}}
	res, err = http.PostForm(b.srv.URL+"/monitoring/login", form)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusUnauthorized || len(res.Cookies()) != 0 {
		t.Errorf("wrong password = %d with cookies %v, want 401 and none", res.StatusCode, res.Cookies())
	}
}

func TestMonitoringServesUIAndAPIToAdmin(t *testing.T) {
	b := setup(t, nil, ok)
	task, _ := jobs.NewEventsPruneTask(jobs.MustSlot("20260501T031700Z"))
	if _, err := b.client.Enqueue(task); err != nil {
		t.Fatal(err)
	}
	code, body := b.get(t, "/monitoring/", true)
	if code != 200 || !strings.Contains(body, "<html") {
		t.Errorf("/monitoring/ = %d, want the UI's HTML; got %.200s", code, body)
	}
	code, body = b.get(t, "/monitoring/api/queues", true)
	if code != 200 || !strings.Contains(body, `"queue":"low"`) {
		t.Errorf("/monitoring/api/queues = %d %.300s, want the low queue listed", code, body)
	}
}

func TestMonitoringClosedWithoutPassword(t *testing.T) {
	opt, _ := redistest.Client(t, dbAPI)
	mon := httpapi.NewMonitoring(opt)
	t.Cleanup(func() { _ = mon.Close() })
	s, err := httpapi.New(httpapi.Params{Gatherer: httpapi.NewRegistry(nil), Monitoring: mon, AdminUser: "admin"})
	if err != nil {
		t.Fatal(err)
	}
	for _, req := range []*http.Request{httptest.NewRequest(http.MethodGet, "/monitoring/", nil),
		httptest.NewRequest(http.MethodPost, "/monitoring/login", strings.NewReader("user=admin&password=")),
	} {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		rec := httptest.NewRecorder()
		s.ServeHTTP(rec, req)
		if rec.Code != http.StatusServiceUnavailable {
			t.Errorf("%s %s with no admin password configured = %d, want 503", req.Method, req.URL.Path, rec.Code)
		}
	}
}

func TestDrainMakesReadyzFail(t *testing.T) {
	s, err := httpapi.New(httpapi.Params{Gatherer: httpapi.NewRegistry(nil), Checks: []httpapi.Check{httpapi.DatabaseCheck(ok)}})
	if err != nil {
		t.Fatal(err)
	}
	s.Drain()
	rec := httptest.NewRecorder()
	s.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/readyz", nil))
	if rec.Code != http.StatusServiceUnavailable || !strings.Contains(rec.Body.String(), "draining") {
		t.Errorf("/readyz while draining = %d %s", rec.Code, rec.Body.String())
	}
}
