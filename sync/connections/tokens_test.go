package connections_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
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
	"tether/worker/redisstash"
	"tether/worker/redistest"
)

const redisDB = 6

// flakyStore is the real store with writes that fail on demand, the way
// asynq's testbroker wraps a real broker to simulate an outage.
type flakyStore struct {
	*store.Store
	failUpdates, failPending atomic.Bool
}

var errOutage = errors.New("simulated database outage")

func (f *flakyStore) UpdateConnection(ctx context.Context, orgID string, c connections.Connection, at time.Time) (connections.Connection, error) {
	if f.failUpdates.Load() {
		return connections.Connection{}, errOutage
	}
	return f.Store.UpdateConnection(ctx, orgID, c, at)
}

func (f *flakyStore) SetPendingToken(ctx context.Context, orgID, id string, sealed, spent []byte, at time.Time) error {
	if f.failPending.Load() {
		return errOutage
	}
	return f.Store.SetPendingToken(ctx, orgID, id, sealed, spent, at)
}

type testBundle struct {
	st     *flakyStore
	sb     *sandbox.Sandbox
	keys   *vault.Keyring
	tokens *connections.Tokens
	orgID  string
	connID string
	grant  sandbox.Tokens
	rdb    *redis.Client
	params connections.TokensParams // b.tokens' own
}

// assertSealed fails unless blob, a token set kept outside the token columns,
// is ciphertext: neither token appears in it, raw or base64-encoded.
func assertSealed(t *testing.T, where string, blob []byte, tokens ...string) {
	t.Helper()
	for _, tok := range tokens {
		if tok == "" {
			t.Fatalf("%s: empty token to look for", where)
		}
		for _, form := range []string{tok, base64.StdEncoding.EncodeToString([]byte(tok)), base64.RawURLEncoding.EncodeToString([]byte(tok))} {
			if bytes.Contains(blob, []byte(form)) {
				t.Fatalf("%s holds a token in clear text", where)
			}
		}
	}
}

// assertBoundToRow fails unless the sealed set opens only for its own row: planted
// in another connection's pending slot, that connection refuses it.
func (b *testBundle) assertBoundToRow(t *testing.T, sealed []byte) {
	t.Helper()
	ctx := t.Context()
	other, err := b.st.Store.CreateOrg(ctx, directory.Org{Name: "Other", SeatLimit: 1})
	if err != nil {
		t.Fatal(err)
	}
	src := b.row(t)
	c := connections.Connection{ID: "conn-" + other.ID, Kind: connections.KindSalesforceTeam, State: connections.StateHealthy,
		InstanceURL: src.InstanceURL, ProviderAccountID: src.ProviderAccountID, ProviderOrgID: src.ProviderOrgID}
	c.AccessTokenEnc = b.seal(t, "unused", c.ID)
	c.RefreshTokenEnc = b.seal(t, "unused", c.ID)
	c, err = b.st.Store.CreateConnection(ctx, other.ID, c)
	if err != nil {
		t.Fatal(err)
	}
	if err := b.st.Store.SetPendingToken(ctx, other.ID, c.ID, sealed, c.RefreshTokenEnc, time.Now()); err != nil {
		t.Fatal(err)
	}
	calls := b.sb.Counters().Endpoint(sandbox.Salesforce, "token").Calls
	sess, err := b.tokens.Team(ctx, other.ID)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := sess.Token(ctx); err == nil {
		t.Fatal("another connection accepted this row's sealed token set: it is not bound to the row")
	}
	if b.sb.Counters().Endpoint(sandbox.Salesforce, "token").Calls != calls {
		t.Fatal("a pending set that did not open led to a provider call")
	}
}

