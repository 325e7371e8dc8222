package connections

import (
	"strings"
	"testing"
	"time"
)

// The health state machine, one row per transition of ARCHITECTURE.md's diagram and the
// issue's rules. Jitter is 0 so times are exact.
func TestTransition(t *testing.T) {
	now := time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)
	p := DefaultPolicy()
	healthy := Connection{ID: "c1", Kind: KindGoogleCalendar, State: StateHealthy,
		LastRefreshedAt: now.Add(-time.Hour), LastVerifiedAt: now.Add(-time.Hour), ExpiresAt: now}
	degraded := func(failures int, since time.Duration, cause Cause) Connection {
		c := healthy
		c.State, c.ConsecutiveFailures, c.FailingSince, c.FailureClass, c.FailureCause =
			StateDegraded, failures, now.Add(-since), FailTransient, cause
		return c
	}
	transient := &Failure{Class: FailTransient, Status: 503, Code: "server_error"}
	cases := []struct {
		name string
		in   Connection
		out  Outcome
		// want: the state, class and cause after the transition
		state State
		class FailureClass
		cause Cause
		// next: NextRefreshAt - now; -1 means zero (never due: the rep must reconnect)
		next time.Duration
		// failures: ConsecutiveFailures after
		failures int
		// lost: the outcome proves a grant lost during a refresh
		lost bool
	}{
		{name: "refresh ok: next at expiry minus the window",
			in: healthy, out: Outcome{Op: OpRefresh, Expiry: now.Add(time.Hour)},
			state: StateHealthy, next: 50 * time.Minute},
		{name: "refresh ok, Salesforce (no expiry): the default session minus the window",
			in: Connection{Kind: KindSalesforce, State: StateHealthy, LastVerifiedAt: now}, out: Outcome{Op: OpRefresh},
			state: StateHealthy, next: 2*time.Hour - 10*time.Minute},
		{name: "refresh ok, Salesforce with the org's session timeout known",
			in: Connection{Kind: KindSalesforce, State: StateHealthy, LastVerifiedAt: now}, out: Outcome{Op: OpRefresh, SessionTimeout: 30 * time.Minute},
			state: StateHealthy, next: 20 * time.Minute},
		{name: "refresh ok: verification due before the next refresh comes first",
			in:  Connection{Kind: KindZoom, State: StateHealthy, LastVerifiedAt: now.Add(-24*time.Hour + 5*time.Minute)},
			out: Outcome{Op: OpRefresh, Expiry: now.Add(time.Hour)}, state: StateHealthy, next: 5 * time.Minute},
		{name: "recovery from degraded clears the streak",
			in: degraded(3, time.Hour, CauseNone), out: Outcome{Op: OpRefresh, Expiry: now.Add(time.Hour)},
			state: StateHealthy, next: 50 * time.Minute},
		{name: "refresh answer lacks a required scope: needs_reconnect naming it, never due",
			in: healthy, out: Outcome{Op: OpRefresh, Expiry: now.Add(time.Hour), MissingScopes: []string{"calendar.events"}},
			state: StateNeedsReconnect, class: FailNeedsReconnect, cause: CauseScopesMissing, next: -1},
		{name: "first transient failure: degraded, retried after half the base backoff",
			in: healthy, out: Outcome{Op: OpRefresh, Failure: transient},
			state: StateDegraded, class: FailTransient, next: 30 * time.Second, failures: 1},
		{name: "rate limited: Retry-After beats the backoff",
			in:    healthy,
			out:   Outcome{Op: OpRefresh, Failure: &Failure{Class: FailRateLimited, Status: 429, RetryAfter: 17 * time.Minute}},
			state: StateDegraded, class: FailRateLimited, next: 17 * time.Minute, failures: 1},
		{name: "fifth failure within 6 h: still degraded",
			in: degraded(4, 5*time.Hour, CauseNone), out: Outcome{Op: OpRefresh, Failure: transient},
			state: StateDegraded, class: FailTransient, next: 8 * time.Minute, failures: 5},
		{name: "fifth failure over 6 h: error, probed every 6 h",
			in: degraded(4, 6*time.Hour, CauseNone), out: Outcome{Op: OpRefresh, Failure: transient},
			state: StateError, class: FailTransient, next: 6 * time.Hour, failures: 5},
		{name: "revoked grant: needs_reconnect, never due",
			in:    healthy,
			out:   Outcome{Op: OpRefresh, Failure: &Failure{Class: FailNeedsReconnect, Code: "invalid_grant"}, KillsOldToken: true},
			state: StateNeedsReconnect, class: FailNeedsReconnect, next: -1, failures: 1},
		{name: "disabled account: needs_admin, probed every 6 h",
			in:    healthy,
			out:   Outcome{Op: OpRefresh, Failure: &Failure{Class: FailNeedsAdmin, Code: "invalid_grant", SubCode: "50057"}},
			state: StateNeedsAdmin, class: FailNeedsAdmin, next: 6 * time.Hour, failures: 1},
		{name: "deleted OAuth client: needs_admin with the operator's class",
			in:    healthy,
			out:   Outcome{Op: OpRefresh, Failure: &Failure{Class: FailMisconfigured, Code: "invalid_client"}},
			state: StateNeedsAdmin, class: FailMisconfigured, next: 6 * time.Hour, failures: 1},
		{name: "intermittent answer: one confirming attempt after the pause",
			in:    healthy,
			out:   Outcome{Op: OpRefresh, Failure: &Failure{Class: FailNeedsReconnect, SubCode: "70000", Intermittent: true}},
			state: StateDegraded, class: FailNeedsReconnect, cause: CauseAwaitingConfirmation, next: 30 * time.Second, failures: 1},
		{name: "intermittent answer confirmed: condemned",
			in:    degraded(1, time.Minute, CauseAwaitingConfirmation),
			out:   Outcome{Op: OpRefresh, Failure: &Failure{Class: FailNeedsReconnect, SubCode: "70000", Intermittent: true}},
			state: StateNeedsReconnect, class: FailNeedsReconnect, next: -1, failures: 2},
		{name: "answer lost: degraded, settled by an attempt after the pause",
			in:    healthy,
			out:   Outcome{Op: OpRefresh, Failure: &Failure{Class: FailTransient, OutcomeUnknown: true}, KillsOldToken: true},
			state: StateDegraded, class: FailTransient, cause: CauseOutcomeUnknown, next: 30 * time.Second, failures: 1},
		{name: "answer lost, then a transient failure: still unsettled",
			in:    degraded(1, time.Minute, CauseOutcomeUnknown),
			out:   Outcome{Op: OpRefresh, Failure: transient, KillsOldToken: true},
			state: StateDegraded, class: FailTransient, cause: CauseOutcomeUnknown, next: time.Minute, failures: 2},
		{name: "answer lost again (a hung provider): backoff and the streak, not another pause",
			in:    degraded(1, time.Minute, CauseOutcomeUnknown),
			out:   Outcome{Op: OpRefresh, Failure: &Failure{Class: FailTransient, OutcomeUnknown: true}, KillsOldToken: true},
			state: StateDegraded, class: FailTransient, cause: CauseOutcomeUnknown, next: time.Minute, failures: 2},
		{name: "answer lost, then invalid_grant where the old token dies: lost during refresh",
			in:    degraded(1, time.Minute, CauseOutcomeUnknown),
			out:   Outcome{Op: OpRefresh, Failure: &Failure{Class: FailNeedsReconnect, Code: "invalid_grant"}, KillsOldToken: true},
			state: StateNeedsReconnect, class: FailNeedsReconnect, cause: CauseLostDuringRefresh, next: -1, failures: 2, lost: true},
		{name: "answer lost, then invalid_grant where the old token survives: a plain revoke",
			in:    degraded(1, time.Minute, CauseOutcomeUnknown),
			out:   Outcome{Op: OpRefresh, Failure: &Failure{Class: FailNeedsReconnect, Code: "invalid_grant"}},
			state: StateNeedsReconnect, class: FailNeedsReconnect, next: -1, failures: 2},
		{name: "answer lost, then the next attempt works: healthy",
			in:    degraded(1, time.Minute, CauseOutcomeUnknown),
			out:   Outcome{Op: OpRefresh, Expiry: now.Add(time.Hour), KillsOldToken: true},
			state: StateHealthy, next: 50 * time.Minute},
		{name: "verification ok: next due is the refresh",
			in: healthy, out: Outcome{Op: OpVerify}, state: StateHealthy, next: 0},
		{name: "verification finds a scope gone: needs_reconnect",
			in: healthy, out: Outcome{Op: OpVerify, MissingScopes: []string{"onlinemeetings.readwrite"}},
			state: StateNeedsReconnect, class: FailNeedsReconnect, cause: CauseScopesMissing, next: -1},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ch := Transition(tc.in, tc.out, now, p)
			c := ch.Conn
			if c.State != tc.state || c.FailureClass != tc.class || c.FailureCause != tc.cause {
				t.Fatalf("state %s class %q cause %q, want %s %q %q", c.State, c.FailureClass, c.FailureCause, tc.state, tc.class, tc.cause)
			}
			if tc.next < 0 {
				if !c.NextRefreshAt.IsZero() {
					t.Fatalf("next refresh %s, want never", c.NextRefreshAt)
				}
			} else if got := c.NextRefreshAt.Sub(now); got != tc.next {
				t.Fatalf("next refresh in %s, want %s", got, tc.next)
			}
			if c.ConsecutiveFailures != tc.failures || ch.LostDuringRefresh != tc.lost {
				t.Fatalf("failures %d lost %t, want %d %t", c.ConsecutiveFailures, ch.LostDuringRefresh, tc.failures, tc.lost)
			}
			if ch.StateChanged != (tc.in.State != c.State || tc.in.FailureClass != c.FailureClass || tc.in.FailureCause != c.FailureCause) {
				t.Fatalf("StateChanged %t", ch.StateChanged)
			}
			if tc.out.Failure != nil && (c.FailureReason == "" || c.LastErrorCode == "") {
				t.Fatalf("failure without a reason or code: %q %q", c.FailureReason, c.LastErrorCode)
			}
			if c.State != StateHealthy && c.State != StateNeedsReconnect && c.NextAttemptAt != c.NextRefreshAt {
				t.Fatalf("next attempt %s differs from next refresh %s", c.NextAttemptAt, c.NextRefreshAt)
			}
		})
	}
}

