package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"tether/internal/syncbuf"
	"tether/worker/redistest"
)

// TestMain lets a test re-run this binary as the real tether (main, with its signal
// handling) by setting TETHER_TEST_MAIN=1.
func TestMain(m *testing.M) {
	if os.Getenv("TETHER_TEST_MAIN") == "1" {
		os.Args = append([]string{"tether"}, os.Args[1:]...)
		main()
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// A real SIGTERM makes `tether worker` shut down gracefully and exit 0.
func TestWorkerExitsCleanlyOnSIGTERM(t *testing.T) {
	opt, _ := redistest.Client(t, 2)
	db := "sqlite:" + filepath.Join(t.TempDir(), "tether.db")
	if res := runTether(t, t.Context(), map[string]string{"TETHER_DATABASE_URL": db}, "migrate", "up"); res.err != nil {
		t.Fatal(res.err)
	}
	cmd := exec.Command(os.Args[0], "worker", "--metrics-addr", "127.0.0.1:0")
	cmd.Env = []string{
		"TETHER_TEST_MAIN=1",
		"TETHER_REDIS_URL=" + redistest.URL(opt),
		"TETHER_DATABASE_URL=" + db,
		"TETHER_ENCRYPTION_KEYS=" + testKeys,
		"TETHER_SHUTDOWN_TIMEOUT=2s",
		"TETHER_MAILER=log",
		"TETHER_LINK_SECRET=" + testLinkSecret,
	}
	var logs syncbuf.Buffer
	cmd.Stderr = &logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	waitListening(t, &logs)
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(logs.String(), "worker started") && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("tether worker after SIGTERM: %v\n%s", err, logs.String())
		}
	case <-time.After(20 * time.Second):
		_ = cmd.Process.Kill()
		t.Fatalf("tether worker still running 20s after SIGTERM:\n%s", logs.String())
	}
	for _, want := range []string{"worker shutting down", "worker stopped"} {
		if !strings.Contains(logs.String(), want) {
			t.Errorf("log lacks %q:\n%s", want, logs.String())
		}
	}
}
