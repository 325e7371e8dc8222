package connections_test

import (
	"context"
	"errors"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"tether/connectors/oauth"
	"tether/connectors/sandbox"
	"tether/connectors/sandbox/sfdc"
	"tether/sync/connections"
	"tether/sync/directory"
	"tether/sync/store"
	"tether/sync/store/storetest"
	"tether/sync/vault"
	"tether/worker/redislock"
	"tether/worker/redistest"
)

// fenceTTL is the lock lease in these tests; the provider call is held far longer. It is
// renewed every TTL/3, so it must outlast a goroutine starved by a loaded 2-core CI machine
// under -race (300 ms lapsed there once).
const fenceTTL = time.Second

// fenceCase is a provider whose rotation the fence must survive.
type fenceCase struct {
	name     string
	kind     connections.Kind
	provider sandbox.Provider
	// oldDies: spending the refresh token retires it at once.
	oldDies bool
}

var fenceCases = []fenceCase{
	// Salesforce with Refresh Token Rotation: the old token dies, and replaying it
	// revokes the whole grant.
	{"salesforce rotating", connections.KindSalesforceTeam, sandbox.Salesforce, true},
	// Zoom rotates and the old token dies at once.
	{"zoom rotating", connections.KindZoom, sandbox.Zoom, true},
	// Microsoft rotates and the old token stays valid.
	{"microsoft rotating, old survives", connections.KindMicrosoftCalendar, sandbox.Microsoft, false},
}

type fenceBundle struct {
	st      *store.Store
	sb      *sandbox.Sandbox
	rdb     *redis.Client
	keys    *vault.Keyring
	tokens  *connections.Tokens
	orgID   string
	connID  string
	grant   sandbox.Tokens
	held    chan struct{} // a token request reached the held latency fault
	release func()        // lets it go on; safe to call more than once
}

