package main

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/hibiken/asynq"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"
	"github.com/spf13/cobra"

	"tether/config"
	"tether/jobs"
	"tether/sync/events"
	"tether/sync/vault"
	"tether/worker"
)

// demo is the state the demo's steps share.
type demo struct {
	out       io.Writer
	d         deps
	tmp       string
	redisAddr string
	client    *asynq.Client
	inspector *asynq.Inspector
	httpURL   string
	schedRegs []*prometheus.Registry // one per scheduler replica
	prov      *demoProviders
	acme      demoOrg
	passed    int
	// nextSteps are the "Still to do" buttons of the last page browse reached.
	nextSteps []string
}

// demoStep is one part of the scenario. Later issues append theirs to demoSteps.
type demoStep struct {
	title string
	run   func(ctx context.Context, dm *demo) error
}

// demoSteps run in order once the worker, two scheduler replicas and the HTTP server are up.
func demoSteps() []demoStep {
	return []demoStep{
		{"Scheduler: two replicas, one task per slot", demoScheduler},
		{"Worker: events:prune deletes old audit events", demoPrune},
		{"Worker: bad input is archived with its reason, never retried", demoBadInput},
		{"HTTP (tether serve)", demoHTTP},
		{"An org and its first members, as an operator makes them", seedDemoOrg},
		{"Connect the team-level Salesforce user from a link", demoConnectTeam},
		{"A rep connects Google Calendar from a link", demoConnectCalendar},
		{"Invitation email and Join link", demoJoin},
		{"Invite import from Salesforce", demoImport},
		{"Join with Salesforce", demoSalesforceJoin},
		{"Permission audit of the Salesforce integration user", demoAudit},
		{"Connection upkeep: a revoked grant, a disabled account, a flapping provider, and who must act", demoUpkeep},
		{"Reconnect reminders: a revoked calendar, an email and a Slack message after the grace, the link fixes it", demoReminders},
		{"Deactivation: grants revoked at the providers, the seat freed; invited again, the member is back", demoDeactivate},
	}
}

// demoSeedOld and demoSeedNew are the audit events the demo writes before it starts.
const (
	demoSeedOld = 3 // older than the retention: pruned
	demoSeedNew = 2 // recent: kept
)

