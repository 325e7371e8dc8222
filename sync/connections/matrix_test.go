package connections_test

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"tether/connectors/oauth"
	"tether/connectors/sandbox"
	"tether/sync/connections"
	"tether/sync/directory"
	"tether/sync/members"
	"tether/sync/store"
	"tether/sync/store/storetest"
)

// The "Done when" matrix of issue 14, over HTTP against the sandbox, one subtest per
// (case, provider), on PostgreSQL and SQLite. Faults, answers, disabled users and scope
// changes are set through the sandbox's admin HTTP API, as an operator would; the refresh
// runs through connections.Upkeep built as the worker builds it (Redis lock and stash,
// the OAuth client, the verifier). Cases an existing test already proves are not
// repeated here:
//   - the 429 at the token endpoint honouring Retry-After: TestUpkeepRateLimitHonoursRetryAfter
//   - a Zoom 503 streak: TestUpkeepTransientStreakTurnsError
//   - deactivation revoking at the sandbox and freeing the seat: worker's
//     TestDeactivateMemberAgainstSandbox (all four providers, one of them down)
//   - 20 concurrent refreshes: TestUpkeepConcurrentTasksRefreshOnce (in process) and
//     worker's TestConcurrentRefreshTasksThroughLiveWorkers (real Asynq servers)
//   - a worker killed between answer and commit: cmd/tether's TestWorkerKilledAfterTheAnswer
//     (a real process, SIGKILLed)
type matrixCase struct {
	name string
	// applies: nil for every provider.
	applies func(uc upkeepCase) bool
	run     func(t *testing.T, b *upkeepBundle)
}

var matrixCases = []matrixCase{
	{name: "rotation persisted", run: matrixRotation},
	{name: "dead token needs reconnect", run: matrixDeadToken},
	{name: "disabled account needs admin", run: matrixDisabled},
	{name: "intermittent gets one confirming retry", run: matrixIntermittent,
		applies: func(uc upkeepCase) bool { return uc.provider == sandbox.Microsoft }}, // the only provider documenting one
	{name: "api rate limit honours Retry-After", run: matrixAPIRateLimit},
	{name: "5xx retried then error", run: matrixServerErrors},
	{name: "timeouts retried then error", run: matrixTimeouts},
	{name: "deleted client needs operator", run: matrixDeletedClient},
	{name: "wrong client secret needs operator", run: matrixWrongSecret},
	{name: "scope loss found by verify", run: matrixScopeLoss},
	{name: "failed write keeps token", run: matrixFailedWrite},
}

func TestUpkeepMatrix(t *testing.T) {
	for _, mc := range matrixCases {
		t.Run(mc.name, func(t *testing.T) {
			for _, uc := range upkeepCases {
				if mc.applies != nil && !mc.applies(uc) {
					continue
				}
				t.Run(uc.name, func(t *testing.T) {
					storetest.Each(t, func(t *testing.T, s *store.Store) {
						b := upkeepSetup(t, s, uc)
						ms, err := members.New(members.Config{Store: s})
						if err != nil {
							t.Fatal(err)
						}
						b.observer = ms
						mc.run(t, b)
					})
				})
			}
		})
	}
}

// admin posts body to the sandbox's admin API and fails the test unless it answers 200.
func (b *upkeepBundle) admin(t *testing.T, path string, body any) {
	t.Helper()
	raw, _ := json.Marshal(body)
	resp, err := http.Post(b.url+path, "application/json", bytes.NewReader(raw))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		msg, _ := io.ReadAll(resp.Body)
		t.Fatalf("POST %s: %s %s", path, resp.Status, msg)
	}
}

// fingerprint is the sandbox's view of the grant, read over GET /admin/fingerprints: a
// digest of the refresh token it considers current, never the token.
func (b *upkeepBundle) fingerprint(t *testing.T) sandbox.Fingerprint {
	t.Helper()
	resp, err := http.Get(b.url + "/admin/fingerprints")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var fs []sandbox.Fingerprint
	if err := json.NewDecoder(resp.Body).Decode(&fs); err != nil {
		t.Fatal(err)
	}
	for _, f := range fs {
		if f.ID == b.grant.GrantID {
			return f
		}
	}
	t.Fatalf("the sandbox lists no grant %s", b.grant.GrantID)
	return sandbox.Fingerprint{}
}

