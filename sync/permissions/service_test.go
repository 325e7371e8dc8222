package permissions_test

import (
	"context"
	"fmt"
	"regexp"
	"strings"
	"testing"
	"time"

	"tether/connectors/email"
	"tether/connectors/email/mailsink"
	"tether/connectors/salesforce"
	"tether/connectors/sandbox"
	"tether/connectors/sandbox/sandboxtest"
	"tether/connectors/sandbox/sfdc"
	"tether/sync/connect"
	"tether/sync/connections"
	"tether/sync/directory"
	"tether/sync/permissions"
	"tether/sync/store"
	"tether/sync/store/storetest"
)

// fixedSessions hands out the sandbox grant's access token (the connections service is
// tested on its own; here the Salesforce side and the store are what matter).
type fixedSessions struct{ s permissions.Session }

func (f fixedSessions) Team(context.Context, string) (permissions.Session, error) { return f.s, nil }

type staticToken string

func (t staticToken) Token(context.Context) (string, error) { return string(t), nil }
func (t staticToken) Refresh(context.Context) (string, error) {
	return "", permissions.ErrNeedsReconnect
}

type testBundle struct {
	svc    *permissions.Service
	st     *store.Store
	sb     *sandbox.Sandbox
	sink   *mailsink.Sink
	orgID  string
	sfUser string
	sfOrg  string
	srvURL string
	grant  sandbox.Tokens
	mailer permissions.Mailer
	now    time.Time
	params permissions.Params // svc's, for a test that builds a variant
}

func setup(t *testing.T, st *store.Store) *testBundle {
	t.Helper()
	ctx := t.Context()
	sf := sandboxtest.NewSalesforceOrg(t, sfdc.GenerateOrg(11, 2))
	sb, sfOrg, sfUser, tok := sf.Sandbox, sf.OrgID, sf.UserID, sf.Grant
	sink, err := mailsink.Start()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = sink.Close() })
	m, err := email.New(email.Config{Host: sink.Host(), Port: sink.Port(), TLS: email.TLSNone, From: "tether <audit@tether.test>"})
	if err != nil {
		t.Fatal(err)
	}
	org, err := st.CreateOrg(ctx, directory.Org{Name: "Acme"})
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range []string{"admin1@acme.test", "admin2@acme.test"} {
		u, err := st.CreateUser(ctx, directory.User{Email: e})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := st.CreateMembership(ctx, org.ID, directory.Membership{UserID: u.ID, Role: directory.RoleAdmin, Status: directory.MembershipActive}); err != nil {
			t.Fatal(err)
		}
	}
	b := &testBundle{st: st, sb: sb, sink: sink, orgID: org.ID, sfUser: sfUser, sfOrg: sfOrg, srvURL: sf.URL,
		grant: tok, mailer: email.AlertMailer(m), now: time.Date(2026, 3, 2, 6, 0, 0, 0, time.UTC)}
	b.params = permissions.Params{
		Store: st,
		Sessions: fixedSessions{permissions.Session{OrgID: org.ID, ConnectionID: "", InstanceURL: sf.InstanceURL,
			UserID: sfUser, Credentials: staticToken(tok.AccessToken)}},
		Prober: &salesforce.AuditProber{},
		Mailer: b.mailer,
		Clock:  func() time.Time { return b.now },
	}
	if b.svc, err = permissions.NewService(b.params); err != nil {
		t.Fatal(err)
	}
	return b
}

func (b *testBundle) audit(t *testing.T) permissions.Report {
	t.Helper()
	r, err := b.svc.Audit(t.Context(), b.orgID)
	if err != nil {
		t.Fatalf("audit: %v", err)
	}
	b.now = b.now.Add(24 * time.Hour)
	return r
}

func result(r permissions.Report, name string) permissions.Result {
	for _, c := range r.Checks {
		if c.Name == name {
			return c.Result
		}
	}
	return "absent"
}

func (b *testBundle) kinds(t *testing.T) map[string]int {
	t.Helper()
	evs, err := b.st.ListEvents(t.Context(), b.orgID, 100)
	if err != nil {
		t.Fatal(err)
	}
	m := map[string]int{}
	for _, e := range evs {
		m[e.Kind+":"+e.Subject]++
	}
	return m
}

