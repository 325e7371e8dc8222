package worker

import (
	"runtime/debug"
	"testing"
)

func TestTuneGC(t *testing.T) {
	prev := debug.SetGCPercent(100)
	t.Cleanup(func() { debug.SetGCPercent(prev) })

	if s, env := TuneGC(func(string) string { return "" }); s != "200" || env {
		t.Fatalf("no GOGC: %q from env %t", s, env)
	}
	if got := debug.SetGCPercent(100); got != GCPercent {
		t.Fatalf("no GOGC: the collector runs at %d, want %d", got, GCPercent)
	}
	// The operator's GOGC (read by the runtime at start) is left as it is.
	if s, env := TuneGC(func(k string) string {
		if k == "GOGC" {
			return "150"
		}
		return ""
	}); s != "150" || !env {
		t.Fatalf("GOGC=150: %q from env %t", s, env)
	}
	if got := debug.SetGCPercent(100); got != 100 {
		t.Fatalf("GOGC=150: TuneGC changed the collector to %d", got)
	}
}
