package main

import (
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"tether/connectors/sandbox"
	"tether/connectors/sandbox/sandboxtest"
	"tether/connectors/sandbox/sfdc"
	"tether/sync/directory"
	"tether/sync/invites"
	"tether/sync/store"
	"tether/sync/store/storetest"
	"tether/sync/vault"
	"tether/worker/httpapi"
	"tether/worker/redistest"
)

// importE2E is a migrated SQLite store with an org of 2 seats whose team Salesforce
// connection points at a sandbox org of three active Sales Users; its access token has
// expired, so the first Salesforce call refreshes it through the configured OAuth client.
type importE2E struct {
	env    map[string]string
	org    directory.Org
	sb     *sandbox.Sandbox
	sfOrg  string
	dbPath string
	redis  *redis.Client // the test's Redis database
}

func setupImportE2E(t *testing.T) *importE2E {
	t.Helper()
	opt, rc := redistest.Client(t, 2)
	ctx := t.Context()
	spec := sfdc.GenerateOrg(11, 0)
	for i := range 3 {
		spec.Users = append(spec.Users, sfdc.UserSpec{Username: fmt.Sprintf("rep%d@acme.example.com", i),
			Email: fmt.Sprintf("rep%d@acme.com", i), LastName: fmt.Sprint(i), Profile: sfdc.ProfileSalesUser})
	}
	sf := sandboxtest.NewSalesforceOrg(t, spec)
	sb, sfOrg := sf.Sandbox, sf.OrgID

	dbPath := filepath.Join(t.TempDir(), "tether.db")
	st, err := store.Open(ctx, "sqlite:"+dbPath)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if err := st.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	org, err := st.CreateOrg(ctx, directory.Org{Name: "Acme", SeatLimit: 2})
	if err != nil {
		t.Fatal(err)
	}
	keys, keySpec, err := vault.GenerateKeyring("k1")
	if err != nil {
		t.Fatal(err)
	}
	// The access token has expired: the first Salesforce call refreshes it.
	storetest.CreateTeamConnection(t, ctx, st, keys, org.ID, storetest.TeamGrant{InstanceURL: sf.InstanceURL,
		SalesforceOrgID: sfOrg, SalesforceUserID: sf.UserID, AccessToken: sf.Grant.AccessToken,
		RefreshToken: sf.Grant.RefreshToken, ExpiresAt: time.Now().Add(-time.Hour)})
	return &importE2E{org: org, sb: sb, sfOrg: sfOrg, dbPath: dbPath, redis: rc, env: map[string]string{
		"TETHER_REDIS_URL":                redistest.URL(opt),
		"TETHER_DATABASE_URL":             "sqlite:" + dbPath,
		"TETHER_ENCRYPTION_KEYS":          keySpec,
		"TETHER_LINK_SECRET":              testLinkSecret,
		"TETHER_SALESFORCE_LOGIN_URL":     sf.LoginURL,
		"TETHER_SALESFORCE_CLIENT_ID":     sandbox.DefaultSalesforceClientID,
		"TETHER_SALESFORCE_CLIENT_SECRET": sandbox.DefaultSalesforceClientSecret,
		"TETHER_METRICS_ADDR":             "off",
		"TETHER_LOG_LEVEL":                "warn",
		"TETHER_MAILER":                   "log",
	}}
}

// row matches one line of the summary's reason table.
func row(reason string, n int) *regexp.Regexp {
	return regexp.MustCompile(`(?m)^` + reason + `\s+` + fmt.Sprint(n) + `$`)
}

