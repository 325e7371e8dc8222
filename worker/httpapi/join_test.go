package httpapi_test

import (
	"context"
	"crypto/rand"
	"html"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"errors"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"

	"tether/connectors/oauth"
	"tether/connectors/sandbox"
	"tether/connectors/sandbox/sandboxtest"
	"tether/connectors/sandbox/sfdc"
	"tether/sync/connect"
	"tether/sync/connections"
	"tether/sync/directory"
	"tether/sync/onboarding"
	"tether/sync/store"
	"tether/sync/store/storetest"
	"tether/sync/vault"
	"tether/worker/httpapi"
	"tether/worker/redisconnect"
	"tether/worker/redistest"
)

// joinBundle is tether's Join handler on a real HTTP server, the sandbox's Salesforce on
// another, a store and two active Salesforce users of one org.
type joinBundle struct {
	st       *store.Store
	sb       *sandbox.Sandbox
	keys     *vault.Keyring
	tether   string // base URL
	org      directory.Org
	sfA, sfB sfdc.User
	admins   *arrivals
	links    *connect.Links
}

// arrivals records the Joiner's AdminArrived calls.
type arrivals struct {
	mu    sync.Mutex
	calls []string
}

func (a *arrivals) AdminArrived(_ context.Context, orgID, membershipID string) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.calls = append(a.calls, orgID+"/"+membershipID)
	return nil
}

func setupJoin(t *testing.T, st *store.Store) *joinBundle {
	t.Helper()
	sb, sbURL := sandboxtest.Serve(t, sandbox.Options{}) // consent page shown: the test signs in like a person
	sfOrg, err := sb.Salesforce().AddOrg(sfdc.GenerateOrg(11, 20))
	if err != nil {
		t.Fatal(err)
	}
	active := sb.Salesforce().ActiveStandardUsers(sfOrg)
	if len(active) < 2 {
		t.Fatalf("generated org has %d active standard users", len(active))
	}
	keys, _, err := vault.GenerateKeyring("k1")
	if err != nil {
		t.Fatal(err)
	}
	_, rdb := redistest.Client(t, 11)
	// tether serve's own handler, with the Join routes registered as serve does: a
	// Salesforce-sourced invite joins through the one connect flow.
	var handler http.Handler
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { handler.ServeHTTP(w, r) }))
	t.Cleanup(srv.Close)
	admins := &arrivals{}
	joiner, err := onboarding.NewJoiner(onboarding.JoinerConfig{Store: st, ConnectSalesforce: true, Admins: admins})
	if err != nil {
		t.Fatal(err)
	}
	links, err := connect.NewLinks(connect.LinksParams{Store: st, Secret: []byte("join-test-secret-0123456789abcdefghijkl"), BaseURL: srv.URL})
	if err != nil {
		t.Fatal(err)
	}
	oc, err := oauth.New(oauth.Config{})
	if err != nil {
		t.Fatal(err)
	}
	flow, err := connect.NewFlow(connect.FlowParams{Links: links, Store: st, Sessions: redisconnect.New(rdb, "tether:connect:"),
		Providers: &oauth.Connector{Client: oc, Salesforce: oauth.App{ClientID: sandbox.DefaultSalesforceClientID,
			ClientSecret: sandbox.DefaultSalesforceClientSecret}},
		Vault: keys, Invites: joiner, SalesforceLoginURL: func(directory.Org) string { return sbURL + "/salesforce" }})
	if err != nil {
		t.Fatal(err)
	}
	server, err := httpapi.New(httpapi.Params{Gatherer: prometheus.NewRegistry(),
		Join:    httpapi.NewJoin(httpapi.JoinParams{Joiner: joiner, Connect: flow, Logger: zerolog.Nop()}),
		Connect: httpapi.NewConnect(httpapi.ConnectParams{Flow: flow, Logger: zerolog.Nop()})})
	if err != nil {
		t.Fatal(err)
	}
	handler = server
	org, err := st.CreateOrg(t.Context(), directory.Org{Name: "Acme"})
	if err != nil {
		t.Fatal(err)
	}
	return &joinBundle{st: st, sb: sb, keys: keys, tether: srv.URL, org: org, sfA: active[0], sfB: active[1], admins: admins, links: links}
}

