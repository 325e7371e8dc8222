package members

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"tether/sync/connections"
	"tether/sync/directory"
	"tether/sync/events"
	"tether/sync/vault"
)

// Revoker revokes a grant at its provider (connect.Providers has this method). A provider
// without per-grant revocation (Microsoft) returns nil: its tokens are simply dropped. A
// token the provider no longer knows counts as revoked (nil).
type Revoker interface {
	Revoke(ctx context.Context, kind connections.Kind, loginURL string, token vault.Token) error
}

// Opener opens a sealed token (the key ring).
type Opener interface {
	OpenToken(sealed []byte, rowID string) (vault.Token, error)
}

// TaskCanceller deletes the scheduled upkeep tasks (refresh, verify) of a connection and
// returns how many it deleted. A task already running is left: upkeep skips a revoked
// connection without calling its provider.
type TaskCanceller interface {
	CancelConnectionTasks(ctx context.Context, c connections.Connection) (int, error)
}

// DeactivateStore is what deactivation reads and writes.
type DeactivateStore interface {
	GetMembership(ctx context.Context, orgID, id string) (directory.Membership, error)
	ListConnections(ctx context.Context, orgID, membershipID string) ([]connections.Connection, error)
	GetConnection(ctx context.Context, orgID, id string) (connections.Connection, error)
	UpdateConnection(ctx context.Context, orgID string, c connections.Connection, at time.Time) (connections.Connection, error)
	DeactivateMembership(ctx context.Context, orgID, id string, at time.Time) (bool, error)
	AppendEvent(ctx context.Context, e events.Event) error
}

// DeactivatorConfig are a Deactivator's dependencies; all but Now are required.
type DeactivatorConfig struct {
	Store   DeactivateStore
	Revoker Revoker
	Keys    Opener
	Tasks   TaskCanceller
	// RevokeTimeout bounds each provider call. Zero means 15s.
	RevokeTimeout time.Duration
	Now           func() time.Time
}

// Deactivator deactivates members: the membership first (the seat is free and the member
// out at once), then each connection's grant revoked at its provider and its tokens
// deleted, its scheduled tasks cancelled. Safe to run twice, also at once: every step is
// idempotent and connection writes are compare-and-swap.
type Deactivator struct{ c DeactivatorConfig }