func TestInviteImportWaitsAndPrintsTheSummary(t *testing.T) {
	b := setupImportE2E(t)
	start(t, b.env, "worker")

	res := runTether(t, context.Background(), b.env, "invite", "import", "--org", b.org.ID,
		"--profile", "Sales User", "--role", "chat", "--group", "West", "--wait")
	if res.err != nil {
		t.Fatalf("import: %v\nstdout:\n%s\nstderr:\n%s", res.err, res.stdout, res.stderr)
	}
	for _, want := range []*regexp.Regexp{row("invited", 2), row("over_seat_limit", 1), row("found", 3),
		regexp.MustCompile(`(?m)^import \S+: done, 3 of 3 rows$`),
		regexp.MustCompile(`(?m)^005\w+\s+rep\d@acme.com\s+\S+\s+over_seat_limit$`),
		regexp.MustCompile(regexp.QuoteMeta(invites.SeatsMissingMessage(1)))} {
		if !want.MatchString(res.stdout) {
			t.Errorf("summary lacks %s:\n%s", want, res.stdout)
		}
	}
	// Invariant 6: the import's Salesforce responses carried Sforce-Limit-Info, and the
	// org's usage is recorded from them.
	st, err := store.Open(context.Background(), "sqlite:"+b.dbPath)
	if err != nil {
		t.Fatal(err)
	}
	u, err := st.GetAPIUsage(context.Background(), b.org.ID)
	_ = st.Close()
	used, max := b.sb.Salesforce().Usage(b.sfOrg)
	if err != nil || u.Used == 0 || u.Used > int64(used) || u.Max != int64(max) {
		t.Errorf("api usage after the import = %+v, %v; want a reading of the sandbox's %d of %d", u, err, used, max)
	}
	// stderr is not a terminal here: plain progress lines, ending at 3/3.
	if !strings.Contains(res.stderr, "done 3/3, 2 invited") || strings.Contains(res.stderr, "\r") {
		t.Errorf("progress lines:\n%s", res.stderr)
	}

	// An unknown profile name is refused before anything is queued, naming the real ones.
	res = runTether(t, context.Background(), b.env, "invite", "import", "--org", b.org.ID,
		"--profile", "Astronauts", "--role", "chat")
	if res.err == nil || !strings.Contains(res.err.Error(), `unknown Salesforce profile "Astronauts"`) ||
		!strings.Contains(res.err.Error(), `"Sales User"`) {
		t.Fatalf("unknown profile: %v", res.err)
	}
}

func TestInviteEmailsThenStatus(t *testing.T) {
	b := setupImportE2E(t)
	res := runTether(t, context.Background(), b.env, "invite", "emails", "--org", b.org.ID, "--role", "meetings",
		"ann@x.com, bob@y.com; not-an-address, ANN@x.com")
	if res.err != nil {
		t.Fatalf("emails: %v\n%s", res.err, res.stderr)
	}
	m := regexp.MustCompile(`queued import (\S+); follow it with: tether invite status (\S+) --org `).FindStringSubmatch(res.stdout)
	if m == nil || m[1] != m[2] {
		t.Fatalf("emails output: %q", res.stdout)
	}
	start(t, b.env, "worker")
	res = runTether(t, context.Background(), b.env, "invite", "status", m[1], "--org", b.org.ID, "--wait")
	if res.err != nil {
		t.Fatalf("status: %v\n%s", res.err, res.stderr)
	}
	for _, want := range []*regexp.Regexp{row("invited", 2), row("duplicate_in_import", 1), row("skipped_invalid_email", 1)} {
		if !want.MatchString(res.stdout) {
			t.Errorf("summary lacks %s:\n%s", want, res.stdout)
		}
	}
	// --json is the route's document, with the same counts.
	res = runTether(t, context.Background(), b.env, "invite", "status", m[1], "--org", b.org.ID, "--json")
	var js httpapi.ImportView
	if res.err != nil || json.Unmarshal([]byte(res.stdout), &js) != nil {
		t.Fatalf("status --json: %v\n%s", res.err, res.stdout)
	}
	if js.ID != m[1] || js.Status != directory.ImportDone || js.Counts.Invited != 2 || js.Counts.DuplicateInImport != 1 ||
		js.Counts.SkippedInvalidEmail != 1 || js.Progress.Done != js.Progress.Total {
		t.Fatalf("status --json: %+v", js)
	}
	// Another org cannot read it, and is told which pair was not found.
	other := runTether(t, context.Background(), b.env, "org", "create", "--name", "Other", "--seats", "1")
	otherID, _, _ := strings.Cut(other.stdout, "\n")
	if other.err != nil || otherID == "" {
		t.Fatalf("org create: %v %q", other.err, other.stdout)
	}
	res = runTether(t, context.Background(), b.env, "invite", "status", m[1], "--org", otherID)
	if want := fmt.Sprintf("no import %s in org %s", m[1], otherID); res.err == nil || !strings.Contains(res.err.Error(), want) {
		t.Fatalf("status through another org: %v, want %q", res.err, want)
	}
}

