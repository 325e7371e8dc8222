package connections_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"

	"tether/connectors/oauth"
	"tether/connectors/oauth/oauthtest"
	"tether/connectors/sandbox"
	"tether/connectors/sandbox/sandboxtest"
	"tether/connectors/sandbox/sfdc"
	"tether/connectors/verify"
	"tether/sync/connections"
	"tether/sync/directory"
	"tether/sync/keys"
	"tether/sync/store"
	"tether/sync/store/storetest"
	"tether/sync/vault"
	"tether/worker"
	"tether/worker/redislock"
	"tether/worker/redisstash"
	"tether/worker/redistest"
)

// upkeepCase is a personal connection of one provider.
type upkeepCase struct {
	name     string
	kind     connections.Kind
	provider sandbox.Provider
	rotates  bool // every refresh issues a new refresh token
	oldDies  bool // ... and the old one dies at once
	scopes   []string
}

var upkeepCases = []upkeepCase{
	{"salesforce", connections.KindSalesforce, sandbox.Salesforce, true, true, nil},
	{"google", connections.KindGoogleCalendar, sandbox.Google, false, false,
		[]string{"openid", "email", "profile", "https://www.googleapis.com/auth/calendar"}},
	{"microsoft", connections.KindMicrosoftCalendar, sandbox.Microsoft, true, false,
		[]string{"openid", "profile", "email", "offline_access", "User.Read", "Calendars.ReadWrite", "OnlineMeetings.ReadWrite"}},
	{"zoom", connections.KindZoom, sandbox.Zoom, true, true, nil},
}

// upkeepBundle is one org with one member's connection of a case's kind, sealed over a
// sandbox grant served over HTTP, and a clock the test moves.
type upkeepBundle struct {
	uc      upkeepCase
	st      *flakyStore
	sb      *sandbox.Sandbox
	url     string
	oc      *oauth.Client
	keys    *vault.Keyring
	keySpec string // keys' TETHER_ENCRYPTION_KEYS form
	rdb     *redis.Client
	stash   *refusingStash
	metrics *worker.ConnectionMetrics
	reg     *prometheus.Registry
	// scheduler queues the next tasks; nil: none (the tests that need it set it)
	scheduler connections.Scheduler
	// observer hears committed state changes (the members service); nil: none
	observer connections.Observer
	// sessions learns the org's Salesforce session timeout; nil: not wired
	sessions *connections.SessionLearner
	// locker, if set, wraps the Redis locker upkeep builds
	locker func(connections.Locker) connections.Locker
	// zones records a zone verification finds as the member's; nil: not wired
	zones  connections.ZoneLearner
	orgID  string
	connID string
	grant  sandbox.Tokens

	mu  sync.Mutex
	now time.Time
}

func (b *upkeepBundle) clock() time.Time {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.now
}

func (b *upkeepBundle) advanceTo(t time.Time) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if t.After(b.now) {
		b.now = t
	}
}

// refusingStash is the Redis stash, refusing pending token sets while refuse is set: with
// the database refusing too, that is a worker killed between the provider's answer and
// its commit (nothing of the answer survives).
type refusingStash struct {
	*redisstash.Stash
	mu     sync.Mutex
	refuse bool
}

func (s *refusingStash) Put(ctx context.Context, key string, v []byte) error {
	s.mu.Lock()
	refuse := s.refuse && strings.HasPrefix(key, "pending-token:")
	s.mu.Unlock()
	if refuse {
		return errOutage
	}
	return s.Stash.Put(ctx, key, v)
}