// assertCurrent: the stored refresh token is the one the sandbox considers current.
func (b *upkeepBundle) assertCurrent(t *testing.T) {
	t.Helper()
	f := b.fingerprint(t)
	if !f.Live || f.RefreshSHA256 != sandbox.TokenSHA256(b.storedRefresh(t)) {
		t.Fatalf("the stored refresh token is not the sandbox's current one (grant live %t, %s)", f.Live, f.Ended)
	}
}

// reason is the member's Action Required reason naming the connection.
func (b *upkeepBundle) reason(t *testing.T) (directory.ActionReason, bool) {
	t.Helper()
	m, err := b.st.Store.GetMembership(t.Context(), b.orgID, b.row(t).MembershipID)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range m.ActionRequired {
		if r.ConnectionID == b.connID {
			return r, true
		}
	}
	return directory.ActionReason{}, false
}

// rotated refreshes once, after which the provider's current token is the stored one.
func matrixRotation(t *testing.T, b *upkeepBundle) {
	res := b.refresh(t, b.upkeep(t), false)
	if res.Failure != nil || res.Connection.State != connections.StateHealthy {
		t.Fatalf("refresh: failure %v, state %s", res.Failure, res.Connection.State)
	}
	f := b.fingerprint(t)
	if f.Refreshes != 1 || (f.Rotations == 1) != b.uc.rotates {
		t.Fatalf("sandbox: %d refreshes, %d rotations; rotates %t", f.Refreshes, f.Rotations, b.uc.rotates)
	}
	b.assertCurrent(t)
	// The next due refresh works with what was stored (a lost rotation would fail here).
	b.advanceTo(b.row(t).NextRefreshAt)
	if res := b.refresh(t, b.upkeep(t), false); res.Failure != nil || !res.Called {
		t.Fatalf("second refresh: called %t failure %v", res.Called, res.Failure)
	}
	b.assertCurrent(t)
	if f := b.fingerprint(t); f.DeadTokenReplays != 0 || f.Refreshes != 2 {
		t.Fatalf("sandbox: %d refreshes, %d dead-token replays", f.Refreshes, f.DeadTokenReplays)
	}
}

// A token the provider killed: a rotated-out one put back (Salesforce and Zoom kill the
// old token at once), or a grant revoked at the provider (Google, Microsoft, whose old
// tokens do not die on rotation). needs_reconnect, the rep told, no call after.
func matrixDeadToken(t *testing.T, b *upkeepBundle) {
	u := b.upkeep(t)
	if b.uc.oldDies {
		b.refresh(t, u, false)
		row := b.row(t)
		row.RefreshTokenEnc = b.seal(t, b.grant.RefreshToken, row.ID)
		row.NextRefreshAt = b.clock().Add(-time.Second)
		if _, err := b.st.Store.UpdateConnection(t.Context(), b.orgID, row, b.clock()); err != nil {
			t.Fatal(err)
		}
	} else {
		b.admin(t, "/admin/grants/"+b.grant.GrantID+"/revoke", nil)
	}
	res := b.refresh(t, u, false)
	row := b.row(t)
	if res.Failure == nil || row.State != connections.StateNeedsReconnect || row.FailureClass != connections.FailNeedsReconnect ||
		row.LastErrorCode != "invalid_grant" || !row.NextRefreshAt.IsZero() {
		t.Fatalf("state %s class %s code %q next %s", row.State, row.FailureClass, row.LastErrorCode, row.NextRefreshAt)
	}
	if b.fingerprint(t).DeadTokenReplays != 1 {
		t.Fatalf("%d dead-token replays at the sandbox, want 1", b.fingerprint(t).DeadTokenReplays)
	}
	if r, ok := b.reason(t); !ok || r.Actor != directory.ActorRep || r.State != string(connections.StateNeedsReconnect) {
		t.Fatalf("member's reason %+v (found %t), want the rep to reconnect", r, ok)
	}
	calls := b.tokenCalls()
	b.advanceTo(b.clock().Add(7 * 24 * time.Hour))
	if res := b.refresh(t, u, false); res.Called || b.tokenCalls() != calls {
		t.Fatal("a connection needing a reconnect called the provider again")
	}
}