func TestInviteImportRefusesBadInvocations(t *testing.T) {
	b := setupImportE2E(t)
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"invite", "import", "--org", b.org.ID, "--profile", "Sales User"}, "--role is required"},
		{[]string{"invite", "import", "--org", b.org.ID, "--role", "chat"}, "select users with --profile"},
		{[]string{"invite", "import", "--org", b.org.ID, "--role", "boss", "--user", "005000000000001AAA"}, `role "boss" is not one of`},
		{[]string{"invite", "import", "--org", b.org.ID, "--role", "chat", "--user", "005nope"}, "invalid Salesforce user id"},
		{[]string{"invite", "emails", "--org", "no-such-org", "--role", "chat", "a@x.com"}, "org no-such-org does not exist"},
		{[]string{"invite", "status", "some-id"}, "--org is required"},
	} {
		res := runTether(t, context.Background(), b.env, tc.args...)
		if res.err == nil || !strings.Contains(res.err.Error(), tc.want) {
			t.Errorf("%v: %v, want an error containing %q", tc.args, res.err, tc.want)
		}
	}
}

// --wait --timeout ends; while no worker runs it says the task waits for one, and once the
// task is gone from Redis it says so and names the reconciler: never "it keeps running".
func TestInviteWaitTimeoutSaysWhatTheTaskIsDoing(t *testing.T) {
	b := setupImportE2E(t)
	began := time.Now()
	res := runTether(t, t.Context(), b.env, "invite", "emails", "--org", b.org.ID, "--role", "chat",
		"--wait", "--timeout", "2s", "ann@x.com")
	if elapsed := time.Since(began); elapsed > 15*time.Second {
		t.Fatalf("--timeout 2s returned after %s", elapsed)
	}
	m := regexp.MustCompile(`queued import (\S+)`).FindStringSubmatch(res.stderr)
	if res.err == nil || m == nil {
		t.Fatalf("wait without a worker: %v\nstderr:\n%s", res.err, res.stderr)
	}
	id := m[1]
	for _, want := range []string{"no worker has picked up import " + id + " after 1s: its task is queued and waits for a worker: is `tether worker` running"} {
		if !strings.Contains(res.stderr, want) {
			t.Errorf("stderr lacks %q:\n%s", want, res.stderr)
		}
	}
	if !strings.Contains(res.err.Error(), "stopped waiting for import "+id+" after 2s; it is queued and its task is queued and waits for a worker") {
		t.Errorf("error: %v", res.err)
	}

	// Redis loses the task: status --wait says it is missing and who brings it back.
	if err := b.redis.FlushDB(t.Context()).Err(); err != nil {
		t.Fatal(err)
	}
	res = runTether(t, t.Context(), b.env, "invite", "status", id, "--org", b.org.ID, "--wait", "--timeout", "1s")
	if res.err == nil || !strings.Contains(res.err.Error(), "its task is not in Redis (never queued, or lost with Redis): the reconciler queues it again") {
		t.Errorf("status --wait of a lost task: %v", res.err)
	}
	for _, out := range []string{res.stderr, res.stdout, res.err.Error()} {
		if strings.Contains(out, "keeps running") {
			t.Errorf("claims the lost import keeps running: %s", out)
		}
	}
}

