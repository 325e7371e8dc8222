package worker_test

import (
	"context"
	"errors"
	"io"
	"net"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"

	"tether/sync/store"
	"tether/sync/store/storetest"
	"tether/worker"
)

// cutProxy forwards TCP to target until cut: then it drops every open connection and
// closes each new one at once, as a database that went away does; heal lets them through
// again.
type cutProxy struct {
	ln     net.Listener
	target string
	cut    atomic.Bool
	mu     sync.Mutex
	conns  []net.Conn
}

func newCutProxy(t *testing.T, target string) *cutProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &cutProxy{ln: ln, target: target}
	t.Cleanup(func() { _ = ln.Close(); p.dropAll() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			if p.cut.Load() {
				_ = c.Close()
				continue
			}
			up, err := net.Dial("tcp", target)
			if err != nil {
				_ = c.Close()
				continue
			}
			p.mu.Lock()
			p.conns = append(p.conns, c, up)
			p.mu.Unlock()
			go func() { _, _ = io.Copy(up, c); _ = up.Close() }()
			go func() { _, _ = io.Copy(c, up); _ = c.Close() }()
		}
	}()
	return p
}

func (p *cutProxy) dropAll() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, c := range p.conns {
		_ = c.Close()
	}
	p.conns = nil
}

func (p *cutProxy) setCut(cut bool) {
	p.cut.Store(cut)
	if cut {
		p.dropAll()
	}
}

// A database outage at run time is logged once when it starts (naming
// TETHER_DATABASE_URL) and once when it ends, not once per failed task: PostgreSQL behind a
// proxy that drops it, real Redis, a worker whose tasks each query the database.
func TestDatabaseOutageLoggedOncePerStateChange(t *testing.T) {
	b := setup(t)
	u, err := url.Parse(storetest.DatabaseURL())
	if err != nil {
		t.Fatal(err)
	}
	proxy := newCutProxy(t, u.Host)
	u.Host = proxy.ln.Addr().String()
	st, err := store.Open(t.Context(), u.String())
	if err != nil {
		t.Fatalf("open PostgreSQL through the proxy: %v", err)
	}
	t.Cleanup(func() { _ = st.Close() })

	w, err := worker.New(worker.Params{Redis: b.redis, Logger: zerolog.New(b.logs), Registerer: prometheus.NewRegistry(),
		Concurrency: 4, TaskCheckInterval: 50 * time.Millisecond, DelayedTaskCheckInterval: 100 * time.Millisecond,
		HealthCheckInterval: 100 * time.Millisecond, Database: st})
	if err != nil {
		t.Fatal(err)
	}
	var ran atomic.Int32
	worker.Handle(w, "test:org", func(ctx context.Context, p orgTask) error {
		ran.Add(1)
		if err := st.Ping(ctx); err != nil {
			return err
		}
		return errors.New("not the database") // logged as usual while the database is up
	})
	start(t, w)

	proxy.setCut(true)
	const n = 6
	for i := range n {
		if _, err := b.client.Enqueue(asynq.NewTask("test:org", []byte(`{"org_id":"o1"}`)), asynq.MaxRetry(0),
			asynq.TaskID("db-down-"+string(rune('a'+i)))); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, func() bool { return ran.Load() == n }, "the tasks to run while the database is down")
	time.Sleep(200 * time.Millisecond) // a health check or two while down: still one line
	proxy.setCut(false)
	waitFor(t, func() bool { return strings.Contains(b.logs.String(), "database is reachable again") }, "the database's return to be logged")

	// One task while it is up again: its own failure is logged.
	if _, err := b.client.Enqueue(asynq.NewTask("test:org", []byte(`{"org_id":"o1"}`)), asynq.MaxRetry(0), asynq.TaskID("db-up")); err != nil {
		t.Fatal(err)
	}
	waitFor(t, func() bool { return strings.Contains(b.logs.String(), "not the database") }, "the up task's failure to be logged")

	logs := b.logs.String()
	if c := strings.Count(logs, "database is unreachable (check TETHER_DATABASE_URL and that it is up)"); c != 1 {
		t.Errorf("%d lines say the database is unreachable, want 1:\n%s", c, logs)
	}
	if c := strings.Count(logs, "database is reachable again"); c != 1 {
		t.Errorf("%d lines say the database is back, want 1:\n%s", c, logs)
	}
	if c := strings.Count(logs, `"message":"task done"`); c != 1 {
		t.Errorf("%d task lines, want only the one run while the database was up (the %d during the outage counted, not logged):\n%s", c, n, logs)
	}
	var back string
	for _, line := range strings.Split(logs, "\n") {
		if strings.Contains(line, "database is reachable again") {
			back = line
		}
	}
	if !strings.Contains(back, `"errors_not_logged":`) || !strings.Contains(back, `"down_for":`) {
		t.Errorf("the return line lacks how long and how many errors:\n%s", back)
	}
}

// waitFor polls cond for up to 20 s.
func waitFor(t *testing.T, cond func() bool, what string) {
	t.Helper()
	for deadline := time.Now().Add(20 * time.Second); !cond(); time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
	}
}