// The user's account disabled at the provider (POST /admin/users/{p}/{id}/active): the
// admin's state with the provider's reason; the member's reason names the admin, so the
// rep is not asked to reconnect; probed at most every 6 h.
func matrixDisabled(t *testing.T, b *upkeepBundle) {
	gi, ok := b.sb.LookupGrant(b.grant.GrantID)
	if !ok {
		t.Fatal("no grant")
	}
	b.admin(t, "/admin/users/"+string(b.uc.provider)+"/"+gi.Subject+"/active", map[string]bool{"active": false})
	res := b.refresh(t, b.upkeep(t), false)
	row := b.row(t)
	if res.Failure == nil || row.State != connections.StateNeedsAdmin || row.FailureClass != connections.FailNeedsAdmin ||
		row.FailureReason == "" || row.LastErrorCode == "" {
		t.Fatalf("state %s class %s code %q reason %q", row.State, row.FailureClass, row.LastErrorCode, row.FailureReason)
	}
	if wait := row.NextRefreshAt.Sub(b.clock()); wait < 6*time.Hour {
		t.Fatalf("a disabled account is probed again in %s, want at least 6 h", wait)
	}
	r, found := b.reason(t)
	if !found || r.Actor != directory.ActorAdmin || r.State != string(connections.StateNeedsAdmin) || strings.HasPrefix(r.Message, "reconnect") {
		t.Fatalf("member's reason %+v (found %t): want the admin, not the rep", r, found)
	}
	if b.storedRefresh(t) != b.grant.RefreshToken {
		t.Fatal("the tokens were dropped: re-enabling the account would not bring the connection back")
	}
}

// Microsoft's AADSTS70000 is documented as possibly intermittent: one confirming attempt
// after the pause, never more. Once it clears the connection is healthy; when it persists
// the class applies (the rep reconnects) and nothing calls again.
func matrixIntermittent(t *testing.T, b *upkeepBundle) {
	for _, persists := range []bool{false, true} {
		count := 1
		if persists {
			count = 0 // until cleared
		}
		if persists {
			b.advanceTo(b.row(t).NextRefreshAt)
		}
		b.admin(t, "/admin/grants/"+b.grant.GrantID+"/answer", map[string]any{"answer": "intermittent", "count": count})
		u := b.upkeep(t)
		before := b.tokenCalls()
		res := b.refresh(t, u, false)
		row := b.row(t)
		if res.Failure == nil || row.State != connections.StateDegraded || row.FailureCause != connections.CauseAwaitingConfirmation {
			t.Fatalf("first answer: state %s cause %q", row.State, row.FailureCause)
		}
		if res := b.refresh(t, u, false); res.Called {
			t.Fatal("a task before the confirming pause called the provider")
		}
		b.advanceTo(row.NextAttemptAt)
		res = b.refresh(t, u, false)
		row = b.row(t)
		if got := b.tokenCalls() - before; got != 2 {
			t.Fatalf("%d token calls, want 2 (the answer and one confirming retry)", got)
		}
		if !persists {
			if res.Failure != nil || row.State != connections.StateHealthy {
				t.Fatalf("confirming retry after the answer cleared: failure %v state %s", res.Failure, row.State)
			}
			continue
		}
		if row.State != connections.StateNeedsReconnect || row.FailureSubCode != "70000" {
			t.Fatalf("confirmed: state %s subcode %q", row.State, row.FailureSubCode)
		}
		b.advanceTo(b.clock().Add(24 * time.Hour))
		if res := b.refresh(t, u, false); res.Called || b.tokenCalls()-before != 2 {
			t.Fatal("a confirmed dead grant called the provider again")
		}
	}
}

