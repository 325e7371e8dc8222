package oauth_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"tether/connectors/oauth"
	"tether/connectors/sandbox"
	"tether/connectors/sandbox/sfdc"
	"tether/sync/connections"
	"tether/sync/vault"
)

// testBundle is one sandbox behind a real HTTP server and an oauth.Client
// registered against it for all four providers.
type testBundle struct {
	sb     *sandbox.Sandbox
	url    string
	client *oauth.Client
	now    time.Time
	sfUser string // a Salesforce user id that can be granted
}

type setupOpts struct {
	timeout   time.Duration
	apps      []sandbox.App
	providers func(base string) []oauth.Provider // replaces the defaults
}

func setup(t *testing.T, o setupOpts) *testBundle {
	t.Helper()
	now := time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)
	sb := sandbox.New(sandbox.Options{Clock: func() time.Time { return now }, Apps: o.apps})
	srv := httptest.NewServer(sb)
	t.Cleanup(func() { sb.Close(); srv.Close() })

	orgID, err := sb.Salesforce().AddOrg(sfdc.GenerateOrg(7, 3))
	if err != nil {
		t.Fatalf("seed org: %v", err)
	}
	users := sb.Salesforce().Users(orgID)
	if len(users) == 0 {
		t.Fatal("seeded org has no users")
	}
	providers := defaultProviders(srv.URL)
	if o.providers != nil {
		providers = o.providers(srv.URL)
	}
	c, err := oauth.New(oauth.Config{Providers: providers, Timeout: o.timeout, Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	return &testBundle{sb: sb, url: srv.URL, client: c, now: now, sfUser: users[0]}
}

func defaultProviders(base string) []oauth.Provider {
	sf := oauth.Salesforce(base + "/salesforce")
	sf.ClientID, sf.ClientSecret = sandbox.DefaultSalesforceClientID, sandbox.DefaultSalesforceClientSecret
	sf.RequiredScopes = []string{"api", "refresh_token"}
	g := oauth.Google(base + "/google")
	g.ClientID, g.ClientSecret = sandbox.DefaultGoogleClientID, sandbox.DefaultGoogleClientSecret
	ms := oauth.Microsoft(base + "/microsoft/organizations")
	ms.ClientID, ms.ClientSecret = sandbox.DefaultMicrosoftClientID, sandbox.DefaultMicrosoftClientSecret
	z := oauth.Zoom(base + "/zoom")
	z.ClientID, z.ClientSecret = sandbox.DefaultZoomClientID, sandbox.DefaultZoomClientSecret
	return []oauth.Provider{sf, g, ms, z}
}

func (b *testBundle) grant(t *testing.T, p sandbox.Provider, subject string) sandbox.Tokens {
	t.Helper()
	tok, err := b.sb.IssueGrant(p, subject, nil)
	if err != nil {
		t.Fatalf("issue %s grant: %v", p, err)
	}
	if tok.RefreshToken == "" {
		t.Fatalf("%s grant has no refresh token", p)
	}
	return tok
}

func (b *testBundle) tokenCalls(p sandbox.Provider) int64 {
	return b.sb.Counters().Endpoint(p, "token").Calls
}

func assertClass(t *testing.T, err error, want oauth.Class, secrets ...string) *oauth.Error {
	t.Helper()
	if got := oauth.Classify(err); got != want {
		t.Fatalf("class %q, want %q (err %v)", got, want, err)
	}
	var oe *oauth.Error
	if !errors.As(err, &oe) {
		t.Fatalf("error %T is not *oauth.Error: %v", err, err)
	}
	for _, s := range secrets {
		if s != "" && strings.Contains(fmt.Sprintf("%v %+v", err, oe), s) {
			t.Fatalf("error text contains a secret: %v", err)
		}
	}
	return oe
}

func TestSalesforceRefresh(t *testing.T) {
	t.Parallel()
	b := setup(t, setupOpts{})
	g := b.grant(t, sandbox.Salesforce, b.sfUser)

	ts, err := b.client.Refresh(context.Background(), "salesforce", g.RefreshToken)
	if err != nil {
		t.Fatalf("refresh: %v", err)
	}
	if ts.AccessToken == "" || ts.AccessToken == g.AccessToken {
		t.Errorf("no new access token")
	}
	if ts.RefreshToken != g.RefreshToken || ts.Rotated {
		t.Errorf("rotation off: refresh token must be kept (rotated=%t)", ts.Rotated)
	}
	if !ts.Expiry.IsZero() {
		t.Errorf("Salesforce sends no expires_in, got expiry %s", ts.Expiry)
	}
	if !strings.HasPrefix(ts.InstanceURL, b.url) || !strings.Contains(ts.ID, "/id/") {
		t.Errorf("instance_url %q / id %q not from the sandbox", ts.InstanceURL, ts.ID)
	}
	if ts.IssuedAt.IsZero() || !ts.IssuedAt.Equal(b.now.Truncate(time.Millisecond)) {
		t.Errorf("issued_at %s, want the sandbox clock %s", ts.IssuedAt, b.now)
	}
	if len(ts.Scopes) == 0 || len(ts.MissingScopes) != 0 {
		t.Errorf("scopes %q missing %q", ts.Scopes, ts.MissingScopes)
	}
	if s := fmt.Sprintf("%v %+v", ts, ts); strings.Contains(s, ts.AccessToken) || strings.Contains(s, ts.RefreshToken) {
		t.Errorf("TokenSet prints a token: %s", s)
	}
	if n := b.tokenCalls(sandbox.Salesforce); n != 1 {
		t.Errorf("%d token calls, want 1", n)
	}
}

func TestSalesforceRotationAndReplay(t *testing.T) {
	t.Parallel()
	rtr := sandbox.App{Provider: sandbox.Salesforce, ClientID: sandbox.DefaultSalesforceClientID,
		ClientSecret: sandbox.DefaultSalesforceClientSecret, DefaultScopes: []string{"api", "refresh_token", "id"},
		RotateRefreshTokens: true}
	b := setup(t, setupOpts{apps: []sandbox.App{rtr}})
	g := b.grant(t, sandbox.Salesforce, b.sfUser)
	ctx := context.Background()

	ts, err := b.client.Refresh(ctx, "salesforce", g.RefreshToken)
	if err != nil {
		t.Fatalf("refresh: %v", err)
	}
	if !ts.Rotated || ts.RefreshToken == g.RefreshToken || ts.RefreshToken == "" {
		t.Fatalf("RTR on: want a new refresh token, rotated=%t", ts.Rotated)
	}
	// Replaying the rotated-out token kills the grant: needs_reconnect,
	// and the new token dies with it.
	_, err = b.client.Refresh(ctx, "salesforce", g.RefreshToken)
	oe := assertClass(t, err, oauth.ClassNeedsReconnect, g.RefreshToken, ts.RefreshToken, sandbox.DefaultSalesforceClientSecret)
	if oe.Code != "invalid_grant" || oe.Status != 400 {
		t.Errorf("got %+v", oe)
	}
	_, err = b.client.Refresh(ctx, "salesforce", ts.RefreshToken)
	assertClass(t, err, oauth.ClassNeedsReconnect)
}

func TestRefreshFailuresAreClassified(t *testing.T) {
	t.Parallel()
	b := setup(t, setupOpts{})
	ctx := context.Background()

	t.Run("revoked grant", func(t *testing.T) {
		g := b.grant(t, sandbox.Salesforce, b.sfUser)
		if err := b.sb.RevokeGrant(g.GrantID); err != nil {
			t.Fatal(err)
		}
		before := b.tokenCalls(sandbox.Salesforce)
		_, err := b.client.Refresh(ctx, "salesforce", g.RefreshToken)
		assertClass(t, err, oauth.ClassNeedsReconnect, g.RefreshToken)
		// Explicit AuthStyle: a failure is not retried with the other style.
		if n := b.tokenCalls(sandbox.Salesforce) - before; n != 1 {
			t.Errorf("%d token calls for one failed refresh, want 1", n)
		}
	})
	t.Run("inactive user", func(t *testing.T) {
		g := b.grant(t, sandbox.Salesforce, b.sfUser)
		if err := b.sb.Salesforce().SetUserActive(b.sfUser, false); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = b.sb.Salesforce().SetUserActive(b.sfUser, true) })
		_, err := b.client.Refresh(ctx, "salesforce", g.RefreshToken)
		// Reconnecting cannot fix an inactive user: the admin's class.
		oe := assertClass(t, err, oauth.ClassNeedsAdmin, g.RefreshToken)
		if !strings.Contains(strings.ToLower(oe.Description+oe.Code), "inactive") {
			t.Errorf("want the inactive-user reason, got %+v", oe)
		}
	})
	t.Run("unknown token", func(t *testing.T) {
		_, err := b.client.Refresh(ctx, "salesforce", "not-a-token")
		assertClass(t, err, oauth.ClassNeedsReconnect, "not-a-token")
	})
	t.Run("empty token", func(t *testing.T) {
		before := b.tokenCalls(sandbox.Salesforce)
		_, err := b.client.Refresh(ctx, "salesforce", "")
		assertClass(t, err, oauth.ClassNeedsReconnect)
		if b.tokenCalls(sandbox.Salesforce) != before {
			t.Error("an empty refresh token was sent")
		}
	})
	t.Run("unknown provider", func(t *testing.T) {
		_, err := b.client.Refresh(ctx, "nope", "x")
		assertClass(t, err, oauth.ClassMisconfigured)
	})
}