// TestPrintSummaryMergedUserIDs: an import whose repeated user ids were merged says how many
// were given and how many distinct; one without repeats says nothing of it.
func TestPrintSummaryMergedUserIDs(t *testing.T) {
	t.Parallel()
	imp := directory.Import{ID: "IMP1", OrgID: "ORG1", Status: directory.ImportDone, Counts: directory.ImportCounts{Found: 2},
		Selection: directory.ImportSelection{UserIDs: []string{"005000000000001AAA", "005000000000002AAA"}, UserIDsGiven: 3}}
	var out strings.Builder
	printSummary(&out, imp)
	if !strings.Contains(out.String(), "\n3 user ids given, 2 distinct: a repeated id") {
		t.Errorf("summary of merged ids:\n%s", out.String())
	}
	imp.Selection.UserIDsGiven = 0
	out.Reset()
	printSummary(&out, imp)
	if strings.Contains(out.String(), "given") {
		t.Errorf("summary without repeats:\n%s", out.String())
	}
}

// TestInviteImportRepeatedProfileSaysSo: the same --profile twice, or one profile by name
// and by id, is read once, and the command says how many were given and how many
// distinct, so counts that look halved are explained.
func TestInviteImportRepeatedProfileSaysSo(t *testing.T) {
	b := setupImportE2E(t)
	res := runTether(t, context.Background(), b.env, "invite", "import", "--org", b.org.ID,
		"--profile", "Sales User", "--role", "chat", "--dry-run")
	m := regexp.MustCompile(`queued import (\S+);`).FindStringSubmatch(res.stdout)
	if res.err != nil || m == nil || strings.Contains(res.stdout, "given") {
		t.Fatalf("one profile: %v\nstdout:\n%s", res.err, res.stdout)
	}
	// The producer resolved the name: the stored selection holds the profile's id.
	st, err := store.Open(context.Background(), "sqlite:"+b.dbPath)
	if err != nil {
		t.Fatal(err)
	}
	imp, err := st.GetImport(context.Background(), b.org.ID, m[1])
	_ = st.Close()
	if err != nil || len(imp.Selection.ProfileIDs) != 1 {
		t.Fatalf("import %s: %+v, %v; want one resolved profile id", m[1], imp.Selection, err)
	}
	for _, second := range []string{"Sales User", imp.Selection.ProfileIDs[0]} {
		res = runTether(t, context.Background(), b.env, "invite", "import", "--org", b.org.ID,
			"--profile", "Sales User", "--profile", second, "--role", "chat", "--dry-run")
		if res.err != nil || !strings.Contains(res.stdout, "2 profiles given, 1 distinct: a repeated profile") {
			t.Fatalf("--profile %q and %q: %v\nstdout:\n%s", "Sales User", second, res.err, res.stdout)
		}
	}
}

// A finished import whose emails are still queued, or refused, says where to follow them;
// a running import or a dry run says nothing of it.
func TestPrintSummaryPointsAtQueuedAndFailedEmails(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name       string
		status     directory.ImportStatus
		dry        bool
		emails     directory.DeliveryCounts
		queued     bool
		failedLine bool
	}{
		{"done, queued", directory.ImportDone, false, directory.DeliveryCounts{Unsent: 3, Sent: 1}, true, false},
		{"done, refused", directory.ImportDone, false, directory.DeliveryCounts{Sent: 3, Failed: 1}, false, true},
		{"running", directory.ImportRunning, false, directory.DeliveryCounts{Unsent: 3}, false, false},
		{"dry run", directory.ImportDone, true, directory.DeliveryCounts{}, false, false},
	} {
		imp := directory.Import{ID: "IMP1", OrgID: "ORG1", Status: tc.status, DryRun: tc.dry, Emails: &tc.emails}
		var out strings.Builder
		printSummary(&out, imp)
		got := out.String()
		if q := strings.Contains(got, "the worker sends them now; follow each one's delivery with: tether invite list --org ORG1 --import IMP1\n"); q != tc.queued {
			t.Errorf("%s: queued hint %v, want %v:\n%s", tc.name, q, tc.queued, got)
		}
		if f := strings.Contains(got, "tether invite list --org ORG1 --import IMP1 --status failed"); f != tc.failedLine {
			t.Errorf("%s: failed hint %v, want %v:\n%s", tc.name, f, tc.failedLine, got)
		}
	}
}
