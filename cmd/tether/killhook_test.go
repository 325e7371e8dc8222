package main

import (
	"context"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/hibiken/asynq"

	"tether/connectors/sandbox"
	"tether/connectors/sandbox/sfdc"
	"tether/internal/syncbuf"
	"tether/jobs"
	"tether/sync/connections"
	"tether/sync/directory"
	"tether/sync/store"
	"tether/sync/vault"
	"tether/worker/redistest"
)

// killAfterAnswerHook, set to 1 in a re-executed test binary (TETHER_TEST_MAIN), makes the
// worker SIGKILL itself the moment a provider's successful token answer arrives, before
// anything of it is stashed or committed. Only this test file sets the hook.
const killAfterAnswerHook = "TETHER_TEST_KILL_AFTER_REFRESH_ANSWER"

func init() {
	if os.Getenv(killAfterAnswerHook) == "1" {
		wrapRefresher = func(r connections.Refresher) connections.Refresher { return killingRefresher{r} }
	}
}

type killingRefresher struct{ connections.Refresher }

func (k killingRefresher) Refresh(ctx context.Context, req connections.RefreshRequest) (connections.TokenSet, error) {
	set, err := k.Refresher.Refresh(ctx, req)
	if err == nil {
		dieNow("the provider answered; killing the worker before the commit")
	}
	return set, err
}

// dieNow logs why for the test that waits on it (killedWorker) and SIGKILLs this
// process: no deferred call, no shutdown, as a kill -9 from outside.
func dieNow(why string) {
	fmt.Fprintln(os.Stderr, "TEST: "+why)
	_ = syscall.Kill(os.Getpid(), syscall.SIGKILL)
	select {} // the signal is on its way
}

// KillsOldToken keeps the real refresher's rotation rules (the in-flight mark needs them).
func (k killingRefresher) KillsOldToken(kind connections.Kind) bool {
	r, ok := k.Refresher.(connections.RotationRules)
	return ok && r.KillsOldToken(kind)
}

// killAfterAnswerCase is one provider of TestWorkerKilledAfterTheAnswer.
type killAfterAnswerCase struct {
	name     string
	provider sandbox.Provider
	kind     connections.Kind
	scopes   []string // the grant's scopes; nil: the sandbox app's default
	oldDies  bool     // the provider retires the old refresh token as soon as it rotates
}

// TestWorkerKilledAfterTheAnswer: a real `tether worker` process takes a due
// connections:refresh task, gets the provider's new tokens and is SIGKILLed before it
// stores them; then a fresh worker runs the connection's next task. On SQLite and on
// PostgreSQL, for every provider: where the old refresh token survives (Microsoft
// rotates but keeps it; Google does not rotate) the connection is healthy and nothing is
// lost; where it dies at once (Zoom; Salesforce with Refresh Token Rotation) the
// connection is needs_reconnect with cause lost_during_refresh (not a revoke by the rep),
// counted in tether_connection_lost_during_refresh_total on the fresh worker's /metrics:
// flagged, never silently broken.
func TestWorkerKilledAfterTheAnswer(t *testing.T) {
	cases := []killAfterAnswerCase{
		{name: "microsoft", provider: sandbox.Microsoft, kind: connections.KindMicrosoftCalendar},
		{name: "google", provider: sandbox.Google, kind: connections.KindGoogleCalendar,
			scopes: []string{"openid", "email", "profile", "https://www.googleapis.com/auth/calendar"}},
		{name: "zoom", provider: sandbox.Zoom, kind: connections.KindZoom, oldDies: true},
		{name: "salesforce_rotating", provider: sandbox.Salesforce, kind: connections.KindSalesforce, oldDies: true},
	}
	backends := []struct {
		name  string
		dbURL func(t *testing.T) string
	}{
		{"sqlite", func(t *testing.T) string { return "sqlite:" + filepath.Join(t.TempDir(), "tether.db") }},
		{"postgres", freshPostgres},
	}
	for _, be := range backends {
		for _, tc := range cases {
			t.Run(be.name+"/"+tc.name, func(t *testing.T) { killAfterAnswer(t, be.dbURL(t), tc) })
		}
	}
}