func setup(t *testing.T, s *store.Store) *testBundle {
	t.Helper()
	ctx := t.Context()
	sb := sandbox.New(sandbox.Options{Apps: []sandbox.App{{
		Provider: sandbox.Salesforce, ClientID: sandbox.DefaultSalesforceClientID,
		ClientSecret: sandbox.DefaultSalesforceClientSecret, RotateRefreshTokens: true,
		DefaultScopes: []string{"api", "refresh_token", "id"},
	}}})
	srv := httptest.NewServer(sb)
	t.Cleanup(func() { sb.Close(); srv.Close() })
	if err := sb.LoadScenario(sandbox.Scenario{Salesforce: &sfdc.Scenario{Orgs: []sfdc.OrgSpec{sfdc.GenerateOrg(3, 2)}}}); err != nil {
		t.Fatal(err)
	}
	sfOrg := sb.Salesforce().OrgIDs()[0]
	sfUser := sb.Salesforce().Users(sfOrg)[0]
	grant, err := sb.IssueGrant(sandbox.Salesforce, sfUser, nil)
	if err != nil {
		t.Fatal(err)
	}

	sf := oauth.Salesforce(srv.URL + "/salesforce")
	sf.ClientID, sf.ClientSecret = sandbox.DefaultSalesforceClientID, sandbox.DefaultSalesforceClientSecret
	oc, err := oauth.New(oauth.Config{Providers: []oauth.Provider{sf}})
	if err != nil {
		t.Fatal(err)
	}
	keys, _, err := vault.GenerateKeyring("test")
	if err != nil {
		t.Fatal(err)
	}
	_, rdb := redistest.Client(t, redisDB)
	// The lock reads the stash in its own round trip (as tether wires it), so these tests
	// prove that path keeps single-flight and the stashed pending set.
	stash := redisstash.New(rdb, "stash:")
	locker := redislock.New(rdb, "lock:")
	locker.Poll, locker.Stash = time.Millisecond, stash

	b := &testBundle{st: &flakyStore{Store: s}, sb: sb, keys: keys, grant: grant, rdb: rdb}
	b.params = connections.TokensParams{
		Store: b.st, Keys: keys, Locker: locker, Stash: stash,
		Refresher: oauth.ConnectionRefresher{Client: oc,
			Providers: map[connections.Kind]string{connections.KindSalesforceTeam: "salesforce"}},
	}
	b.tokens, err = connections.NewTokens(b.params)
	if err != nil {
		t.Fatal(err)
	}

	org, err := s.CreateOrg(ctx, directory.Org{Name: "Acme", SeatLimit: 10})
	if err != nil {
		t.Fatal(err)
	}
	b.orgID = org.ID
	c := connections.Connection{ID: "conn-" + org.ID, Kind: connections.KindSalesforceTeam,
		State: connections.StateHealthy, InstanceURL: srv.URL + "/salesforce",
		ProviderAccountID: sfUser, ProviderOrgID: sfOrg}
	c.AccessTokenEnc = b.seal(t, grant.AccessToken, c.ID)
	c.RefreshTokenEnc = b.seal(t, grant.RefreshToken, c.ID)
	created, err := s.CreateConnection(ctx, org.ID, c)
	if err != nil {
		t.Fatal(err)
	}
	b.connID = created.ID
	return b
}

func (b *testBundle) seal(t *testing.T, tok, rowID string) []byte {
	t.Helper()
	sealed, err := b.keys.SealToken(vault.NewToken(tok), rowID)
	if err != nil {
		t.Fatal(err)
	}
	return sealed
}

func (b *testBundle) counters() sandbox.GrantCounters {
	return b.sb.Counters().Grants[b.grant.GrantID]
}

func (b *testBundle) row(t *testing.T) connections.Connection {
	t.Helper()
	c, err := b.st.Store.GetConnection(t.Context(), b.orgID, b.connID)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func (b *testBundle) storedRefresh(t *testing.T) string {
	t.Helper()
	c := b.row(t)
	tok, err := b.keys.OpenToken(c.RefreshTokenEnc, c.ID)
	if err != nil {
		t.Fatal(err)
	}
	return tok.Reveal()
}

// Many workers find the token expired at once: one of them refreshes, the
// others use what it stored, and the rotated refresh token is what is stored.
func TestConcurrentRefreshCallsProviderOnce(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		b := setup(t, s)
		ctx := t.Context()
		const workers = 8
		sessions := make([]*connections.TeamSession, workers)
		for i := range sessions {
			var err error
			if sessions[i], err = b.tokens.Team(ctx, b.orgID); err != nil {
				t.Fatal(err)
			}
		}
		got := make([]string, workers)
		var wg sync.WaitGroup
		for i, sess := range sessions {
			wg.Add(1)
			go func() {
				defer wg.Done()
				tok, err := sess.Refresh(ctx)
				if err != nil {
					t.Errorf("worker %d: %v", i, err)
				}
				got[i] = tok
			}()
		}
		wg.Wait()
		if c := b.counters(); c.Refreshes != 1 || c.DeadTokenReplays != 0 {
			t.Fatalf("provider saw %d refreshes and %d dead-token replays, want 1 and 0", c.Refreshes, c.DeadTokenReplays)
		}
		for i := range got {
			if got[i] == "" || got[i] != got[0] || got[i] == b.grant.AccessToken {
				t.Fatalf("worker %d got a different or stale access token", i)
			}
		}
		if b.storedRefresh(t) == b.grant.RefreshToken {
			t.Fatal("the rotated refresh token was not stored")
		}
		storetest.AssertTokensSealed(t, b.keys, b.row(t))
		// The stored (rotated) token works for the next refresh.
		if _, err := sessions[0].Refresh(ctx); err != nil {
			t.Fatalf("refresh with the stored rotated token: %v", err)
		}
		if c := b.counters(); c.Refreshes != 2 || c.DeadTokenReplays != 0 {
			t.Fatalf("after second refresh: %d refreshes, %d replays; want 2 and 0", c.Refreshes, c.DeadTokenReplays)
		}
	})
}

