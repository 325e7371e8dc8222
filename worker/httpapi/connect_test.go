package httpapi_test

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"

	"tether/connectors/oauth"
	"tether/connectors/oauth/oauthtest"
	"tether/connectors/sandbox"
	"tether/connectors/sandbox/sandboxtest"
	"tether/connectors/sandbox/sfdc"
	"tether/jobs"
	"tether/sync/connect"
	"tether/sync/connections"
	"tether/sync/directory"
	"tether/sync/orgs"
	"tether/sync/permissions"
	"tether/sync/store"
	"tether/sync/store/storetest"
	"tether/sync/vault"
	"tether/worker"
	"tether/worker/httpapi"
	"tether/worker/redisconnect"
	"tether/worker/redistest"
)

const connectToken = "connect-test-api-token-0123456789abcdef"

// connectBundle is tether serve's connect routes on a real HTTP server, the sandbox of
// every provider on another (consent pages shown, as to a person), a store, real Redis for
// the flow's state and the audit queue, an org with an admin and a rep.
type connectBundle struct {
	st        *store.Store
	sb        *sandbox.Sandbox
	sbURL     string
	keys      *vault.Keyring
	tether    string
	inspector *asynq.Inspector
	org       directory.Org
	rep       directory.Membership
	repEmail  string
	sfOrg     string
	sfRep     sfdc.User // the rep's own Salesforce user
	sfOther   sfdc.User // another user of the same Salesforce org
	sfAdmin   sfdc.User // the team-level integration user
	secret    []byte
}

func setupConnect(t testing.TB, st *store.Store, redisDB int) *connectBundle {
	t.Helper()
	ctx := t.Context()
	sb, sbURL := sandboxtest.Serve(t, sandbox.Options{})
	sfOrg, err := sb.Salesforce().AddOrg(sfdc.GenerateOrg(21, 12))
	if err != nil {
		t.Fatal(err)
	}
	active := sb.Salesforce().ActiveStandardUsers(sfOrg)
	if len(active) < 3 {
		t.Fatalf("generated org has %d active standard users", len(active))
	}
	keys, _, err := vault.GenerateKeyring("k1")
	if err != nil {
		t.Fatal(err)
	}
	redisOpt, rdb := redistest.Client(t, redisDB)
	queue := asynq.NewClient(redisOpt)
	inspector := asynq.NewInspector(redisOpt)
	t.Cleanup(func() { _ = queue.Close(); _ = inspector.Close() })

	var handler http.Handler
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { handler.ServeHTTP(w, r) }))
	t.Cleanup(srv.Close)
	secret := []byte("connect-test-secret-0123456789abcdefghij")
	links, err := connect.NewLinks(connect.LinksParams{Store: st, Secret: secret, BaseURL: srv.URL})
	if err != nil {
		t.Fatal(err)
	}
	oc, err := oauth.New(oauth.Config{})
	if err != nil {
		t.Fatal(err)
	}
	b := sbURL
	// A Salesforce connect learns the org's session timeout by introspecting its fresh
	// token (the registered Salesforce app authenticates the introspection).
	sf := oauth.Salesforce(b + "/salesforce")
	sf.ClientID, sf.ClientSecret = sandbox.DefaultSalesforceClientID, sandbox.DefaultSalesforceClientSecret
	sfClient, err := oauth.New(oauth.Config{Providers: []oauth.Provider{sf}})
	if err != nil {
		t.Fatal(err)
	}
	sessions, err := connections.NewSessionLearner(connections.SessionLearnerParams{Store: st,
		Introspector: oauth.SalesforceSessions{Client: sfClient},
		Errors:       func(orgID string, err error) { t.Logf("org %s: %v", orgID, err) }})
	if err != nil {
		t.Fatal(err)
	}
	flow, err := connect.NewFlow(connect.FlowParams{
		Links:              links,
		Store:              st,
		Sessions:           redisconnect.New(rdb, "tether:connect:"),
		Providers:          oauthtest.Connector(oc, b),
		Vault:              keys,
		Audits:             permissions.Requests{Store: st, Tasks: worker.AuditTasks{Client: queue}},
		SalesforceLoginURL: func(directory.Org) string { return b + "/salesforce" },
		SalesforceSession:  sessions.Connected,
	})
	if err != nil {
		t.Fatal(err)
	}
	orgSvc, err := orgs.New(orgs.Config{Store: st})
	if err != nil {
		t.Fatal(err)
	}
	server, err := httpapi.New(httpapi.Params{Gatherer: prometheus.NewRegistry(), APIToken: connectToken, ConnectLinks: links,
		Connect: httpapi.NewConnect(httpapi.ConnectParams{Flow: flow, Logger: zerolog.Nop()}), Orgs: orgSvc})
	if err != nil {
		t.Fatal(err)
	}
	handler = server

	org, err := st.CreateOrg(ctx, directory.Org{Name: "Acme"})
	if err != nil {
		t.Fatal(err)
	}
	// The rep's email is the sandbox's default Google, Microsoft and Zoom account.
	repEmail := "ada@example.com"
	u, err := st.CreateUser(ctx, directory.User{Email: repEmail, Name: "Ada"})
	if err != nil {
		t.Fatal(err)
	}
	rep, err := st.CreateMembership(ctx, org.ID, directory.Membership{UserID: u.ID, Role: directory.RoleChat,
		Status: directory.MembershipActive, SalesforceUserID: active[0].ID})
	if err != nil {
		t.Fatal(err)
	}
	return &connectBundle{st: st, sb: sb, sbURL: b, keys: keys, tether: srv.URL, inspector: inspector, org: org, rep: rep,
		repEmail: repEmail, sfOrg: sfOrg, sfRep: active[0], sfOther: active[1], sfAdmin: active[2], secret: secret}
}

