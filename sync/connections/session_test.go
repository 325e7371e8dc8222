package connections_test

import (
	"context"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"tether/connectors/oauth"
	"tether/connectors/sandbox"
	"tether/sync/connections"
	"tether/sync/directory"
	"tether/sync/store"
	"tether/sync/store/storetest"
)

// setSession sets the Salesforce org's session timeout over the sandbox's admin HTTP API.
func (b *upkeepBundle) setSession(t *testing.T, sfOrg, timeout string) {
	t.Helper()
	resp, err := http.Post(b.url+"/admin/salesforce/orgs/"+sfOrg+"/session", "application/json",
		strings.NewReader(`{"timeout":"`+timeout+`"}`))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("POST /admin/salesforce/orgs/%s/session %s: %s", sfOrg, timeout, resp.Status)
	}
}

// TestRefreshLearnsSalesforceSessionTimeout: a Salesforce refresh learns the org's session
// timeout (set over the sandbox's admin API) by introspecting its new access token, at
// most once a day per org on the injected clock, and schedules the next refresh by it
// (session − 10 min window − up to 2 min jitter); a changed timeout is learned again after
// a day, not before; an introspection failure keeps the value known, is reported once and
// never fails the refresh. On both stores.
func TestRefreshLearnsSalesforceSessionTimeout(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		b := upkeepSetup(t, s, upkeepCases[0])
		ctx := t.Context()
		sfOrg := b.row(t).ProviderOrgID
		var mu sync.Mutex
		var reported []error
		var err error
		claims := &claimCounter{SessionStore: s}
		b.sessions, err = connections.NewSessionLearner(connections.SessionLearnerParams{Store: claims,
			Introspector: oauth.SalesforceSessions{Client: b.oc}, Clock: b.clock,
			Errors: func(orgID string, err error) {
				mu.Lock()
				defer mu.Unlock()
				if orgID != b.orgID {
					t.Errorf("reported for org %s", orgID)
				}
				reported = append(reported, err)
			}})
		if err != nil {
			t.Fatal(err)
		}
		u := b.upkeep(t)
		introspections := func() int64 { return b.sb.Counters().Endpoint(sandbox.Salesforce, "introspect").Calls }
		org := func() directory.SalesforceSession {
			o, err := s.GetOrg(ctx, b.orgID)
			if err != nil {
				t.Fatal(err)
			}
			return o.SalesforceSession
		}
		// refresh runs a forced refresh at the clock's now, verification not due (so the
		// schedule is the refresh's), and checks it is by session.
		refresh := func(step string, session time.Duration) {
			t.Helper()
			c := b.row(t)
			c.LastVerifiedAt = b.clock()
			if _, err := s.UpdateConnection(ctx, b.orgID, c, b.clock()); err != nil {
				t.Fatal(err)
			}
			res := b.refresh(t, u, true)
			now := b.clock().UTC()
			if res.Failure != nil || res.Connection.State != connections.StateHealthy || !res.Called {
				t.Fatalf("%s: refresh %+v", step, res)
			}
			got := b.row(t).NextRefreshAt
			lo, hi := now.Add(session-12*time.Minute).Add(-time.Second), now.Add(session-10*time.Minute).Add(time.Second)
			if got.Before(lo) || got.After(hi) {
				t.Fatalf("%s: next refresh in %s, want %s minus 10-12 min", step, got.Sub(now), session)
			}
		}

		b.setSession(t, sfOrg, "30m")
		start := b.clock().UTC()
		refresh("first refresh", 30*time.Minute)
		if n := introspections(); n != 1 {
			t.Fatalf("introspections after the first refresh: %d, want 1", n)
		}
		if got := org(); got.Timeout != 30*time.Minute || !got.LearnedAt.Equal(start.Truncate(time.Microsecond)) {
			t.Fatalf("org after the first refresh: %+v", got)
		}

		// The org's admin changes it: within the day nothing is introspected, the known 30m stands.
		b.setSession(t, sfOrg, "45m")
		b.advanceTo(start.Add(23 * time.Hour))
		refresh("a refresh 23 h later", 30*time.Minute)
		refresh("another refresh 23 h later", 30*time.Minute)
		if n := introspections(); n != 1 {
			t.Fatalf("introspections within the day: %d, want 1", n)
		}

		// A day after the last check, the next refresh learns 45m and schedules by it.
		day2 := start.Add(24*time.Hour + time.Second)
		b.advanceTo(day2)
		refresh("the refresh a day later", 45*time.Minute)
		if n := introspections(); n != 2 {
			t.Fatalf("introspections a day later: %d, want 2", n)
		}
		if got := org(); got.Timeout != 45*time.Minute || !got.LearnedAt.Equal(day2.Truncate(time.Microsecond)) {
			t.Fatalf("org a day later: %+v", got)
		}

		// Introspection fails the next day: the refresh stands, 45m is kept, one report,
		// and no second attempt that day.
		b.fault(t, sandbox.Fault{Provider: sandbox.Salesforce, Endpoint: "introspect", Kind: sandbox.FaultStatus, Status: 503})
		day3 := day2.Add(24*time.Hour + time.Second)
		b.advanceTo(day3)
		refresh("the refresh whose introspection fails", 45*time.Minute)
		b.advanceTo(day3.Add(time.Hour))
		refresh("a refresh an hour after the failure", 45*time.Minute)
		if n := introspections(); n != 3 {
			t.Fatalf("introspections after the failure: %d, want 3 (one attempt that day)", n)
		}
		got := org()
		if got.Timeout != 45*time.Minute || !got.LearnedAt.Equal(day2.Truncate(time.Microsecond)) || !got.CheckedAt.Equal(day3.Truncate(time.Microsecond)) {
			t.Fatalf("org after the failed check: %+v", got)
		}
		mu.Lock()
		defer mu.Unlock()
		// Six refreshes, three checks due: a refresh whose check is not due by the org row
		// it already read makes no claim (no write per Salesforce refresh).
		if n := claims.n.Load(); n != 3 {
			t.Fatalf("session check claims: %d, want 3 (one per day due)", n)
		}
		if len(reported) != 1 || !strings.Contains(reported[0].Error(), "503") {
			t.Fatalf("reports: %v, want one naming the 503", reported)
		}
		for _, secret := range []string{sandbox.DefaultSalesforceClientSecret, b.storedRefresh(t)} {
			if strings.Contains(reported[0].Error(), secret) {
				t.Fatalf("the report holds a secret: %v", reported[0])
			}
		}
	})
}