func TestWrongClientSecretIsMisconfigured(t *testing.T) {
	t.Parallel()
	b := setup(t, setupOpts{providers: func(base string) []oauth.Provider {
		ps := defaultProviders(base)
		for i := range ps {
			ps[i].ClientSecret = "wrong-secret-value"
		}
		return ps
	}})
	for _, p := range []struct {
		name string
		sp   sandbox.Provider
		subj string
	}{{"salesforce", sandbox.Salesforce, b.sfUser}, {"google", sandbox.Google, ""}, {"microsoft", sandbox.Microsoft, ""}, {"zoom", sandbox.Zoom, ""}} {
		t.Run(p.name, func(t *testing.T) {
			g := b.grant(t, p.sp, p.subj)
			_, err := b.client.Refresh(context.Background(), p.name, g.RefreshToken)
			assertClass(t, err, oauth.ClassMisconfigured, g.RefreshToken, "wrong-secret-value")
		})
	}
}

func TestOtherProvidersRefresh(t *testing.T) {
	t.Parallel()
	b := setup(t, setupOpts{})
	ctx := context.Background()

	t.Run("google keeps its refresh token and reports expiry", func(t *testing.T) {
		g := b.grant(t, sandbox.Google, "")
		ts, err := b.client.Refresh(ctx, "google", g.RefreshToken)
		if err != nil {
			t.Fatal(err)
		}
		if ts.Rotated || ts.RefreshToken != g.RefreshToken {
			t.Errorf("google does not rotate; rotated=%t", ts.Rotated)
		}
		if d := ts.Expiry.Sub(b.now); d < 50*time.Minute || d > 70*time.Minute {
			t.Errorf("expiry %s after now, want about an hour (from the injected clock)", d)
		}
	})
	t.Run("microsoft rotates and the old token still works", func(t *testing.T) {
		g := b.grant(t, sandbox.Microsoft, "")
		ts, err := b.client.Refresh(ctx, "microsoft", g.RefreshToken)
		if err != nil {
			t.Fatal(err)
		}
		if !ts.Rotated {
			t.Error("microsoft returns a new refresh token every time")
		}
		if _, err := b.client.Refresh(ctx, "microsoft", g.RefreshToken); err != nil {
			t.Errorf("old microsoft token must survive: %v", err)
		}
	})
	t.Run("zoom rotation kills the old token", func(t *testing.T) {
		g := b.grant(t, sandbox.Zoom, "")
		ts, err := b.client.Refresh(ctx, "zoom", g.RefreshToken)
		if err != nil {
			t.Fatal(err)
		}
		if !ts.Rotated || len(ts.Scopes) == 0 {
			t.Errorf("zoom: rotated=%t scopes=%q", ts.Rotated, ts.Scopes)
		}
		_, err = b.client.Refresh(ctx, "zoom", g.RefreshToken)
		assertClass(t, err, oauth.ClassNeedsReconnect, g.RefreshToken)
	})
}

