package main

import (
	"fmt"
	"html"
	"io"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/hibiken/asynq"

	"tether/connectors/sandbox"
	"tether/connectors/sandbox/sfdc"
	"tether/jobs"
	"tether/sync/connections"
	"tether/sync/directory"
	"tether/sync/store"
	"tether/worker/redistest"
)

// connectE2E is what an operator has after `docker compose up` and `tether org create`:
// tether serve on a known public URL, the sandbox as every provider (consent pages shown,
// as to a person), an org, and a Redis whose queue the test can inspect.
type connectE2E struct {
	env       map[string]string
	dbURL     string
	public    string
	sb        *sandbox.Sandbox
	sbURL     string
	orgID     string
	teamLogin string // the Salesforce integration user's username
	inspector *asynq.Inspector
}

func setupConnectE2E(t *testing.T, redisDB int) *connectE2E {
	t.Helper()
	return newConnectE2E(t, redisDB, "serve", nil)
}

// newConnectE2E is setupConnectE2E running verb (serve, or all to have a worker too),
// with env over its variables; an empty value removes one.
func newConnectE2E(t *testing.T, redisDB int, verb string, env map[string]string) *connectE2E {
	t.Helper()
	ctx := t.Context()
	opt, _ := redistest.Client(t, redisDB)
	sb := sandbox.New(sandbox.Options{})
	sbSrv := httptest.NewServer(sb)
	t.Cleanup(func() { sb.Close(); sbSrv.Close() })
	spec := sfdc.GenerateOrg(17, 0)
	for i := range 3 {
		spec.Users = append(spec.Users, sfdc.UserSpec{Username: fmt.Sprintf("rep%d@%s.example.com", i, spec.Domain),
			Email: fmt.Sprintf("rep%d@acme.example", i), LastName: fmt.Sprint(i), Profile: sfdc.ProfileSalesUser})
	}
	if _, err := sb.Salesforce().AddOrg(spec); err != nil {
		t.Fatal(err)
	}
	// tether serve must answer at its public URL: pick a free port first.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	_ = l.Close()
	sb0 := sbSrv.URL
	dbURL := "sqlite:" + filepath.Join(t.TempDir(), "tether.db")
	base := map[string]string{
		"TETHER_DATABASE_URL":    dbURL,
		"TETHER_REDIS_URL":       redistest.URL(opt),
		"TETHER_ENCRYPTION_KEYS": testKeys,
		"TETHER_LINK_SECRET":     testLinkSecret,
		"TETHER_HTTP_ADDR":       addr,
		"TETHER_PUBLIC_URL":      "http://" + addr,
		"TETHER_API_TOKEN":       "e2e-api-token-0123456789abcdefghijklmnop",
		"TETHER_METRICS_ADDR":    "off",
		"TETHER_MAILER":          "log",
	}
	// The providers' settings are what `tether sandbox --print-env` prints.
	for _, v := range sandboxEnv(sb0) {
		base[v.name] = v.value
	}
	for k, v := range env {
		base[k] = v
		if v == "" {
			delete(base, k)
		}
	}
	env = base
	if r := runTether(t, ctx, env, "migrate", "up"); r.err != nil {
		t.Fatalf("migrate up: %v\n%s", r.err, r.stderr)
	}
	r := runTether(t, ctx, env, "org", "create", "--name", "Acme", "--seats", "10")
	if r.err != nil {
		t.Fatalf("org create: %v\n%s", r.err, r.stderr)
	}
	orgID := strings.TrimSpace(strings.SplitN(r.stdout, "\n", 2)[0])
	logs, _ := start(t, env, verb)
	waitListening(t, logs)
	in := asynq.NewInspector(opt)
	t.Cleanup(func() { _ = in.Close() })
	return &connectE2E{env: env, dbURL: dbURL, public: "http://" + addr, sb: sb, sbURL: sb0, orgID: orgID,
		teamLogin: sfdc.TeamUsername(spec.Domain), inspector: in}
}