// invite creates a pending invite and returns its Join token.
func (b *joinBundle) invite(t *testing.T, email string, src directory.InviteSource, sfUserID string, expires time.Time) (directory.Invite, string) {
	t.Helper()
	tok, err := onboarding.NewToken(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	inv, err := b.st.CreateInvite(t.Context(), b.org.ID, directory.Invite{Email: email, Role: directory.RoleChat,
		Source: src, SalesforceUserID: sfUserID, TokenHash: tok.Hash, ExpiresAt: expires})
	if err != nil {
		t.Fatal(err)
	}
	return inv, tok.Plain
}

func browser(t testing.TB) *http.Client {
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	return &http.Client{Jar: jar, Timeout: 10 * time.Second}
}

var hiddenInput = regexp.MustCompile(`<input type="hidden" name="([^"]*)" value="([^"]*)">`)

// join opens the Join link in c, presses the page's button (a same-origin POST, as a
// browser sends it) and, on the sandbox's consent page, signs in as login and allows. It
// returns the final status and page.
func (b *joinBundle) join(t *testing.T, c *http.Client, token, login string) (int, string) {
	t.Helper()
	resp, err := c.Get(b.tether + "/join/" + token)
	if err != nil {
		t.Fatal(err)
	}
	body := readAll(t, resp)
	if resp.StatusCode != http.StatusOK || !strings.Contains(body, `<form method="post">`) {
		return resp.StatusCode, body
	}
	req, err := http.NewRequest(http.MethodPost, b.tether+"/join/"+token, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Origin", b.tether)
	req.Header.Set("Sec-Fetch-Site", "same-origin")
	if resp, err = c.Do(req); err != nil {
		t.Fatal(err)
	}
	body = readAll(t, resp)
	if !strings.Contains(resp.Request.URL.Path, "/salesforce/services/oauth2/authorize") {
		return resp.StatusCode, body
	}
	if resp.Request.URL.Query().Get("code_challenge_method") != "S256" || resp.Request.URL.Query().Get("code_challenge") == "" {
		t.Fatalf("authorize request without PKCE S256: %s", resp.Request.URL)
	}
	form := url.Values{"login": {login}, "decision": {"allow"}}
	for _, m := range hiddenInput.FindAllStringSubmatch(body, -1) {
		form.Add(html.UnescapeString(m[1]), html.UnescapeString(m[2]))
	}
	resp, err = c.PostForm(resp.Request.URL.String(), form)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, readAll(t, resp)
}

func readAll(t testing.TB, resp *http.Response) string {
	t.Helper()
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestJoinSalesforceInvite(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, st *store.Store) {
		t.Parallel()
		b := setupJoin(t, st)
		ctx := t.Context()
		inv, token := b.invite(t, "ann@acme.example", directory.SourceSalesforce, b.sfA.ID[:15], time.Now().Add(time.Hour))

		status, page := b.join(t, browser(t), token, b.sfA.Username)
		// The page says the person joined, not only that Salesforce is connected.
		if status != http.StatusOK || !strings.Contains(page, "Salesforce connected") || !strings.Contains(page, "You have joined Acme.") {
			t.Fatalf("join: %d %s", status, page)
		}
		got, err := st.GetInvite(ctx, b.org.ID, inv.ID)
		if err != nil || got.Status != directory.InviteAccepted {
			t.Fatalf("invite after join: %+v, %v", got, err)
		}
		u, err := st.GetUserByEmail(ctx, "ann@acme.example")
		if err != nil {
			t.Fatalf("user not created: %v", err)
		}
		m, err := st.GetMembershipByUser(ctx, b.org.ID, u.ID)
		if err != nil || m.Status != directory.MembershipActive || m.Role != directory.RoleChat {
			t.Fatalf("membership %+v, %v", m, err)
		}
		c, err := st.FindConnection(ctx, b.org.ID, m.ID, connections.KindSalesforce)
		if err != nil || c.State != connections.StateHealthy || !onboarding.SameSalesforceID(c.ProviderAccountID, b.sfA.ID) {
			t.Fatalf("connection %+v, %v", c, err)
		}
		// Both tokens sealed with the row id: they open with it and not with another id.
		storetest.AssertTokensSealed(t, b.keys, c, m.ID, u.ID)

		// The link is used now, and a callback replayed in another browser is refused.
		if status, _ := b.join(t, browser(t), token, b.sfA.Username); status != http.StatusGone {
			t.Fatalf("second use of the link: %d, want 410", status)
		}

		// Deactivated since (the connection revoked): the old link does not start the
		// Salesforce connect again; the way back is a new invitation.
		if _, err := st.DeactivateMembership(ctx, b.org.ID, m.ID, time.Now()); err != nil {
			t.Fatal(err)
		}
		c.State = connections.StateRevoked
		if _, err := st.UpdateConnection(ctx, b.org.ID, c, time.Now()); err != nil {
			t.Fatal(err)
		}
		if status, _ := b.join(t, browser(t), token, b.sfA.Username); status != http.StatusGone {
			t.Fatalf("the old link of a deactivated member: %d, want 410", status)
		}
		if got, _ := st.GetMembership(ctx, b.org.ID, m.ID); got.Status != directory.MembershipDeactivated {
			t.Fatalf("the old link changed the deactivated membership: %+v", got)
		}
	})
}

// Salesforce's sign-in is pre-filled with the invited user's Username, not their Email
// (which is not a login: a rep pressing Allow on the pre-filled page would be refused),
// so the invited rep joins without typing it; an invite that predates the Username
// column falls back to the Email.
func TestJoinHintsTheSalesforceUsername(t *testing.T) {
	t.Parallel()
	b := setupJoin(t, storetest.SQLite(t))
	press := func(t *testing.T, url string) string {
		t.Helper()
		c := browser(t)
		req, err := http.NewRequest(http.MethodPost, url, nil)
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Origin", b.tether)
		req.Header.Set("Sec-Fetch-Site", "same-origin")
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		readAll(t, resp)
		if !strings.Contains(resp.Request.URL.Path, "/salesforce/services/oauth2/authorize") {
			t.Fatalf("the button led to %s, not Salesforce's authorize page", resp.Request.URL)
		}
		return resp.Request.URL.Query().Get("login_hint")
	}
	hint := func(t *testing.T, token string) string { return press(t, b.tether+"/join/"+token) }
	newInvite := func(email, username string) (directory.Invite, string) {
		tok, err := onboarding.NewToken(rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		inv, err := b.st.CreateInvite(t.Context(), b.org.ID, directory.Invite{Email: email, Role: directory.RoleChat,
			Source: directory.SourceSalesforce, SalesforceUserID: b.sfA.ID, SalesforceUsername: username,
			TokenHash: tok.Hash, ExpiresAt: time.Now().Add(time.Hour)})
		if err != nil {
			t.Fatal(err)
		}
		return inv, tok.Plain
	}
	if b.sfA.Username == "ann@acme.example" {
		t.Fatal("the sandbox user's Username equals the invited email: the test would prove nothing")
	}
	_, old := newInvite("old@acme.example", "")
	if got := hint(t, old); got != "old@acme.example" {
		t.Fatalf("login_hint of an invite without a Username: %q, want its email", got)
	}
	inv, token := newInvite("ann@acme.example", b.sfA.Username)
	if got := hint(t, token); got != b.sfA.Username {
		t.Fatalf("login_hint %q, want the Salesforce Username %q", got, b.sfA.Username)
	}
	// Allow on the pre-filled page, typing nothing: joined.
	if status, page := b.join(t, browser(t), token, ""); status != http.StatusOK || !strings.Contains(page, "Salesforce connected") {
		t.Fatalf("join with the pre-filled login: %d %s", status, page)
	}
	if got, err := b.st.GetInvite(t.Context(), b.org.ID, inv.ID); err != nil || got.Status != directory.InviteAccepted {
		t.Fatalf("invite after join: %+v, %v", got, err)
	}
	// The member's own Salesforce link later (a reconnect) pre-fills that Username too;
	// a calendar's keeps the email, the login Google and Microsoft expect.
	u, err := b.st.GetUserByEmail(t.Context(), "ann@acme.example")
	if err != nil {
		t.Fatal(err)
	}
	m, err := b.st.GetMembershipByUser(t.Context(), b.org.ID, u.ID)
	if err != nil {
		t.Fatal(err)
	}
	link, err := b.links.Issue(t.Context(), connect.IssueRequest{OrgID: b.org.ID, MembershipID: m.ID, Kind: connections.KindSalesforce})
	if err != nil {
		t.Fatal(err)
	}
	if got := press(t, link.URL); got != b.sfA.Username {
		t.Errorf("login_hint of the member's Salesforce link %q, want the Username %q", got, b.sfA.Username)
	}
}

func TestJoinRefusesOtherSalesforceAccount(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, st *store.Store) {
		t.Parallel()
		b := setupJoin(t, st)
		ctx := t.Context()
		inv, token := b.invite(t, "bob@acme.example", directory.SourceSalesforce, b.sfB.ID, time.Now().Add(time.Hour))
		revokes := b.sb.Counters().Endpoint(sandbox.Salesforce, "revoke").Calls

		// Bob's invite, but Ann's Salesforce account signs in.
		status, page := b.join(t, browser(t), token, b.sfA.Username)
		if status != http.StatusForbidden || !strings.Contains(page, "Wrong Salesforce account") {
			t.Fatalf("join as another account: %d %s", status, page)
		}
		// Nothing was accepted: the invite is pending, no user or membership exists, so
		// no membership is active and no token of the wrong account can hang off one.
		if got, err := st.GetInvite(ctx, b.org.ID, inv.ID); err != nil || got.Status != directory.InvitePending {
			t.Fatalf("invite after a wrong account: %+v, %v; want pending", got, err)
		}
		if u, err := st.GetUserByEmail(ctx, "bob@acme.example"); !errors.Is(err, directory.ErrNotFound) {
			t.Fatalf("user %+v exists after a wrong account (%v): the invite was accepted", u, err)
		}
		if n := b.sb.Counters().Endpoint(sandbox.Salesforce, "revoke").Calls; n != revokes+1 {
			t.Fatalf("revoke calls %d, want %d (the refused grant is given back)", n, revokes+1)
		}

		// Following the link again lets Bob connect the right account.
		status, page = b.join(t, browser(t), token, b.sfB.Username)
		if status != http.StatusOK || !strings.Contains(page, "Salesforce connected") {
			t.Fatalf("retry as the invited account: %d %s", status, page)
		}
		if got, err := st.GetInvite(ctx, b.org.ID, inv.ID); err != nil || got.Status != directory.InviteAccepted {
			t.Fatalf("invite after the right account: %+v, %v; want accepted", got, err)
		}
	})
}