func upkeepSetup(t *testing.T, s *store.Store, uc upkeepCase) *upkeepBundle {
	t.Helper()
	ctx := t.Context()
	b := &upkeepBundle{uc: uc, st: &flakyStore{Store: s}, now: time.Now().UTC()}
	b.sb, b.url = sandboxtest.Serve(t, sandbox.Options{Apps: []sandbox.App{{Provider: sandbox.Salesforce, ClientID: sandbox.DefaultSalesforceClientID,
		ClientSecret: sandbox.DefaultSalesforceClientSecret, RotateRefreshTokens: true,
		DefaultScopes: []string{"api", "refresh_token", "id"}}}})
	if err := b.sb.LoadScenario(sandbox.Scenario{Salesforce: &sfdc.Scenario{Orgs: []sfdc.OrgSpec{sfdc.GenerateOrg(3, 2)}}}); err != nil {
		t.Fatal(err)
	}
	subject, sfOrg := "ada@example.com", ""
	if uc.provider == sandbox.Salesforce {
		sfOrg = b.sb.Salesforce().OrgIDs()[0]
		subject = b.sb.Salesforce().Users(sfOrg)[0]
	}
	var err error
	if b.grant, err = b.sb.IssueGrant(uc.provider, subject, uc.scopes); err != nil {
		t.Fatal(err)
	}
	account := subject
	if gi, ok := b.sb.LookupGrant(b.grant.GrantID); ok && uc.provider != sandbox.Salesforce {
		account = gi.Subject // the provider's own id of the user, as the connect flow stores it
	}
	// The registry's Salesforce entry points at a host that does not exist: a connection
	// must refresh at its own login host.
	if b.oc, err = oauth.New(oauth.Config{Providers: oauthtest.Providers(b.url), Timeout: 2 * time.Second}); err != nil {
		t.Fatal(err)
	}
	if b.keys, b.keySpec, err = vault.GenerateKeyring("test"); err != nil {
		t.Fatal(err)
	}
	_, b.rdb = redistest.Client(t, redisDB)
	b.stash = &refusingStash{Stash: redisstash.New(b.rdb, "stash:")}
	b.reg = prometheus.NewRegistry()
	if b.metrics, err = worker.NewConnectionMetrics(b.reg, []string{"salesforce", "google", "microsoft", "zoom"}); err != nil {
		t.Fatal(err)
	}
	org, err := s.CreateOrg(ctx, directory.Org{Name: "Acme", SeatLimit: 10})
	if err != nil {
		t.Fatal(err)
	}
	b.orgID = org.ID
	u, err := s.CreateUser(ctx, directory.User{Email: "ada@example.com", Name: "Ada"})
	if err != nil {
		t.Fatal(err)
	}
	m, err := s.CreateMembership(ctx, org.ID, directory.Membership{UserID: u.ID, Role: directory.RoleChat})
	if err != nil {
		t.Fatal(err)
	}
	c := connections.Connection{ID: store.NewID(), MembershipID: m.ID, Kind: uc.kind, State: connections.StateHealthy,
		ProviderAccountID: account, ProviderOrgID: sfOrg, LastRefreshedAt: b.now.Add(-time.Hour), LastVerifiedAt: b.now,
		ExpiresAt: b.now, NextRefreshAt: b.now.Add(-time.Minute), Scopes: oauth.SplitScopes(strings.Join(uc.scopes, " "), "")}
	if uc.provider == sandbox.Salesforce {
		c.InstanceURL, c.LoginURL = b.url+"/salesforce", b.url+"/salesforce"
	}
	c.AccessTokenEnc = b.seal(t, b.grant.AccessToken, c.ID)
	c.RefreshTokenEnc = b.seal(t, b.grant.RefreshToken, c.ID)
	if _, err := s.CreateConnection(ctx, org.ID, c); err != nil {
		t.Fatal(err)
	}
	b.connID = c.ID
	return b
}

// useTimeout rebuilds the OAuth client with timeout d: a hung provider costs d per call.
func (b *upkeepBundle) useTimeout(t *testing.T, d time.Duration) {
	b.rebuildClient(t, d, nil)
}

// useSecret rebuilds the OAuth client with provider's client secret set to secret.
func (b *upkeepBundle) useSecret(t *testing.T, provider, secret string) {
	b.rebuildClient(t, 2*time.Second, func(p *oauth.Provider) {
		if p.Name == provider {
			p.ClientSecret = secret
		}
	})
}