// Invariants 1 and 4: the database refuses the write after the provider rotated
// the token: the set is kept, sealed, in the pending slot, and the retry uses it
// without calling the provider, so the rotated-out token is never replayed.
func TestRotatedTokenSurvivesFailedWrite(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		b := setup(t, s)
		ctx := t.Context()
		sess, err := b.tokens.Team(ctx, b.orgID)
		if err != nil {
			t.Fatal(err)
		}
		b.st.failUpdates.Store(true)
		if _, err := sess.Refresh(ctx); !errors.Is(err, errOutage) {
			t.Fatalf("refresh during outage: %v, want the outage error", err)
		}
		pending := b.row(t).PendingTokenEnc
		if len(pending) == 0 {
			t.Fatal("the refreshed set was not kept in the pending slot")
		}
		if b.storedRefresh(t) != b.grant.RefreshToken {
			t.Fatal("tokens columns changed although the write failed")
		}

		b.st.failUpdates.Store(false)
		retry, err := b.tokens.Team(ctx, b.orgID)
		if err != nil {
			t.Fatal(err)
		}
		tok, err := retry.Token(ctx)
		if err != nil {
			t.Fatalf("retry: %v", err)
		}
		if c := b.counters(); c.Refreshes != 1 || c.DeadTokenReplays != 0 {
			t.Fatalf("provider saw %d refreshes and %d replays, want 1 and 0 (the retry must use the pending set)", c.Refreshes, c.DeadTokenReplays)
		}
		row := b.row(t)
		if len(row.PendingTokenEnc) != 0 || row.State != connections.StateHealthy {
			t.Fatalf("after recovery: pending %d bytes, state %s", len(row.PendingTokenEnc), row.State)
		}
		if stored, _ := b.keys.OpenToken(row.AccessTokenEnc, row.ID); stored.Reveal() != tok {
			t.Fatal("the recovered access token is not the stored one")
		}
		assertSealed(t, "the pending slot", pending, tok, b.storedRefresh(t))
		b.assertBoundToRow(t, pending)
		if _, err := retry.Refresh(ctx); err != nil {
			t.Fatalf("refresh after recovery: %v", err)
		}
		if c := b.counters(); c.DeadTokenReplays != 0 {
			t.Fatalf("%d dead-token replays after recovery", c.DeadTokenReplays)
		}
	})
}