// link asks tether's HTTP API for a connect link: the team link when kind is
// salesforce_team, else the rep's link of kind.
func (b *connectBundle) link(t testing.TB, kind connections.Kind) string {
	t.Helper()
	path, body := "/v1/orgs/"+b.org.ID+"/connect-links", ""
	if kind != connections.KindSalesforceTeam {
		path = "/v1/orgs/" + b.org.ID + "/members/" + b.rep.ID + "/connect-links"
		body = `{"kind":"` + string(kind) + `"}`
	}
	status, out := b.api(t, path, body)
	if status != http.StatusCreated {
		t.Fatalf("POST %s: %d %s", path, status, out)
	}
	var l httpapi.ConnectLinkJSON
	if err := json.Unmarshal([]byte(out), &l); err != nil || l.URL == "" || l.Kind != string(kind) {
		t.Fatalf("link answer %s: %v", out, err)
	}
	return l.URL
}

func (b *connectBundle) api(t testing.TB, path, body string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, b.tether+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+connectToken)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, readAll(t, resp)
}

// consent is what a person does on the sandbox's consent page.
type consent struct {
	login    string
	decision string   // allow (default) or deny
	untick   []string // Google scopes to leave unticked
}

// connectVia opens linkURL in c, presses the button, and on the provider's consent page
// does what cs says. It returns the final status and page, and the authorize URL seen.
func (b *connectBundle) connectVia(t testing.TB, c *http.Client, linkURL string, cs consent) (int, string, *url.URL) {
	t.Helper()
	return sandboxtest.Follow(t, c, b.sbURL, linkURL, sandboxtest.Consent{Login: cs.login, Decision: cs.decision, Untick: cs.untick})
}

// conn returns the rep's (or the org's) connection of kind, or fails.
func (b *connectBundle) conn(t testing.TB, kind connections.Kind) connections.Connection {
	t.Helper()
	owner := b.rep.ID
	if kind.OrgLevel() {
		owner = ""
	}
	c, err := b.st.FindConnection(t.Context(), b.org.ID, owner, kind)
	if err != nil {
		t.Fatalf("%s connection: %v", kind, err)
	}
	return c
}

// noConnections fails if the org has any connection with tokens.
func (b *connectBundle) noConnections(t testing.TB) {
	t.Helper()
	cs, err := b.st.ListConnections(t.Context(), b.org.ID, "")
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range cs {
		if len(c.AccessTokenEnc) > 0 || len(c.RefreshTokenEnc) > 0 || c.State == connections.StateHealthy {
			t.Fatalf("connection %s (%s) was stored: state %s", c.ID, c.Kind, c.State)
		}
	}
}

// liveGrants counts the sandbox's live grants of provider, through its admin API.
func (b *connectBundle) liveGrants(t testing.TB, provider sandbox.Provider) int {
	t.Helper()
	resp, err := http.Get(b.sbURL + "/admin/grants")
	if err != nil {
		t.Fatal(err)
	}
	var gs []sandbox.GrantInfo
	if err := json.Unmarshal([]byte(readAll(t, resp)), &gs); err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, g := range gs {
		if g.Provider == provider && g.Live {
			n++
		}
	}
	return n
}

