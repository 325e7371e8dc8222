package main

import (
	"context"
	"net"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"tether/worker/redistest"
)

// A process whose listen address is taken (another tether on the host) exits at once with
// an error naming the variable and the flag, before it enqueued or ran anything.
func TestTakenListenAddressExitsBeforeWork(t *testing.T) {
	opt, rdb := redistest.Client(t, 2)
	db := "sqlite:" + filepath.Join(t.TempDir(), "tether.db")
	if res := runTether(t, t.Context(), map[string]string{"TETHER_DATABASE_URL": db}, "migrate", "up"); res.err != nil {
		t.Fatal(res.err)
	}
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	addr := taken.Addr().String()
	base := map[string]string{"TETHER_REDIS_URL": redistest.URL(opt), "TETHER_DATABASE_URL": db,
		"TETHER_ENCRYPTION_KEYS": testKeys, "TETHER_MAILER": "log", "TETHER_LINK_SECRET": testLinkSecret}
	for _, tt := range []struct {
		args []string
		env  map[string]string
		want []string
	}{
		{[]string{"scheduler"}, map[string]string{"TETHER_METRICS_ADDR": addr},
			[]string{"metrics address " + addr + " is in use", "TETHER_METRICS_ADDR", "--metrics-addr"}},
		{[]string{"worker", "--metrics-addr", addr}, nil,
			[]string{"metrics address " + addr + " is in use", "TETHER_METRICS_ADDR", "--metrics-addr"}},
		{[]string{"all"}, map[string]string{"TETHER_HTTP_ADDR": addr},
			[]string{"HTTP address " + addr + " is in use", "TETHER_HTTP_ADDR", "--http-addr"}},
	} {
		env := map[string]string{}
		for k, v := range base {
			env[k] = v
		}
		for k, v := range tt.env {
			env[k] = v
		}
		ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
		began := time.Now()
		res := runTether(t, ctx, env, tt.args...)
		took := time.Since(began)
		cancel()
		if res.err == nil {
			t.Errorf("tether %v on a taken address: no error", tt.args)
			continue
		}
		for _, w := range tt.want {
			if !strings.Contains(res.err.Error(), w) {
				t.Errorf("tether %v: %v; want it to say %q", tt.args, res.err, w)
			}
		}
		if took > 3*time.Second {
			t.Errorf("tether %v took %s to exit; the bind should fail before anything starts", tt.args, took)
		}
		if strings.Contains(res.stderr, "started") || strings.Contains(res.stderr, "enqueue") {
			t.Errorf("tether %v started work before failing:\n%s", tt.args, res.stderr)
		}
		if n, err := rdb.DBSize(t.Context()).Result(); err != nil || n != 0 {
			t.Errorf("tether %v: Redis holds %d keys (%v), want none: nothing may be enqueued", tt.args, n, err)
		}
	}
}