// Invariants 1 and 4: when even the pending slot cannot be written, the set waits
// in Redis, sealed, and is deleted there once written back.
func TestRotatedTokenSurvivesDatabaseOutage(t *testing.T) {
	b := setup(t, storetest.SQLite(t))
	ctx := t.Context()
	sess, err := b.tokens.Team(ctx, b.orgID)
	if err != nil {
		t.Fatal(err)
	}
	b.st.failUpdates.Store(true)
	b.st.failPending.Store(true)
	if _, err := sess.Refresh(ctx); err == nil {
		t.Fatal("refresh during a full outage succeeded")
	}
	if len(b.row(t).PendingTokenEnc) != 0 {
		t.Fatal("pending slot written although the store refused it")
	}
	stashed, err := b.rdb.Get(ctx, "stash:pending-token:"+b.connID).Bytes()
	if err != nil {
		t.Fatalf("the refreshed set is not in the Redis stash: %v", err)
	}
	b.st.failUpdates.Store(false)
	b.st.failPending.Store(false)
	tok, err := sess.Refresh(ctx)
	if err != nil {
		t.Fatalf("retry after outage: %v", err)
	}
	assertSealed(t, "the Redis stash", stashed, tok, b.storedRefresh(t))
	b.assertBoundToRow(t, stashed)
	if n, _ := b.rdb.Exists(ctx, "stash:pending-token:"+b.connID).Result(); n != 0 {
		t.Fatal("the stashed set stayed in Redis after it was written back")
	}
	if c := b.counters(); c.Refreshes != 1 || c.DeadTokenReplays != 0 {
		t.Fatalf("provider saw %d refreshes and %d replays, want 1 and 0", c.Refreshes, c.DeadTokenReplays)
	}
	if b.storedRefresh(t) == b.grant.RefreshToken {
		t.Fatal("the stashed rotated token was not written back")
	}
}

func TestRevokedGrantNeedsReconnect(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		b := setup(t, s)
		ctx := t.Context()
		if err := b.sb.RevokeGrant(b.grant.GrantID); err != nil {
			t.Fatal(err)
		}
		sess, err := b.tokens.Team(ctx, b.orgID)
		if err != nil {
			t.Fatal(err)
		}
		_, err = sess.Refresh(ctx)
		if !errors.Is(err, connections.ErrNeedsReconnect) {
			t.Fatalf("refresh of a revoked grant: %v, want ErrNeedsReconnect", err)
		}
		row := b.row(t)
		if row.State != connections.StateNeedsReconnect || row.LastErrorCode != "invalid_grant" || row.ConsecutiveFailures != 1 {
			t.Fatalf("row after revoke: state %s, code %q, failures %d", row.State, row.LastErrorCode, row.ConsecutiveFailures)
		}
		calls := b.sb.Counters().Endpoint(sandbox.Salesforce, "token").Calls
		if _, err := b.tokens.Team(ctx, b.orgID); !errors.Is(err, connections.ErrNeedsReconnect) {
			t.Fatalf("Team after revoke: %v, want ErrNeedsReconnect", err)
		}
		if after := b.sb.Counters().Endpoint(sandbox.Salesforce, "token").Calls; after != calls {
			t.Fatal("a broken connection still called the token endpoint")
		}
	})
}

func TestTransientFailureKeepsTokens(t *testing.T) {
	b := setup(t, storetest.Postgres(t))
	ctx := t.Context()
	b.sb.Faults().MustAdd(sandbox.Fault{Provider: sandbox.Salesforce, Endpoint: "token", Kind: sandbox.FaultStatus, Status: 503, Count: 1})
	sess, err := b.tokens.Team(ctx, b.orgID)
	if err != nil {
		t.Fatal(err)
	}
	_, err = sess.Refresh(ctx)
	if err == nil || errors.Is(err, connections.ErrNeedsReconnect) {
		t.Fatalf("503 from the token endpoint: %v, want a transient error", err)
	}
	row := b.row(t)
	if row.State != connections.StateDegraded || row.ConsecutiveFailures != 1 {
		t.Fatalf("after 503: state %s, failures %d", row.State, row.ConsecutiveFailures)
	}
	if b.storedRefresh(t) != b.grant.RefreshToken {
		t.Fatal("a transient failure changed the stored refresh token")
	}
	if _, err := sess.Refresh(ctx); err != nil {
		t.Fatalf("refresh after the fault: %v", err)
	}
	if row := b.row(t); row.State != connections.StateHealthy || row.ConsecutiveFailures != 0 {
		t.Fatalf("after recovery: state %s, failures %d", row.State, row.ConsecutiveFailures)
	}
}