func TestJoinRefusesBadLinks(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, st *store.Store) {
		t.Parallel()
		b := setupJoin(t, st)
		_, expired := b.invite(t, "old@acme.example", directory.SourceEmail, "", time.Now().Add(-time.Minute))
		inv, fine := b.invite(t, "new@acme.example", directory.SourceEmail, "", time.Now().Add(time.Hour))
		unknown, _ := onboarding.NewToken(rand.Reader)
		c := browser(t)
		for _, tt := range []struct {
			name, token string
			want        int
		}{
			{"expired", expired, http.StatusGone},
			{"unknown", unknown.Plain, http.StatusNotFound},
			{"malformed", "not-a-token", http.StatusNotFound},
			{"email invite", fine, http.StatusOK},
			{"used", fine, http.StatusGone},
		} {
			if status, page := b.join(t, c, tt.token, ""); status != tt.want {
				t.Errorf("%s link: %d, want %d: %s", tt.name, status, tt.want, page)
			} else if strings.Contains(page, "@acme.example") {
				t.Errorf("%s link: page names an email: %s", tt.name, page)
			}
		}
		if got, _ := st.GetInvite(t.Context(), b.org.ID, inv.ID); got.Status != directory.InviteAccepted {
			t.Fatalf("email invite is %s after join", got.Status)
		}
	})
}

