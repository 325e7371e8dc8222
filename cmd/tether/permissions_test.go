package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"reflect"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/hibiken/asynq"

	"tether/config"
	"tether/connectors/email/mailsink"
	"tether/connectors/sandbox"
	"tether/connectors/sandbox/sfdc"
	"tether/jobs"
	"tether/sync/directory"
	"tether/sync/permissions"
	"tether/sync/store"
	"tether/sync/store/storetest"
	"tether/sync/vault"
	"tether/worker/redistest"
)

const dbPermissions = 14 // a preference: redistest leases whichever database is free

// exitCode is what main would exit with for err.
func exitCode(err error) int {
	if err == nil {
		return 0
	}
	var ee *exitError
	if errors.As(err, &ee) {
		return ee.ExitCode()
	}
	return 1
}

// TestPermissionsCheck runs `tether permissions check` end to end: a SQLite store holding
// an org with a sealed team connection to the sandbox's Salesforce, a real `tether
// worker` on Redis, SMTP to an in-process sink. Without a worker, --wait times out and
// says so (and a second check finds the first still queued); once the worker runs, a
// clean org prints the table and exits 0; after Marketing User is taken away the table
// shows it missing with its fix (and campaign unknown: its edit access is hidden without Marketing User), the admin gets one email, check and show exit 3.
// While Salesforce answers 500, --wait prints the retry in the worker's sentence, never the client's chain.
func TestPermissionsCheck(t *testing.T) {
	ctx := context.Background()
	opt, _ := redistest.Client(t, dbPermissions)

	sb := sandbox.New(sandbox.Options{})
	srv := httptest.NewServer(sb)
	t.Cleanup(func() { sb.Close(); srv.Close() })
	if err := sb.LoadScenario(sandbox.Scenario{Salesforce: &sfdc.Scenario{Orgs: []sfdc.OrgSpec{sfdc.GenerateOrg(3, 1)}}}); err != nil {
		t.Fatal(err)
	}
	sf := sb.Salesforce()
	sfOrg := sf.OrgIDs()[0]
	sfUser := sf.Users(sfOrg)[0]
	grant, err := sb.IssueGrant(sandbox.Salesforce, sfUser, nil)
	if err != nil {
		t.Fatal(err)
	}
	sink, err := mailsink.Start()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = sink.Close() })

	dbURL := "sqlite:" + filepath.Join(t.TempDir(), "tether.db")
	env := map[string]string{
		"TETHER_DATABASE_URL":             dbURL,
		"TETHER_REDIS_URL":                redistest.URL(opt),
		"TETHER_ENCRYPTION_KEYS":          testKeys,
		"TETHER_LINK_SECRET":              testLinkSecret,
		"TETHER_METRICS_ADDR":             "off",
		"TETHER_SALESFORCE_LOGIN_URL":     srv.URL + "/salesforce",
		"TETHER_SALESFORCE_CLIENT_ID":     sandbox.DefaultSalesforceClientID,
		"TETHER_SALESFORCE_CLIENT_SECRET": sandbox.DefaultSalesforceClientSecret,
		"TETHER_SMTP_URL":                 fmt.Sprintf("smtp+insecure://%s:%d", sink.Host(), sink.Port()),
	}
	if r := runTether(t, ctx, env, "migrate", "up"); r.err != nil {
		t.Fatalf("migrate up: %v\n%s", r.err, r.stderr)
	}
	orgID := seedTeamOrg(t, dbURL, srv.URL+"/salesforce", sfOrg, sfUser, grant)

	// No worker yet: the task is queued and waits.
	r := runTether(t, ctx, env, "permissions", "check", "--org", orgID)
	m := regexp.MustCompile(`queued permission audit (\S+) of org \S+`).FindStringSubmatch(r.stdout)
	if r.err != nil || m == nil || !strings.Contains(r.stdout, "tether permissions show --org "+orgID) {
		t.Fatalf("check without --wait: %v\n%s", r.err, r.stdout)
	}
	in := asynq.NewInspector(opt)
	t.Cleanup(func() { _ = in.Close() })
	taskID := jobs.TaskIDAuditPermissions(orgID, m[1])
	if info, err := in.GetTaskInfo(jobs.QueueDefault, taskID); err != nil || info.Type != jobs.TypeAuditPermissions || info.State != asynq.TaskStatePending {
		t.Fatalf("task %s: %v %+v, want a pending %s", taskID, err, info, jobs.TypeAuditPermissions)
	}
	// A second check joins the queued audit; --wait ends at --timeout, says no worker
	// took it, and never that it goes on by itself.
	r = runTether(t, ctx, env, "permissions", "check", "--org", orgID, "--wait", "--timeout", "600ms")
	if exitCode(r.err) != 1 || !strings.Contains(r.stdout, "permission audit "+m[1]+" of org "+orgID+" is already queued") ||
		!strings.Contains(r.stderr, "no worker has picked up permission audit "+m[1]) ||
		!strings.Contains(r.err.Error(), "stopped waiting for permission audit "+m[1]+" after 600ms; it is queued and its task is queued and waits for a worker") {
		t.Fatalf("check --wait with no worker: exit %d %v\n%s\n%s", exitCode(r.err), r.err, r.stdout, r.stderr)
	}
	if r := runTether(t, ctx, env, "permissions", "show", "--org", orgID); exitCode(r.err) != 1 || !strings.Contains(r.err.Error(), "no permission report yet") {
		t.Fatalf("show before any report: %v", r.err)
	}

	logs, stop := start(t, env, "worker")
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("worker log:\n%s", logs.String())
		}
	})

	r = runTether(t, ctx, env, "permissions", "check", "--org", orgID, "--wait", "--timeout", "30s")
	if r.err != nil {
		t.Fatalf("check --wait on a clean org: %v\n%s\n%s", r.err, r.stdout, r.stderr)
	}
	for _, want := range []string{"CHECK", "RESULT", "EVIDENCE", "FIX", permissions.CheckMarketingUser, "0 missing, 0 unknown"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("clean report lacks %q:\n%s", want, r.stdout)
		}
	}

	// The audit's Sforce-Limit-Info reading is recorded for the org (invariant 6).
	st, err := store.Open(ctx, dbURL)
	if err != nil {
		t.Fatal(err)
	}
	if u, err := st.GetAPIUsage(ctx, orgID); err != nil || u.Max == 0 || u.Used == 0 {
		t.Errorf("api usage after the audit = %+v, %v; want the reading recorded", u, err)
	}
	_ = st.Close()

	if err := sf.RemovePermission(sfUser, sfdc.PermMarketingUser); err != nil {
		t.Fatal(err)
	}
	r = runTether(t, ctx, env, "permissions", "check", "--org", orgID, "--wait", "--timeout", "30s")
	if exitCode(r.err) != exitPermissionMissing {
		t.Fatalf("check --wait after losing Marketing User: exit %d (%v), want %d\n%s", exitCode(r.err), r.err, exitPermissionMissing, r.stdout)
	}
	row := regexp.MustCompile(`(?m)^marketing_user\s+missing\s+.*Tick Marketing User`)
	if !row.MatchString(r.stdout) || !strings.Contains(r.stdout, "1 missing, 1 unknown") {
		t.Errorf("report does not show marketing_user missing with its fix and the summary:\n%s", r.stdout)
	}
	// check --wait prints what changed since the report before, after the report.
	if lost := strings.Index(r.stdout, "LOST "+permissions.CheckMarketingUser); lost < 0 || lost < strings.Index(r.stdout, "1 missing, 1 unknown") {
		t.Errorf("check --wait does not print the lost change after the report:\n%s", r.stdout)
	}
	for _, line := range strings.Split(r.stdout, "\n") {
		if n := len([]rune(line)); n > 140 {
			t.Errorf("line of %d runes; the fix should wrap: %q", n, line)
			break
		}
	}
	mctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	msgs, err := sink.Wait(mctx, 1)
	if err != nil || len(msgs) != 1 || msgs[0].To[0] != "admin@acme.test" || !strings.Contains(msgs[0].Subject, permissions.CheckMarketingUser) {
		t.Errorf("alert emails = %v (%v), want one to admin@acme.test about marketing_user", msgs, err)
	}

	r = runTether(t, ctx, env, "permissions", "show", "--org", orgID)
	if exitCode(r.err) != exitPermissionMissing || !strings.Contains(r.stdout, "LOST "+permissions.CheckMarketingUser) {
		t.Errorf("show: exit %d (%v), want %d and the lost change\n%s", exitCode(r.err), r.err, exitPermissionMissing, r.stdout)
	}
	if !regexp.MustCompile(`(?m)^alert marketing_user \(lost since [^)]+\): sent \d{4}-`).MatchString(r.stdout) {
		t.Errorf("show does not say marketing_user's alert was sent:\n%s", r.stdout)
	}
	// --only missing: the problems first (missing before unknown), the ok checks counted
	// in one line, none of their rows.
	r = runTether(t, ctx, env, "permissions", "show", "--org", orgID, "--only", "missing")
	missingAt, unknownAt := row.FindStringIndex(r.stdout), regexp.MustCompile(`(?m)^\S+\s+unknown\s`).FindStringIndex(r.stdout)
	if exitCode(r.err) != exitPermissionMissing || missingAt == nil || unknownAt == nil || missingAt[0] > unknownAt[0] ||
		regexp.MustCompile(`(?m)^[a-z_]+(?: \(optional\))?\s{2,}ok\s`).MatchString(r.stdout) ||
		!regexp.MustCompile(`\d+ ok checks not shown \(--only all shows them\)`).MatchString(r.stdout) {
		t.Errorf("show --only missing: exit %d (%v), want marketing_user first, no ok row and the ok checks counted\n%s", exitCode(r.err), r.err, r.stdout)
	}
	if r := runTether(t, ctx, env, "permissions", "show", "--org", orgID, "--only", "some"); r.err == nil || !strings.Contains(r.err.Error(), `--only "some": must be "missing" or "all"`) {
		t.Errorf("show --only some: %v", r.err)
	}

	// tether serve answers the same report over HTTP.
	senv := maps.Clone(env)
	senv["TETHER_HTTP_ADDR"], senv["TETHER_ADMIN_PASSWORD"] = "127.0.0.1:0", "s3cret"
	slogs, stopServe := start(t, senv, "serve")
	req, _ := http.NewRequest(http.MethodGet, waitListening(t, slogs)+"/v1/orgs/"+orgID+"/permission-audits/latest", nil)
	req.SetBasicAuth("admin", "s3cret")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var rep struct {
		Summary  map[string]int `json:"summary"`
		Previous struct {
			Changes []struct{ Check, Change string } `json:"changes"`
		} `json:"previous"`
		Alerts []struct{ Check, Delivery string } `json:"alerts"`
	}
	served, err := io.ReadAll(res.Body)
	res.Body.Close()
	if err == nil {
		err = json.Unmarshal(served, &rep)
	}
	if err != nil || res.StatusCode != http.StatusOK || rep.Summary["missing"] != 1 || len(rep.Previous.Changes) != 1 || rep.Previous.Changes[0].Change != "lost" {
		t.Errorf("serve latest = %d %+v (%v), want 1 missing and marketing_user lost", res.StatusCode, rep, err)
	}
	if len(rep.Alerts) != 1 || rep.Alerts[0].Check != permissions.CheckMarketingUser || rep.Alerts[0].Delivery != permissions.DeliverySent {
		t.Errorf("serve latest alerts = %+v, want marketing_user's sent", rep.Alerts)
	}
	if err := stopServe(); err != nil {
		t.Errorf("serve after SIGTERM: %v", err)
	}
	// show --json prints the very document the route serves, with show's exit status.
	r = runTether(t, ctx, env, "permissions", "show", "--org", orgID, "--json")
	var fromCLI, fromServe any
	if err := json.Unmarshal([]byte(r.stdout), &fromCLI); err != nil || exitCode(r.err) != exitPermissionMissing {
		t.Errorf("show --json: exit %d (%v), %v\n%s", exitCode(r.err), r.err, err, r.stdout)
	}
	if err := json.Unmarshal(served, &fromServe); err != nil || !reflect.DeepEqual(fromCLI, fromServe) {
		t.Errorf("show --json differs from GET .../permission-audits/latest:\n%s\n%s", r.stdout, served)
	}

	// Salesforce fails: --wait says, in the worker's sentence, why the attempt failed, that
	// it is retried, when, and for how long the audit has been retrying; never the client's
	// chain. Asynq's backoff (15s at least) outlasts the timeout.
	sb.Faults().MustAdd(sandbox.Fault{Provider: sandbox.Salesforce, Kind: sandbox.FaultStatus, Status: 500})
	r = runTether(t, ctx, env, "permissions", "check", "--org", orgID, "--wait", "--timeout", "10s")
	sentence := "the permission audit failed on attempt 1 of 6: Salesforce answered HTTP 500, a failure on its side; tether retries it"
	retryLine := regexp.MustCompile(`(?m)^permission audit \S+: its task runs again at \S+Z \(retrying for \d+s since the audit was queued\): (.*)$`)
	line := retryLine.FindStringSubmatch(r.stderr)
	if line == nil || line[1] != sentence {
		t.Errorf("check --wait while Salesforce fails: stderr\n%s\nwant a retry line ending %q", r.stderr, sentence)
	}
	if r.err == nil || !strings.Contains(r.err.Error(), "its task runs again at ") || !strings.Contains(r.err.Error(), sentence) {
		t.Errorf("check --wait while Salesforce fails: %v, want it to stop with the retry and its sentence", r.err)
	}
	for _, out := range []string{strings.Join(line, "\n"), fmt.Sprint(r.err)} {
		for _, raw := range []string{"salesforce: HTTP", "UNKNOWN_EXCEPTION", "http://", "127.0.0.1", "(query"} {
			if strings.Contains(out, raw) {
				t.Errorf("%q holds %q from the error's chain", out, raw)
			}
		}
	}
	sb.Faults().Clear()
	if err := stop(); err != nil {
		t.Errorf("worker after SIGTERM: %v", err)
	}
	if n := len(sink.Messages()); n != 1 {
		t.Errorf("%d alert emails, want exactly 1", n)
	}
}

