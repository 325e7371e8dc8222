package worker

import (
	"bytes"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"
)

// An outage is logged once when it starts and once when it ends, however many checks and
// Asynq log lines fail in between; Asynq's other warnings still get through.
func TestOutageLoggedOncePerStateChange(t *testing.T) {
	var buf bytes.Buffer
	log := zerolog.New(&buf)
	o := newOutage(log, "redis", "TETHER_REDIS_URL")
	now := time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)
	o.now = func() time.Time { return now }
	al := asynqLogger{z: log, redis: o}

	o.observe(nil) // healthy: nothing to say
	for range 5 {
		o.observe(errors.New("dial tcp 127.0.0.1:6379: connect: connection refused"))
		al.Error("Dequeue error: UNKNOWN: redis eval error: dial tcp 127.0.0.1:6379: connect: connection refused")
		al.Warn("Failed to write server state data: dial tcp 127.0.0.1:6379: i/o timeout")
	}
	al.Warn("Task type \"x\" is not registered") // not about the connection: logged
	now = now.Add(90 * time.Second)
	o.observe(nil)
	o.observe(nil)

	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	if len(lines) != 3 {
		t.Fatalf("%d log lines, want 3 (down, the unrelated warning, back up):\n%s", len(lines), buf.String())
	}
	if !strings.Contains(lines[0], `"level":"error"`) || !strings.Contains(lines[0], "redis is unreachable (check TETHER_REDIS_URL") {
		t.Errorf("first line: %s", lines[0])
	}
	if !strings.Contains(lines[1], "is not registered") {
		t.Errorf("second line: %s", lines[1])
	}
	if !strings.Contains(lines[2], "redis is reachable again") || !strings.Contains(lines[2], `"down_for":"1m30s"`) ||
		!strings.Contains(lines[2], `"errors_not_logged":14`) {
		t.Errorf("last line: %s", lines[2])
	}
}