// rebuildClient replaces the OAuth client with one of timeout d over the same providers,
// each changed by change when it is set.
func (b *upkeepBundle) rebuildClient(t *testing.T, d time.Duration, change func(p *oauth.Provider)) {
	t.Helper()
	ps := make([]oauth.Provider, 0, 4)
	for _, name := range []string{"salesforce", "google", "microsoft", "zoom"} {
		p, ok := b.oc.Provider(name)
		if !ok {
			t.Fatalf("no provider %s", name)
		}
		if change != nil {
			change(&p)
		}
		ps = append(ps, p)
	}
	oc, err := oauth.New(oauth.Config{Providers: ps, Timeout: d})
	if err != nil {
		t.Fatal(err)
	}
	b.oc = oc
}

func (b *upkeepBundle) seal(t *testing.T, tok, rowID string) []byte {
	t.Helper()
	sealed, err := b.keys.SealToken(vault.NewToken(tok), rowID)
	if err != nil {
		t.Fatal(err)
	}
	return sealed
}

// upkeep is one worker's Upkeep: its own Tokens over the shared store, Redis lock and
// stash, as every worker process builds.
func (b *upkeepBundle) upkeep(t *testing.T) *connections.Upkeep {
	t.Helper()
	rl := redislock.New(b.rdb, "lock:")
	rl.Poll = time.Millisecond
	var locker connections.Locker = rl
	if b.locker != nil {
		locker = b.locker(locker)
	}
	p := connections.TokensParams{
		Store: b.st, Keys: b.keys, Locker: locker, Stash: b.stash, Clock: b.clock, Metrics: b.metrics, Scheduler: b.scheduler,
		Observer: b.observer, Refresher: oauth.ConnectionRefresher{Client: b.oc, Providers: map[connections.Kind]string{
			connections.KindSalesforce: "salesforce", connections.KindGoogleCalendar: "google",
			connections.KindMicrosoftCalendar: "microsoft", connections.KindZoom: "zoom"}},
	}
	if b.sessions != nil {
		p.SessionTimeout, p.LearnSession = b.sessions.Known, b.sessions.Learn
	}
	tokens, err := connections.NewTokens(p)
	if err != nil {
		t.Fatal(err)
	}
	v, err := verify.New(verify.Config{GoogleAPIURL: b.url + "/google", GraphURL: b.url + "/microsoft", ZoomAPIURL: b.url + "/zoom"})
	if err != nil {
		t.Fatal(err)
	}
	u, err := connections.NewUpkeep(connections.UpkeepParams{Tokens: tokens, Verifier: v, Due: b.st.Store, List: b.st.Store,
		Scheduler: b.scheduler, Zones: b.zones})
	if err != nil {
		t.Fatal(err)
	}
	return u
}

func (b *upkeepBundle) row(t *testing.T) connections.Connection {
	t.Helper()
	c, err := b.st.Store.GetConnection(t.Context(), b.orgID, b.connID)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func (b *upkeepBundle) storedRefresh(t *testing.T) string {
	t.Helper()
	tok, err := b.keys.OpenToken(b.row(t).RefreshTokenEnc, b.connID)
	if err != nil {
		t.Fatal(err)
	}
	return tok.Reveal()
}

func (b *upkeepBundle) counters() sandbox.GrantCounters {
	return b.sb.Counters().Grants[b.grant.GrantID]
}

func (b *upkeepBundle) tokenCalls() int64 {
	return b.sb.Counters().Endpoint(b.uc.provider, "token").Calls
}

// fault adds a fault through the sandbox's admin HTTP API.
func (b *upkeepBundle) fault(t *testing.T, f sandbox.Fault) {
	t.Helper()
	body, _ := json.Marshal(f)
	resp, err := http.Post(b.url+"/admin/faults", "application/json", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("POST /admin/faults: %s", resp.Status)
	}
}

func (b *upkeepBundle) clearFaults(t *testing.T) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodDelete, b.url+"/admin/faults", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
}

func (b *upkeepBundle) refresh(t *testing.T, u *connections.Upkeep, force bool) connections.Result {
	t.Helper()
	res, err := u.Refresh(t.Context(), b.orgID, b.connID, force)
	if err != nil {
		t.Fatalf("refresh: %v", err)
	}
	return res
}