// API rate limits found by a verification: Google's 403 quotaExceeded and Graph's 429
// throttling with a Retry-After the operator sets on the fault (longer than the
// provider's usual one, so honouring it shows), Zoom's daily limit (Retry-After: next UTC
// midnight, RFC 3339) and Salesforce's spent daily allocation (no Retry-After: the
// documented hour). next_attempt_at is not before it, and nothing calls before it.
func matrixAPIRateLimit(t *testing.T, b *upkeepBundle) {
	u := b.upkeep(t)
	b.refresh(t, u, false) // a fresh token, so verify calls the API at once
	var want time.Duration
	switch b.uc.provider {
	case sandbox.Salesforce:
		b.admin(t, "/admin/grants/"+b.grant.GrantID+"/answer", map[string]any{"answer": "daily_limit", "count": 1})
		want = oauth.SalesforceDailyLimitBackoff
	case sandbox.Google:
		b.admin(t, "/admin/faults", sandbox.Fault{Provider: sandbox.Google, Kind: sandbox.FaultAnswer, Answer: "quota_exceeded", RetryAfter: "7200", Count: 1})
		want = 2 * time.Hour
	case sandbox.Microsoft:
		b.admin(t, "/admin/faults", sandbox.Fault{Provider: sandbox.Microsoft, Kind: sandbox.FaultAnswer, Answer: "throttled", RetryAfter: "900", Count: 1})
		want = 15 * time.Minute
	case sandbox.Zoom:
		b.admin(t, "/admin/grants/"+b.grant.GrantID+"/answer", map[string]any{"answer": "daily_limit", "count": 1})
		want = b.clock().UTC().Truncate(24 * time.Hour).Add(24 * time.Hour).Sub(b.clock())
	}
	want -= 2 * time.Second // Retry-After in whole seconds, read a moment later
	res, err := u.Verify(t.Context(), b.orgID, b.connID, true)
	if err != nil {
		t.Fatal(err)
	}
	row := b.row(t)
	if res.Failure == nil || res.Failure.Class != connections.FailRateLimited || row.State != connections.StateDegraded {
		t.Fatalf("verify: failure %v state %s", res.Failure, row.State)
	}
	if wait := row.NextAttemptAt.Sub(b.clock()); wait < want || !row.NextRefreshAt.Equal(row.NextAttemptAt) {
		t.Fatalf("next attempt in %s, want at least %s (failure %+v)", wait, want, *res.Failure)
	}
	calls := b.sb.Counters().Grants[b.grant.GrantID].Calls
	if res, _ := u.Verify(t.Context(), b.orgID, b.connID, false); res.Called || b.sb.Counters().Grants[b.grant.GrantID].Calls != calls {
		t.Fatal("a verification before the Retry-After called the provider")
	}
	if res := b.refresh(t, u, false); res.Called {
		t.Fatal("a refresh before the Retry-After called the provider")
	}
	b.advanceTo(row.NextAttemptAt)
	if res, err := u.Verify(t.Context(), b.orgID, b.connID, true); err != nil || res.Failure != nil || b.row(t).State != connections.StateHealthy {
		t.Fatalf("verification after the Retry-After: %v %v (skipped %q)", err, res.Failure, res.Skipped)
	}
}

// streak runs due refreshes against a fault until the connection is error, moving the
// injected clock to each next attempt; it returns the row and the attempts made.
func (b *upkeepBundle) streak(t *testing.T, u *connections.Upkeep) (connections.Connection, int) {
	t.Helper()
	start, stored := b.clock(), b.storedRefresh(t)
	var row connections.Connection
	for i := 1; i <= 30; i++ {
		res := b.refresh(t, u, false)
		row = b.row(t)
		if !res.Called || res.Failure == nil || !res.Failure.Class.Retried() {
			t.Fatalf("attempt %d: called %t failure %v", i, res.Called, res.Failure)
		}
		if row.State == connections.StateError {
			// The streak runs from its first failure, which may precede this loop (the
			// timeouts' first hang).
			if row.FailingSince.IsZero() || row.FailingSince.After(start) {
				t.Fatalf("error with failing_since %s, want the streak's first failure (at or before %s)", row.FailingSince, start)
			}
			if row.ConsecutiveFailures < 5 || b.clock().Sub(row.FailingSince) < 6*time.Hour {
				t.Fatalf("error after %d failures over %s", row.ConsecutiveFailures, b.clock().Sub(row.FailingSince))
			}
			if next := row.NextRefreshAt.Sub(b.clock()); next < 6*time.Hour {
				t.Fatalf("a connection in error is retried in %s, want at least 6 h", next)
			}
			if b.storedRefresh(t) != stored {
				t.Fatal("a failed refresh changed the stored refresh token")
			}
			return row, i
		}
		if row.State != connections.StateDegraded {
			t.Fatalf("attempt %d: state %s", i, row.State)
		}
		b.advanceTo(row.NextRefreshAt)
	}
	t.Fatalf("still %s after 30 attempts over %s", row.State, b.clock().Sub(start))
	return row, 0
}