// fault injects f through the sandbox's admin API.
func (b *connectBundle) fault(t testing.TB, f sandbox.Fault) {
	t.Helper()
	body, _ := json.Marshal(f)
	resp, err := http.Post(b.sbURL+"/admin/faults", "application/json", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if out := readAll(t, resp); resp.StatusCode != http.StatusOK {
		t.Fatalf("add fault: %d %s", resp.StatusCode, out)
	}
}

// healthy checks what a successful connect must leave: state healthy, tokens sealed with
// the row id (and not openable with another id), the account recorded, next refresh set.
func (b *connectBundle) healthy(t testing.TB, c connections.Connection, account string) {
	t.Helper()
	if c.State != connections.StateHealthy {
		t.Fatalf("%s connection state %s", c.Kind, c.State)
	}
	storetest.AssertTokensSealed(t, b.keys, c, b.org.ID)
	if c.ProviderAccountID != account {
		t.Fatalf("%s account %q, want %q", c.Kind, c.ProviderAccountID, account)
	}
	if c.NextRefreshAt.IsZero() || !c.NextRefreshAt.After(time.Now()) {
		t.Fatalf("%s next refresh %v", c.Kind, c.NextRefreshAt)
	}
	if !c.ExpiresAt.IsZero() && !c.NextRefreshAt.Before(c.ExpiresAt) {
		t.Fatalf("%s next refresh %v is not before expiry %v", c.Kind, c.NextRefreshAt, c.ExpiresAt)
	}
}

func TestConnectEveryKindOverHTTP(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, st *store.Store) {
		b := setupConnect(t, st, 7)
		ms := sandbox.DefaultUsers()[1]
		for _, tc := range []struct {
			kind    connections.Kind
			login   string
			account string
		}{
			{connections.KindSalesforceTeam, b.sfAdmin.Username, b.sfAdmin.ID},
			{connections.KindSalesforce, b.sfRep.Username, b.sfRep.ID},
			{connections.KindGoogleCalendar, b.repEmail, sandbox.DefaultUsers()[0].ID},
			{connections.KindMicrosoftCalendar, b.repEmail, ms.ID},
			{connections.KindZoom, b.repEmail, sandbox.DefaultUsers()[2].ID},
		} {
			link := b.link(t, tc.kind)
			c := browser(t)
			// A GET (a mail scanner) spends nothing: the page shows twice.
			for range 2 {
				resp, err := c.Get(link)
				if err != nil {
					t.Fatal(err)
				}
				if page := readAll(t, resp); resp.StatusCode != http.StatusOK || !strings.Contains(page, "<form method=\"post\"") {
					t.Fatalf("%s: GET link: %d %s", tc.kind, resp.StatusCode, page)
				}
			}
			status, page, authz := b.connectVia(t, c, link, consent{login: tc.login})
			if status != http.StatusOK || !strings.Contains(page, "connected") {
				t.Fatalf("%s: %d %s", tc.kind, status, page)
			}
			q := authz.Query()
			if q.Get("code_challenge_method") != "S256" || len(q.Get("code_challenge")) != 43 || q.Get("state") == "" ||
				q.Get("redirect_uri") != b.tether+"/oauth/callback/"+connect.ProviderOf(tc.kind) {
				t.Fatalf("%s: authorize request %s", tc.kind, authz)
			}
			conn := b.conn(t, tc.kind)
			b.healthy(t, conn, tc.account)
			if tc.kind.OrgLevel() {
				if conn.ProviderOrgID == "" || !directory.SameSalesforceID(conn.ProviderOrgID, b.sfAdmin.OrgID) {
					t.Fatalf("team connection org %q, want %q", conn.ProviderOrgID, b.sfAdmin.OrgID)
				}
				tasks, err := b.inspector.ListPendingTasks(jobs.QueueDefault)
				if err != nil || len(tasks) != 1 || tasks[0].Type != jobs.TypeAuditPermissions {
					t.Fatalf("audit queued on team connect: %v, %v", tasks, err)
				}
				// The page names the command that shows the report, with its org.
				if !strings.Contains(page, "tether permissions show --org "+b.org.ID) {
					t.Fatalf("team connect page does not name permissions show --org: %s", page)
				}
			}
			// Single use: the link now shows the used page and changes nothing.
			if status, page, _ := b.connectVia(t, browser(t), link, consent{login: tc.login}); status != http.StatusGone ||
				!strings.Contains(page, "already used") {
				t.Fatalf("%s: second use: %d %s", tc.kind, status, page)
			}
		}
		// One Microsoft consent serves Teams too: while that grant works, a Teams (or a
		// second calendar) link is refused, naming the connection that serves it.
		before := b.conn(t, connections.KindMicrosoftCalendar)
		for _, k := range []connections.Kind{connections.KindTeams, connections.KindMicrosoftCalendar} {
			status, out := b.api(t, "/v1/orgs/"+b.org.ID+"/members/"+b.rep.ID+"/connect-links", `{"kind":"`+string(k)+`"}`)
			if status != http.StatusConflict || !strings.Contains(out, `"already_connected"`) || !strings.Contains(out, before.ID) {
				t.Fatalf("%s link while the Microsoft grant works: %d %s", k, status, out)
			}
		}
		// Once that grant needs reconnecting, a Teams link fills the same row.
		before.State = connections.StateNeedsReconnect
		before, err := st.UpdateConnection(t.Context(), b.org.ID, before, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		status, page, _ := b.connectVia(t, browser(t), b.link(t, connections.KindTeams), consent{login: b.repEmail})
		if status != http.StatusOK || !strings.Contains(page, "Outlook calendar and Microsoft Teams") {
			t.Fatalf("teams: %d %s", status, page)
		}
		after := b.conn(t, connections.KindMicrosoftCalendar)
		if after.ID != before.ID || after.Version <= before.Version || !connections.Serves(after, connections.KindTeams) {
			t.Fatalf("teams connect did not reuse the Microsoft row: before %s v%d, after %s v%d", before.ID, before.Version, after.ID, after.Version)
		}
		if _, err := st.FindConnection(t.Context(), b.org.ID, b.rep.ID, connections.KindTeams); err == nil {
			t.Fatal("a second Microsoft row exists: two rows would share one refresh token")
		}
	})
}