// A due refresh of each provider stores what the provider answered (the rotated refresh
// token where it rotates), turns healthy, schedules the next refresh at expiry minus the
// window, and a second task for the same due time finds nothing to do.
func TestUpkeepRefreshPersistsRotation(t *testing.T) {
	for _, uc := range upkeepCases {
		t.Run(uc.name, func(t *testing.T) {
			storetest.Each(t, func(t *testing.T, s *store.Store) {
				b := upkeepSetup(t, s, uc)
				u := b.upkeep(t)
				res := b.refresh(t, u, false)
				if !res.Called || res.Failure != nil || res.Connection.State != connections.StateHealthy {
					t.Fatalf("refresh: called %t, failure %v, state %s", res.Called, res.Failure, res.Connection.State)
				}
				if c := b.counters(); c.Refreshes != 1 || c.DeadTokenReplays != 0 {
					t.Fatalf("provider saw %d refreshes, %d dead-token replays; want 1 and 0", c.Refreshes, c.DeadTokenReplays)
				}
				if rotated := b.storedRefresh(t) != b.grant.RefreshToken; rotated != uc.rotates {
					t.Fatalf("stored refresh token rotated %t, want %t", rotated, uc.rotates)
				}
				row := b.row(t)
				storetest.AssertTokensSealed(t, b.keys, row)
				next := row.NextRefreshAt.Sub(b.clock())
				if uc.provider == sandbox.Salesforce {
					// No expires_in: the default session (2 h) minus the window and jitter.
					if next < 2*time.Hour-13*time.Minute || next > 2*time.Hour-10*time.Minute {
						t.Fatalf("Salesforce next refresh in %s", next)
					}
				} else if want := row.ExpiresAt.Add(-10 * time.Minute); row.ExpiresAt.IsZero() || row.NextRefreshAt.After(want) || row.NextRefreshAt.Before(want.Add(-3*time.Minute)) {
					t.Fatalf("next refresh %s, expiry %s: want expiry minus 10-12 minutes", row.NextRefreshAt, row.ExpiresAt)
				}
				again := b.refresh(t, b.upkeep(t), false)
				if again.Called || again.Skipped == "" || b.counters().Refreshes != 1 {
					t.Fatalf("a second task for the same due time called the provider (skipped %q)", again.Skipped)
				}
				if got := b.metric(t, "tether_connection_refreshes_total", uc.kind.Provider(), "ok"); got != 1 {
					t.Fatalf("refreshes counted ok: %v, want 1", got)
				}
			})
		})
	}
}

// RefreshThen tells its callback the outcome once, on the caller's goroutine, before the
// lock is released (the release waits here until it has been told), and returns the
// same; when the lock cannot be taken it still tells, with the error.
func TestUpkeepRefreshThenTellsWhileReleasing(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		b := upkeepSetup(t, s, upkeepCases[0])
		told := make(chan struct{})
		var releasedFirst atomic.Bool
		b.locker = func(l connections.Locker) connections.Locker {
			return gatedLocker{Locker: l, gate: told, early: &releasedFirst}
		}
		u := b.upkeep(t)
		var got []connections.Result
		res, err := u.RefreshThen(t.Context(), b.orgID, b.connID, true, func(r connections.Result, err error) {
			if err != nil {
				t.Errorf("then: %v", err)
			}
			got = append(got, r)
			close(told)
		})
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != 1 || got[0].Connection.Version != res.Connection.Version || !got[0].Called || got[0].Failure != nil {
			t.Fatalf("then told %d times (%+v), want once with the result returned (%+v)", len(got), got, res)
		}
		if releasedFirst.Load() {
			t.Fatal("the lock was released before then was told")
		}

		ctx, cancel := context.WithCancel(t.Context())
		cancel()
		var errs []error
		if _, err := u.RefreshThen(ctx, b.orgID, b.connID, true, func(_ connections.Result, err error) { errs = append(errs, err) }); err == nil ||
			len(errs) != 1 || !errors.Is(errs[0], context.Canceled) {
			t.Fatalf("with the lock not taken: returned %v, then told %v; want the context's error, told once", err, errs)
		}
	})
}

// gatedLocker's leases wait, when released, until gate is closed (or 5 s, then early is
// set): the release must not have to end before the caller is told the outcome.
type gatedLocker struct {
	connections.Locker
	gate  chan struct{}
	early *atomic.Bool
}