// TestJoinGetAndHeadChangeNothing: mail scanners open every link; opening a Join link with
// GET or HEAD shows the page and accepts nothing, creates no user, starts no connect.
func TestJoinGetAndHeadChangeNothing(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, st *store.Store) {
		t.Parallel()
		b := setupJoin(t, st)
		ctx := t.Context()
		for _, src := range []directory.InviteSource{directory.SourceEmail, directory.SourceSalesforce} {
			email := "scan-" + string(src) + "@acme.example"
			inv, token := b.invite(t, email, src, b.sfA.ID, time.Now().Add(time.Hour))
			for _, method := range []string{http.MethodGet, http.MethodHead, http.MethodGet} {
				req, err := http.NewRequest(method, b.tether+"/join/"+token, nil)
				if err != nil {
					t.Fatal(err)
				}
				c := browser(t)
				c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
				resp, err := c.Do(req)
				if err != nil {
					t.Fatal(err)
				}
				body := readAll(t, resp)
				if resp.StatusCode != http.StatusOK || len(resp.Cookies()) != 0 {
					t.Fatalf("%s %s invite: %d, cookies %v", method, src, resp.StatusCode, resp.Cookies())
				}
				if method == http.MethodGet && !strings.Contains(body, `<form method="post">`) {
					t.Fatalf("GET %s invite: no button to press: %s", src, body)
				}
			}
			if got, err := st.GetInvite(ctx, b.org.ID, inv.ID); err != nil || got.Status != directory.InvitePending {
				t.Fatalf("%s invite after GET and HEAD: %+v, %v; want pending", src, got, err)
			}
			if u, err := st.GetUserByEmail(ctx, email); !errors.Is(err, directory.ErrNotFound) {
				t.Fatalf("%s invite: GET or HEAD created user %+v (%v)", src, u, err)
			}
		}
		evs, err := st.ListEvents(ctx, b.org.ID, 10)
		if err != nil || len(evs) != 0 {
			t.Fatalf("events after GET and HEAD: %+v, %v; want none", evs, err)
		}
	})
}