// killAfterAnswer runs one case on the database at dbURL.
func killAfterAnswer(t *testing.T, dbURL string, tc killAfterAnswerCase) {
	ctx := context.Background()
	opt, rdb := redistest.Client(t, 12)
	// Salesforce's app rotates refresh tokens (mandatory for partner apps since 2026).
	sb := sandbox.New(sandbox.Options{Apps: []sandbox.App{{Provider: sandbox.Salesforce, ClientID: sandbox.DefaultSalesforceClientID,
		ClientSecret: sandbox.DefaultSalesforceClientSecret, RotateRefreshTokens: true,
		DefaultScopes: []string{"api", "refresh_token", "id"}}}})
	srv := httptest.NewServer(sb)
	t.Cleanup(func() { sb.Close(); srv.Close() })
	subject, sfOrg := "ada@example.com", ""
	if tc.provider == sandbox.Salesforce {
		if err := sb.LoadScenario(sandbox.Scenario{Salesforce: &sfdc.Scenario{Orgs: []sfdc.OrgSpec{sfdc.GenerateOrg(3, 2)}}}); err != nil {
			t.Fatal(err)
		}
		sfOrg = sb.Salesforce().OrgIDs()[0]
		subject = sb.Salesforce().Users(sfOrg)[0]
	}
	grant, err := sb.IssueGrant(tc.provider, subject, tc.scopes)
	if err != nil {
		t.Fatal(err)
	}
	env := killEnv(t, dbURL, opt, map[string]string{
		"TETHER_MAILER":                   "log",
		"TETHER_SALESFORCE_LOGIN_URL":     srv.URL + "/salesforce",
		"TETHER_SALESFORCE_CLIENT_ID":     sandbox.DefaultSalesforceClientID,
		"TETHER_SALESFORCE_CLIENT_SECRET": sandbox.DefaultSalesforceClientSecret,
		"TETHER_GOOGLE_AUTH_URL":          srv.URL + "/google/o/oauth2/v2/auth",
		"TETHER_GOOGLE_TOKEN_URL":         srv.URL + "/google/token",
		"TETHER_GOOGLE_API_URL":           srv.URL + "/google",
		"TETHER_GOOGLE_CLIENT_ID":         sandbox.DefaultGoogleClientID,
		"TETHER_GOOGLE_CLIENT_SECRET":     sandbox.DefaultGoogleClientSecret,
		"TETHER_MICROSOFT_LOGIN_URL":      srv.URL + "/microsoft/organizations",
		"TETHER_MICROSOFT_GRAPH_URL":      srv.URL + "/microsoft",
		"TETHER_MICROSOFT_CLIENT_ID":      sandbox.DefaultMicrosoftClientID,
		"TETHER_MICROSOFT_CLIENT_SECRET":  sandbox.DefaultMicrosoftClientSecret,
		"TETHER_ZOOM_OAUTH_URL":           srv.URL + "/zoom",
		"TETHER_ZOOM_API_URL":             srv.URL + "/zoom",
		"TETHER_ZOOM_CLIENT_ID":           sandbox.DefaultZoomClientID,
		"TETHER_ZOOM_CLIENT_SECRET":       sandbox.DefaultZoomClientSecret,
	})
	account := subject
	if gi, ok := sb.LookupGrant(grant.GrantID); ok && tc.provider != sandbox.Salesforce {
		account = gi.Subject // the provider's own id of the user, as the connect flow stores it
	}
	orgID, conn := seedPersonalConnection(t, dbURL, tc.kind, account, grant, func(c *connections.Connection) {
		c.Scopes = tc.scopes
		if tc.provider == sandbox.Salesforce {
			// A Salesforce connection refreshes at its own login host.
			c.ProviderOrgID, c.InstanceURL, c.LoginURL = sfOrg, srv.URL+"/salesforce", srv.URL+"/salesforce"
		}
	})

	killedWorker(t, env, killAfterAnswerHook, "killing the worker before the commit", func() {
		enqueueDue(t, opt, orgID, conn.ID, time.Now().Add(-time.Minute))
	})
	if f := fingerprint(t, sb, grant.GrantID); f.Refreshes != 1 {
		t.Fatalf("the sandbox saw %d refreshes before the kill, want 1", f.Refreshes)
	}
	st, keys := openTestStore(t, dbURL)
	row, err := st.GetConnection(ctx, orgID, conn.ID)
	if err != nil {
		t.Fatal(err)
	}
	if tok, _ := keys.OpenToken(row.RefreshTokenEnc, conn.ID); tok.Reveal() != grant.RefreshToken || len(row.PendingTokenEnc) != 0 {
		t.Fatal("something of the killed worker's answer was written")
	}
	// The dead worker's lease on the connection would lapse after its 60 s TTL;
	// drop it rather than wait (its fence stays, so fencing still holds).
	if err := rdb.Del(ctx, "tether:lock:{connection:"+conn.ID+"}").Err(); err != nil {
		t.Fatal(err)
	}

	// A fresh worker (no hook) runs the connection's next task.
	stderr, stop := start(t, env, "worker")
	t.Cleanup(func() { _ = stop() })
	metricsURL := waitListening(t, stderr)
	task := enqueueDue(t, opt, orgID, conn.ID, time.Now().Add(-30*time.Second))
	waitCompleted(t, opt, jobs.QueueConnections, task, stderr)
	row, err = st.GetConnection(ctx, orgID, conn.ID)
	if err != nil {
		t.Fatal(err)
	}
	lost := scrapeCounter(t, metricsURL, `tether_connection_lost_during_refresh_total{provider="`+tc.kind.Provider()+`"}`)
	f := fingerprint(t, sb, grant.GrantID)
	if !tc.oldDies {
		stored, _ := keys.OpenToken(row.RefreshTokenEnc, conn.ID)
		if row.State != connections.StateHealthy || f.Refreshes != 2 || f.DeadTokenReplays != 0 ||
			sandbox.TokenSHA256(stored.Reveal()) != f.RefreshSHA256 || lost != 0 {
			t.Fatalf("old token survives: state %s (%s %s), %d refreshes, %d replays, current token stored %t, %v lost",
				row.State, row.LastErrorCode, row.FailureReason, f.Refreshes, f.DeadTokenReplays,
				sandbox.TokenSHA256(stored.Reveal()) == f.RefreshSHA256, lost)
		}
		return
	}
	if row.State != connections.StateNeedsReconnect || row.FailureCause != connections.CauseLostDuringRefresh ||
		!strings.Contains(row.FailureReason, "lost") || lost != 1 {
		t.Fatalf("old token died: state %s, cause %q, reason %q, %v counted lost", row.State, row.FailureCause, row.FailureReason, lost)
	}
}