func (g gatedLocker) Lock(ctx context.Context, key string) (connections.Lease, error) {
	l, err := g.Locker.Lock(ctx, key)
	if err != nil {
		return nil, err
	}
	return gatedLease{Lease: l, g: g}, nil
}

type gatedLease struct {
	connections.Lease
	g gatedLocker
}

func (l gatedLease) Unlock() {
	select {
	case <-l.g.gate:
	case <-time.After(5 * time.Second):
		l.g.early.Store(true)
	}
	l.Lease.Unlock()
}

// metric reads the counter name for provider (and outcome, when given) from the registry
// the real connection metrics write to.
func (b *upkeepBundle) metric(t *testing.T, name, provider, outcome string) float64 {
	t.Helper()
	mfs, err := b.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
	next:
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if (l.GetName() == "provider" && l.GetValue() != provider) || (l.GetName() == "outcome" && l.GetValue() != outcome) {
					continue next
				}
			}
			return m.GetCounter().GetValue()
		}
	}
	return 0
}

// Replaying a refresh token the provider retired: needs_reconnect with the provider's
// code, never due again, and no further provider call.
func TestUpkeepReplayOfDeadTokenNeedsReconnect(t *testing.T) {
	for _, uc := range upkeepCases {
		if !uc.oldDies {
			continue
		}
		t.Run(uc.name, func(t *testing.T) {
			storetest.Each(t, func(t *testing.T, s *store.Store) {
				b := upkeepSetup(t, s, uc)
				u := b.upkeep(t)
				b.refresh(t, u, false)
				// Put the retired token back, as a restore from an old backup would.
				row := b.row(t)
				row.RefreshTokenEnc = b.seal(t, b.grant.RefreshToken, row.ID)
				row.NextRefreshAt = b.clock().Add(-time.Second)
				if _, err := s.UpdateConnection(t.Context(), b.orgID, row, b.clock()); err != nil {
					t.Fatal(err)
				}
				res := b.refresh(t, u, false)
				row = b.row(t)
				if res.Failure == nil || row.State != connections.StateNeedsReconnect || row.FailureClass != connections.FailNeedsReconnect ||
					row.LastErrorCode != "invalid_grant" || !row.NextRefreshAt.IsZero() || row.FailureCause == connections.CauseLostDuringRefresh {
					t.Fatalf("after the replay: state %s class %s code %q cause %q next %s", row.State, row.FailureClass, row.LastErrorCode, row.FailureCause, row.NextRefreshAt)
				}
				if b.counters().DeadTokenReplays != 1 {
					t.Fatalf("%d dead-token replays, want 1", b.counters().DeadTokenReplays)
				}
				calls := b.tokenCalls()
				if res := b.refresh(t, u, false); res.Called || res.Skipped == "" || b.tokenCalls() != calls {
					t.Fatal("a connection needing a reconnect still called the provider")
				}
			})
		})
	}
}

// A 429 stores the provider's Retry-After as the next attempt: nothing calls the provider
// before it, not even an operator's forced refresh; after it the refresh works.
func TestUpkeepRateLimitHonoursRetryAfter(t *testing.T) {
	for _, uc := range upkeepCases {
		t.Run(uc.name, func(t *testing.T) {
			storetest.Each(t, func(t *testing.T, s *store.Store) {
				b := upkeepSetup(t, s, uc)
				u := b.upkeep(t)
				b.fault(t, sandbox.Fault{Provider: uc.provider, Endpoint: "token", Kind: sandbox.FaultStatus, Status: 429, RetryAfter: "600", Count: 1})
				res := b.refresh(t, u, false)
				row := b.row(t)
				if res.Failure == nil || res.Failure.Class != connections.FailRateLimited || row.State != connections.StateDegraded {
					t.Fatalf("after a 429: failure %v, state %s", res.Failure, row.State)
				}
				// Salesforce answers its token rate limit with a 400 and no Retry-After
				// (salesforce.md §5.5): the backoff applies.
				want := 10*time.Minute - time.Second // stored to the microsecond
				if uc.provider == sandbox.Salesforce {
					want = 30 * time.Second
				}
				if wait := row.NextAttemptAt.Sub(b.clock()); wait < want || !row.NextRefreshAt.Equal(row.NextAttemptAt) {
					t.Fatalf("next attempt in %s (next refresh %s), want at least %s", wait, row.NextRefreshAt, want)
				}
				calls := b.tokenCalls()
				var notYet *connections.NotYetError
				if _, err := u.Refresh(t.Context(), b.orgID, b.connID, true); !errors.As(err, &notYet) || notYet.Delay < want-time.Second {
					t.Fatalf("forced refresh before Retry-After: %v, want NotYetError", err)
				}
				if res := b.refresh(t, u, false); res.Called || b.tokenCalls() != calls {
					t.Fatal("a task before the Retry-After called the provider")
				}
				b.advanceTo(row.NextAttemptAt)
				if res := b.refresh(t, u, false); res.Failure != nil || res.Connection.State != connections.StateHealthy || !res.Connection.NextAttemptAt.IsZero() {
					t.Fatalf("after the Retry-After: failure %v state %s", res.Failure, res.Connection.State)
				}
			})
		})
	}
}