// TestAuditRegressionEmailsAdminsOnce: all ok, then Marketing User lost (one email to
// both admins, a lost event), still lost the next days (no more email), regained (a
// gained event), lost again (a second email).
func TestAuditRegressionEmailsAdminsOnce(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, st *store.Store) {
		t.Parallel()
		b := setup(t, st)
		sf := b.sb.Salesforce()

		if r := b.audit(t); result(r, permissions.CheckMarketingUser) != permissions.ResultOK {
			t.Fatalf("first audit: marketing_user = %s", result(r, permissions.CheckMarketingUser))
		}
		if n := len(b.sink.Messages()); n != 0 {
			t.Fatalf("%d emails after a clean audit", n)
		}

		if err := sf.RemovePermission(b.sfUser, sfdc.PermMarketingUser); err != nil {
			t.Fatal(err)
		}
		r := b.audit(t)
		if result(r, permissions.CheckMarketingUser) != permissions.ResultMissing {
			t.Fatalf("marketing_user = %s after removal", result(r, permissions.CheckMarketingUser))
		}
		msgs := b.sink.Messages()
		if len(msgs) != 1 {
			t.Fatalf("%d emails after the loss, want 1", len(msgs))
		}
		if got := strings.Join(msgs[0].To, ","); got != "admin1@acme.test,admin2@acme.test" {
			t.Errorf("email to %s", got)
		}
		if !strings.Contains(msgs[0].Subject, permissions.CheckMarketingUser) || !strings.Contains(msgs[0].Text, "tick Marketing User") {
			t.Errorf("email lacks the check or its fix: %q / %q", msgs[0].Subject, msgs[0].Text)
		}
		if k := b.kinds(t); k[permissions.EventLost+":"+permissions.CheckMarketingUser] != 1 {
			t.Errorf("events = %v, want one lost marketing_user", k)
		}

		b.audit(t)
		b.audit(t)
		if n := len(b.sink.Messages()); n != 1 {
			t.Fatalf("%d emails while it stays lost, want still 1", n)
		}

		if err := sf.GrantPermission(b.sfUser, sfdc.PermMarketingUser); err != nil {
			t.Fatal(err)
		}
		b.audit(t)
		if k := b.kinds(t); k[permissions.EventGained+":"+permissions.CheckMarketingUser] != 1 {
			t.Errorf("events = %v, want one gained marketing_user", k)
		}
		if err := sf.RemovePermission(b.sfUser, sfdc.PermMarketingUser); err != nil {
			t.Fatal(err)
		}
		b.audit(t)
		if n := len(b.sink.Messages()); n != 2 {
			t.Fatalf("%d emails after losing it again, want 2", n)
		}
	})
}

// TestAuditEmailRetriedAfterMailFailure: the report is stored even when the email
// fails; the retry sends it once.
func TestAuditEmailRetriedAfterMailFailure(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, st *store.Store) {
		t.Parallel()
		b := setup(t, st)
		b.audit(t)
		if err := b.sb.Salesforce().RemovePermission(b.sfUser, "Lead.Email:Edit"); err != nil {
			t.Fatal(err)
		}
		b.sink.FailNext(1, 451)
		if _, err := b.svc.Audit(t.Context(), b.orgID); err == nil {
			t.Fatal("audit succeeded although the email failed")
		}
		if n := len(b.sink.Messages()); n != 0 {
			t.Fatalf("%d emails delivered through a failing server", n)
		}
		b.audit(t) // the retry
		b.audit(t)
		msgs := b.sink.Messages()
		if len(msgs) != 1 || !strings.Contains(msgs[0].Subject, "lead.Email") {
			t.Fatalf("emails = %d (%v), want one about lead.Email", len(msgs), msgs)
		}
	})
}

