//go:build linux

package worker_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime/pprof"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"tether/connectors/sandbox"
	"tether/connectors/sandbox/sfdc"
	"tether/jobs"
	"tether/sync/directory"
	"tether/sync/store/storetest"
)

// sandboxChildEnv switches this test binary into a sandbox server (see TestMain): its
// value is the number of Sales Users of the org to serve.
const sandboxChildEnv = "TETHER_BENCH_SANDBOX_USERS"

// TestMain lets BenchmarkImportRSS* re-execute the test binary as the sandbox process:
// no build step, and the child serves exactly importOrgSpec(n), the org of the
// in-process benchmarks. TestInvitesSendKilledAfterAccept re-executes it as a worker.
func TestMain(m *testing.M) {
	if v := os.Getenv(sendChildEnv); v != "" {
		if err := runSendChild(v); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	if v := os.Getenv(sandboxChildEnv); v != "" {
		if err := runSandboxChild(v); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// runSandboxChild writes importOrgSpec(n) as a scenario file and serves it with
// sandbox.ListenAndServe (the `tether sandbox` verb) until SIGTERM. The org is built
// here, not in the parent, so the parent's peak RSS never holds it.
func runSandboxChild(users string) error {
	n, err := strconv.Atoi(users)
	if err != nil {
		return fmt.Errorf("%s=%q: %w", sandboxChildEnv, users, err)
	}
	dir, err := os.MkdirTemp("", "tether-bench-sandbox")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	data, err := json.Marshal(sandbox.Scenario{Salesforce: &sfdc.Scenario{Orgs: []sfdc.OrgSpec{importOrgSpec(n)}}})
	if err != nil {
		return err
	}
	file := filepath.Join(dir, "scenario.json")
	if err := os.WriteFile(file, data, 0o600); err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	if path := os.Getenv("TETHER_BENCH_SANDBOX_CPUPROFILE"); path != "" {
		f, err := os.Create(path)
		if err != nil {
			return err
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
		defer pprof.StopCPUProfile()
	}
	return sandbox.ListenAndServe(ctx, sandbox.ServeOptions{ScenarioFile: file, Stdout: os.Stdout, Logger: zerolog.Nop()})
}

// sandboxProc is a sandbox running as a child process.
type sandboxProc struct {
	cmd  *exec.Cmd
	urls sandbox.BaseURLs
	exit chan error
	once sync.Once
}

// startSandboxProc starts the sandbox process serving an org of n Sales Users, waits for
// its base-URL line and stops it (SIGTERM) at cleanup.
func startSandboxProc(b *testing.B, n int) *sandboxProc {
	b.Helper()
	cmd := exec.Command(os.Args[0])
	cmd.Env = append(os.Environ(), sandboxChildEnv+"="+strconv.Itoa(n))
	cmd.Stderr = os.Stderr
	// The child must not outlive a benchmark killed by `go test -timeout`.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	out, err := cmd.StdoutPipe()
	if err != nil {
		b.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		b.Fatalf("start sandbox process: %v", err)
	}
	p := &sandboxProc{cmd: cmd, exit: make(chan error, 1)}
	line := make(chan []byte, 1)
	go func() {
		l, _ := bufio.NewReader(out).ReadBytes('\n')
		line <- l
		p.exit <- cmd.Wait()
	}()
	b.Cleanup(p.stop)
	select {
	case l := <-line:
		if err := json.Unmarshal(l, &p.urls); err != nil || p.urls.Admin == "" {
			b.Fatalf("sandbox process printed %q: %v", l, err)
		}
	case <-time.After(2 * time.Minute):
		b.Fatal("sandbox process did not print its base URLs in 2 minutes")
	}
	return p
}

// stop ends the process: SIGTERM (graceful shutdown), SIGKILL after 10 s.
func (p *sandboxProc) stop() {
	p.once.Do(func() {
		_ = p.cmd.Process.Signal(syscall.SIGTERM) // fails only if it already exited
		select {
		case <-p.exit:
		case <-time.After(10 * time.Second):
			_ = p.cmd.Process.Kill()
			<-p.exit
		}
	})
}

// peakRSS is the child's VmHWM in kB; call it before stop.
func (p *sandboxProc) peakRSS(b *testing.B) int64 {
	kb, ok := vmHWM(strconv.Itoa(p.cmd.Process.Pid))
	if !ok {
		b.Fatalf("no VmHWM for sandbox process %d", p.cmd.Process.Pid)
	}
	return kb
}

// admin calls the sandbox's admin API, decoding the answer into out.
func (p *sandboxProc) admin(b *testing.B, method, path string, in, out any) {
	b.Helper()
	var body bytes.Buffer
	if in != nil {
		if err := json.NewEncoder(&body).Encode(in); err != nil {
			b.Fatal(err)
		}
	}
	req, err := http.NewRequest(method, p.urls.Admin+path, &body)
	if err != nil {
		b.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		b.Fatalf("sandbox admin %s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		var e bytes.Buffer
		_, _ = e.ReadFrom(resp.Body)
		b.Fatalf("sandbox admin %s %s: %s %s", method, path, resp.Status, strings.TrimSpace(e.String()))
	}
	if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
		b.Fatalf("sandbox admin %s %s: decode: %v", method, path, err)
	}
}

func (p *sandboxProc) sfQueries(b *testing.B) int64 {
	var c sandbox.Counters
	p.admin(b, http.MethodGet, "/counters", nil, &c)
	return c.Endpoint(sandbox.Salesforce, "query").Calls
}

// benchImportRSS is benchImport with the sandbox in its own process, so this process's
// peak RSS is tether's: the store, Redis, the worker and the import, plus the test
// binary. Run one benchmark per `go test` process with -benchtime 1x: VmHWM is a
// high-water mark of the whole process, setup included.
func benchImportRSS(b *testing.B, n int) {
	st := storetest.Postgres(b)
	sb := startSandboxProc(b, n)
	var grant sandbox.Tokens
	sb.admin(b, http.MethodPost, "/grants", sandbox.GrantRequest{
		Provider: sandbox.Salesforce, Subject: sfdc.TeamUsername(importOrgSpec(0).Domain),
	}, &grant)
	w := wireImportWorld(b, st, sb.urls.Salesforce, grant.AccessToken, 0)
	wk := w.newWorker(b, 5*time.Second, &sendCount{})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- wk.Run(ctx) }()
	defer func() { cancel(); <-done }()
	before, ok := vmHWM("self")
	if !ok {
		b.Fatal("no VmHWM in /proc/self/status")
	}
	var sfCalls int64
	b.ResetTimer()
	for range b.N {
		b.StopTimer()
		org, err := st.CreateOrg(context.Background(), directory.Org{Name: "bench"})
		if err != nil {
			b.Fatal(err)
		}
		w.org = org
		sf0 := sb.sfQueries(b)
		b.StartTimer()
		imp := w.enqueue(b)
		info := waitTaskB(b, w, jobs.TaskIDInvitesImport(jobs.TypeInvitesImport, org.ID, imp.ID))
		b.StopTimer()
		sfCalls += sb.sfQueries(b) - sf0
		if !strings.Contains(string(info.Result), `"invited":`+itoa(n)) {
			b.Fatalf("summary %s: want %d invited", info.Result, n)
		}
		b.StartTimer()
	}
	b.StopTimer()
	peak, _ := vmHWM("self")
	b.ReportMetric(float64(peak)/1024, "peak_rss_MB")
	b.ReportMetric(float64(before)/1024, "setup_rss_MB")
	b.ReportMetric(float64(sb.peakRSS(b))/1024, "sandbox_rss_MB")
	b.ReportMetric(float64(sfCalls)/float64(b.N), "sf_calls")
}

// BenchmarkImportRSS10k and BenchmarkImportRSS100k report this process's peak RSS
// (peak_rss_MB; setup_rss_MB is the peak before the first import) with the sandbox in a
// child process (its own peak: sandbox_rss_MB). Flat memory means peak_rss_MB is about
// the same for both. One per `go test` run, see README "Invite import".
func BenchmarkImportRSS10k(b *testing.B) { benchImportRSS(b, 10000) }

func BenchmarkImportRSS100k(b *testing.B) { benchImportRSS(b, 100000) }