// NewDeactivator checks c and returns a Deactivator.
func NewDeactivator(c DeactivatorConfig) (*Deactivator, error) {
	if c.Store == nil || c.Revoker == nil || c.Keys == nil || c.Tasks == nil {
		return nil, errors.New("members: deactivation needs a store, a revoker, the key ring and a task canceller")
	}
	if c.RevokeTimeout == 0 {
		c.RevokeTimeout = 15 * time.Second
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	return &Deactivator{c: c}, nil
}

// DeactivateResult is what one run did.
type DeactivateResult struct {
	// Deactivated is true when this run marked the membership deactivated (false: it
	// already was).
	Deactivated bool
	// Revoked are the kinds whose grant the provider revoked; Dropped those whose tokens
	// were deleted without a revoke (no revoke endpoint, or tokens that no longer open).
	Revoked []connections.Kind
	Dropped []connections.Kind
	// Failed maps a kind to why its revoke failed; its tokens are kept for the retry.
	Failed map[connections.Kind]string
	// Earlier are the kinds an earlier run had already closed (a retry's, or a re-run's):
	// without them a retry's result would read as if only what it revoked was.
	Earlier        []connections.Kind
	TasksCancelled int
	// Superseded is when the member joined again, after the deactivation was asked (a
	// retry of it found them back): it did nothing. Zero otherwise.
	Superseded time.Time
}

// RevokeError says which providers could not revoke; the task retries.
type RevokeError struct {
	MembershipID string
	Failed       map[connections.Kind]string
	// Superseded: the member joined again; the failed revokes are of grants their
	// deactivation left, not of the connections they use now.
	Superseded bool
}

func (e *RevokeError) Error() string {
	kinds := make([]string, 0, len(e.Failed))
	for k := range e.Failed {
		kinds = append(kinds, string(k))
	}
	sort.Strings(kinds)
	parts := make([]string, len(kinds))
	for i, k := range kinds {
		parts[i] = k + ": " + e.Failed[connections.Kind(k)]
	}
	if e.Superseded {
		return fmt.Sprintf("member %s joined again, but revoking the grants their deactivation left failed for %s; the tokens are kept and the revoke retried",
			e.MembershipID, strings.Join(parts, "; "))
	}
	return fmt.Sprintf("member %s deactivated, but revoking failed for %s; the tokens are kept and the revoke retried",
		e.MembershipID, strings.Join(parts, "; "))
}

// Deactivate deactivates the membership and revokes every connection it owns. A provider
// that fails does not stop the others; Deactivate then returns a *RevokeError after doing
// all it could, and a re-run revokes what is left. Returns directory.ErrNotFound for an
// unknown membership. requested is when the deactivation was asked (zero: unknown): a
// member who joined again in a later second is back, and a retry of the old deactivation
// leaves them and their new connections alone (Superseded).
func (d *Deactivator) Deactivate(ctx context.Context, orgID, membershipID string, requested time.Time) (DeactivateResult, error) {
	res := DeactivateResult{Failed: map[connections.Kind]string{}}
	now := d.c.Now()
	m, err := d.c.Store.GetMembership(ctx, orgID, membershipID)
	if err != nil {
		return res, fmt.Errorf("deactivate member %s of org %s: %w", membershipID, orgID, err)
	}
	if !requested.IsZero() && m.Status == directory.MembershipActive && m.ActivatedAt.Truncate(time.Second).After(requested) {
		return d.superseded(ctx, orgID, m, requested, now)
	}
	changed, err := d.c.Store.DeactivateMembership(ctx, orgID, membershipID, now)
	if err != nil {
		return res, fmt.Errorf("deactivate member %s of org %s: %w", membershipID, orgID, err)
	}
	res.Deactivated = changed
	conns, err := d.c.Store.ListConnections(ctx, orgID, membershipID)
	if err != nil {
		return res, fmt.Errorf("deactivate member %s: list connections: %w", membershipID, err)
	}
	var errs []error
	for _, c := range conns {
		if err := d.close(ctx, orgID, c, &res, now, false); err != nil {
			errs = append(errs, err)
		}
	}
	if err := d.record(ctx, orgID, membershipID, "member.deactivated", res, now, ""); err != nil {
		errs = append(errs, err)
	}
	if len(errs) > 0 {
		return res, fmt.Errorf("deactivate member %s of org %s: %w", membershipID, orgID, errors.Join(errs...))
	}
	if len(res.Failed) > 0 {
		return res, &RevokeError{MembershipID: membershipID, Failed: res.Failed}
	}
	return res, nil
}

// superseded ends a deactivation whose member joined again after it was asked. The member
// and the connections they use are left alone, but a grant this deactivation failed to
// revoke (its row still revoked, its tokens kept for the retry) is still revoked: the
// member reconnects with a new grant, and the old one must not stay live at its provider
// with its tokens sealed here for good. A revoke that fails again keeps the task retrying.
func (d *Deactivator) superseded(ctx context.Context, orgID string, m directory.Membership, requested, now time.Time) (DeactivateResult, error) {
	res := DeactivateResult{Failed: map[connections.Kind]string{}, Superseded: m.ActivatedAt}
	conns, err := d.c.Store.ListConnections(ctx, orgID, m.ID)
	if err != nil {
		return res, fmt.Errorf("deactivate member %s: list connections: %w", m.ID, err)
	}
	var errs []error
	for _, c := range conns {
		if !leftOver(c) {
			continue // in use again, or closed already
		}
		if err := d.close(ctx, orgID, c, &res, now, true); err != nil {
			errs = append(errs, err)
		}
	}
	detail := map[string]any{"membership_id": m.ID, "requested_at": requested.UTC(), "joined_again_at": m.ActivatedAt.UTC()}
	if len(res.Revoked)+len(res.Dropped) > 0 {
		detail["left_over_revoked"], detail["left_over_dropped"] = kinds(res.Revoked), kinds(res.Dropped)
	}
	if len(res.Failed) > 0 {
		detail["revoke_failed"] = failedKinds(res.Failed)
	}
	err = d.c.Store.AppendEvent(ctx, events.Event{OrgID: orgID, Kind: "member.deactivation_superseded", Subject: m.ID, At: now, Detail: detail})
	if err != nil {
		errs = append(errs, fmt.Errorf("write member.deactivation_superseded event: %w", err))
	}
	if len(errs) > 0 {
		return res, fmt.Errorf("deactivate member %s of org %s: %w", m.ID, orgID, errors.Join(errs...))
	}
	if len(res.Failed) > 0 {
		return res, &RevokeError{MembershipID: m.ID, Failed: res.Failed, Superseded: true}
	}
	return res, nil
}

// leftOver: c is a grant a deactivation closed but could not revoke (tokens kept for the
// retry), not one a member who came back connected again.
func leftOver(c connections.Connection) bool {
	return c.State == connections.StateRevoked && hasTokens(c)
}

// close revokes one connection, cancels its tasks and stores it revoked, re-reading on a
// concurrent write. onlyLeftOver (a member who came back) closes c only while it is a
// leftover: a connect that wrote meanwhile made it theirs again.
func (d *Deactivator) close(ctx context.Context, orgID string, c connections.Connection, res *DeactivateResult, now time.Time, onlyLeftOver bool) error {
	for range 5 {
		if onlyLeftOver && !leftOver(c) {
			return nil
		}
		if c.State == connections.StateRevoked && !hasTokens(c) && c.NextRefreshAt.IsZero() {
			res.Earlier = append(res.Earlier, c.Kind) // done by an earlier run
			return nil
		}
		n, err := d.c.Tasks.CancelConnectionTasks(ctx, c)
		if err != nil {
			return fmt.Errorf("cancel the tasks of connection %s: %w", c.ID, err)
		}
		res.TasksCancelled += n
		outcome, failure := d.revoke(ctx, c)
		next := c
		next.State, next.NextRefreshAt, next.NextAttemptAt = connections.StateRevoked, time.Time{}, time.Time{}
		if failure == "" {
			next.AccessTokenEnc, next.RefreshTokenEnc, next.PendingTokenEnc = nil, nil, nil
		}
		_, err = d.c.Store.UpdateConnection(ctx, orgID, next, now)
		if errors.Is(err, directory.ErrConflict) {
			// Upkeep wrote meanwhile (a refresh may have rotated the token): read again
			// and revoke what is stored now.
			if c, err = d.c.Store.GetConnection(ctx, orgID, c.ID); err != nil {
				return fmt.Errorf("reread connection %s: %w", c.ID, err)
			}
			continue
		}
		if err != nil {
			return fmt.Errorf("store connection %s revoked: %w", c.ID, err)
		}
		switch {
		case failure != "":
			res.Failed[c.Kind] = failure
		case outcome == "revoked":
			res.Revoked = append(res.Revoked, c.Kind)
		case outcome == "dropped":
			res.Dropped = append(res.Dropped, c.Kind)
		}
		return nil
	}
	return fmt.Errorf("connection %s kept changing while being revoked; the retry revokes it", c.ID)
}

func hasTokens(c connections.Connection) bool {
	return len(c.AccessTokenEnc) > 0 || len(c.RefreshTokenEnc) > 0 || len(c.PendingTokenEnc) > 0
}

// revoke asks c's provider to revoke its grant: the refresh token (which revokes the
// grant at Google, Salesforce and Zoom), else the access token. It returns "revoked",
// "dropped" (nothing to revoke or nothing readable) or "" with the failure.
func (d *Deactivator) revoke(ctx context.Context, c connections.Connection) (outcome, failure string) {
	sealed := c.RefreshTokenEnc
	if len(sealed) == 0 {
		sealed = c.AccessTokenEnc
	}
	if len(sealed) == 0 {
		return "dropped", ""
	}
	t, err := d.c.Keys.OpenToken(sealed, c.ID)
	if err != nil || t.IsZero() {
		// A token that does not open cannot be used by anyone either.
		return "dropped", ""
	}
	rctx, cancel := context.WithTimeout(ctx, d.c.RevokeTimeout)
	defer cancel()
	if err := d.c.Revoker.Revoke(rctx, c.Kind, c.LoginURL, t); err != nil {
		return "", clipText(err.Error(), 300)
	}
	if c.Kind.Microsoft() {
		return "dropped", "" // Microsoft has no per-grant revocation: the tokens are deleted
	}
	return "revoked", ""
}

// Abandon ends a deactivation whose revokes kept failing until the task gave up: the
// remaining tokens are deleted anyway (tether must not keep a departed member's tokens)
// and an event names each grant still live at its provider, for the admin to revoke there.
// reason is the event's sentence for the admin (the worker's), never an error's chain.
func (d *Deactivator) Abandon(ctx context.Context, orgID, membershipID, reason string) error {
	now := d.c.Now()
	m, err := d.c.Store.GetMembership(ctx, orgID, membershipID)
	if err != nil {
		return fmt.Errorf("abandon revokes of member %s: %w", membershipID, err)
	}
	// A member who joined again keeps the connections they use; only the rows the
	// deactivation closed (revoked, tokens kept for the retry) are its to drop.
	back := m.Status == directory.MembershipActive
	conns, err := d.c.Store.ListConnections(ctx, orgID, membershipID)
	if err != nil {
		return fmt.Errorf("abandon revokes of member %s: %w", membershipID, err)
	}
	res := DeactivateResult{Failed: map[connections.Kind]string{}}
	for _, c := range conns {
		for range 5 {
			if c.State == connections.StateRevoked && !hasTokens(c) || back && !leftOver(c) {
				break
			}
			next := c
			next.State, next.NextRefreshAt, next.NextAttemptAt = connections.StateRevoked, time.Time{}, time.Time{}
			next.AccessTokenEnc, next.RefreshTokenEnc, next.PendingTokenEnc = nil, nil, nil
			_, err := d.c.Store.UpdateConnection(ctx, orgID, next, now)
			if errors.Is(err, directory.ErrConflict) {
				if c, err = d.c.Store.GetConnection(ctx, orgID, c.ID); err != nil {
					return err
				}
				continue
			}
			if err != nil {
				return fmt.Errorf("drop tokens of connection %s: %w", c.ID, err)
			}
			res.Dropped = append(res.Dropped, c.Kind)
			break
		}
	}
	if len(res.Dropped) == 0 {
		return nil
	}
	return d.record(ctx, orgID, membershipID, "member.revoke_abandoned", res, now, reason)
}

// record writes the run's event when it changed something; a re-run that finds nothing to
// do writes nothing.
func (d *Deactivator) record(ctx context.Context, orgID, membershipID, kind string, res DeactivateResult, now time.Time, reason string) error {
	if !res.Deactivated && len(res.Revoked) == 0 && len(res.Dropped) == 0 && len(res.Failed) == 0 && res.TasksCancelled == 0 {
		return nil
	}
	detail := map[string]any{"membership_id": membershipID, "membership_deactivated": res.Deactivated,
		"revoked": kinds(res.Revoked), "dropped": kinds(res.Dropped), "tasks_cancelled": res.TasksCancelled}
	if len(res.Failed) > 0 {
		detail["revoke_failed"] = failedKinds(res.Failed)
	}
	if reason != "" {
		detail["reason"] = clipText(reason, 500)
		detail["still_live_at_provider"] = kinds(res.Dropped)
	}
	if err := d.c.Store.AppendEvent(ctx, events.Event{OrgID: orgID, Kind: kind, Subject: membershipID, At: now, Detail: detail}); err != nil {
		return fmt.Errorf("write %s event: %w", kind, err)
	}
	return nil
}

func failedKinds(f map[connections.Kind]string) map[string]string {
	out := make(map[string]string, len(f))
	for k, v := range f {
		out[string(k)] = v
	}
	return out
}

func kinds(ks []connections.Kind) []string {
	out := make([]string, 0, len(ks))
	for _, k := range ks {
		out = append(out, string(k))
	}
	return out
}

func clipText(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}