// The audit's 401 goes through the real token service: the access token the sandbox
// expired is refreshed once through the token endpoint, the new one is stored, and the
// audit completes with every check ok. A refresh the service did not persist, or a
// second refresh, fails here.
func TestAuditRefreshesAnExpiredTeamTokenThroughTheTokenService(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, st *store.Store) {
		b := setup(t, st)
		team := storetest.NewTeam(t, storetest.TeamParams{Store: st, OrgID: b.orgID, SandboxURL: b.srvURL,
			Grant: b.grant, SFUser: b.sfUser, SFOrg: b.sfOrg, RedisDB: 9})
		svc, err := permissions.NewService(permissions.Params{
			Store: st, Sessions: permissions.TeamSessions{Tokens: team.Tokens}, Prober: &salesforce.AuditProber{},
			Mailer: b.mailer, Clock: func() time.Time { return b.now },
		})
		if err != nil {
			t.Fatal(err)
		}
		if err := b.sb.ExpireAccessTokens(b.grant.GrantID); err != nil {
			t.Fatal(err)
		}
		r, err := svc.Audit(t.Context(), b.orgID)
		if err != nil {
			t.Fatalf("audit over an expired access token: %v", err)
		}
		for _, c := range r.Checks {
			if c.Result != permissions.ResultOK {
				t.Errorf("%s = %s (%s), want ok after the refresh", c.Name, c.Result, c.Evidence)
			}
		}
		if g := b.sb.Counters().Grants[b.grant.GrantID]; g.Refreshes != 1 {
			t.Fatalf("the token endpoint saw %d refreshes, want 1", g.Refreshes)
		}
		if stored := team.AccessToken(t, st, b.orgID); stored == b.grant.AccessToken {
			t.Fatal("the refreshed access token was not stored")
		}
	})
}

// switchSessions answers with the grant until broken is set, then as a revoked team
// connection does.
type switchSessions struct {
	ok     fixedSessions
	broken *bool
}

func (s switchSessions) Team(ctx context.Context, orgID string) (permissions.Session, error) {
	if *s.broken {
		return permissions.Session{}, fmt.Errorf("org %s: %w", orgID, permissions.ErrNeedsReconnect)
	}
	return s.ok.Team(ctx, orgID)
}

// TestBrokenTeamConnectionEmailCarriesConnectLink: when the team connection breaks, the
// fix names `tether org connect-salesforce ORG` and the admins' email carries a fresh
// single-use team link that connect verifies as this org's.
func TestBrokenTeamConnectionEmailCarriesConnectLink(t *testing.T) {
	t.Parallel()
	st := storetest.SQLite(t)
	b := setup(t, st)
	links, err := connect.NewLinks(connect.LinksParams{Store: st, Secret: []byte("audit-test-secret-0123456789abcdefghijk"),
		BaseURL: "https://tether.example", Now: func() time.Time { return b.now }})
	if err != nil {
		t.Fatal(err)
	}
	// The org's team connection exists (it worked once), so its break is a lost connection.
	if _, err := st.CreateConnection(t.Context(), b.orgID, connections.Connection{Kind: connections.KindSalesforceTeam, ProviderAccountID: b.sfUser}); err != nil {
		t.Fatal(err)
	}
	broken := false
	b.svc, err = permissions.NewService(permissions.Params{
		Store: st,
		Sessions: switchSessions{ok: fixedSessions{permissions.Session{OrgID: b.orgID, InstanceURL: b.srvURL + "/salesforce",
			UserID: b.sfUser, Credentials: staticToken(b.grant.AccessToken)}}, broken: &broken},
		Prober: &salesforce.AuditProber{},
		Mailer: b.mailer,
		Clock:  func() time.Time { return b.now },
		Links:  links,
	})
	if err != nil {
		t.Fatal(err)
	}
	if r := b.audit(t); result(r, permissions.CheckConnection) != permissions.ResultOK {
		t.Fatalf("first audit: connection = %s", result(r, permissions.CheckConnection))
	}
	broken = true
	r := b.audit(t)
	var fix string
	for _, c := range r.Checks {
		if c.Name == permissions.CheckConnection {
			fix = c.Fix
		}
	}
	if !strings.Contains(fix, "tether org connect-salesforce "+b.orgID) || strings.Contains(fix, "settings") {
		t.Fatalf("connection fix: %q", fix)
	}
	msgs := b.sink.Messages()
	if len(msgs) != 1 {
		t.Fatalf("%d emails after the connection broke, want 1", len(msgs))
	}
	m := regexp.MustCompile(`Reconnect with this link .*: https://tether\.example/connect/(\S+)`).FindStringSubmatch(msgs[0].Text)
	if m == nil {
		t.Fatalf("no connect link in the email:\n%s", msgs[0].Text)
	}
	// Checked an hour before it expires (the audit advanced the test clock a day).
	at, err := connect.NewLinks(connect.LinksParams{Store: st, Secret: []byte("audit-test-secret-0123456789abcdefghijk"),
		Now: func() time.Time { return b.now.Add(-time.Hour) }})
	if err != nil {
		t.Fatal(err)
	}
	l, err := at.Verify(m[1])
	if err != nil || l.OrgID != b.orgID || l.Kind != connections.KindSalesforceTeam || !l.ExpiresAt.Equal(b.now) /* issued a day ago (audit advances the clock), valid 24h */ {
		t.Fatalf("emailed link %+v, %v", l, err)
	}
}

