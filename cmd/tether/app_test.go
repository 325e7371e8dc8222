package main

import (
	"context"
	"io"
	"net/http"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"tether/internal/syncbuf"
	"tether/worker/redistest"
)

// tether all runs the worker, the scheduler and the HTTP server in one process: each
// shared dependency (OAuth client, mailer, token service, queue client, inspector,
// import service, org service, each Redis role) is built once, and the one OAuth client holds every
// configured provider.
func TestAllBuildsEachDependencyOnce(t *testing.T) {
	base, apps := startAll(t)
	if len(apps) != 1 {
		t.Fatalf("tether all created %d apps, want 1", len(apps))
	}
	got := apps[0].constructions()
	for _, what := range []string{"oauth", "mailer", "tokens", "queue", "inspector", "imports", "orgs", "connection-metrics", "redis:" + redisTokens, "redis:" + redisConnect, "redis:" + redisProbe} {
		if got[what] != 1 {
			t.Errorf("%s built %d times in tether all, want once (all: %v)", what, got[what], got)
		}
	}
	for what, n := range got {
		if n > 1 {
			t.Errorf("%s built %d times", what, n)
		}
	}
	oc, err := apps[0].oauthClient()
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{"salesforce", "google", "microsoft", "zoom"} {
		if _, ok := oc.Provider(p); !ok {
			t.Errorf("the one OAuth client lacks provider %s", p)
		}
	}

	// The process's /metrics carries the upkeep counters for every configured provider and
	// the connection gauges read from the store.
	resp, err := http.Get(base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		`tether_connection_refreshes_total{outcome="ok",provider="zoom"} 0`,
		`tether_connection_verifications_total{outcome="needs_admin",provider="salesforce"} 0`,
		`tether_connection_refresh_duration_seconds_count{provider="google",result="ok"} 0`,
		`tether_connection_lost_during_refresh_total{provider="microsoft"} 0`,
		`tether_connections{kind="salesforce_team",state="missing"} 0`,
		`tether_connection_sweep_lag_seconds 0`,
	} {
		if !strings.Contains(string(body), want) {
			t.Errorf("/metrics of tether all lacks %s", want)
		}
	}
}

// startAll runs `tether all` (SQLite, a leased Redis database, every provider configured)
// until the test ends, and returns its HTTP base URL once the worker has started, and the
// apps it created.
func startAll(t *testing.T) (string, []*app) {
	t.Helper()
	opt, _ := redistest.Client(t, 3)
	vars := map[string]string{
		"TETHER_REDIS_URL":                redistest.URL(opt),
		"TETHER_DATABASE_URL":             "sqlite:" + filepath.Join(t.TempDir(), "tether.db"),
		"TETHER_ENCRYPTION_KEYS":          testKeys,
		"TETHER_LINK_SECRET":              testLinkSecret,
		"TETHER_HTTP_ADDR":                "127.0.0.1:0",
		"TETHER_SMTP_URL":                 "smtp+plain://127.0.0.1:2525",
		"TETHER_SALESFORCE_CLIENT_ID":     "sf-id",
		"TETHER_SALESFORCE_CLIENT_SECRET": "sf-secret",
		"TETHER_GOOGLE_CLIENT_ID":         "g-id",
		"TETHER_GOOGLE_CLIENT_SECRET":     "g-secret",
		"TETHER_MICROSOFT_CLIENT_ID":      "ms-id",
		"TETHER_MICROSOFT_CLIENT_SECRET":  "ms-secret",
		"TETHER_ZOOM_CLIENT_ID":           "z-id",
		"TETHER_ZOOM_CLIENT_SECRET":       "z-secret",
	}
	var (
		mu   sync.Mutex
		apps []*app
	)
	var out syncbuf.Buffer
	logs := &syncbuf.Buffer{}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		e := env{getenv: func(k string) string { return vars[k] }, stdin: strings.NewReader(""), stdout: &out, stderr: logs,
			observe: func(a *app) { mu.Lock(); apps = append(apps, a); mu.Unlock() }}
		root := newRoot(e)
		root.SetArgs([]string{"all"})
		done <- root.ExecuteContext(ctx)
	}()
	t.Cleanup(func() {
		cancel()
		select {
		case <-done:
		case <-time.After(30 * time.Second):
			t.Error("tether all did not stop")
		}
	})
	base := waitListening(t, logs)
	deadline := time.Now().Add(20 * time.Second)
	for !strings.Contains(logs.String(), "worker started") && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	mu.Lock()
	defer mu.Unlock()
	return base, slices.Clone(apps)
}