// 500, 502 and 503 answers in turn: each retried with backoff, then error after 5 over 6 h (shown to
// the admin); the first success heals it.
func matrixServerErrors(t *testing.T, b *upkeepBundle) {
	for i, status := range []int{500, 502, 503} {
		if i > 0 {
			b.advanceTo(b.row(t).NextRefreshAt)
		}
		b.clearFaults(t)
		b.fault(t, sandbox.Fault{Provider: b.uc.provider, Endpoint: "token", Kind: sandbox.FaultStatus, Status: status})
		u := b.upkeep(t)
		before := b.tokenCalls()
		_, attempts := b.streak(t, u)
		if got := b.tokenCalls() - before; got != int64(attempts) {
			t.Fatalf("HTTP %d: %d token calls for %d attempts", status, got, attempts)
		}
		if r, ok := b.reason(t); !ok || r.Actor != directory.ActorAdmin || r.State != string(connections.StateError) {
			t.Fatalf("HTTP %d: member's reason %+v", status, r)
		}
		b.clearFaults(t)
		b.advanceTo(b.row(t).NextRefreshAt)
		if res := b.refresh(t, u, false); res.Failure != nil || res.Connection.State != connections.StateHealthy || res.Connection.ConsecutiveFailures != 0 {
			t.Fatalf("HTTP %d: after recovery: failure %v state %s", status, res.Failure, res.Connection.State)
		}
		b.assertCurrent(t)
	}
}

// A hung token endpoint (no answer before tether's timeout): the answer is lost, so the
// first attempt settles it soon (outcome unknown); a provider that keeps hanging is
// retried with backoff like any outage and is error after the streak, not probed every
// 30 s forever. The grant survives (the sandbox never served the hung refreshes).
func matrixTimeouts(t *testing.T, b *upkeepBundle) {
	b.useTimeout(t, 150*time.Millisecond)
	b.fault(t, sandbox.Fault{Provider: b.uc.provider, Endpoint: "token", Kind: sandbox.FaultHang, HangFor: sandbox.Duration(10 * time.Second)})
	u := b.upkeep(t)
	res := b.refresh(t, u, false)
	row := b.row(t)
	if res.Failure == nil || !res.Failure.OutcomeUnknown || row.FailureCause != connections.CauseOutcomeUnknown {
		t.Fatalf("first hang: failure %v cause %q", res.Failure, row.FailureCause)
	}
	b.advanceTo(row.NextRefreshAt)
	row, attempts := b.streak(t, u)
	if row.FailureCause != connections.CauseOutcomeUnknown {
		t.Fatalf("cause %q after %d hung attempts, want outcome_unknown kept", row.FailureCause, attempts+1)
	}
	b.clearFaults(t)
	b.advanceTo(row.NextRefreshAt)
	if res := b.refresh(t, u, false); res.Failure != nil || res.Connection.State != connections.StateHealthy {
		t.Fatalf("after the provider answers again: failure %v state %s", res.Failure, res.Connection.State)
	}
	b.assertCurrent(t)
	if f := b.fingerprint(t); f.Refreshes != 1 || f.DeadTokenReplays != 0 {
		t.Fatalf("sandbox: %d refreshes, %d dead-token replays; want 1, 0", f.Refreshes, f.DeadTokenReplays)
	}
}

// tether's OAuth client deleted at the provider: the operator's state (needs_admin with
// class misconfigured), the member's reason names the operator, the rep is not asked.
func matrixDeletedClient(t *testing.T, b *upkeepBundle) {
	b.fault(t, sandbox.Fault{Provider: b.uc.provider, Endpoint: "token", Kind: sandbox.FaultAnswer, Answer: "deleted_client"})
	res := b.refresh(t, b.upkeep(t), false)
	row := b.row(t)
	if res.Failure == nil || row.State != connections.StateNeedsAdmin || row.FailureClass != connections.FailMisconfigured || row.FailureReason == "" {
		t.Fatalf("state %s class %s reason %q", row.State, row.FailureClass, row.FailureReason)
	}
	if r, ok := b.reason(t); !ok || r.Actor != directory.ActorOperator {
		t.Fatalf("member's reason %+v (found %t): want the operator", r, ok)
	}
	if b.storedRefresh(t) != b.grant.RefreshToken {
		t.Fatal("the tokens were dropped: fixing the client would not bring the connection back")
	}
}