// Every way a connect can go wrong shows its own page and changes nothing.
func TestConnectFailuresChangeNothing(t *testing.T) {
	t.Parallel()
	b := setupConnect(t, storetest.SQLite(t), 8)
	ctx := t.Context()

	t.Run("tampered link", func(t *testing.T) {
		link := b.link(t, connections.KindGoogleCalendar)
		i := strings.LastIndex(link, "/") + 5
		flip := "A"
		if link[i] == 'A' {
			flip = "B"
		}
		status, page, _ := b.connectVia(t, browser(t), link[:i]+flip+link[i+1:], consent{login: b.repEmail})
		if status != http.StatusNotFound || !strings.Contains(page, "This link is not valid") {
			t.Fatalf("%d %s", status, page)
		}
		// A link for another org, signed with another secret, is refused the same way.
		other, err := connect.NewLinks(connect.LinksParams{Store: b.st, Secret: []byte("another-secret-0123456789abcdefghijklmno"), BaseURL: b.tether})
		if err != nil {
			t.Fatal(err)
		}
		l, err := other.Issue(ctx, connect.IssueRequest{OrgID: b.org.ID, MembershipID: b.rep.ID, Kind: connections.KindGoogleCalendar})
		if err != nil {
			t.Fatal(err)
		}
		if status, _, _ := b.connectVia(t, browser(t), l.URL, consent{login: b.repEmail}); status != http.StatusNotFound {
			t.Fatalf("foreign-signed link: %d", status)
		}
		b.noConnections(t)
	})

	t.Run("expired link", func(t *testing.T) {
		past, err := connect.NewLinks(connect.LinksParams{Store: b.st, Secret: b.secret, BaseURL: b.tether,
			Now: func() time.Time { return time.Now().Add(-8 * 24 * time.Hour) }})
		if err != nil {
			t.Fatal(err)
		}
		l, err := past.Issue(ctx, connect.IssueRequest{OrgID: b.org.ID, MembershipID: b.rep.ID, Kind: connections.KindZoom})
		if err != nil {
			t.Fatal(err)
		}
		status, page, _ := b.connectVia(t, browser(t), l.URL, consent{login: b.repEmail})
		if status != http.StatusGone || !strings.Contains(page, "expired") {
			t.Fatalf("%d %s", status, page)
		}
		// Pressing the button of a stale page is refused too.
		resp, err := browser(t).PostForm(l.URL, nil)
		if err != nil {
			t.Fatal(err)
		}
		if page := readAll(t, resp); resp.StatusCode != http.StatusGone {
			t.Fatalf("POST expired link: %d %s", resp.StatusCode, page)
		}
		b.noConnections(t)
	})

	t.Run("consent denied", func(t *testing.T) {
		link := b.link(t, connections.KindMicrosoftCalendar)
		status, page, _ := b.connectVia(t, browser(t), link, consent{login: b.repEmail, decision: "deny"})
		if status != http.StatusForbidden || !strings.Contains(page, "Access was not allowed") {
			t.Fatalf("%d %s", status, page)
		}
		if strings.Contains(page, "AADSTS") || strings.Contains(page, "declined") {
			t.Fatalf("the provider's error_description is shown: %s", page)
		}
		b.noConnections(t)
		// Nothing was spent: the same link still works.
		if status, _, _ := b.connectVia(t, browser(t), link, consent{login: b.repEmail}); status != http.StatusOK {
			t.Fatalf("link after a denial: %d", status)
		}
		clearConnections(t, b)
	})

	t.Run("state mismatch and missing cookie", func(t *testing.T) {
		link := b.link(t, connections.KindGoogleCalendar)
		// A callback with a state tether never made.
		resp, err := browser(t).Get(b.tether + "/oauth/callback/google?state=forged&code=4/0Aforged")
		if err != nil {
			t.Fatal(err)
		}
		if page := readAll(t, resp); resp.StatusCode != http.StatusBadRequest || !strings.Contains(page, "could not be matched") {
			t.Fatalf("forged state: %d %s", resp.StatusCode, page)
		}
		// A real flow whose callback arrives in another browser (no cookie): an attacker
		// finishing their flow in the victim's session, or a victim's callback replayed.
		a, cb := browser(t), ""
		a.CheckRedirect = func(req *http.Request, via []*http.Request) error {
			if strings.HasPrefix(req.URL.String(), b.tether+"/oauth/callback/") {
				cb = req.URL.String()
				return http.ErrUseLastResponse
			}
			return nil
		}
		_, _, _ = b.connectVia(t, a, link, consent{login: b.repEmail})
		if cb == "" {
			t.Fatal("the provider did not redirect to the callback")
		}
		resp, err = browser(t).Get(cb)
		if err != nil {
			t.Fatal(err)
		}
		if page := readAll(t, resp); resp.StatusCode != http.StatusBadRequest || !strings.Contains(page, "could not be matched") {
			t.Fatalf("callback without cookie: %d %s", resp.StatusCode, page)
		}
		// The same callback on the wrong provider's path, with the right cookie: refused.
		wrong := strings.Replace(cb, "/oauth/callback/google", "/oauth/callback/zoom", 1)
		req, _ := http.NewRequest(http.MethodGet, wrong, nil)
		for _, c := range a.Jar.Cookies(mustURL(t, b.tether+"/oauth/callback/google")) {
			req.AddCookie(c)
		}
		resp, err = http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		if page := readAll(t, resp); resp.StatusCode != http.StatusBadRequest {
			t.Fatalf("callback on another provider's path: %d %s", resp.StatusCode, page)
		}
		b.noConnections(t)
	})

	t.Run("different salesforce account", func(t *testing.T) {
		before := b.liveGrants(t, sandbox.Salesforce)
		link := b.link(t, connections.KindSalesforce)
		status, page, _ := b.connectVia(t, browser(t), link, consent{login: b.sfOther.Username})
		if status != http.StatusForbidden || !strings.Contains(page, "Wrong Salesforce account") {
			t.Fatalf("%d %s", status, page)
		}
		if got := b.liveGrants(t, sandbox.Salesforce); got != before {
			t.Fatalf("live Salesforce grants %d -> %d: the refused grant was not revoked", before, got)
		}
		b.noConnections(t)
	})

	t.Run("team connect from another salesforce org", func(t *testing.T) {
		if status, _, _ := b.connectVia(t, browser(t), b.link(t, connections.KindSalesforceTeam), consent{login: b.sfAdmin.Username}); status != http.StatusOK {
			t.Fatalf("first team connect: %d", status)
		}
		first := b.conn(t, connections.KindSalesforceTeam)
		otherOrg, err := b.sb.Salesforce().AddOrg(sfdc.GenerateOrg(99, 5))
		if err != nil {
			t.Fatal(err)
		}
		stranger := b.sb.Salesforce().ActiveStandardUsers(otherOrg)[0]
		before := b.liveGrants(t, sandbox.Salesforce)
		status, page, _ := b.connectVia(t, browser(t), b.link(t, connections.KindSalesforceTeam), consent{login: stranger.Username})
		if status != http.StatusForbidden || !strings.Contains(page, "A different Salesforce org") {
			t.Fatalf("%d %s", status, page)
		}
		if got := b.liveGrants(t, sandbox.Salesforce); got != before {
			t.Fatalf("live Salesforce grants %d -> %d: the refused grant was not revoked", before, got)
		}
		if after := b.conn(t, connections.KindSalesforceTeam); after.Version != first.Version {
			t.Fatalf("team connection changed: v%d -> v%d", first.Version, after.Version)
		}
		clearConnections(t, b)
	})

	t.Run("too few scopes", func(t *testing.T) {
		before := b.liveGrants(t, sandbox.Google)
		link := b.link(t, connections.KindGoogleCalendar)
		status, page, _ := b.connectVia(t, browser(t), link, consent{login: b.repEmail,
			untick: []string{"https://www.googleapis.com/auth/calendar"}})
		if status != http.StatusForbidden || !strings.Contains(page, "Not allowed: https://www.googleapis.com/auth/calendar") {
			t.Fatalf("%d %s", status, page)
		}
		if got := b.liveGrants(t, sandbox.Google); got != before {
			t.Fatalf("live Google grants %d -> %d: the partial grant was not revoked", before, got)
		}
		b.noConnections(t)
	})

	t.Run("provider down", func(t *testing.T) {
		b.fault(t, sandbox.Fault{Provider: sandbox.Zoom, Endpoint: "token", Kind: sandbox.FaultStatus, Status: 503, Count: 1})
		link := b.link(t, connections.KindZoom)
		status, page, _ := b.connectVia(t, browser(t), link, consent{login: b.repEmail})
		if status != http.StatusServiceUnavailable || !strings.Contains(page, "Zoom could not be reached") || !strings.Contains(page, "Try again") {
			t.Fatalf("%d %s", status, page)
		}
		b.noConnections(t)
		// Once Zoom is back, the same link works.
		if status, page, _ := b.connectVia(t, browser(t), link, consent{login: b.repEmail}); status != http.StatusOK {
			t.Fatalf("after the outage: %d %s", status, page)
		}
	})
}

