package connect

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"tether/sync/connections"
	"tether/sync/directory"
	"tether/sync/members"
)

// NextStepLinkTTL bounds the links a finished connect shows for what is still missing:
// the person is on the page now, and a reminder brings new links later.
const NextStepLinkTTL = time.Hour

// NextStep is one thing the member still has to do after a connect: a requirement of
// their role that is missing or broken, with a link per connection kind that would meet
// it (none for the photo, which is added in the product).
type NextStep struct {
	Reason directory.ActionReason
	Links  []Issued
}

// KindsFor are the connection kinds that would fix a rep's reason: the broken
// connection's own kind, or each kind that would meet a missing requirement; none for
// the photo.
func KindsFor(r directory.ActionReason) []connections.Kind {
	if r.Requirement == directory.RequirementPhoto {
		return nil
	}
	if r.Kind != "" && r.State != string(connections.StateMissing) {
		return []connections.Kind{connections.Kind(r.Kind)}
	}
	var out []connections.Kind
	for _, k := range r.AnyOf {
		out = append(out, connections.Kind(k))
	}
	return out
}

// NextSteps is what the member still has to do that they can do themselves, by the
// org's policy applied to their connections as they are now (not the stored reasons, which
// a failed recompute may have left behind), with a link for each kind that would do it.
// served are kinds just connected: a reason about them is left out in any case.
func (f *Flow) NextSteps(ctx context.Context, orgID, membershipID string, served ...connections.Kind) ([]NextStep, error) {
	org, err := f.p.Store.GetOrg(ctx, orgID)
	if err != nil {
		return nil, fmt.Errorf("read org %s: %w", orgID, err)
	}
	m, err := f.p.Store.GetMembership(ctx, orgID, membershipID)
	if err != nil {
		return nil, fmt.Errorf("read member %s of org %s: %w", membershipID, orgID, err)
	}
	conns, err := f.p.Store.ListConnections(ctx, orgID, membershipID)
	if err != nil {
		return nil, fmt.Errorf("read the connections of member %s of org %s: %w", membershipID, orgID, err)
	}
	var steps []NextStep
	for _, r := range members.Reasons(org.Policy, m, conns) {
		if r.Actor != directory.ActorRep {
			continue // an admin's or the operator's: the rep can do nothing about it
		}
		kinds := KindsFor(r)
		if slices.ContainsFunc(kinds, func(k connections.Kind) bool { return slices.Contains(served, k) }) {
			continue
		}
		st := NextStep{Reason: r}
		for _, k := range kinds {
			is, err := f.p.Links.Issue(ctx, IssueRequest{OrgID: orgID, MembershipID: membershipID, Kind: k, TTL: NextStepLinkTTL})
			if errors.Is(err, ErrAlreadyConnected) {
				continue // the member's Microsoft grant serves k already
			}
			if err != nil {
				return steps, fmt.Errorf("connect link for %s of member %s: %w", k, membershipID, err)
			}
			st.Links = append(st.Links, is)
		}
		if len(kinds) > 0 && len(st.Links) == 0 {
			continue // every kind is served: nothing left to do
		}
		steps = append(steps, st)
	}
	// What the role needs before what it only recommends.
	slices.SortStableFunc(steps, func(a, b NextStep) int {
		switch {
		case a.Reason.Recommended == b.Reason.Recommended:
			return 0
		case b.Reason.Recommended:
			return -1
		}
		return 1
	})
	return steps, nil
}