// tether runs a CLI verb and fails the test on error.
func (b *connectE2E) tether(t *testing.T, args ...string) string {
	t.Helper()
	r := runTether(t, t.Context(), b.env, args...)
	if r.err != nil {
		t.Fatalf("tether %s: %v\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), r.err, r.stdout, r.stderr)
	}
	return r.stdout
}

// linkFrom is the first line of a link verb's output.
func linkFrom(t *testing.T, out string) string {
	t.Helper()
	l := strings.TrimSpace(strings.SplitN(out, "\n", 2)[0])
	if !strings.HasPrefix(l, "http://") || !strings.Contains(l, "/connect/") {
		t.Fatalf("no link on the first line:\n%s", out)
	}
	return l
}

// addRep makes the member a rep would be after accepting an invitation: the test's setup,
// not what is under test.
func (b *connectE2E) addRep(t *testing.T, email string) {
	t.Helper()
	st, err := store.Open(t.Context(), b.dbURL)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	u, err := st.CreateUser(t.Context(), directory.User{Email: email})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.CreateMembership(t.Context(), b.orgID, directory.Membership{UserID: u.ID, Role: directory.RoleChat,
		Status: directory.MembershipActive}); err != nil {
		t.Fatal(err)
	}
}

// memberConnection reads the member's connection of kind.
func (b *connectE2E) memberConnection(t *testing.T, email string, kind connections.Kind) (connections.Connection, error) {
	t.Helper()
	st, err := store.Open(t.Context(), b.dbURL)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	u, err := st.GetUserByEmail(t.Context(), email)
	if err != nil {
		t.Fatal(err)
	}
	m, err := st.GetMembershipByUser(t.Context(), b.orgID, u.ID)
	if err != nil {
		t.Fatal(err)
	}
	return st.FindConnection(t.Context(), b.orgID, m.ID, kind)
}

var (
	e2eForm   = regexp.MustCompile(`<form method="post" action="([^"]*)">`)
	e2eHidden = regexp.MustCompile(`<input type="hidden" name="([^"]*)" value="([^"]*)">`)
)

// connectOverHTTP does what a person does with a plain HTTP client: open the link, press
// the button, sign in as login on the sandbox's consent page and allow.
func (b *connectE2E) connectOverHTTP(t *testing.T, link, login string) (int, string) {
	t.Helper()
	jar, _ := cookiejar.New(nil)
	c := &http.Client{Jar: jar, Timeout: 15 * time.Second}
	body := func(resp *http.Response, err error) (*http.Response, string) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp, string(b)
	}
	resp, page := body(c.Get(link))
	m := e2eForm.FindStringSubmatch(page)
	if m == nil {
		return resp.StatusCode, page
	}
	resp, page = body(c.PostForm(b.public+html.UnescapeString(m[1]), nil))
	form := url.Values{"login": {login}, "decision": {"allow"}}
	for _, h := range e2eHidden.FindAllStringSubmatch(page, -1) {
		form.Add(html.UnescapeString(h[1]), html.UnescapeString(h[2]))
	}
	resp, page = body(c.PostForm(resp.Request.URL.String(), form))
	return resp.StatusCode, page
}