// TestAuditAlertMaybeSentIsNeverResent: the SMTP server keeps the alert and drops the
// connection instead of answering after the final dot. The audit records the alert sent
// and unconfirmed without failing, and neither its retry nor later audits email it again.
func TestAuditAlertMaybeSentIsNeverResent(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, st *store.Store) {
		t.Parallel()
		b := setup(t, st)
		b.audit(t)
		if err := b.sb.Salesforce().RemovePermission(b.sfUser, sfdc.PermMarketingUser); err != nil {
			t.Fatal(err)
		}
		b.sink.DropNext(1)
		b.audit(t) // no error: a retry could only send it twice
		for range 2 {
			b.audit(t)
		}
		if n := len(b.sink.Messages()); n != 1 {
			t.Fatalf("%d alert emails at the server, want exactly 1", n)
		}
		var unconfirmed int
		var sent bool
		err := st.DB().QueryRowContext(t.Context(), `SELECT unconfirmed, sent_at IS NOT NULL FROM permission_alerts
WHERE org_id = $1 AND check_name = $2`, b.orgID, permissions.CheckMarketingUser).Scan(&unconfirmed, &sent)
		if err != nil || unconfirmed != 1 || !sent {
			t.Fatalf("alert recorded unconfirmed=%d sent=%v (%v), want sent and unconfirmed", unconfirmed, sent, err)
		}
	})
}

// unrecordedStore loses the record of a sent alert, as a worker killed between the SMTP
// server's acceptance and MarkPermissionAlertSent does (the real kill is
// cmd/tether's TestWorkerKilledAfterAlertAccept).
type unrecordedStore struct{ *store.Store }

func (unrecordedStore) MarkPermissionAlertSent(context.Context, string, string, time.Time, time.Time) error {
	return fmt.Errorf("the worker died before recording the send")
}

// TestAuditAlertBegunIsNeverResent: an audit sends the alert and loses the record. The
// retry a minute later sends nothing and leaves the alert attempting (the first run
// might still be sending); the audit after StaleAlertAttempt settles it unconfirmed,
// still sending nothing. The server holds exactly one alert.
func TestAuditAlertBegunIsNeverResent(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, st *store.Store) {
		t.Parallel()
		b := setup(t, st)
		b.audit(t)
		if err := b.sb.Salesforce().RemovePermission(b.sfUser, sfdc.PermMarketingUser); err != nil {
			t.Fatal(err)
		}
		p := b.params
		p.Store = unrecordedStore{st}
		dying, err := permissions.NewService(p)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := dying.Audit(t.Context(), b.orgID); err == nil {
			t.Fatal("the audit that lost the record reported no error")
		}
		delivery := func() string {
			t.Helper()
			as, err := st.OpenPermissionAlerts(t.Context(), b.orgID)
			if err != nil || len(as) != 1 {
				t.Fatalf("open alerts %+v, %v", as, err)
			}
			return as[0].Delivery()
		}
		if d := delivery(); d != permissions.DeliveryAttempting {
			t.Fatalf("after the lost record the alert is %s, want attempting", d)
		}
		b.now = b.now.Add(time.Minute) // the task's retry
		if _, err := b.svc.Audit(t.Context(), b.orgID); err != nil {
			t.Fatal(err)
		}
		if d := delivery(); d != permissions.DeliveryAttempting {
			t.Fatalf("after the retry the alert is %s, want still attempting", d)
		}
		b.now = b.now.Add(permissions.StaleAlertAttempt)
		b.audit(t)
		if d := delivery(); d != permissions.DeliveryUnconfirmed {
			t.Fatalf("after StaleAlertAttempt the alert is %s, want unconfirmed", d)
		}
		b.audit(t)
		if n := len(b.sink.Messages()); n != 1 {
			t.Fatalf("%d alert emails at the server, want exactly 1", n)
		}
	})
}