// TestJoinCallbackShowsOwnText: the callback's error_description is anyone's text; the
// page says tether's own sentence instead.
func TestJoinCallbackShowsOwnText(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, st *store.Store) {
		t.Parallel()
		b := setupJoin(t, st)
		q := url.Values{"error": {"access_denied"}, "error_description": {"Your account is locked, call +1 555 0100 now"}}
		resp, err := http.Get(b.tether + "/oauth/callback/salesforce?" + q.Encode())
		if err != nil {
			t.Fatal(err)
		}
		page := readAll(t, resp)
		if resp.StatusCode != http.StatusBadRequest || strings.Contains(page, "555 0100") || strings.Contains(page, "locked") {
			t.Fatalf("callback page: %d %s", resp.StatusCode, page)
		}
		if !strings.Contains(page, "could not be matched") {
			t.Fatalf("callback page lacks tether's text: %s", page)
		}
	})
}

// An admin's Join tells AdminArrivals (an arriving admin releases the alerts that
// waited for one); a chat member's does not.
func TestJoinTellsOfAnArrivingAdmin(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, st *store.Store) {
		t.Parallel()
		b := setupJoin(t, st)
		ctx := t.Context()
		_, chatToken := b.invite(t, "chat@acme.example", directory.SourceEmail, "", time.Now().Add(time.Hour))
		tok, err := onboarding.NewToken(rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := st.CreateInvite(ctx, b.org.ID, directory.Invite{Email: "boss@acme.example", Role: directory.RoleAdmin,
			Source: directory.SourceEmail, TokenHash: tok.Hash, ExpiresAt: time.Now().Add(time.Hour)}); err != nil {
			t.Fatal(err)
		}
		for _, token := range []string{chatToken, tok.Plain} {
			if status, page := b.join(t, browser(t), token, ""); status != http.StatusOK {
				t.Fatalf("join: %d %s", status, page)
			}
		}
		u, err := st.GetUserByEmail(ctx, "boss@acme.example")
		if err != nil {
			t.Fatal(err)
		}
		m, err := st.GetMembershipByUser(ctx, b.org.ID, u.ID)
		if err != nil {
			t.Fatal(err)
		}
		if want := []string{b.org.ID + "/" + m.ID}; !slices.Equal(b.admins.calls, want) {
			t.Errorf("AdminArrived calls %v, want %v", b.admins.calls, want)
		}
	})
}