// A connection that stays broken costs at most 5 provider calls a day: follow its
// schedule for a week of transient failures and count the attempts on the last day.
func TestPermanentlyBrokenCostsAtMostFiveCallsADay(t *testing.T) {
	p := DefaultPolicy()
	now := time.Date(2026, 11, 30, 0, 0, 0, 0, time.UTC)
	c := Connection{Kind: KindZoom, State: StateHealthy, LastRefreshedAt: now, LastVerifiedAt: now, ExpiresAt: now}
	end := now.Add(7 * 24 * time.Hour)
	lastDay := 0
	for i := 0; now.Before(end); i++ {
		c = Transition(c, Outcome{Op: OpRefresh, Failure: &Failure{Class: FailTransient, Status: 503}, Jitter: float64(i%10) / 10}, now, p).Conn
		if !now.Before(end.Add(-24 * time.Hour)) {
			lastDay++
		}
		now = c.NextRefreshAt
	}
	if c.State != StateError || lastDay > 5 || lastDay == 0 {
		t.Fatalf("after a week: state %s, %d calls on the last day (want error and 1..5)", c.State, lastDay)
	}
}

// Upkeep's skip says why no provider is called, in words for the state: a revoked
// connection is a deactivation's, not a rep's to reconnect.
func TestSkipReason(t *testing.T) {
	for st, want := range map[State]string{
		StateRevoked:        "revoked by its member's deactivation",
		StateMissing:        "never made",
		StateNeedsReconnect: "needs reconnecting (needs_reconnect)",
	} {
		if got := skipReason(Connection{State: st}); !strings.Contains(got, want) {
			t.Errorf("%s: %q, want it to say %q", st, got, want)
		}
	}
}