// seedTeamOrg creates an org with an active admin and a healthy team connection holding
// grant's tokens, sealed with testKeys.
func seedTeamOrg(t *testing.T, dbURL, instanceURL, sfOrg, sfUser string, grant sandbox.Tokens) string {
	t.Helper()
	ctx := context.Background()
	st, err := store.Open(ctx, dbURL)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	keys, err := vault.ParseKeyring(testKeys)
	if err != nil {
		t.Fatal(err)
	}
	org, err := st.CreateOrg(ctx, directory.Org{Name: "Acme", SeatLimit: 10})
	if err != nil {
		t.Fatal(err)
	}
	u, err := st.CreateUser(ctx, directory.User{Email: "admin@acme.test"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.CreateMembership(ctx, org.ID, directory.Membership{UserID: u.ID, Role: directory.RoleAdmin, Status: directory.MembershipActive}); err != nil {
		t.Fatal(err)
	}
	storetest.CreateTeamConnection(t, ctx, st, keys, org.ID, storetest.TeamGrant{InstanceURL: instanceURL,
		SalesforceOrgID: sfOrg, SalesforceUserID: sfUser, AccessToken: grant.AccessToken, RefreshToken: grant.RefreshToken})
	return org.ID
}

// The scheduler enqueues the daily permission-audit sweep next to events:prune, on
// TETHER_PERMISSIONS_SCHEDULE.
func TestSchedulerEntriesIncludeDailyAudit(t *testing.T) {
	cfg := config.Config{PruneSchedule: "17 3 * * *", PermissionsSchedule: "5 6 * * *"}
	entries, err := schedulerEntries(cfg)
	if err != nil {
		t.Fatal(err)
	}
	var found bool
	for _, e := range entries {
		if e.Name == jobs.TypeAuditPermissionsSweep {
			found = true
			from := time.Date(2026, 3, 2, 0, 0, 0, 0, time.UTC)
			if next := e.Schedule.Next(from); !next.Equal(time.Date(2026, 3, 2, 6, 5, 0, 0, time.UTC)) {
				t.Errorf("sweep after %s at %s, want 06:05 UTC", from, next)
			}
		}
	}
	if !found || len(entries) < 2 {
		t.Errorf("entries %+v lack %s", entries, jobs.TypeAuditPermissionsSweep)
	}
	cfg.PermissionsSchedule = "daily"
	if _, err := schedulerEntries(cfg); err == nil {
		t.Error("a bad permissions schedule was accepted")
	}
}

// alertsFunc is a function-field alertReader for the printing tests.
type alertsFunc func() []permissions.Alert

func (f alertsFunc) OpenPermissionAlerts(context.Context, string) ([]permissions.Alert, error) {
	return f(), nil
}

// TestPrintPermissionAlertsNeverConnected: the connection alert of an org never connected
// says missing, never connected, and the connect command; a lost connection says lost.
func TestPrintPermissionAlertsNeverConnected(t *testing.T) {
	t.Parallel()
	since := time.Date(2026, 3, 2, 6, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		never bool
		want  string
	}{
		{true, "alert connection (missing since 2026-03-02 06:00:00 UTC: never connected; run `tether org connect-salesforce ORG1`): pending"},
		{false, "alert connection (lost since 2026-03-02 06:00:00 UTC): pending"},
	} {
		var out strings.Builder
		err := printPermissionAlerts(t.Context(), &out, alertsFunc(func() []permissions.Alert {
			return []permissions.Alert{{OrgID: "ORG1", Check: permissions.CheckConnection, LostSince: since, NeverConnected: tc.never}}
		}), "ORG1")
		if err != nil || !strings.HasPrefix(out.String(), tc.want) {
			t.Errorf("never connected %v: %v\n%s\nwant it to start %q", tc.never, err, out.String(), tc.want)
		}
	}
}

// TestReportOutcomeCounts: one missing check, one unknown one, one ok check not shown
// read in the singular; two in the plural.
func TestReportOutcomeCounts(t *testing.T) {
	t.Parallel()
	check := func(name string, res permissions.Result) permissions.Check {
		return permissions.Check{Name: name, Required: true, Result: res}
	}
	for _, tc := range []struct {
		checks []permissions.Check
		out    string // in stdout
		err    string // the error
	}{
		{[]permissions.Check{check("connection", permissions.ResultOK), check("marketing_user", permissions.ResultMissing)},
			"1 ok check not shown (--only all shows it)\n", "org ORG1: 1 required permission check missing: marketing_user"},
		{[]permissions.Check{check("connection", permissions.ResultOK), check("lead", permissions.ResultOK),
			check("marketing_user", permissions.ResultMissing), check("campaign", permissions.ResultMissing)},
			"2 ok checks not shown (--only all shows them)\n", "org ORG1: 2 required permission checks missing: marketing_user, campaign"},
		{[]permissions.Check{check("connection", permissions.ResultOK), check("campaign", permissions.ResultUnknown)},
			"1 ok check not shown", "org ORG1: 1 required permission check could not be run: campaign"},
	} {
		var out strings.Builder
		err := reportOutcome(&out, permissions.Report{OrgID: "ORG1", Checks: tc.checks}, onlyMissing)
		if err == nil || err.Error() != tc.err || !strings.Contains(out.String(), tc.out) {
			t.Errorf("%v\n%s\nwant %q and %q", err, out.String(), tc.err, tc.out)
		}
	}
}