func TestMissingScopesReported(t *testing.T) {
	t.Parallel()
	b := setup(t, setupOpts{providers: func(base string) []oauth.Provider {
		ps := defaultProviders(base)
		ps[3].RequiredScopes = []string{"user:read:user", "meeting:delete:meeting"}
		return ps
	}})
	g := b.grant(t, sandbox.Zoom, "")
	ts, err := b.client.Refresh(context.Background(), "zoom", g.RefreshToken)
	if err != nil {
		t.Fatal(err)
	}
	if len(ts.MissingScopes) != 1 || ts.MissingScopes[0] != "meeting:delete:meeting" {
		t.Fatalf("missing scopes %q, granted %q", ts.MissingScopes, ts.Scopes)
	}
}

func TestTransportFaults(t *testing.T) {
	t.Parallel()
	b := setup(t, setupOpts{timeout: 300 * time.Millisecond})
	ctx := context.Background()
	tests := []struct {
		name  string
		fault sandbox.Fault
		class oauth.Class
		retry time.Duration
	}{
		{"503", sandbox.Fault{Kind: sandbox.FaultStatus, Status: 503}, oauth.ClassTransient, time.Second},
		{"500", sandbox.Fault{Kind: sandbox.FaultStatus, Status: 500}, oauth.ClassTransient, 0},
		{"429 seconds", sandbox.Fault{Kind: sandbox.FaultStatus, Status: 429, RetryAfter: "30"}, oauth.ClassRateLimited, 30 * time.Second},
		{"429 zoom-style date", sandbox.Fault{Kind: sandbox.FaultStatus, Status: 429, RetryAfter: "2026-03-03T00:00:00Z"}, oauth.ClassRateLimited, 15 * time.Hour},
		{"drop", sandbox.Fault{Kind: sandbox.FaultDrop}, oauth.ClassTransient, 0},
		{"hang", sandbox.Fault{Kind: sandbox.FaultHang}, oauth.ClassTransient, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := b.grant(t, sandbox.Google, "")
			f := tt.fault
			f.Provider, f.Endpoint, f.Count = sandbox.Google, "token", 1
			b.sb.Faults().MustAdd(f)
			_, err := b.client.Refresh(ctx, "google", g.RefreshToken)
			oe := assertClass(t, err, tt.class, g.RefreshToken)
			if oe.RetryAfter != tt.retry {
				t.Errorf("retry after %s, want %s", oe.RetryAfter, tt.retry)
			}
			if (tt.fault.Kind != sandbox.FaultStatus) != oe.OutcomeUnknown {
				t.Errorf("OutcomeUnknown=%t for %s", oe.OutcomeUnknown, tt.name)
			}
			// The grant is untouched: the next refresh works.
			if _, err := b.client.Refresh(ctx, "google", g.RefreshToken); err != nil {
				t.Errorf("refresh after the fault: %v", err)
			}
		})
	}
}