// fenceSetup stores one connection of fc's kind, sealed over a sandbox grant, and a
// token service whose lock lease is fenceTTL. holdNextRefresh makes the next token
// request wait inside the sandbox until release is closed.
func fenceSetup(t *testing.T, s *store.Store, fc fenceCase) *fenceBundle {
	t.Helper()
	ctx := t.Context()
	b := &fenceBundle{st: s, held: make(chan struct{}, 1)}
	released := make(chan struct{})
	b.release = sync.OnceFunc(func() { close(released) })
	b.sb = sandbox.New(sandbox.Options{
		Apps: []sandbox.App{{Provider: sandbox.Salesforce, ClientID: sandbox.DefaultSalesforceClientID,
			ClientSecret: sandbox.DefaultSalesforceClientSecret, RotateRefreshTokens: true,
			DefaultScopes: []string{"api", "refresh_token", "id"}}},
		// The latency fault's delay is this barrier: the call stays in flight until the
		// test lets it go, however long the lease has lapsed by then.
		Sleep: func(ctx context.Context, _ time.Duration) error {
			b.held <- struct{}{}
			select {
			case <-released:
				return nil
			case <-ctx.Done():
				return ctx.Err()
			}
		},
	})
	srv := httptest.NewServer(b.sb)
	t.Cleanup(func() { b.sb.Close(); srv.Close() })
	t.Cleanup(b.release) // a failed test must not leave the held call behind
	if err := b.sb.LoadScenario(sandbox.Scenario{Salesforce: &sfdc.Scenario{Orgs: []sfdc.OrgSpec{sfdc.GenerateOrg(3, 2)}}}); err != nil {
		t.Fatal(err)
	}
	subject, account := "ada@example.com", "ada@example.com"
	sfOrg := ""
	if fc.provider == sandbox.Salesforce {
		sfOrg = b.sb.Salesforce().OrgIDs()[0]
		subject = b.sb.Salesforce().Users(sfOrg)[0]
		account = subject
	}
	var err error
	if b.grant, err = b.sb.IssueGrant(fc.provider, subject, nil); err != nil {
		t.Fatal(err)
	}

	sf := oauth.Salesforce(srv.URL + "/salesforce")
	sf.ClientID, sf.ClientSecret = sandbox.DefaultSalesforceClientID, sandbox.DefaultSalesforceClientSecret
	ms := oauth.Microsoft(srv.URL + "/microsoft/organizations")
	ms.ClientID, ms.ClientSecret = sandbox.DefaultMicrosoftClientID, sandbox.DefaultMicrosoftClientSecret
	z := oauth.Zoom(srv.URL + "/zoom")
	z.ClientID, z.ClientSecret = sandbox.DefaultZoomClientID, sandbox.DefaultZoomClientSecret
	oc, err := oauth.New(oauth.Config{Providers: []oauth.Provider{sf, ms, z}})
	if err != nil {
		t.Fatal(err)
	}
	if b.keys, _, err = vault.GenerateKeyring("test"); err != nil {
		t.Fatal(err)
	}
	_, b.rdb = redistest.Client(t, redisDB)
	locker := redislock.New(b.rdb, "lock:")
	locker.TTL, locker.Poll = fenceTTL, time.Millisecond
	b.tokens, err = connections.NewTokens(connections.TokensParams{
		Store: s, Keys: b.keys, Locker: locker,
		Refresher: oauth.ConnectionRefresher{Client: oc, Providers: map[connections.Kind]string{
			connections.KindSalesforceTeam: "salesforce", connections.KindZoom: "zoom",
			connections.KindMicrosoftCalendar: "microsoft"}},
	})
	if err != nil {
		t.Fatal(err)
	}

	org, err := s.CreateOrg(ctx, directory.Org{Name: "Acme", SeatLimit: 10})
	if err != nil {
		t.Fatal(err)
	}
	b.orgID = org.ID
	c := connections.Connection{ID: "conn-" + org.ID, Kind: fc.kind, State: connections.StateHealthy,
		ProviderAccountID: account, ProviderOrgID: sfOrg}
	if fc.provider == sandbox.Salesforce {
		c.InstanceURL = srv.URL + "/salesforce"
	} else {
		u, err := s.CreateUser(ctx, directory.User{Email: "ada@example.com", Name: "Ada"})
		if err != nil {
			t.Fatal(err)
		}
		m, err := s.CreateMembership(ctx, org.ID, directory.Membership{UserID: u.ID, Role: directory.RoleChat})
		if err != nil {
			t.Fatal(err)
		}
		c.MembershipID = m.ID
	}
	if c.AccessTokenEnc, err = b.keys.SealToken(vault.NewToken(b.grant.AccessToken), c.ID); err != nil {
		t.Fatal(err)
	}
	if c.RefreshTokenEnc, err = b.keys.SealToken(vault.NewToken(b.grant.RefreshToken), c.ID); err != nil {
		t.Fatal(err)
	}
	created, err := s.CreateConnection(ctx, org.ID, c)
	if err != nil {
		t.Fatal(err)
	}
	b.connID = created.ID
	return b
}

func (b *fenceBundle) holdNextRefresh(t *testing.T, p sandbox.Provider) {
	t.Helper()
	b.sb.Faults().MustAdd(sandbox.Fault{Provider: p, Endpoint: "token", Kind: sandbox.FaultLatency,
		Latency: sandbox.Fixed(time.Hour), Count: 1})
}

func (b *fenceBundle) waitHeld(t *testing.T) {
	t.Helper()
	select {
	case <-b.held:
	case <-time.After(10 * time.Second):
		t.Fatal("the first refresh never reached the provider")
	}
}

