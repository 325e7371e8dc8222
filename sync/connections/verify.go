package connections

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"tether/sync/directory"
	"tether/sync/vault"
)

// Verify proves the org's connection id works and carries the scopes tether needs, with
// one cheap call through the Verifier, when its verification is due (force: now). A grant
// can be revoked while its access token still works (Microsoft especially), so the token
// is refreshed first when the last refresh is older than the access token's lifetime; a
// 401 gets one refresh and a second try before it condemns. The outcome is recorded like
// a refresh's: a failure is in Result.Failure, errors are what kept it from being decided.
func (u *Upkeep) Verify(ctx context.Context, orgID, id string, force bool) (Result, error) {
	res := Result{Op: OpVerify}
	if u.p.Verifier == nil {
		return res, errors.New("connections: no Verifier configured (UpkeepParams.Verifier)")
	}
	c, err := u.t.p.Store.GetConnection(ctx, orgID, id)
	if err != nil {
		return res, fmt.Errorf("load connection %s of org %s: %w", id, orgID, err)
	}
	res.Connection = c
	if err := usable(c, true); err != nil {
		res.Skipped = skipReason(c)
		return res, nil
	}
	now := u.t.p.Clock()
	p := u.t.p.Policy
	if !force && !c.LastVerifiedAt.IsZero() && c.LastVerifiedAt.Add(p.VerifyEvery).After(now) {
		res.Skipped = "verified at " + c.LastVerifiedAt.UTC().Format(time.RFC3339)
		return res, nil
	}
	// The org's learned Salesforce session (0: not known, or another provider), as the
	// refresh schedules by: both the staleness and the next due time follow it.
	session := u.t.sessionTimeout(ctx, c)
	refreshed := false
	if u.stale(c, session, now) {
		a, err := u.t.refresh(ctx, c, vault.Token{}, refreshMode{upkeep: true, force: true})
		res.Called = a.called
		if err != nil || a.failure != nil || a.skipped != "" {
			res.Connection, res.Failure, res.Skipped = a.conn, a.failure, a.skipped
			return res, err
		}
		c, refreshed = a.conn, true
	}
	v, verr := u.call(ctx, c)
	res.Called = true
	if verr != nil && unauthorized(FailureOf(verr, c.Kind.Provider(), OpVerify)) && !refreshed {
		// The access token may have died early: refresh once and try again.
		a, err := u.t.refresh(ctx, c, vault.Token{}, refreshMode{upkeep: true, force: true})
		if err != nil || a.failure != nil || a.skipped != "" {
			res.Connection, res.Failure, res.Skipped = a.conn, a.failure, a.skipped
			return res, err
		}
		c = a.conn
		v, verr = u.call(ctx, c)
	}
	o := Outcome{Op: OpVerify, Jitter: u.t.p.Rand(), SessionTimeout: session}
	if verr != nil {
		f := FailureOf(verr, c.Kind.Provider(), OpVerify)
		if unauthorized(f) {
			// Refreshed and still refused: the grant no longer serves this token.
			g := *f
			g.Class = FailNeedsReconnect
			if g.Reason == "" {
				g.Reason = "The provider refuses a freshly refreshed token; the rep must reconnect."
			}
			f = &g
		}
		o.Failure = f
	} else {
		o.MissingScopes = v.MissingScopes
		if v.AccountID != "" && c.ProviderAccountID != "" && !strings.EqualFold(v.AccountID, c.ProviderAccountID) {
			o.Failure = &Failure{Class: FailNeedsReconnect, Provider: c.Kind.Provider(), Op: OpVerify,
				Code: "account_changed", Reason: "The token now belongs to another account; the rep must reconnect with " + c.ProviderAccountID + "."}
		}
	}
	class := FailureClass("")
	if o.Failure != nil {
		class = o.Failure.Class
	} else if len(o.MissingScopes) > 0 {
		class = FailNeedsReconnect
	}
	if u.t.p.Metrics != nil {
		u.t.p.Metrics.Verified(c.Kind.Provider(), class)
	}
	written, err := u.t.commit(ctx, c, o)
	res.Connection = written
	if o.Failure != nil {
		res.Failure = o.Failure
	} else if len(o.MissingScopes) > 0 {
		res.Failure = &Failure{Class: FailNeedsReconnect, Provider: c.Kind.Provider(), Op: OpVerify,
			Code: "scopes_missing", MissingScopes: o.MissingScopes, Reason: written.FailureReason}
	}
	if err != nil {
		return res, fmt.Errorf("record the verification of connection %s: %w", c.ID, err)
	}
	if res.Failure == nil {
		res.TimeZoneLearnt = u.learnZone(ctx, written, v.TimeZone)
	}
	return res, nil
}

// learnZone records zone as the member's own when the member has none, and returns it
// when it did. Best effort: a failed write is logged through ObserverErrors and the next
// verification (every VerifyEvery) tries again.
func (u *Upkeep) learnZone(ctx context.Context, c Connection, zone string) string {
	if u.p.Zones == nil || c.MembershipID == "" || !directory.ValidTimeZone(zone) {
		return ""
	}
	set, err := u.p.Zones.LearnMemberTimeZone(context.WithoutCancel(ctx), c.OrgID, c.MembershipID, zone)
	if err != nil && u.t.p.ObserverErrors != nil {
		what := "record"
		if set {
			what = "follow up on" // recorded; its notify re-decides quiet hours when it runs
		}
		u.t.p.ObserverErrors(c.OrgID, c.MembershipID, fmt.Errorf("%s time zone %s found by verifying connection %s: %w", what, zone, c.ID, err))
	}
	if !set {
		return ""
	}
	return zone
}

// stale: the access token is older than its lifetime (or expired), so a revoke since may
// not show in it; refresh before verifying. Without an expiry the lifetime is session,
// the org's learned Salesforce session timeout, or the configured default when unknown.
func (u *Upkeep) stale(c Connection, session time.Duration, now time.Time) bool {
	if c.LastRefreshedAt.IsZero() || c.State != StateHealthy || u.t.expired(c) {
		return true
	}
	life := session
	if life <= 0 {
		life = u.t.p.Policy.SalesforceSession
	}
	if !c.ExpiresAt.IsZero() && c.ExpiresAt.After(c.LastRefreshedAt) {
		life = c.ExpiresAt.Sub(c.LastRefreshedAt)
	}
	return now.Sub(c.LastRefreshedAt) > life
}

func (u *Upkeep) call(ctx context.Context, c Connection) (Verification, error) {
	access, err := u.t.p.Keys.OpenToken(c.AccessTokenEnc, c.ID)
	if err != nil {
		return Verification{}, fmt.Errorf("open access token of connection %s: %w", c.ID, err)
	}
	return u.p.Verifier.Verify(ctx, VerifyRequest{Kind: c.Kind, AccessToken: access,
		InstanceURL: c.InstanceURL, LoginURL: c.LoginURL, AccountID: c.ProviderAccountID, Scopes: c.Scopes})
}

// unauthorized: the verifier's 401, which condemns only after a refresh.
func unauthorized(f *Failure) bool {
	return f.Code == "unauthorized" || (f.Status == 401 && f.Class != FailNeedsAdmin && f.Class != FailMisconfigured)
}