func newDemoCmd(e env) *cobra.Command {
	var verbose bool
	cmd := &cobra.Command{
		Use:   "demo",
		Short: "Run tether end to end in one process, with nothing to install, and print a report",
		Long: `Starts an embedded Redis, a SQLite store in a temporary directory, the worker, two
scheduler replicas, the HTTP server, the provider sandbox (with a generated Salesforce org)
and an SMTP sink in one process, all on loopback. Runs every capability tether has end to
end (among them a Salesforce invite import, a Join through Salesforce's consent and a
permission audit), prints what happened and exits 0 when all went as expected.

The demo never touches your Redis, database, providers or mail server: TETHER_REDIS_URL,
TETHER_DATABASE_URL, the provider and SMTP settings are ignored, and the encryption key
ring and admin password are generated for the run.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := loadConfig(cmd, e)
			if err != nil {
				return err
			}
			cfg.LogFormat = "console"
			return runDemo(cmd.Context(), e, cfg, verbose)
		},
	}
	cmd.Flags().BoolVarP(&verbose, "verbose", "v", false, "log every task and component event to stderr")
	return cmd
}

func runDemo(ctx context.Context, e env, cfg config.Config, verbose bool) (err error) {
	began := time.Now()
	out := e.stdout
	fmt.Fprintln(out, "tether demo")
	fmt.Fprintln(out, "===========")

	tmp, err := os.MkdirTemp("", "tether-demo-")
	if err != nil {
		return fmt.Errorf("demo: temporary directory: %w", err)
	}
	defer os.RemoveAll(tmp)

	redisOpt, redisAddr, stopRedis, err := startEmbeddedRedis(ctx)
	if err != nil {
		return err
	}
	defer stopRedis()

	prov, err := startDemoProviders()
	if err != nil {
		return err
	}
	defer prov.Close()
	prov.configure(&cfg)

	_, keySpec, err := vault.GenerateKeyring("demo")
	if err != nil {
		return err
	}
	cfg.RedisURL = ""
	cfg.DatabaseURL = config.Secret("sqlite:" + filepath.Join(tmp, "tether.db"))
	cfg.EncryptionKeys = config.Secret(keySpec)
	cfg.AdminPassword = config.Secret(randomPassword())
	cfg.LinkSecret = config.Secret(randomPassword() + randomPassword())
	cfg.APIToken = config.Secret(randomPassword() + randomPassword())
	cfg.ShutdownTimeout = 2 * time.Second
	cfg.WorkerQueues = "" // the demo's worker is the only one: it serves every queue

	d := deps{cfg: cfg, log: zerolog.Nop(), redis: redisOpt}
	if verbose {
		d.log = newLogger(cfg, e.stderr)
	}
	if d.keyring, err = cfg.Keyring(); err != nil {
		return err
	}
	if d.store, err = openStore(ctx, cfg, true); err != nil {
		return err
	}
	defer d.store.Close()
	d.app = newApp(&d)
	defer d.app.close()
	if d.reg, err = newRegistry(d.app, true); err != nil {
		return err
	}

	dm := &demo{out: out, d: d, tmp: tmp, redisAddr: redisAddr, prov: prov}
	dm.section("Setup")
	dm.ok("Redis: embedded in-memory server at %s (not durable: demo only)", redisAddr)
	states, err := d.store.MigrationStatus(ctx)
	if err != nil {
		return err
	}
	dm.ok("store: SQLite at %s, %d migrations applied", filepath.Join(tmp, "tether.db"), len(states))
	dm.ok("encryption: ephemeral key ring %q generated for this run (tokens sealed now cannot be opened later)", d.keyring.ActiveKeyID())
	if err := seedEvents(ctx, dm); err != nil {
		return err
	}
	dm.ok("audit log: %d events older than the %s retention, %d recent", demoSeedOld, days(cfg.EventRetention), demoSeedNew)
	dm.ok("providers: the sandbox at %s emulates Salesforce, Google, Microsoft and Zoom; Salesforce org %s has %d generated users and the integration user %s",
		prov.sbURL, prov.sfOrg, demoSFUsers, prov.team.Username)
	dm.ok("mail: every email goes to an SMTP sink at %s:%d", prov.sink.Host(), prov.sink.Port())
	dm.ok("Slack: a fake workspace at %s (TETHER_SLACK_API_URL) answers users.lookupByEmail, conversations.open and chat.postMessage as Slack's Web API does",
		prov.slack.URL())
	dm.client = d.app.queueClient()
	dm.inspector = d.app.queueInspector()

	// The processes of `tether all`, with fast polling, and a second scheduler replica.
	runCtx, stop := context.WithCancel(ctx)
	addrCh := make(chan net.Addr, 1)
	entries, err := worker.Periodics(cfg.PruneSchedule)
	if err != nil {
		stop()
		return err
	}
	// The scheduler step counts one slot per replica: run the prune entry only (the
	// hourly invites:expire entry would add its own enqueue and refusal).
	entries = slices.DeleteFunc(entries, func(p worker.Periodic) bool { return p.Name != jobs.TypeEventsPrune })
	for i := range entries {
		entries[i].CatchUp = 32 * 24 * time.Hour // whatever TETHER_PRUNE_SCHEDULE is, a slot has passed
	}
	components := []component{
		func(ctx context.Context) error {
			return runWorker(ctx, d, tuning{taskCheck: 100 * time.Millisecond, delayedCheck: 250 * time.Millisecond, janitor: time.Second})
		},
		func(ctx context.Context) error {
			return runHTTP(ctx, d, serveOptions{addr: prov.httpAt, monitoring: true, ready: func(a net.Addr) { addrCh <- a }})
		},
	}
	for range 2 {
		r := prometheus.NewRegistry()
		dm.schedRegs = append(dm.schedRegs, r)
		s, err := worker.NewScheduler(worker.SchedulerParams{Redis: redisOpt, Logger: d.log.With().Str("component", "scheduler").Logger(), Registerer: r, Entries: entries})
		if err != nil {
			stop()
			return err
		}
		components = append(components, s.Run)
	}
	done := make(chan error, 1)
	go func() { done <- runAll(runCtx, components...) }()
	defer func() {
		stop()
		if rerr := <-done; rerr != nil && err == nil {
			err = rerr
		}
	}()
	select {
	case a := <-addrCh:
		dm.httpURL = "http://" + a.String()
	case err := <-done:
		return fmt.Errorf("demo: a component stopped: %w", err)
	case <-time.After(10 * time.Second):
		return errors.New("demo: HTTP server did not start in 10s")
	}

	for _, s := range demoSteps() {
		dm.section(s.title)
		stepCtx, cancel := context.WithTimeout(ctx, 60*time.Second)
		err := s.run(stepCtx, dm)
		cancel()
		if err != nil {
			fmt.Fprintf(out, "  [FAIL] %v\n", err)
			return fmt.Errorf("demo step %q: %w", s.title, err)
		}
	}

	fmt.Fprintf(out, "\nAll %d checks passed in %s.\n", dm.passed, time.Since(began).Round(100*time.Millisecond))
	return nil
}

// days renders a retention for people: "90 days", or the duration when not whole days.
func days(d time.Duration) string {
	if d%(24*time.Hour) == 0 {
		return fmt.Sprintf("%d days", d/(24*time.Hour))
	}
	return d.String()
}

func (dm *demo) section(title string) { fmt.Fprintf(dm.out, "\n%s\n", title) }

func (dm *demo) ok(format string, args ...any) {
	dm.passed++
	fmt.Fprintf(dm.out, "  [ ok ] %s\n", fmt.Sprintf(format, args...))
}

func seedEvents(ctx context.Context, dm *demo) error {
	now := time.Now()
	for i := range demoSeedOld + demoSeedNew {
		at := now.Add(-dm.d.cfg.EventRetention - time.Duration(i+1)*24*time.Hour)
		if i >= demoSeedOld {
			at = now.Add(-time.Duration(i) * time.Hour)
		}
		err := dm.d.store.AppendEvent(ctx, events.Event{Kind: "demo.seeded", Subject: fmt.Sprintf("seed-%d", i), At: at})
		if err != nil {
			return fmt.Errorf("seed audit event %d: %w", i, err)
		}
	}
	return nil
}

// pruneTaskID is the id of the events:prune task the schedulers enqueue on start.
func (dm *demo) pruneTaskID(ctx context.Context) (string, error) {
	var id string
	err := waitFor(ctx, "an events:prune task to be enqueued", func() (bool, error) {
		for _, list := range []func(string, ...asynq.ListOption) ([]*asynq.TaskInfo, error){
			dm.inspector.ListPendingTasks, dm.inspector.ListActiveTasks, dm.inspector.ListCompletedTasks,
		} {
			tasks, err := list(jobs.QueueLow)
			if err != nil && !errors.Is(err, asynq.ErrQueueNotFound) {
				return false, err
			}
			for _, t := range tasks {
				if t.Type == jobs.TypeEventsPrune {
					id = t.ID
					return true, nil
				}
			}
		}
		return false, nil
	})
	return id, err
}

func demoScheduler(ctx context.Context, dm *demo) error {
	id, err := dm.pruneTaskID(ctx)
	if err != nil {
		return err
	}
	var enq, dup float64
	err = waitFor(ctx, "both replicas to try the slot", func() (bool, error) {
		enq, dup = 0, 0
		for _, r := range dm.schedRegs {
			// Only events:prune: the other periodic tasks catch up on their own slots.
			enq += counter(r, "tether_scheduler_enqueues_total", "task", jobs.TypeEventsPrune, "result", "enqueued")
			dup += counter(r, "tether_scheduler_enqueues_total", "task", jobs.TypeEventsPrune, "result", "duplicate")
		}
		return enq+dup >= 2, nil
	})
	if err != nil {
		return err
	}
	if enq != 1 || dup != 1 {
		return fmt.Errorf("replicas enqueued %v and were refused %v times; want 1 and 1", enq, dup)
	}
	dm.ok("both replicas caught up on the last missed slot; Redis took one task (%s), refused the other as a duplicate", id)
	return nil
}

func demoPrune(ctx context.Context, dm *demo) error {
	id, err := dm.pruneTaskID(ctx)
	if err != nil {
		return err
	}
	info, err := waitTask(ctx, dm.inspector, jobs.QueueLow, id, asynq.TaskStateCompleted)
	if err != nil {
		return err
	}
	var left int
	if err := dm.d.store.DB().QueryRowContext(ctx, "SELECT count(*) FROM events").Scan(&left); err != nil {
		return fmt.Errorf("count events: %w", err)
	}
	if string(info.Result) != fmt.Sprintf("deleted=%d", demoSeedOld) || left != demoSeedNew {
		return fmt.Errorf("events:prune result %q with %d events left; want deleted=%d and %d left", info.Result, left, demoSeedOld, demoSeedNew)
	}
	dm.ok("%s ran once: deleted %d events older than %s, kept the %d recent ones", id, demoSeedOld, days(dm.d.cfg.EventRetention), left)
	return nil
}

func demoBadInput(ctx context.Context, dm *demo) error {
	cases := []struct {
		id, typ, payload, what string
	}{
		{"demo-malformed", jobs.TypeEventsPrune, `{"slot":"yesterday"}`, "an events:prune payload that fails validation"},
		{"demo-unknown", "demo:no-such-type", `{}`, "a task type no handler knows"},
	}
	for _, c := range cases {
		if _, err := dm.client.EnqueueContext(ctx, asynq.NewTask(c.typ, []byte(c.payload)), asynq.TaskID(c.id), asynq.Queue(jobs.QueueDefault), asynq.MaxRetry(5)); err != nil {
			return fmt.Errorf("enqueue %s: %w", c.id, err)
		}
	}
	for _, c := range cases {
		info, err := waitTask(ctx, dm.inspector, jobs.QueueDefault, c.id, asynq.TaskStateArchived)
		if err != nil {
			return err
		}
		if info.Retried != 0 {
			return fmt.Errorf("%s was retried %d times before archiving", c.id, info.Retried)
		}
		dm.ok("%s: archived after 0 of 5 retries, reason %q", c.what, worker.LastError(info))
	}
	return nil
}

func demoHTTP(ctx context.Context, dm *demo) error {
	// The monitoring UI signs the operator in with a form and a SameSite=Strict cookie.
	jar, err := cookiejar.New(nil)
	if err != nil {
		return err
	}
	admin := &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	anon := &http.Client{CheckRedirect: admin.CheckRedirect}
	do := func(c *http.Client, method, path string, form url.Values, header map[string]string) (int, string, error) {
		var body io.Reader
		if form != nil {
			body = strings.NewReader(form.Encode())
		}
		req, err := http.NewRequestWithContext(ctx, method, dm.httpURL+path, body)
		if err != nil {
			return 0, "", err
		}
		if form != nil {
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		}
		for k, v := range header {
			req.Header.Set(k, v)
		}
		res, err := c.Do(req)
		if err != nil {
			return 0, "", fmt.Errorf("%s %s: %w", method, path, err)
		}
		defer res.Body.Close()
		b, err := io.ReadAll(res.Body)
		return res.StatusCode, string(b), err
	}
	get := func(path string, auth bool) (int, string, error) {
		if auth {
			return do(admin, http.MethodGet, path, nil, nil)
		}
		return do(anon, http.MethodGet, path, nil, nil)
	}
	code, _, err := get("/healthz", false)
	if err != nil || code != 200 {
		return fmt.Errorf("/healthz = %d, %v", code, err)
	}
	dm.ok("%s/healthz: 200", dm.httpURL)
	code, body, err := get("/readyz", false)
	if err != nil || code != 200 {
		return fmt.Errorf("/readyz = %d %s, %v", code, body, err)
	}
	dm.ok("/readyz: 200 %s", strings.TrimSpace(body))
	code, body, err = get("/metrics", false)
	if err != nil || code != 200 {
		return fmt.Errorf("/metrics = %d, %v", code, err)
	}
	var found []string
	for _, want := range []string{
		`asynq_tasks_processed_total{queue="low"}`,
		`tether_tasks_processed_total{outcome="ok",type="events:prune"} 1`,
		`tether_tasks_processed_total{outcome="archived",type="events:prune"} 1`,
		`tether_tasks_processed_total{outcome="archived",type="unknown"} 1`,
	} {
		if !strings.Contains(body, want) {
			return fmt.Errorf("/metrics lacks %s", want)
		}
		found = append(found, want)
	}
	dm.ok("/metrics: Asynq queue metrics and tether's own, e.g. %s", found[1])
	code, _, err = get("/monitoring/api/queues", false)
	if err != nil || code != http.StatusUnauthorized {
		return fmt.Errorf("/monitoring/api/queues without a session = %d, %v; want 401", code, err)
	}
	code, _, err = do(admin, http.MethodPost, "/monitoring/login", url.Values{"user": {dm.d.cfg.AdminUser},
		"password": {dm.d.cfg.AdminPassword.Reveal()}}, map[string]string{"Origin": dm.httpURL, "Sec-Fetch-Site": "same-origin"})
	if err != nil || code != http.StatusSeeOther {
		return fmt.Errorf("POST /monitoring/login = %d, %v; want 303", code, err)
	}
	code, body, err = get("/monitoring/api/queues", true)
	if err != nil || code != 200 || !strings.Contains(body, `"queue":"low"`) {
		return fmt.Errorf("/monitoring/api/queues with the session = %d, %v", code, err)
	}
	// What a hostile page's form would send through the signed-in admin's browser.
	code, _, err = do(admin, http.MethodPost, "/monitoring/api/queues/low:pause", nil,
		map[string]string{"Origin": "https://evil.example", "Sec-Fetch-Site": "cross-site"})
	if err != nil || code != http.StatusForbidden {
		return fmt.Errorf("cross-site pause of the low queue = %d, %v; want 403", code, err)
	}
	dm.ok("/monitoring/: 401 without a session; login form → session cookie → the Asynq UI's API; a cross-site POST (pause a queue) 403")
	return nil
}

// waitFor polls cond every 50ms until it holds, fails or ctx ends.
func waitFor(ctx context.Context, what string, cond func() (bool, error)) error {
	t := time.NewTicker(50 * time.Millisecond)
	defer t.Stop()
	for {
		ok, err := cond()
		if err != nil {
			return fmt.Errorf("waiting for %s: %w", what, err)
		}
		if ok {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("gave up waiting for %s: %w", what, ctx.Err())
		case <-t.C:
		}
	}
}

func waitTask(ctx context.Context, in *asynq.Inspector, queue, id string, state asynq.TaskState) (*asynq.TaskInfo, error) {
	var info *asynq.TaskInfo
	err := waitFor(ctx, fmt.Sprintf("task %s to be %s", id, state), func() (bool, error) {
		i, err := in.GetTaskInfo(queue, id)
		if err != nil {
			return false, nil // not there yet
		}
		info = i
		return i.State == state, nil
	})
	if err != nil && info != nil {
		return nil, fmt.Errorf("%w (last state %s, last error %q)", err, info.State, worker.LastError(info))
	}
	return info, err
}

// counter sums a counter's samples whose label has value.
// counter sums the counters of name whose labels include every name, value pair of labels.
func counter(g prometheus.Gatherer, name string, labels ...string) float64 {
	mfs, err := g.Gather()
	if err != nil {
		return 0
	}
	var sum float64
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			have := map[string]string{}
			for _, l := range m.GetLabel() {
				have[l.GetName()] = l.GetValue()
			}
			match := true
			for i := 0; i+1 < len(labels); i += 2 {
				match = match && have[labels[i]] == labels[i+1]
			}
			if match {
				sum += m.GetCounter().GetValue()
			}
		}
	}
	return sum
}

func randomPassword() string {
	b := make([]byte, 18)
	_, _ = rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}