// A reconnect replaces the tokens in one write on the same row, and only then revokes the
// old grant at the provider.
func TestConnectReconnectReplacesThenRevokes(t *testing.T) {
	t.Parallel()
	b := setupConnect(t, storetest.SQLite(t), 9)
	if status, _, _ := b.connectVia(t, browser(t), b.link(t, connections.KindGoogleCalendar), consent{login: b.repEmail}); status != http.StatusOK {
		t.Fatal("first connect failed")
	}
	first := b.conn(t, connections.KindGoogleCalendar)
	oldRT, err := b.keys.OpenToken(first.RefreshTokenEnc, first.ID)
	if err != nil {
		t.Fatal(err)
	}
	oldGrant, ok := b.sb.GrantOf(oldRT.Reveal())
	if !ok {
		t.Fatal("sandbox does not know the stored refresh token")
	}
	status, page, _ := b.connectVia(t, browser(t), b.link(t, connections.KindGoogleCalendar), consent{login: b.repEmail})
	if status != http.StatusOK {
		t.Fatalf("reconnect: %d %s", status, page)
	}
	second := b.conn(t, connections.KindGoogleCalendar)
	newRT, err := b.keys.OpenToken(second.RefreshTokenEnc, second.ID)
	if err != nil {
		t.Fatal(err)
	}
	if second.ID != first.ID || second.Version != first.Version+1 || newRT.Equal(oldRT) {
		t.Fatalf("reconnect: row %s v%d -> %s v%d, refresh token changed %t", first.ID, first.Version, second.ID, second.Version, !newRT.Equal(oldRT))
	}
	if g, _ := b.sb.LookupGrant(oldGrant); g.Live {
		t.Fatalf("old grant %s still live after the reconnect", oldGrant)
	}
	newGrant, _ := b.sb.GrantOf(newRT.Reveal())
	if g, _ := b.sb.LookupGrant(newGrant); !g.Live {
		t.Fatal("the new grant is not live")
	}
}

