package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// A loss recorded by a retry whose previous attempt never reported (its worker was
// SIGKILLed) is the kill window; one whose previous attempt reported is tether's doing.
func TestKillWindowLossesNeedsTheAttemptBeforeToHaveDied(t *testing.T) {
	dir := t.TempDir()
	lines := []string{
		// c1: attempt 0 died with its worker; attempt 1 found the loss.
		`{"level":"info","component":"worker","task_id":"connections:refresh:c1:1","retried":1,"connection":"c1","cause":"lost_during_refresh","message":"connection upkeep"}`,
		`{"level":"info","component":"worker","task_id":"connections:refresh:c1:1","retried":1,"outcome":"ok","message":"task done"}`,
		// c2: attempt 0 reported (a failed write, say), so the loss is not the kill window.
		`{"level":"warn","component":"worker","task_id":"connections:refresh:c2:1","retried":0,"outcome":"retry","message":"task done"}`,
		`{"level":"info","component":"worker","task_id":"connections:refresh:c2:1","retried":1,"connection":"c2","cause":"lost_during_refresh","message":"connection upkeep"}`,
		// c3: recorded on a first attempt (a concurrent refresh, no lock): never the kill window.
		`{"level":"info","component":"worker","task_id":"connections:refresh:c3:1","retried":0,"connection":"c3","cause":"lost_during_refresh","message":"connection upkeep"}`,
		`not json at all, connections:refresh:`,
		// c4: attempt 0 died; its retry met a provider fault (outcome unknown carried
		// over), and a later task proved the grant consumed: the kill window too.
		`{"level":"info","component":"worker","task_id":"connections:refresh:c4:1","retried":1,"connection":"c4","cause":"outcome_unknown","message":"connection upkeep"}`,
		`{"level":"info","component":"worker","task_id":"connections:refresh:c4:2","retried":0,"connection":"c4","cause":"lost_during_refresh","message":"connection upkeep"}`,
		// c5: the same, but attempt 0 of the first task reported: not the kill window.
		`{"level":"warn","component":"worker","task_id":"connections:refresh:c5:1","retried":0,"outcome":"retry","message":"task done"}`,
		`{"level":"info","component":"worker","task_id":"connections:refresh:c5:1","retried":1,"connection":"c5","cause":"outcome_unknown","message":"connection upkeep"}`,
		`{"level":"info","component":"worker","task_id":"connections:refresh:c5:2","retried":0,"connection":"c5","cause":"lost_during_refresh","message":"connection upkeep"}`,
	}
	if err := os.WriteFile(filepath.Join(dir, "worker1.log"), []byte(strings.Join(lines[:2], "\n")+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "worker2.log"), []byte(strings.Join(lines[2:], "\n")+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	got, err := killWindowLosses(dir)
	if err != nil {
		t.Fatal(err)
	}
	if !got["c1"] || !got["c4"] || got["c2"] || got["c3"] || got["c5"] || len(got) != 2 {
		t.Errorf("kill-window losses %v, want c1 and c4", got)
	}
}

// The operator's API (serve) may record the loss of a token a killed attempt rotated: it
// counts as the kill window only when the workers' logs show a died attempt of that
// connection (a retry whose previous attempt never reported).
func TestKillWindowLossesRecordedByTheOperator(t *testing.T) {
	dir := t.TempDir()
	serve := []string{
		`{"level":"info","op":"refresh","connection":"c6","state":"needs_reconnect","cause":"lost_during_refresh","by":"operator","message":"connection upkeep"}`,
		`{"level":"info","op":"refresh","connection":"c7","state":"needs_reconnect","cause":"lost_during_refresh","by":"operator","message":"connection upkeep"}`,
		`{"level":"info","op":"refresh","connection":"c8","state":"needs_reconnect","cause":"lost_during_refresh","by":"operator","message":"connection upkeep"}`,
		`{"level":"info","op":"refresh","connection":"c9","state":"needs_reconnect","cause":"revoked","by":"operator","message":"connection upkeep"}`,
	}
	workers := []string{
		// c6: attempt 0 died; its retry found the connection already broken.
		`{"level":"info","component":"worker","task_id":"connections:refresh:c6:1","retried":1,"connection":"c6","skipped":"the connection needs reconnecting (needs_reconnect)","message":"connection upkeep"}`,
		// c7: attempt 0 reported: no died attempt, so not the kill window.
		`{"level":"warn","component":"worker","task_id":"connections:refresh:c7:1","retried":0,"outcome":"retry","message":"task done"}`,
		`{"level":"info","component":"worker","task_id":"connections:refresh:c7:1","retried":1,"connection":"c7","skipped":"the connection needs reconnecting (needs_reconnect)","message":"connection upkeep"}`,
		// c9: a died attempt, but the operator recorded another cause.
		`{"level":"info","component":"worker","task_id":"connections:refresh:c9:1","retried":1,"connection":"c9","skipped":"the connection needs reconnecting (needs_reconnect)","message":"connection upkeep"}`,
	}
	if err := os.WriteFile(filepath.Join(dir, "serve.log"), []byte(strings.Join(serve, "\n")+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "worker1.log"), []byte(strings.Join(workers, "\n")+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	got, err := killWindowLosses(dir)
	if err != nil {
		t.Fatal(err)
	}
	if !got["c6"] || len(got) != 1 {
		t.Errorf("kill-window losses %v, want c6 alone", got)
	}
}