// TestAuditAPIDisabledEvidenceIsASentence: with the org's API switched off in the sandbox
// (403 API_DISABLED_FOR_ORG), the stored report and the alert email say what is wrong and
// how to fix it in words; the driver's error chain (audit org …: composite: salesforce:
// HTTP 403 …) goes to OnFailure, for the log, and nowhere a person reads.
func TestAuditAPIDisabledEvidenceIsASentence(t *testing.T) {
	t.Parallel()
	b := setup(t, storetest.SQLite(t))
	var logged []error
	p := b.params
	p.OnFailure = func(orgID string, err error) {
		if orgID != b.orgID {
			t.Errorf("OnFailure for org %s, want %s", orgID, b.orgID)
		}
		logged = append(logged, err)
	}
	var err error
	if b.svc, err = permissions.NewService(p); err != nil {
		t.Fatal(err)
	}
	if err := b.sb.Salesforce().SetAPIEnabled(b.sfOrg, false); err != nil {
		t.Fatal(err)
	}
	r := b.audit(t)

	if len(logged) != 1 || !strings.Contains(logged[0].Error(), "HTTP 403 API_DISABLED_FOR_ORG") {
		t.Fatalf("OnFailure got %v, want the one raw error naming HTTP 403 API_DISABLED_FOR_ORG", logged)
	}
	// Pieces of the raw chain that must stay in the log.
	raw := []string{"audit org", "composite", "HTTP 403", "salesforce:", "not enabled for this Organization", "salesforce API is not enabled"}
	readable := func(where, text string) {
		t.Helper()
		for _, s := range raw {
			if strings.Contains(text, s) {
				t.Errorf("%s shows the error chain (%q): %q", where, s, text)
			}
		}
	}
	for _, c := range r.Checks {
		readable(c.Name+" evidence", c.Evidence)
		if c.Name == permissions.CheckOrgAPI {
			if c.Result != permissions.ResultMissing {
				t.Errorf("%s = %s, want missing", c.Name, c.Result)
			}
			for _, want := range []string{"API_DISABLED_FOR_ORG", "API Enabled", "Salesforce Setup", "enable API access for the org"} {
				if !strings.Contains(c.Evidence, want) {
					t.Errorf("%s evidence %q does not say %q", c.Name, c.Evidence, want)
				}
			}
		}
	}
	stored, err := b.st.LatestPermissionReport(t.Context(), b.orgID)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range stored.Checks {
		readable("stored "+c.Name+" evidence", c.Evidence)
	}
	msgs := b.sink.Messages()
	if len(msgs) == 0 {
		t.Fatal("no alert email about api_org")
	}
	for _, m := range msgs {
		readable("alert email", m.Text)
	}
}

// stateSessions answers as an org without a team connection, then with the grant, then
// as a revoked team connection, following state.
type stateSessions struct {
	ok    fixedSessions
	state *string // "none", "ok", "broken"
}

func (s stateSessions) Team(ctx context.Context, orgID string) (permissions.Session, error) {
	switch *s.state {
	case "none":
		return permissions.Session{}, fmt.Errorf("org %s: %w", orgID, permissions.ErrNoTeamConnection)
	case "broken":
		return permissions.Session{}, fmt.Errorf("org %s: %w", orgID, permissions.ErrNeedsReconnect)
	}
	return s.ok.Team(ctx, orgID)
}