// 5xx answers are retried with backoff, keep the tokens, and after 5 failures over at
// least 6 hours the connection is error; it recovers on the first success.
func TestUpkeepTransientStreakTurnsError(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		b := upkeepSetup(t, s, upkeepCases[3]) // zoom: rotating, old dies
		u := b.upkeep(t)
		b.fault(t, sandbox.Fault{Provider: sandbox.Zoom, Endpoint: "token", Kind: sandbox.FaultStatus, Status: 503})
		start := b.clock()
		var row connections.Connection
		for i := 0; i < 30; i++ {
			res := b.refresh(t, u, false)
			row = b.row(t)
			if !res.Called || res.Failure == nil || res.Failure.Class != connections.FailTransient {
				t.Fatalf("attempt %d: called %t failure %v", i, res.Called, res.Failure)
			}
			if row.State == connections.StateError {
				break
			}
			if row.State != connections.StateDegraded {
				t.Fatalf("attempt %d: state %s", i, row.State)
			}
			b.advanceTo(row.NextRefreshAt)
		}
		if row.State != connections.StateError || row.ConsecutiveFailures < 5 || b.clock().Sub(start) < 6*time.Hour || !row.FailingSince.Equal(start.Truncate(time.Microsecond)) {
			t.Fatalf("after the streak: state %s, %d failures over %s", row.State, row.ConsecutiveFailures, b.clock().Sub(start))
		}
		if b.storedRefresh(t) != b.grant.RefreshToken {
			t.Fatal("a failed refresh changed the stored refresh token")
		}
		if next := row.NextRefreshAt.Sub(b.clock()); next < 6*time.Hour {
			t.Fatalf("a connection in error is retried in %s, want at least 6 h", next)
		}
		b.clearFaults(t)
		b.advanceTo(row.NextRefreshAt)
		if res := b.refresh(t, u, false); res.Connection.State != connections.StateHealthy || res.Connection.ConsecutiveFailures != 0 {
			t.Fatalf("after recovery: state %s", res.Connection.State)
		}
	})
}

// Twenty refresh tasks for one due connection, each on its own worker (its own Tokens)
// over the same Redis and store: exactly one provider refresh, read from the sandbox, for
// every provider (where the old token survives, a second refresh would not show as a
// replay, only in the count).
func TestUpkeepConcurrentTasksRefreshOnce(t *testing.T) {
	for _, uc := range upkeepCases {
		t.Run(uc.name, func(t *testing.T) {
			storetest.Each(t, func(t *testing.T, s *store.Store) {
				b := upkeepSetup(t, s, uc)
				const tasks = 20
				workers := make([]*connections.Upkeep, tasks)
				for i := range workers {
					workers[i] = b.upkeep(t)
				}
				results := make([]connections.Result, tasks)
				var wg sync.WaitGroup
				for i, u := range workers {
					wg.Add(1)
					go func() {
						defer wg.Done()
						res, err := u.Refresh(context.Background(), b.orgID, b.connID, false)
						if err != nil {
							t.Errorf("task %d: %v", i, err)
						}
						results[i] = res
					}()
				}
				wg.Wait()
				called := 0
				for _, r := range results {
					if r.Called {
						called++
					}
				}
				if c := b.counters(); c.Refreshes != 1 || c.DeadTokenReplays != 0 || called != 1 {
					t.Fatalf("provider saw %d refreshes and %d dead-token replays, %d tasks called; want 1, 0, 1", c.Refreshes, c.DeadTokenReplays, called)
				}
				if b.row(t).State != connections.StateHealthy {
					t.Fatalf("state %s after the refresh", b.row(t).State)
				}
				if rotated := b.storedRefresh(t) != b.grant.RefreshToken; rotated != uc.rotates {
					t.Fatalf("stored refresh token rotated %t, want %t", rotated, uc.rotates)
				}
			})
		})
	}
}