// claimCounter counts the learner's claims on the org row.
type claimCounter struct {
	connections.SessionStore
	n atomic.Int64
}

func (c *claimCounter) ClaimSalesforceSessionCheck(ctx context.Context, orgID string, at time.Time, every time.Duration) (bool, error) {
	c.n.Add(1)
	return c.SessionStore.ClaimSalesforceSessionCheck(ctx, orgID, at, every)
}

// TestVerifyUsesLearnedSalesforceSession: the org's learned session is 30 min (the
// default 2 h) and the access token 40 min old, so verification refreshes first instead
// of calling Salesforce with a token the org's session may have ended, and schedules the
// next refresh by the learned session too. On both stores.
func TestVerifyUsesLearnedSalesforceSession(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		b := upkeepSetup(t, s, upkeepCases[0])
		ctx := t.Context()
		now := b.clock()
		if err := s.SetSalesforceSession(ctx, b.orgID, 30*time.Minute, now.Add(-time.Hour)); err != nil {
			t.Fatal(err)
		}
		var err error
		claims := &claimCounter{SessionStore: s}
		b.sessions, err = connections.NewSessionLearner(connections.SessionLearnerParams{Store: claims,
			Introspector: oauth.SalesforceSessions{Client: b.oc}, Clock: b.clock})
		if err != nil {
			t.Fatal(err)
		}
		c := b.row(t)
		c.LastRefreshedAt, c.ExpiresAt, c.LastVerifiedAt = now.Add(-40*time.Minute), time.Time{}, now.Add(-40*time.Minute)
		c.Scopes = []string{"api", "refresh_token", "id"} // as a refresh records them
		if _, err := s.UpdateConnection(ctx, b.orgID, c, now); err != nil {
			t.Fatal(err)
		}
		res, err := b.upkeep(t).Verify(ctx, b.orgID, b.connID, true)
		if err != nil || res.Failure != nil || !res.Called {
			t.Fatalf("verify: %+v, %v", res, err)
		}
		if g := b.counters(); g.Refreshes != 1 || g.Calls != 1 {
			t.Fatalf("the sandbox saw %d refreshes and %d API calls, want 1 refresh before the 1 verification call", g.Refreshes, g.Calls)
		}
		row := b.row(t)
		lo, hi := now.Add(18*time.Minute).Add(-time.Second), now.Add(20*time.Minute).Add(time.Second)
		if row.NextRefreshAt.Before(lo) || row.NextRefreshAt.After(hi) {
			t.Fatalf("next refresh in %s, want 30 min minus 10-12 min", row.NextRefreshAt.Sub(now))
		}
	})
}
