package main

import (
	"context"
	"fmt"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"tether/connectors/email/mailsink"
	"tether/connectors/sandbox"
	"tether/connectors/sandbox/sfdc"
	"tether/jobs"
	"tether/sync/permissions"
	"tether/worker/redistest"
)

// killAfterAlertAccept, set to 1 in a re-executed test binary (TETHER_TEST_MAIN), makes
// the worker SIGKILL itself the moment the SMTP server accepted a permission alert,
// before the send is recorded. Only this test file sets the hook.
const killAfterAlertAccept = "TETHER_TEST_KILL_AFTER_ALERT_ACCEPT"

func init() {
	if os.Getenv(killAfterAlertAccept) == "1" {
		wrapAlertMailer = func(m permissions.Mailer) permissions.Mailer { return killingAlertMailer{m} }
	}
}

type killingAlertMailer struct{ permissions.Mailer }

func (k killingAlertMailer) SendMail(ctx context.Context, m permissions.Mail) error {
	err := k.Mailer.SendMail(ctx, m)
	if err == nil {
		dieNow("the SMTP server accepted the permission alert; killing the worker before the record")
	}
	return err
}

// TestWorkerKilledAfterAlertAccept: a real `tether worker` process audits an org whose
// integration user lost Marketing User, the SMTP server accepts the admins' alert, and
// the process is SIGKILLed before the send is recorded. A fresh worker runs the task's
// retry: it finishes the audit and sends nothing, the sink holds exactly one alert, and
// `permissions show` says the alert's delivery is attempting (outcome unknown, never
// sent again).
func TestWorkerKilledAfterAlertAccept(t *testing.T) {
	ctx := context.Background()
	opt, rdb := redistest.Client(t, 12)
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
	if err := sf.RemovePermission(sfUser, sfdc.PermMarketingUser); err != nil {
		t.Fatal(err)
	}
	sink, err := mailsink.Start()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = sink.Close() })
	dbURL := "sqlite:" + filepath.Join(t.TempDir(), "tether.db")
	env := killEnv(t, dbURL, opt, map[string]string{
		"TETHER_SALESFORCE_LOGIN_URL":     srv.URL + "/salesforce",
		"TETHER_SALESFORCE_CLIENT_ID":     sandbox.DefaultSalesforceClientID,
		"TETHER_SALESFORCE_CLIENT_SECRET": sandbox.DefaultSalesforceClientSecret,
		"TETHER_SMTP_URL":                 fmt.Sprintf("smtp+insecure://%s:%d", sink.Host(), sink.Port())})
	orgID := seedTeamOrg(t, dbURL, srv.URL+"/salesforce", sfOrg, sfUser, grant)

	var taskID string
	killedWorker(t, env, killAfterAlertAccept, "killing the worker before the record", func() {
		r := runTether(t, ctx, env, "permissions", "check", "--org", orgID)
		m := regexp.MustCompile(`queued permission audit (\S+) of org`).FindStringSubmatch(r.stdout)
		if r.err != nil || m == nil {
			t.Fatalf("permissions check: %v\n%s%s", r.err, r.stdout, r.stderr)
		}
		taskID = jobs.TaskIDAuditPermissions(orgID, m[1])
	})
	if n := len(sink.Messages()); n != 1 {
		t.Fatalf("%d emails at the server after the kill, want 1", n)
	}
	st, _ := openTestStore(t, dbURL)
	delivery := func() string {
		t.Helper()
		as, err := st.OpenPermissionAlerts(ctx, orgID)
		if err != nil || len(as) != 1 || as[0].Check != permissions.CheckMarketingUser {
			t.Fatalf("open alerts: %+v, %v; want the one about marketing_user", as, err)
		}
		return as[0].Delivery()
	}
	if d := delivery(); d != permissions.DeliveryAttempting {
		t.Fatalf("the killed run's alert is %s, want attempting", d)
	}

	// The killed worker's lease would lapse and a worker's recoverer would retry the
	// task; expire the lease now to stand in for that wait.
	if err := rdb.ZAdd(ctx, "asynq:{"+jobs.QueueDefault+"}:lease",
		redis.Z{Score: float64(time.Now().Add(-time.Minute).Unix()), Member: taskID}).Err(); err != nil {
		t.Fatal(err)
	}
	stderr, stop := start(t, env, "worker")
	t.Cleanup(func() { _ = stop() })
	waitCompleted(t, opt, jobs.QueueDefault, taskID, stderr)
	if n := len(sink.Messages()); n != 1 {
		t.Fatalf("%d emails at the server after the retry, want exactly the one alert", n)
	}
	if d := delivery(); d != permissions.DeliveryAttempting {
		t.Fatalf("after the retry the alert is %s, want still attempting (the retry came within StaleAlertAttempt)", d)
	}
	out := runTether(t, ctx, env, "permissions", "show", "--org", orgID)
	if exitCode(out.err) != exitPermissionMissing || !regexp.MustCompile(`(?m)^alert marketing_user .*attempting`).MatchString(out.stdout) {
		t.Fatalf("permissions show: exit %d (%v), want the alert shown attempting\n%s%s", exitCode(out.err), out.err, out.stdout, out.stderr)
	}
	if !strings.Contains(out.stdout, "never sent again") {
		t.Fatalf("permissions show does not say the alert is never sent again:\n%s", out.stdout)
	}
}