func TestRevoke(t *testing.T) {
	t.Parallel()
	b := setup(t, setupOpts{})
	ctx := context.Background()
	for _, p := range []struct {
		name string
		sp   sandbox.Provider
		subj string
	}{{"salesforce", sandbox.Salesforce, b.sfUser}, {"google", sandbox.Google, ""}, {"zoom", sandbox.Zoom, ""}} {
		t.Run(p.name, func(t *testing.T) {
			g := b.grant(t, p.sp, p.subj)
			if err := b.client.Revoke(ctx, p.name, g.RefreshToken); err != nil {
				t.Fatalf("revoke: %v", err)
			}
			_, err := b.client.Refresh(ctx, p.name, g.RefreshToken)
			assertClass(t, err, oauth.ClassNeedsReconnect)
			// Revoking a dead token again is not an error.
			if err := b.client.Revoke(ctx, p.name, g.RefreshToken); err != nil {
				t.Errorf("second revoke: %v", err)
			}
		})
	}
	t.Run("microsoft has no revoke endpoint", func(t *testing.T) {
		if err := b.client.Revoke(ctx, "microsoft", "x"); !errors.Is(err, oauth.ErrRevokeUnsupported) {
			t.Fatalf("got %v", err)
		}
	})
}

// A connection made at its org's own login host (a Salesforce sandbox org's, recorded by
// the connect flow) refreshes there, not at the registry's production host.
func TestConnectionRefresherUsesTheConnectionsLoginHost(t *testing.T) {
	t.Parallel()
	b := setup(t, setupOpts{providers: func(base string) []oauth.Provider {
		ps := defaultProviders(base)
		prod := oauth.Salesforce("http://127.0.0.1:1/unreachable") // production: never called here
		prod.ClientID, prod.ClientSecret = ps[0].ClientID, ps[0].ClientSecret
		ps[0] = prod
		return ps
	}})
	g := b.grant(t, sandbox.Salesforce, b.sfUser)
	r := oauth.ConnectionRefresher{Client: b.client, Providers: map[connections.Kind]string{connections.KindSalesforceTeam: "salesforce"}}
	set, err := r.Refresh(context.Background(), connections.RefreshRequest{Kind: connections.KindSalesforceTeam,
		RefreshToken: vault.NewToken(g.RefreshToken), LoginURL: b.url + "/salesforce"})
	if err != nil || set.AccessToken.IsZero() {
		t.Fatalf("refresh at the connection's login host: %v", err)
	}
	if n := b.tokenCalls(sandbox.Salesforce); n != 1 {
		t.Fatalf("%d token calls at the sandbox, want 1", n)
	}
	// Without a recorded login host the registry's is used (here unreachable: transient).
	_, err = r.Refresh(context.Background(), connections.RefreshRequest{Kind: connections.KindSalesforceTeam,
		RefreshToken: vault.NewToken(g.RefreshToken)})
	if oauth.Classify(err) != oauth.ClassTransient {
		t.Fatalf("refresh at the registry host: %v, want transient", err)
	}
	// Refused before anything was sent: transient, and the outcome is known (nothing
	// happened), unlike a dropped answer (TestTransportFaults).
	f, ok := connections.AsFailure(err)
	if !ok || f.OutcomeUnknown || f.Provider != "salesforce" || f.Op != "refresh" {
		t.Fatalf("connection refused: %+v (ok %t)", f, ok)
	}
}