var nextStepForm = regexp.MustCompile(`<form method="post" action="(/connect/[^"]+)"><button type="submit"[^>]*>Connect ([^<]+)</button>`)

// A finished Join goes on with what the rep's role still needs, each with a button that is
// that member's connect link: an email invite asks for Salesforce too, a Salesforce one
// (connected by its Join) only for the rest. The photo has no button.
func TestJoinShowsWhatIsStillToDo(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, st *store.Store) {
		t.Parallel()
		b := setupJoin(t, st)
		for _, tc := range []struct {
			email   string
			src     directory.InviteSource
			sfID    string
			login   string
			buttons []string
		}{
			{"bea@acme.example", directory.SourceEmail, "", "",
				[]string{"Salesforce", "Google Calendar", "Outlook calendar", "Zoom", "Microsoft Teams"}},
			{"ann@acme.example", directory.SourceSalesforce, b.sfA.ID, b.sfA.Username,
				[]string{"Google Calendar", "Outlook calendar", "Zoom", "Microsoft Teams"}},
		} {
			_, token := b.invite(t, tc.email, tc.src, tc.sfID, time.Now().Add(time.Hour))
			status, page := b.join(t, browser(t), token, tc.login)
			if status != http.StatusOK || !strings.Contains(page, "You have joined Acme.") || !strings.Contains(page, "Still to do for Acme") ||
				!strings.Contains(page, "Add a profile photo.") || !strings.Contains(page, "(recommended).") || strings.Contains(page, "You can close this page") {
				t.Fatalf("%s: join page %d:\n%s", tc.email, status, page)
			}
			forms := nextStepForm.FindAllStringSubmatch(page, -1)
			var got []string
			google := ""
			for _, f := range forms {
				got = append(got, f[2])
				if f[2] == "Google Calendar" {
					google = html.UnescapeString(f[1])
				}
			}
			if !slices.Equal(got, tc.buttons) {
				t.Fatalf("%s: buttons %q, want %q:\n%s", tc.email, got, tc.buttons, page)
			}
			// Each button is the member's own link: its page names them and what it connects.
			resp, err := browser(t).Get(b.tether + google)
			if err != nil {
				t.Fatal(err)
			}
			if body := readAll(t, resp); resp.StatusCode != http.StatusOK || !strings.Contains(body, tc.email) || !strings.Contains(body, "Continue to Google") {
				t.Fatalf("%s: the Google Calendar button's link: %d\n%s", tc.email, resp.StatusCode, body)
			}
		}
	})
}
