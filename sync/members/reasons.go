package members

import (
	"fmt"
	"strings"

	"tether/sync/connections"
	"tether/sync/directory"
)

// Reasons applies the org's policy for m's role to m's connections and photo. Only an
// active membership has reasons: a pending one has not joined yet, a deactivated one is
// gone. A requirement is met by a working connection of any of its kinds (healthy, or
// refreshing or degraded: transient trouble tether retries itself, nobody can act on it).
// Otherwise the reason names the member's best candidate connection and who acts: the
// admin for needs_admin and error, the rep for missing, needs_reconnect and revoked.
func Reasons(policy directory.Policy, m directory.Membership, conns []connections.Connection) []directory.ActionReason {
	if m.Status != directory.MembershipActive {
		return nil
	}
	rp := policy.For(m.Role)
	var out []directory.ActionReason
	for _, req := range rp.Connections {
		if r, ok := unmet(req, conns); ok {
			out = append(out, r)
		}
	}
	if rp.Photo && strings.TrimSpace(m.PhotoURL) == "" {
		out = append(out, directory.ActionReason{Requirement: directory.RequirementPhoto, State: "missing",
			Actor: directory.ActorRep, Message: "add a profile photo"})
	}
	return out
}

// rank orders broken states by how much they say: an admin's problem first (the rep
// reconnecting another kind would not fix the org's block), then a dead grant, then
// revoked, then a row never connected.
func rank(s connections.State) int {
	switch s {
	case connections.StateNeedsAdmin:
		return 5
	case connections.StateError:
		return 4
	case connections.StateNeedsReconnect:
		return 3
	case connections.StateRevoked:
		return 2
	}
	return 1
}

// unmet returns the reason req is not met by conns, or false when it is met.
func unmet(req directory.Requirement, conns []connections.Connection) (directory.ActionReason, bool) {
	var best *connections.Connection
	for i := range conns {
		c := &conns[i]
		if c.Kind.OrgLevel() || !serves(*c, req.AnyOf) {
			continue
		}
		if c.State.Works() {
			return directory.ActionReason{}, false
		}
		if best == nil || rank(c.State) > rank(best.State) {
			best = c
		}
	}
	r := directory.ActionReason{Requirement: req.Name, AnyOf: append([]string(nil), req.AnyOf...),
		Recommended: req.Recommended, State: string(connections.StateMissing), Actor: directory.ActorRep}
	if best == nil || best.State == connections.StateMissing {
		r.Message = "connect " + describe(req)
		if best != nil {
			r.Kind, r.ConnectionID = string(best.Kind), best.ID
		}
		return r, true
	}
	r.Kind, r.ConnectionID, r.State, r.Code = string(best.Kind), best.ID, string(best.State), best.LastErrorCode
	r.SubCode, r.Cause = best.FailureSubCode, string(best.FailureCause)
	// Upkeep's sentence for the person who must act, else the provider's own text.
	why := best.FailureReason
	if why == "" {
		why = best.LastErrorDescription
	}
	detail := ""
	if why != "" {
		detail = ": " + why
	}
	switch best.State {
	case connections.StateNeedsAdmin:
		r.Actor = directory.ActorAdmin
		r.Message = fmt.Sprintf("the %s connection is refused by the provider account or org%s; an admin must act, reconnecting will not help", best.Kind, detail)
		if best.FailureClass == connections.FailMisconfigured {
			// tether's own OAuth client is wrong: neither the rep nor the org's admin can fix it.
			r.Actor = directory.ActorOperator
			r.Message = fmt.Sprintf("tether's %s OAuth client is refused%s; the operator must fix its configuration", best.Kind, detail)
		}
	case connections.StateError:
		r.Actor = directory.ActorAdmin
		r.Message = fmt.Sprintf("the %s connection keeps failing%s; an admin should look at it", best.Kind, detail)
	case connections.StateRevoked:
		name := best.Kind.Title()
		r.Message = fmt.Sprintf("the %s connection was revoked; connect %s again%s", name, name, otherwise(req, best.Kind))
	default:
		// Name the broken one, then what else would do: "reconnect Google Calendar or
		// Outlook calendar" read as if both were broken.
		r.Message = fmt.Sprintf("reconnect %s%s (%s%s)", best.Kind.Title(), otherwise(req, best.Kind), best.Kind, detail)
	}
	return r, true
}

// serves reports whether c's grant serves any of kinds (one Microsoft grant may serve both
// the calendar and Teams).
func serves(c connections.Connection, kinds []string) bool {
	for _, k := range kinds {
		if connections.Serves(c, connections.Kind(k)) {
			return true
		}
	}
	return false
}

// describe names what would meet req, for a sentence.
func describe(req directory.Requirement) string {
	var parts []string
	for _, k := range req.AnyOf {
		parts = append(parts, connections.Kind(k).Title())
	}
	return strings.Join(parts, " or ")
}

// otherwise is ", or connect Outlook calendar instead" when req is met by kinds other than
// broken too ("" when not). A kind the broken grant also serves is no alternative: one
// Microsoft grant holds the calendar and Teams.
func otherwise(req directory.Requirement, broken connections.Kind) string {
	var alt []string
	for _, k := range req.AnyOf {
		if k != string(broken) && !(broken.Microsoft() && connections.Kind(k).Microsoft()) {
			alt = append(alt, connections.Kind(k).Title())
		}
	}
	if len(alt) == 0 {
		return ""
	}
	return ", or connect " + strings.Join(alt, " or ") + " instead"
}