// A client built without an HTTPClient reuses its connections to a token host across
// concurrent refreshes: with net/http's default of 2 idle connections per host, a worker
// running many refreshes at once dialled a new connection for almost every one.
func TestConcurrentRefreshesReuseConnections(t *testing.T) {
	const workers, rounds = 32, 4
	now := time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)
	sb := sandbox.New(sandbox.Options{Clock: func() time.Time { return now }})
	srv := httptest.NewUnstartedServer(sb)
	var dialled atomic.Int64
	srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			dialled.Add(1)
		}
	}
	srv.Start()
	t.Cleanup(func() { sb.Close(); srv.Close() })
	c, err := oauth.New(oauth.Config{Providers: defaultProviders(srv.URL)})
	if err != nil {
		t.Fatal(err)
	}
	grants := make([]sandbox.Tokens, workers)
	for i := range grants {
		if grants[i], err = sb.IssueGrant(sandbox.Google, "", nil); err != nil {
			t.Fatalf("issue grant: %v", err)
		}
	}
	for range rounds {
		var wg sync.WaitGroup
		errs := make(chan error, workers)
		for _, g := range grants {
			wg.Go(func() {
				if _, err := c.Refresh(context.Background(), "google", g.RefreshToken); err != nil {
					errs <- err
				}
			})
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Fatalf("refresh: %v", err)
		}
	}
	// One connection per concurrent refresh, plus slack for a connection not yet back in
	// the idle pool when the next round starts; without reuse it is one per refresh.
	if n := dialled.Load(); n > workers+workers/2 {
		t.Errorf("%d connections for %d refreshes by %d workers: connections are not reused", n, workers*rounds, workers)
	}
	if n := sb.Counters().Endpoint(sandbox.Google, "token").Calls; n != workers*rounds {
		t.Errorf("%d token calls, want %d", n, workers*rounds)
	}
}