func TestTokenRefreshesExpiredAccessToken(t *testing.T) {
	b := setup(t, storetest.SQLite(t))
	ctx := t.Context()
	row := b.row(t)
	row.ExpiresAt = time.Now().Add(-time.Minute)
	if _, err := b.st.Store.UpdateConnection(ctx, b.orgID, row, time.Now()); err != nil {
		t.Fatal(err)
	}
	sess, err := b.tokens.Team(ctx, b.orgID)
	if err != nil {
		t.Fatal(err)
	}
	tok, err := sess.Token(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if tok == b.grant.AccessToken || b.counters().Refreshes != 1 {
		t.Fatalf("expired token was handed out without a refresh (refreshes %d)", b.counters().Refreshes)
	}
	if again, _ := sess.Token(ctx); again != tok || b.counters().Refreshes != 1 {
		t.Fatal("a fresh token was refreshed again")
	}
}

func TestNoTeamConnection(t *testing.T) {
	b := setup(t, storetest.SQLite(t))
	other, err := b.st.Store.CreateOrg(t.Context(), directory.Org{Name: "Other", SeatLimit: 1})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.tokens.Team(t.Context(), other.ID); !errors.Is(err, connections.ErrNoTeamConnection) {
		t.Fatalf("Team of an org without a connection: %v", err)
	}
}

// readsCounted counts a connection's row reads and tells each on read, once it returned.
type readsCounted struct {
	connections.TokenStore
	reads atomic.Int64
	read  chan struct{}
}

func (r *readsCounted) GetConnection(ctx context.Context, orgID, id string) (connections.Connection, error) {
	c, err := r.TokenStore.GetConnection(ctx, orgID, id)
	r.reads.Add(1)
	select {
	case r.read <- struct{}{}:
	default:
	}
	return c, err
}

// aheadLocker takes the lock only once the row was read (the read ahead must not wait
// for the lock), after running between, if set, once.
type aheadLocker struct {
	*redislock.Locker
	t       *testing.T
	store   *readsCounted
	between func()
}

func (l *aheadLocker) LockAndGet(ctx context.Context, key, stashKey string) (connections.Lease, []byte, error) {
	select {
	case <-l.store.read:
	case <-time.After(5 * time.Second):
		l.t.Error("the lock was taken before the row was read: no read ahead")
	}
	if l.between != nil {
		l.between()
		l.between = nil
	}
	return l.Locker.LockAndGet(ctx, key, stashKey)
}

// aheadSession is a team session of b's connection on tokens like b's, whose row reads
// are counted and whose lock waits for a read (then runs between, when set, once).
func (b *testBundle) aheadSession(t *testing.T, between func()) (*connections.TeamSession, *readsCounted) {
	t.Helper()
	counted := &readsCounted{TokenStore: b.st, read: make(chan struct{}, 1)}
	p := b.params
	p.Store = counted
	p.Locker = &aheadLocker{Locker: b.params.Locker.(*redislock.Locker), t: t, store: counted, between: between}
	tokens, err := connections.NewTokens(p)
	if err != nil {
		t.Fatal(err)
	}
	sess, err := tokens.Team(t.Context(), b.orgID)
	if err != nil {
		t.Fatal(err)
	}
	select { // the session's own read, if it went through GetConnection
	case <-counted.read:
	default:
	}
	return sess, counted
}

// The row is read while the lock is being taken, and that read stands when it is
// current: one read per refresh, the connection's first (no earlier fence) and the ones
// after (the previous lease's fence on the row).
func TestRefreshReadsTheRowWhileLocking(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		b := setup(t, s)
		ctx := t.Context()
		sess, counted := b.aheadSession(t, nil)
		for i := range 3 {
			counted.reads.Store(0)
			if _, err := sess.Refresh(ctx); err != nil {
				t.Fatalf("refresh %d: %v", i, err)
			}
			if n := counted.reads.Load(); n != 1 {
				t.Fatalf("refresh %d read the row %d times, want once (the read ahead kept)", i, n)
			}
		}
		if c := b.counters(); c.Refreshes != 3 || c.DeadTokenReplays != 0 {
			t.Fatalf("provider saw %d refreshes and %d dead-token replays, want 3 and 0", c.Refreshes, c.DeadTokenReplays)
		}
	})
}