// The "done when": org create → org connect-salesforce → consent at the sandbox →
// invite import --wait, nothing seeded by hand; the HTTP route gives the same link.
func TestOrgConnectSalesforceThenImport(t *testing.T) {
	b := setupConnectE2E(t, 12)
	out := b.tether(t, "org", "connect-salesforce", b.orgID)
	if !strings.Contains(out, "single use") {
		t.Errorf("connect-salesforce output:\n%s", out)
	}
	status, page := b.connectOverHTTP(t, linkFrom(t, out), b.teamLogin)
	if status != http.StatusOK || !strings.Contains(page, "Salesforce connected") || !strings.Contains(page, "permission check") {
		t.Fatalf("team connect: %d %s", status, page)
	}
	// The connect learned the org's session timeout (the sandbox's default, 2 h) from the
	// fresh token: org show says learned, not the configured default.
	if show := b.tether(t, "org", "show", b.orgID); !strings.Contains(show, "team Salesforce connection: healthy") ||
		!strings.Contains(show, "next refresh") || !regexp.MustCompile(`salesforce session timeout: 2h0m0s, learned \d{4}-`).MatchString(show) {
		t.Fatalf("org show after connect:\n%s", show)
	}
	tasks, err := b.inspector.ListPendingTasks(jobs.QueueDefault)
	if err != nil || len(tasks) != 1 || tasks[0].Type != jobs.TypeAuditPermissions {
		t.Fatalf("audit queued by the connect: %v %v", tasks, err)
	}

	start(t, b.env, "worker")
	r := runTether(t, t.Context(), b.env, "invite", "import", "--org", b.orgID, "--profile", sfdc.ProfileSalesUser, "--role", "chat", "--wait")
	if r.err != nil || !regexp.MustCompile(`(?m)^import \S+: done, 3 of 3 rows$`).MatchString(r.stdout) {
		t.Fatalf("import through the connected team user: %v\n%s\n%s", r.err, r.stdout, r.stderr)
	}
	// Each invite keeps its Salesforce user's Username, which Join pre-fills at sign-in
	// (their Email is not their login).
	st, err := store.Open(t.Context(), b.dbURL)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	invs, err := st.ListInvites(t.Context(), b.orgID, directory.InviteFilter{Limit: 10})
	if err != nil || len(invs) != 3 {
		t.Fatalf("imported invites: %+v, %v", invs, err)
	}
	for _, inv := range invs {
		if inv.SalesforceUsername == "" {
			t.Errorf("invite %s of %s: Salesforce username %q", inv.ID, inv.Email, inv.SalesforceUsername)
		}
	}
	r = runTether(t, t.Context(), b.env, "permissions", "check", "--org", b.orgID, "--wait", "--timeout", "20s")
	if r.err != nil && exitCode(r.err) == 1 {
		t.Fatalf("the audit queued at connect did not produce a report: %v\n%s", r.err, r.stdout)
	}

	// The HTTP API hands out the same kind of link; the CLI refuses a personal kind for
	// the org and an unknown member.
	req, _ := http.NewRequest(http.MethodPost, b.public+"/v1/orgs/"+b.orgID+"/connect-links", nil)
	req.Header.Set("Authorization", "Bearer "+b.env["TETHER_API_TOKEN"])
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusCreated || !strings.Contains(string(raw), `"kind":"salesforce_team"`) ||
		!strings.Contains(string(raw), `"url":"`+b.public+`/connect/`) {
		t.Fatalf("POST connect-links: %d %s", resp.StatusCode, raw)
	}
	if r := runTether(t, t.Context(), b.env, "members", "connect-link", b.orgID, "nobody@acme.example", "zoom"); r.err == nil ||
		!strings.Contains(r.err.Error(), "no member nobody@acme.example") {
		t.Fatalf("unknown member: %v", r.err)
	}
	if r := runTether(t, t.Context(), b.env, "members", "connect-link", b.orgID, "x@acme.example", "salesforce_team"); r.err == nil ||
		!strings.Contains(r.err.Error(), "tether org connect-salesforce") {
		t.Fatalf("team kind for a member: %v", r.err)
	}
	noSecret := map[string]string{}
	for k, v := range b.env {
		noSecret[k] = v
	}
	delete(noSecret, "TETHER_LINK_SECRET")
	if r := runTether(t, t.Context(), noSecret, "org", "connect-salesforce", b.orgID); r.err == nil ||
		!strings.Contains(r.err.Error(), "TETHER_LINK_SECRET") {
		t.Fatalf("without the secret: %v", r.err)
	}
}

// TestOrgLoginURLIsWhereTheConnectButtonGoes: with TETHER_SALESFORCE_LOGIN_URL at the
// sandbox, the team connect button redirects there, and tether org show and GET
// /v1/orgs/{org} on the running serve name that same host, not login.salesforce.com.
func TestOrgLoginURLIsWhereTheConnectButtonGoes(t *testing.T) {
	b := setupConnectE2E(t, 12)
	want := b.sbURL + "/salesforce"

	link := linkFrom(t, b.tether(t, "org", "connect-salesforce", b.orgID))
	jar, _ := cookiejar.New(nil)
	c := &http.Client{Jar: jar, Timeout: 15 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := c.Get(link)
	if err != nil {
		t.Fatal(err)
	}
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	m := e2eForm.FindStringSubmatch(string(page))
	if m == nil {
		t.Fatalf("connect page %d without a button:\n%s", resp.StatusCode, page)
	}
	resp, err = c.PostForm(b.public+html.UnescapeString(m[1]), nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if loc := resp.Header.Get("Location"); resp.StatusCode != http.StatusSeeOther || !strings.HasPrefix(loc, want+"/services/oauth2/authorize") {
		t.Fatalf("the connect button: %d to %q, want a redirect to %s", resp.StatusCode, loc, want)
	}

	if show := b.tether(t, "org", "show", b.orgID); !strings.Contains(show, "salesforce login: production ("+want+")\n") {
		t.Errorf("org show does not name %s:\n%s", want, show)
	}
	req, _ := http.NewRequest(http.MethodGet, b.public+"/v1/orgs/"+b.orgID, nil)
	req.Header.Set("Authorization", "Bearer "+b.env["TETHER_API_TOKEN"])
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(raw), `"salesforce_login_url":"`+want+`"`) {
		t.Fatalf("GET /v1/orgs/%s: %d %s, want salesforce_login_url %s", b.orgID, resp.StatusCode, raw, want)
	}
}