// The link routes answer in the API's JSON error shape.
func TestConnectLinkAPIErrors(t *testing.T) {
	t.Parallel()
	b := setupConnect(t, storetest.SQLite(t), 10)
	for _, tc := range []struct {
		path, body string
		status     int
		code       string
	}{
		{"/v1/orgs/nope/connect-links", "", http.StatusNotFound, "org_not_found"},
		{"/v1/orgs/" + b.org.ID + "/members/nope/connect-links", `{"kind":"zoom"}`, http.StatusNotFound, "member_not_found"},
		{"/v1/orgs/" + b.org.ID + "/members/" + b.rep.ID + "/connect-links", `{"kind":"fax"}`, http.StatusUnprocessableEntity, "invalid_connect_link"},
		{"/v1/orgs/" + b.org.ID + "/members/" + b.rep.ID + "/connect-links", `{"kind":"salesforce_team"}`, http.StatusUnprocessableEntity, "invalid_connect_link"},
		{"/v1/orgs/" + b.org.ID + "/members/" + b.rep.ID + "/connect-links", `{"kind":`, http.StatusBadRequest, "invalid_json"},
		{"/v1/orgs/" + b.org.ID + "/members/" + b.rep.ID + "/connect-links", `{"kind":"zoom\u0000"}`, http.StatusBadRequest, "invalid_text"},
		{"/v1/orgs/" + b.org.ID + "/members/" + b.rep.ID + "/connect-links", `{"kind":"` + strings.Repeat("k", directory.MaxKind+1) + `"}`, http.StatusBadRequest, "invalid_text"},
		// A lifetime is a duration with its unit, and never negative; an unknown field of
		// the team link is refused, not ignored.
		{"/v1/orgs/" + b.org.ID + "/connect-links", `{"ttl":"5"}`, http.StatusUnprocessableEntity, "invalid_connect_link"},
		{"/v1/orgs/" + b.org.ID + "/connect-links", `{"ttl":"-1h"}`, http.StatusUnprocessableEntity, "invalid_connect_link"},
		{"/v1/orgs/" + b.org.ID + "/connect-links", `{"ttl":"900h"}`, http.StatusUnprocessableEntity, "invalid_connect_link"},
		{"/v1/orgs/" + b.org.ID + "/members/" + b.rep.ID + "/connect-links", `{"kind":"zoom","ttl":"721h"}`, http.StatusUnprocessableEntity, "invalid_connect_link"},
		{"/v1/orgs/" + b.org.ID + "/connect-links", `{"kind":"zoom"}`, http.StatusBadRequest, "invalid_json"},
		{"/v1/orgs/" + b.org.ID + "/members/" + b.rep.ID + "/connect-links", `{"kind":"zoom","ttl":"soon"}`, http.StatusUnprocessableEntity, "invalid_connect_link"},
	} {
		status, out := b.api(t, tc.path, tc.body)
		if status != tc.status || !strings.Contains(out, `"code":"`+tc.code+`"`) {
			t.Errorf("POST %s %s: %d %s, want %d %s", tc.path, tc.body, status, out, tc.status, tc.code)
		}
	}
	// An unknown member names the list, and says an invitee is no member until they join.
	if _, out := b.api(t, "/v1/orgs/"+b.org.ID+"/members/invited@acme.example/connect-links", `{"kind":"zoom"}`); !strings.Contains(out, "tether members list "+b.org.ID) ||
		!strings.Contains(out, "has not joined yet") {
		t.Errorf("unknown member: %s", out)
	}
	// The member may be named by email.
	status, out := b.api(t, "/v1/orgs/"+b.org.ID+"/members/"+b.repEmail+"/connect-links", `{"kind":"zoom"}`)
	if status != http.StatusCreated || !strings.Contains(out, `"membership_id":"`+b.rep.ID+`"`) {
		t.Fatalf("by email: %d %s", status, out)
	}
	// ttl sets the link's lifetime on both routes, as --ttl does; without it, the defaults.
	for _, tc := range []struct {
		path, body string
		want       time.Duration
	}{
		{"/v1/orgs/" + b.org.ID + "/connect-links", `{"ttl":"2h"}`, 2 * time.Hour},
		{"/v1/orgs/" + b.org.ID + "/connect-links", "", connect.DefaultTeamTTL},
		{"/v1/orgs/" + b.org.ID + "/members/" + b.rep.ID + "/connect-links", `{"kind":"zoom","ttl":"72h"}`, 72 * time.Hour},
		{"/v1/orgs/" + b.org.ID + "/members/" + b.rep.ID + "/connect-links", `{"kind":"zoom"}`, connect.DefaultPersonalTTL},
	} {
		before := time.Now()
		status, out := b.api(t, tc.path, tc.body)
		var l httpapi.ConnectLinkJSON
		if err := json.Unmarshal([]byte(out), &l); status != http.StatusCreated || err != nil {
			t.Fatalf("POST %s %s: %d %s", tc.path, tc.body, status, out)
		}
		if got := l.ExpiresAt.Sub(before); got < tc.want-time.Minute || got > tc.want+time.Minute {
			t.Errorf("POST %s %s: the link lives %s, want %s", tc.path, tc.body, got, tc.want)
		}
	}
}