// Invariant 2 with the read ahead: another worker refreshes (Salesforce rotates, the old
// token dies) after this refresh read the row and before it takes the lock. The row read
// ahead records a fence older than that worker's lease, so it is read again, and the
// rotated-out token is not replayed (Salesforce would revoke the whole grant).
func TestReadAheadOvertakenIsReadAgain(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		b := setup(t, s)
		ctx := t.Context()
		var other string
		sess, counted := b.aheadSession(t, func() {
			sess, err := b.tokens.Team(ctx, b.orgID)
			if err == nil {
				other, err = sess.Refresh(ctx)
			}
			if err != nil {
				t.Errorf("the other worker's refresh: %v", err)
			}
		})
		counted.reads.Store(0)
		tok, err := sess.Refresh(ctx)
		if err != nil {
			t.Fatalf("refresh overtaken after its read: %v", err)
		}
		if n := counted.reads.Load(); n != 2 {
			t.Fatalf("the overtaken refresh read the row %d times, want 2 (ahead, then again under the lock)", n)
		}
		if c := b.counters(); c.Refreshes != 1 || c.DeadTokenReplays != 0 {
			t.Fatalf("provider saw %d refreshes and %d dead-token replays, want 1 and 0", c.Refreshes, c.DeadTokenReplays)
		}
		if tok != other || tok == b.grant.AccessToken {
			t.Fatal("the overtaken refresh did not use the token the other worker stored")
		}
		if row := b.row(t); row.State != connections.StateHealthy {
			t.Fatalf("row state %s, want healthy", row.State)
		}
	})
}

// markGate holds the in-flight mark's write (Swap) until released, or fails it.
type markGate struct {
	connections.Stash
	batch   connections.StashBatch
	arrived chan struct{}
	release chan struct{}
	fail    bool
}

func (g *markGate) Swap(ctx context.Context, key string, value []byte) ([]byte, error) {
	if g.fail {
		return nil, errOutage
	}
	close(g.arrived)
	<-g.release
	return g.batch.Swap(ctx, key, value)
}

func (g *markGate) DeleteAll(ctx context.Context, keys ...string) error {
	return g.batch.DeleteAll(ctx, keys...)
}

// A refresh token the provider kills on rotation is spent only once its in-flight mark is
// in Redis: while the mark's write is on its way the provider has seen nothing (a kill then
// loses nothing), and a mark that cannot be written leaves the token unspent. Sent
// alongside the request, a mark still on its way when a kill landed after the answer left
// no trace, and the lost grant read as a revoke.
func TestDyingTokenSpentOnlyOnceMarked(t *testing.T) {
	b := setup(t, storetest.SQLite(t))
	ctx := t.Context()
	batch, ok := b.params.Stash.(connections.StashBatch)
	if !ok {
		t.Fatal("the Redis stash has no Swap")
	}

	failing := &markGate{Stash: b.params.Stash, batch: batch, fail: true}
	p := b.params
	p.Stash = failing
	tokens, err := connections.NewTokens(p)
	if err != nil {
		t.Fatal(err)
	}
	sess, err := tokens.Team(ctx, b.orgID)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := sess.Refresh(ctx); !errors.Is(err, errOutage) || !strings.Contains(err.Error(), "mark the refresh in flight") {
		t.Fatalf("refresh without a mark: %v, want the stash's error", err)
	}
	if c := b.counters(); c.Refreshes != 0 || b.storedRefresh(t) != b.grant.RefreshToken {
		t.Fatalf("without a mark the provider saw %d refreshes (want 0) or the row changed", c.Refreshes)
	}

	gate := &markGate{Stash: b.params.Stash, batch: batch, arrived: make(chan struct{}), release: make(chan struct{})}
	p.Stash = gate
	if tokens, err = connections.NewTokens(p); err != nil {
		t.Fatal(err)
	}
	if sess, err = tokens.Team(ctx, b.orgID); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { _, err := sess.Refresh(ctx); done <- err }()
	<-gate.arrived
	time.Sleep(100 * time.Millisecond) // time enough for a request sent alongside to arrive
	if c := b.counters(); c.Refreshes != 0 {
		t.Fatalf("the provider saw %d refreshes while the mark was on its way, want 0", c.Refreshes)
	}
	close(gate.release)
	if err := <-done; err != nil {
		t.Fatalf("refresh once marked: %v", err)
	}
	if c := b.counters(); c.Refreshes != 1 || c.DeadTokenReplays != 0 || b.storedRefresh(t) == b.grant.RefreshToken {
		t.Fatalf("once marked: %d refreshes, %d replays, rotated token stored %t; want 1, 0, true",
			c.Refreshes, c.DeadTokenReplays, b.storedRefresh(t) != b.grant.RefreshToken)
	}
}