// tether configured with a client secret the provider does not accept (rotated at the
// provider, mistyped): the provider's own invalid_client answer for a bad secret, which
// the sandbox gives when it authenticates the client, not a fault. The operator's state
// as for a deleted client, the grant untouched (the provider refused before the refresh
// token was looked at), and the right secret brings the connection back.
func matrixWrongSecret(t *testing.T, b *upkeepBundle) {
	right := b.oc
	b.useSecret(t, b.uc.kind.Provider(), "not-the-secret")
	res := b.refresh(t, b.upkeep(t), false)
	row := b.row(t)
	if res.Failure == nil || row.State != connections.StateNeedsAdmin || row.FailureClass != connections.FailMisconfigured || row.FailureReason == "" {
		t.Fatalf("state %s class %s sub-code %q reason %q", row.State, row.FailureClass, row.FailureSubCode, row.FailureReason)
	}
	if r, ok := b.reason(t); !ok || r.Actor != directory.ActorOperator {
		t.Fatalf("member's reason %+v (found %t): want the operator", r, ok)
	}
	if strings.Contains(row.FailureReason, "not-the-secret") {
		t.Fatalf("the reason shows the secret: %q", row.FailureReason)
	}
	if f := b.fingerprint(t); f.Refreshes != 0 || f.DeadTokenReplays != 0 || b.storedRefresh(t) != b.grant.RefreshToken {
		t.Fatalf("sandbox: %d refreshes, %d dead-token replays; the stored token kept: %t", f.Refreshes, f.DeadTokenReplays, b.storedRefresh(t) == b.grant.RefreshToken)
	}
	b.oc = right
	if res := b.refresh(t, b.upkeep(t), true); res.Failure != nil || res.Connection.State != connections.StateHealthy {
		t.Fatalf("with the right secret: failure %v state %s", res.Failure, res.Connection.State)
	}
	b.assertCurrent(t)
}

// A scope tether needs taken from the grant (POST /admin/grants/{id}/scopes): the next
// verification (refreshing first: the token is old) finds it, the connection needs the
// rep with the scope named.
func matrixScopeLoss(t *testing.T, b *upkeepBundle) {
	u := b.upkeep(t)
	if res, err := u.Verify(t.Context(), b.orgID, b.connID, true); err != nil || res.Failure != nil {
		t.Fatalf("first verification: %v %v", err, res.Failure)
	}
	gi, _ := b.sb.LookupGrant(b.grant.GrantID)
	req := oauth.RequiredScopes(b.uc.kind)
	lost := req[len(req)-1] // the calendar or meeting scope (Microsoft's User.Read comes with openid)
	keep := slices.DeleteFunc(slices.Clone(gi.Scopes), func(s string) bool { return oauth.NormalizeScope(s) == oauth.NormalizeScope(lost) })
	b.admin(t, "/admin/grants/"+b.grant.GrantID+"/scopes", map[string][]string{"scopes": keep})
	b.advanceTo(b.clock().Add(25 * time.Hour)) // verification due, and the token old
	res, err := u.Verify(t.Context(), b.orgID, b.connID, false)
	if err != nil {
		t.Fatal(err)
	}
	row := b.row(t)
	if res.Failure == nil || row.State != connections.StateNeedsReconnect || row.FailureCause != connections.CauseScopesMissing ||
		!strings.Contains(row.FailureReason, lost) {
		t.Fatalf("state %s cause %q reason %q (lost %s; grant had %v, kept %v; connection's scopes %v)", row.State, row.FailureCause, row.FailureReason, lost, gi.Scopes, keep, row.Scopes)
	}
	if r, ok := b.reason(t); !ok || r.Actor != directory.ActorRep {
		t.Fatalf("member's reason %+v: want the rep", r)
	}
}

// The database refuses the write of a refresh's answer: the answer waits sealed (pending
// slot or stash) and the next worker stores it without calling the provider; the stored
// token is then the sandbox's current one and works.
func matrixFailedWrite(t *testing.T, b *upkeepBundle) {
	b.st.failUpdates.Store(true)
	if _, err := b.upkeep(t).Refresh(t.Context(), b.orgID, b.connID, false); err == nil {
		t.Fatal("a refresh whose write failed reported success")
	}
	b.st.failUpdates.Store(false)
	res := b.refresh(t, b.upkeep(t), false)
	if res.Called || res.Connection.State != connections.StateHealthy {
		t.Fatalf("the next worker: called %t, state %s", res.Called, res.Connection.State)
	}
	b.assertCurrent(t)
	if f := b.fingerprint(t); f.Refreshes != 1 || f.DeadTokenReplays != 0 {
		t.Fatalf("sandbox: %d refreshes, %d dead-token replays", f.Refreshes, f.DeadTokenReplays)
	}
	b.advanceTo(b.row(t).NextRefreshAt)
	if res := b.refresh(t, b.upkeep(t), false); res.Failure != nil || !res.Called {
		t.Fatalf("refresh with the recovered token: %v", res.Failure)
	}
	b.assertCurrent(t)
}