// A personal connection's rotated token survives a failed write: kept sealed in the
// pending slot, used by the next worker without calling the provider.
func TestUpkeepFailedWriteKeepsToken(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		b := upkeepSetup(t, s, upkeepCases[3]) // zoom: the old token dies at once
		b.st.failUpdates.Store(true)
		if _, err := b.upkeep(t).Refresh(t.Context(), b.orgID, b.connID, false); !errors.Is(err, errOutage) {
			t.Fatalf("refresh during the outage: %v, want the outage", err)
		}
		if len(b.row(t).PendingTokenEnc) == 0 {
			t.Fatal("the rotated set is not in the pending slot")
		}
		b.st.failUpdates.Store(false)
		res := b.refresh(t, b.upkeep(t), false)
		if res.Called || res.Connection.State != connections.StateHealthy {
			t.Fatalf("the next worker: called %t, state %s", res.Called, res.Connection.State)
		}
		if c := b.counters(); c.Refreshes != 1 || c.DeadTokenReplays != 0 || b.storedRefresh(t) == b.grant.RefreshToken {
			t.Fatalf("provider saw %d refreshes, %d replays; rotated token stored: %t", c.Refreshes, c.DeadTokenReplays, b.storedRefresh(t) != b.grant.RefreshToken)
		}
		// The recovered token works.
		b.advanceTo(b.row(t).NextRefreshAt)
		if res := b.refresh(t, b.upkeep(t), false); res.Failure != nil || b.counters().DeadTokenReplays != 0 {
			t.Fatalf("refresh with the recovered token: %v", res.Failure)
		}
	})
}

// A worker killed between the provider's answer and its commit (nothing of the answer is
// written: not the row, not the pending slot, not the stash). With a provider whose old
// token survives, the next worker refreshes with it and nothing is lost; with one whose
// old token died, the connection is needs_reconnect with cause lost_during_refresh (not a
// revoke) and the loss is counted.
func TestUpkeepKilledBetweenAnswerAndCommit(t *testing.T) {
	for _, uc := range upkeepCases {
		if !uc.rotates {
			continue
		}
		t.Run(uc.name, func(t *testing.T) {
			storetest.Each(t, func(t *testing.T, s *store.Store) {
				b := upkeepSetup(t, s, uc)
				b.st.failUpdates.Store(true)
				b.st.failPending.Store(true)
				b.stash.mu.Lock()
				b.stash.refuse = true
				b.stash.mu.Unlock()
				if _, err := b.upkeep(t).Refresh(t.Context(), b.orgID, b.connID, false); err == nil {
					t.Fatal("the killed refresh reported success")
				}
				if b.storedRefresh(t) != b.grant.RefreshToken || len(b.row(t).PendingTokenEnc) != 0 {
					t.Fatal("something of the killed refresh's answer was written")
				}
				b.st.failUpdates.Store(false)
				b.st.failPending.Store(false)
				b.stash.mu.Lock()
				b.stash.refuse = false
				b.stash.mu.Unlock()

				res := b.refresh(t, b.upkeep(t), false) // a fresh worker
				row := b.row(t)
				lost := b.metric(t, "tether_connection_lost_during_refresh_total", uc.kind.Provider(), "")
				if !uc.oldDies {
					if res.Failure != nil || row.State != connections.StateHealthy || b.counters().Refreshes != 2 || lost != 0 {
						t.Fatalf("old token survives: failure %v, state %s, %d refreshes, %v lost", res.Failure, row.State, b.counters().Refreshes, lost)
					}
					return
				}
				if row.State != connections.StateNeedsReconnect || row.FailureCause != connections.CauseLostDuringRefresh ||
					!strings.Contains(row.FailureReason, "lost") || lost != 1 {
					t.Fatalf("old token died: state %s, cause %q, reason %q, %v counted lost", row.State, row.FailureCause, row.FailureReason, lost)
				}
			})
		})
	}
}