func (b *fenceBundle) session(t *testing.T) *connections.Session {
	t.Helper()
	s, err := b.tokens.Session(t.Context(), b.orgID, b.connID)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func (b *fenceBundle) row(t *testing.T) connections.Connection {
	t.Helper()
	c, err := b.st.GetConnection(t.Context(), b.orgID, b.connID)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func (b *fenceBundle) open(t *testing.T, sealed []byte) string {
	t.Helper()
	tok, err := b.keys.OpenToken(sealed, b.connID)
	if err != nil {
		t.Fatal(err)
	}
	return tok.Reveal()
}

func (b *fenceBundle) counters() sandbox.GrantCounters {
	return b.sb.Counters().Grants[b.grant.GrantID]
}

type refreshResult struct {
	token string
	err   error
}

func refreshAsync(ctx context.Context, s *connections.Session) <-chan refreshResult {
	out := make(chan refreshResult, 1)
	go func() {
		tok, err := s.Refresh(ctx)
		out <- refreshResult{tok, err}
	}()
	return out
}

// Invariant 2: the lock's lease outlives a provider call slower than its TTL (it is
// renewed while the call runs), so a second worker waits for the first instead of
// spending the same refresh token, and uses what the first stored.
func TestRefreshSlowerThanTheLeaseKeepsTheLock(t *testing.T) {
	for _, fc := range fenceCases {
		t.Run(fc.name, func(t *testing.T) {
			storetest.Each(t, func(t *testing.T, s *store.Store) {
				b := fenceSetup(t, s, fc)
				ctx := t.Context()
				first, second := b.session(t), b.session(t)
				b.holdNextRefresh(t, fc.provider)
				a := refreshAsync(ctx, first)
				b.waitHeld(t)
				bRes := refreshAsync(ctx, second)
				select {
				case r := <-bRes:
					t.Fatalf("second refresh returned (%v) while the first still held the lock", r.err)
				case <-time.After(3 * fenceTTL):
				}
				b.release()
				ra, rb := <-a, <-bRes
				if ra.err != nil || rb.err != nil {
					t.Fatalf("refreshes: first %v, second %v", ra.err, rb.err)
				}
				if c := b.counters(); c.Refreshes != 1 || c.DeadTokenReplays != 0 {
					t.Fatalf("provider saw %d refreshes and %d dead-token replays, want 1 and 0", c.Refreshes, c.DeadTokenReplays)
				}
				row := b.row(t)
				if ra.token != rb.token || b.open(t, row.AccessTokenEnc) != ra.token || row.State != connections.StateHealthy {
					t.Fatalf("workers got different tokens or the row (%s) does not hold them", row.State)
				}
				storetest.AssertTokensSealed(t, b.keys, row)
				if _, err := b.session(t).Refresh(ctx); err != nil {
					t.Fatalf("refresh with the stored token: %v", err)
				}
			})
		})
	}
}

// Invariant 2, the fence: a worker whose lease lapsed during the provider call (its key
// lost, as after a Redis failover or a paused process) does not write over the newer
// refresh of the worker that took the lock after it, whether its call failed (the old
// token died) or succeeded (the old token survived); its failure is not recorded
// either, and its set is dropped, not parked in the pending slot.
func TestLapsedLeaseDoesNotOverwriteANewerRefresh(t *testing.T) {
	for _, fc := range fenceCases[1:] { // Salesforce revokes the grant on the replay itself
		t.Run(fc.name, func(t *testing.T) {
			storetest.Each(t, func(t *testing.T, s *store.Store) {
				b := fenceSetup(t, s, fc)
				ctx := t.Context()
				stale := b.session(t)
				b.holdNextRefresh(t, fc.provider)
				a := refreshAsync(ctx, stale)
				b.waitHeld(t)
				b.loseLease(t)

				tok, err := b.session(t).Refresh(ctx)
				if err != nil {
					t.Fatalf("refresh under the newer lease: %v", err)
				}
				newer := b.row(t)
				b.release()
				ra := <-a
				if !errors.Is(ra.err, connections.ErrFenced) {
					t.Fatalf("the lapsed holder's refresh: token %t, err %v; want ErrFenced", ra.token != "", ra.err)
				}
				row := b.row(t)
				if b.open(t, row.AccessTokenEnc) != tok || b.open(t, row.RefreshTokenEnc) != b.open(t, newer.RefreshTokenEnc) ||
					row.RefreshFence != newer.RefreshFence || row.RefreshFence == 0 {
					t.Fatal("the lapsed holder overwrote the newer refresh")
				}
				if row.State != connections.StateHealthy || row.ConsecutiveFailures != 0 || len(row.PendingTokenEnc) != 0 {
					t.Fatalf("row after the lapsed holder: state %s, failures %d, pending %d bytes; want healthy, 0, 0",
						row.State, row.ConsecutiveFailures, len(row.PendingTokenEnc))
				}
				// Both spent the same token: the lapsed holder's late call is refused where
				// the old token dies, and served where it survives.
				wantRefreshes, wantReplays := int64(2), int64(0)
				if fc.oldDies {
					wantRefreshes, wantReplays = 1, 1
				}
				if c := b.counters(); c.Refreshes != wantRefreshes || c.DeadTokenReplays != wantReplays {
					t.Fatalf("provider saw %d refreshes and %d replays, want %d and %d", c.Refreshes, c.DeadTokenReplays, wantRefreshes, wantReplays)
				}
				if _, err := b.session(t).Refresh(ctx); err != nil {
					t.Fatalf("refresh with the stored token: %v", err)
				}
			})
		})
	}
}

// Invariant 1 under the fence: a worker whose lease lapsed does not write the row, but
// when nobody refreshed since (the row still holds the token it spent) its set goes to
// the pending slot, and the next attempt uses it without calling the provider.
func TestLapsedLeaseKeepsItsSetWhileTheRowHoldsTheSpentToken(t *testing.T) {
	for _, fc := range fenceCases {
		t.Run(fc.name, func(t *testing.T) {
			storetest.Each(t, func(t *testing.T, s *store.Store) {
				b := fenceSetup(t, s, fc)
				ctx := t.Context()
				before := b.row(t)
				b.holdNextRefresh(t, fc.provider)
				a := refreshAsync(ctx, b.session(t))
				b.waitHeld(t)
				b.loseLease(t)
				b.release()
				if r := <-a; !errors.Is(r.err, connections.ErrFenced) {
					t.Fatalf("the lapsed holder's refresh: %v, want ErrFenced", r.err)
				}
				row := b.row(t)
				if len(row.PendingTokenEnc) == 0 || b.open(t, row.RefreshTokenEnc) != b.grant.RefreshToken ||
					row.RefreshFence != before.RefreshFence {
					t.Fatal("want the set in the pending slot and the token columns untouched")
				}
				tok, err := b.session(t).Token(ctx)
				if err != nil {
					t.Fatalf("next attempt: %v", err)
				}
				if c := b.counters(); c.Refreshes != 1 || c.DeadTokenReplays != 0 {
					t.Fatalf("provider saw %d refreshes and %d replays, want 1 and 0 (the pending set must be used)", c.Refreshes, c.DeadTokenReplays)
				}
				if row := b.row(t); b.open(t, row.AccessTokenEnc) != tok || len(row.PendingTokenEnc) != 0 {
					t.Fatal("the pending set was not written to the row")
				}
			})
		})
	}
}

// loseLease deletes the connection's lock key, as a Redis failover or a holder paused
// past its TTL would.
func (b *fenceBundle) loseLease(t *testing.T) {
	t.Helper()
	n, err := b.rdb.Del(t.Context(), "lock:{connection:"+b.connID+"}").Result()
	if err != nil || n != 1 {
		t.Fatalf("delete the held lock key: %d keys, %v", n, err)
	}
}

// Invariant 2's compare-and-swap, as the token service relies on it: a user deactivated
// while a refresh is at the provider (the row revoked, its tokens deleted) stays revoked;
// the late refresh loses its compare-and-swap, re-reads and gives up instead of writing
// live tokens back.
func TestRevokedDuringRefreshStaysRevoked(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		fc := fenceCases[2]
		b := fenceSetup(t, s, fc)
		ctx := t.Context()
		b.holdNextRefresh(t, fc.provider)
		a := refreshAsync(ctx, b.session(t))
		b.waitHeld(t)
		row := b.row(t)
		row.State, row.AccessTokenEnc, row.RefreshTokenEnc = connections.StateRevoked, nil, nil
		if _, err := s.UpdateConnection(ctx, b.orgID, row, time.Now()); err != nil {
			t.Fatal(err)
		}
		b.release()
		if r := <-a; !errors.Is(r.err, connections.ErrNeedsReconnect) {
			t.Fatalf("refresh that raced a revoke: %v, want ErrNeedsReconnect", r.err)
		}
		if row := b.row(t); row.State != connections.StateRevoked || len(row.AccessTokenEnc) != 0 || len(row.RefreshTokenEnc) != 0 {
			t.Fatalf("revoked row after the late refresh: state %s, %d+%d token bytes; want revoked and none",
				row.State, len(row.AccessTokenEnc), len(row.RefreshTokenEnc))
		}
	})
}