// killEnv is the environment of the kill tests' workers on the database at dbURL
// (migrated up here) and opt's Redis, plus extra.
func killEnv(t *testing.T, dbURL string, opt asynq.RedisClientOpt, extra map[string]string) map[string]string {
	t.Helper()
	env := map[string]string{
		"TETHER_DATABASE_URL":     dbURL,
		"TETHER_REDIS_URL":        redistest.URL(opt),
		"TETHER_ENCRYPTION_KEYS":  testKeys,
		"TETHER_LINK_SECRET":      testLinkSecret,
		"TETHER_METRICS_ADDR":     "127.0.0.1:0",
		"TETHER_SHUTDOWN_TIMEOUT": "2s",
	}
	maps.Copy(env, extra)
	if r := runTether(t, context.Background(), env, "migrate", "up"); r.err != nil {
		t.Fatalf("migrate up: %v\n%s", r.err, r.stderr)
	}
	return env
}

// waitCompleted waits up to 60 s for task id in queue to complete, running a retry at
// once instead of after its backoff, and returns it; logs are the worker's, printed
// if it does not.
func waitCompleted(t *testing.T, opt asynq.RedisClientOpt, queue, id string, logs *syncbuf.Buffer) *asynq.TaskInfo {
	t.Helper()
	inspector := asynq.NewInspector(opt)
	defer inspector.Close()
	deadline := time.Now().Add(60 * time.Second)
	for {
		info, err := inspector.GetTaskInfo(queue, id)
		if err == nil && info.State == asynq.TaskStateRetry {
			_ = inspector.RunTask(queue, id)
		}
		if err == nil && info.State == asynq.TaskStateCompleted {
			return info
		}
		if time.Now().After(deadline) {
			t.Fatalf("task %s did not complete: %+v %v\n%s", id, info, err, logs.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// killedWorker runs this test binary as `tether worker` (TETHER_TEST_MAIN) with env and
// the test hook hook=1, calls work once it runs, and returns once the hook has SIGKILLed
// the process, after logging want; the test fails if it ends any other way within 60 s.
func killedWorker(t *testing.T, env map[string]string, hook, want string, work func()) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "worker")
	cmd.Env = []string{"TETHER_TEST_MAIN=1", hook + "=1"}
	for k, v := range env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	var logs syncbuf.Buffer
	cmd.Stderr = &logs
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() { _ = cmd.Process.Kill() })
	work()
	select {
	case err := <-exited:
		if !strings.Contains(fmt.Sprint(err), "killed") || !strings.Contains(logs.String(), want) {
			t.Fatalf("the worker ended with %v, not by the hook:\n%s", err, logs.String())
		}
	case <-time.After(60 * time.Second):
		t.Fatalf("the worker was not killed within 60 s:\n%s", logs.String())
	}
}

// seedPersonalConnection stores an org with one active member whose connection of kind
// holds grant's tokens, due for a refresh; shape, if any, adds to the row (a Salesforce
// connection's hosts).
func seedPersonalConnection(t *testing.T, dbURL string, kind connections.Kind, account string, grant sandbox.Tokens,
	shape ...func(*connections.Connection)) (string, connections.Connection) {
	t.Helper()
	ctx := context.Background()
	st, keys := openTestStore(t, dbURL)
	org, err := st.CreateOrg(ctx, directory.Org{Name: "Acme", SeatLimit: 10})
	if err != nil {
		t.Fatal(err)
	}
	u, err := st.CreateUser(ctx, directory.User{Email: "ada@example.com", Name: "Ada"})
	if err != nil {
		t.Fatal(err)
	}
	m, err := st.CreateMembership(ctx, org.ID, directory.Membership{UserID: u.ID, Role: directory.RoleMeetings, Status: directory.MembershipActive})
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now().UTC()
	c := connections.Connection{ID: store.NewID(), MembershipID: m.ID, Kind: kind, State: connections.StateHealthy,
		ProviderAccountID: account, LastRefreshedAt: now.Add(-time.Hour), LastVerifiedAt: now, ExpiresAt: now,
		NextRefreshAt: now.Add(-time.Minute)}
	if c.AccessTokenEnc, err = keys.SealToken(vault.NewToken(grant.AccessToken), c.ID); err != nil {
		t.Fatal(err)
	}
	if c.RefreshTokenEnc, err = keys.SealToken(vault.NewToken(grant.RefreshToken), c.ID); err != nil {
		t.Fatal(err)
	}
	for _, f := range shape {
		f(&c)
	}
	if c, err = st.CreateConnection(ctx, org.ID, c); err != nil {
		t.Fatal(err)
	}
	return org.ID, c
}

func openTestStore(t *testing.T, dbURL string) (*store.Store, *vault.Keyring) {
	t.Helper()
	st, err := store.Open(context.Background(), dbURL)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	keys, err := vault.ParseKeyring(testKeys)
	if err != nil {
		t.Fatal(err)
	}
	return st, keys
}

// enqueueDue queues the connection's refresh due at at, as its schedule or a sweep does.
func enqueueDue(t *testing.T, opt asynq.RedisClientOpt, orgID, id string, at time.Time) string {
	t.Helper()
	client := asynq.NewClient(opt)
	defer client.Close()
	task, err := jobs.NewConnectionTask(connections.OpRefresh, connections.Due{OrgID: orgID, ID: id, State: connections.StateHealthy}, at)
	if err != nil {
		t.Fatal(err)
	}
	info, err := client.Enqueue(task)
	if err != nil {
		t.Fatal(err)
	}
	return info.ID
}

func fingerprint(t *testing.T, sb *sandbox.Sandbox, grantID string) sandbox.Fingerprint {
	t.Helper()
	for _, f := range sb.Fingerprints() {
		if f.ID == grantID {
			return f
		}
	}
	t.Fatalf("no grant %s at the sandbox", grantID)
	return sandbox.Fingerprint{}
}

// scrapeCounter reads one series' value from a /metrics page (0 when absent).
func scrapeCounter(t *testing.T, base, series string) float64 {
	t.Helper()
	resp, err := http.Get(base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	m := regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(series) + ` (\S+)$`).FindSubmatch(body)
	if m == nil {
		return 0
	}
	var v float64
	fmt.Sscan(string(m[1]), &v)
	return v
}