// TestNeverConnectedOrgAlertSaysMissingNotLost: a new org's first audit, before any team
// connection, emails the admins that Salesforce is not connected yet, with the connect
// command; nothing is "lost". Once connected (the connect stores its row), working and then
// broken, the connection is lost and the email says so.
func TestNeverConnectedOrgAlertSaysMissingNotLost(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, st *store.Store) {
		t.Parallel()
		b := setup(t, st)
		state := b.sessionsIn(t, "none")

		if r := b.audit(t); result(r, permissions.CheckConnection) != permissions.ResultMissing {
			t.Fatalf("first audit without a connection: connection = %s", result(r, permissions.CheckConnection))
		}
		msgs := b.sink.Messages()
		if len(msgs) != 1 {
			t.Fatalf("%d emails after the first audit, want 1", len(msgs))
		}
		if m := msgs[0]; strings.Contains(m.Subject+m.Text, "lost") || strings.Contains(m.Text, "no longer") ||
			!strings.Contains(m.Subject, "not connected") || !strings.Contains(m.Text, "never been connected") ||
			!strings.Contains(m.Text, "tether org connect-salesforce "+b.orgID) {
			t.Fatalf("never-connected email:\n%s\n%s", m.Subject, m.Text)
		}
		as, err := st.OpenPermissionAlerts(t.Context(), b.orgID)
		if err != nil || len(as) != 1 || !as[0].NeverConnected {
			t.Fatalf("open alerts = %+v, %v; want the connection's, never connected", as, err)
		}

		// Connected: the connect flow stores the team connection; the audit it queues passes.
		if _, err := st.CreateConnection(t.Context(), b.orgID, connections.Connection{Kind: connections.KindSalesforceTeam, ProviderAccountID: b.sfUser}); err != nil {
			t.Fatal(err)
		}
		*state = "ok"
		if r := b.audit(t); result(r, permissions.CheckConnection) != permissions.ResultOK {
			t.Fatalf("connected: connection = %s", result(r, permissions.CheckConnection))
		}
		*state = "broken"
		b.audit(t)
		msgs = b.sink.Messages()
		if len(msgs) != 2 {
			t.Fatalf("%d emails after the connection broke, want 2", len(msgs))
		}
		if m := msgs[1]; !strings.Contains(m.Subject, "lost a permission: connection") || !strings.Contains(m.Text, "no longer passes") {
			t.Fatalf("broken-connection email:\n%s\n%s", m.Subject, m.Text)
		}
		if as, err := st.OpenPermissionAlerts(t.Context(), b.orgID); err != nil || len(as) != 1 || as[0].NeverConnected {
			t.Fatalf("open alerts = %+v, %v; want the connection's, lost", as, err)
		}
	})
}

// TestUncompletedConnectAlertSaysNotConnected: an org whose team connection row exists
// without a Salesforce account (a connect that never completed) is refused a session as
// needing a reconnect; the audit still reports it never connected: the email says not
// connected yet with the connect command, and names no lost permission or broken
// connection.
func TestUncompletedConnectAlertSaysNotConnected(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, st *store.Store) {
		t.Parallel()
		b := setup(t, st)
		_ = b.sessionsIn(t, "broken")
		if _, err := st.CreateConnection(t.Context(), b.orgID, connections.Connection{Kind: connections.KindSalesforceTeam, State: connections.StateMissing}); err != nil {
			t.Fatal(err)
		}
		r := b.audit(t)
		for _, c := range r.Checks {
			if c.Name == permissions.CheckConnection && (c.Result != permissions.ResultMissing ||
				!strings.Contains(c.Evidence, "no team-level Salesforce connection") || strings.Contains(c.Evidence+c.Fix, "econnect")) {
				t.Fatalf("connection check = %+v; want missing, not connected, with the connect command", c)
			}
		}
		msgs := b.sink.Messages()
		if len(msgs) != 1 {
			t.Fatalf("%d emails, want 1", len(msgs))
		}
		if m := msgs[0]; strings.Contains(m.Subject+m.Text, "lost") || strings.Contains(m.Text, "econnect") ||
			!strings.Contains(m.Subject, "not connected") || !strings.Contains(m.Text, "never been connected") ||
			!strings.Contains(m.Text, "tether org connect-salesforce "+b.orgID) || !strings.Contains(m.Text, "/v1/orgs/"+b.orgID+"/connect-links") {
			t.Fatalf("uncompleted-connect email:\n%s\n%s", m.Subject, m.Text)
		}
		if as, err := st.OpenPermissionAlerts(t.Context(), b.orgID); err != nil || len(as) != 1 || !as[0].NeverConnected {
			t.Fatalf("open alerts = %+v, %v; want the connection's, never connected", as, err)
		}
	})
}

// sessionsIn rebuilds b's service on stateSessions starting in state; the test moves it
// through the returned pointer.
func (b *testBundle) sessionsIn(t *testing.T, state string) *string {
	t.Helper()
	p := b.params
	p.Sessions = stateSessions{ok: b.params.Sessions.(fixedSessions), state: &state}
	var err error
	if b.svc, err = permissions.NewService(p); err != nil {
		t.Fatal(err)
	}
	return &state
}