func mustURL(t *testing.T, s string) *url.URL {
	t.Helper()
	u, err := url.Parse(s)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

// clearConnections deletes nothing but wipes tokens by marking rows revoked, so later
// subtests' "nothing stored" checks start clean.
func clearConnections(t *testing.T, b *connectBundle) {
	t.Helper()
	cs, err := b.st.ListConnections(t.Context(), b.org.ID, "")
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range cs {
		c.AccessTokenEnc, c.RefreshTokenEnc, c.State = nil, nil, connections.StateRevoked
		if _, err := b.st.UpdateConnection(t.Context(), b.org.ID, c, time.Now()); err != nil {
			t.Fatal(err)
		}
	}
}

// getJSON GETs path from tether's API into out.
func (b *connectBundle) getJSON(t testing.TB, path string, out any) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, b.tether+path, nil)
	req.Header.Set("Authorization", "Bearer "+connectToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body := readAll(t, resp)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %d %s", path, resp.StatusCode, body)
	}
	if err := json.Unmarshal([]byte(body), out); err != nil {
		t.Fatalf("GET %s: %v: %s", path, err, body)
	}
}

// A Salesforce connect learns the org's session timeout (set to 30 minutes over the
// sandbox's admin API) by introspecting the fresh token, stores it on the org (GET
// /v1/orgs/{org} says learned, and when), and schedules the first refresh by it: 30 min
// minus the refresh window (10 min) and up to 2 min of jitter, not by the 2 h default.
func TestConnectLearnsSalesforceSessionTimeout(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, st *store.Store) {
		b := setupConnect(t, st, 11)
		var org httpapi.OrgOverviewJSON
		b.getJSON(t, "/v1/orgs/"+b.org.ID, &org)
		if s := org.SalesforceSession; s.Source != "default" || s.Timeout != "2h0m0s" || s.LearnedAt != nil {
			t.Fatalf("before any connect: %+v, want the 2h default", s)
		}
		resp, err := http.Post(b.sbURL+"/admin/salesforce/orgs/"+b.sfOrg+"/session", "application/json", strings.NewReader(`{"timeout":"30m"}`))
		if err != nil {
			t.Fatal(err)
		}
		if out := readAll(t, resp); resp.StatusCode != http.StatusOK {
			t.Fatalf("set the org's session timeout: %d %s", resp.StatusCode, out)
		}
		before := time.Now().UTC().Truncate(time.Second)
		status, page, _ := b.connectVia(t, browser(t), b.link(t, connections.KindSalesforce), consent{login: b.sfRep.Username})
		after := time.Now().UTC().Add(time.Second)
		if status != http.StatusOK {
			t.Fatalf("connect: %d %s", status, page)
		}
		c := b.conn(t, connections.KindSalesforce)
		b.healthy(t, c, b.sfRep.ID)
		lo, hi := before.Add(30*time.Minute-10*time.Minute-2*time.Minute), after.Add(30*time.Minute-10*time.Minute)
		if c.NextRefreshAt.Before(lo) || c.NextRefreshAt.After(hi) {
			t.Fatalf("next refresh %v, want within [%v, %v] (30m session - 10m window - jitter)", c.NextRefreshAt, lo, hi)
		}
		if n := b.sb.Counters().Endpoint(sandbox.Salesforce, "introspect").OK; n != 1 {
			t.Fatalf("introspections: %d, want 1", n)
		}
		b.getJSON(t, "/v1/orgs/"+b.org.ID, &org)
		s := org.SalesforceSession
		if s.Source != "learned" || s.Timeout != "30m0s" || s.TimeoutSeconds != 1800 || s.LearnedAt == nil ||
			s.LearnedAt.Before(before) || s.LearnedAt.After(after) {
			t.Fatalf("after the connect: %+v, want 30m learned now", s)
		}
	})
}