// TestResealCoversTheStash: a rotated set parked in the Redis stash (the database refused
// the row and its pending slot) under the old key is counted by keys status and resealed
// by keys reseal; with the old key dropped, the next refresh still opens it and settles
// it without calling the provider. On both stores, on real Redis.
func TestResealCoversTheStash(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		b := upkeepSetup(t, s, upkeepCases[3]) // zoom: the old token dies at once
		ctx := t.Context()
		b.st.failUpdates.Store(true)
		b.st.failPending.Store(true)
		if _, err := b.upkeep(t).Refresh(ctx, b.orgID, b.connID, false); !errors.Is(err, errOutage) {
			t.Fatalf("refresh during the outage: %v, want the outage", err)
		}
		parked, err := b.stash.Get(ctx, connections.StashPendingPrefix+b.connID)
		if err != nil || len(parked) == 0 {
			t.Fatalf("the rotated set is not in the stash: %v", err)
		}
		b.st.failUpdates.Store(false)
		b.st.failPending.Store(false)

		_, k2, err := vault.GenerateKeyring("k2")
		if err != nil {
			t.Fatal(err)
		}
		ks, err := keys.New(s, b.stash.Stash, ringOf(t, k2+","+b.keySpec))
		if err != nil {
			t.Fatal(err)
		}
		stashed := func(st []keys.KeyCount, id string) int {
			for _, c := range st {
				if c.KeyID == id {
					return c.Stashed
				}
			}
			return -1
		}
		if st, err := ks.Status(ctx, 0); err != nil || stashed(st, "test") != 1 || stashed(st, "k2") != 0 {
			t.Fatalf("status before the reseal: %+v, %v; want the parked set under test", st, err)
		}
		p, err := ks.Reseal(ctx, 0, nil)
		if err != nil || p.Stashed != 1 {
			t.Fatalf("reseal: %+v, %v; want the parked set resealed", p, err)
		}
		if st, err := ks.Status(ctx, 0); err != nil || stashed(st, "test") != 0 || stashed(st, "k2") != 1 || st[1].Values != 0 {
			t.Fatalf("status after the reseal: %+v, %v; want nothing left under test", st, err)
		}
		if ttl := b.rdb.PTTL(ctx, b.stash.Key(connections.StashPendingPrefix+b.connID)).Val(); ttl <= 0 {
			t.Fatalf("the resealed set lost its expiry (%v)", ttl)
		}

		// The old key is dropped: the next worker opens the parked set with k2 alone.
		b.keys = ringOf(t, k2)
		res := b.refresh(t, b.upkeep(t), false)
		if res.Called || res.Connection.State != connections.StateHealthy {
			t.Fatalf("the refresh after dropping the old key: called %t, state %s, failure %v", res.Called, res.Connection.State, res.Failure)
		}
		if c := b.counters(); c.Refreshes != 1 || c.DeadTokenReplays != 0 || b.storedRefresh(t) == b.grant.RefreshToken {
			t.Fatalf("provider saw %d refreshes, %d replays; rotated token stored: %t", c.Refreshes, c.DeadTokenReplays, b.storedRefresh(t) != b.grant.RefreshToken)
		}
		if v, err := b.stash.Get(ctx, connections.StashPendingPrefix+b.connID); err != nil || v != nil {
			t.Fatalf("the settled set is still parked: %d bytes, %v", len(v), err)
		}
	})
}

func ringOf(t *testing.T, spec string) *vault.Keyring {
	t.Helper()
	k, err := vault.ParseKeyring(spec)
	if err != nil {
		t.Fatal(err)
	}
	return k
}
