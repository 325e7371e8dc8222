package connections

import "slices"

// Normalised scopes (lower case, without Graph's resource prefix) that decide which kinds
// one Microsoft grant serves.
const (
	ScopeMicrosoftCalendar = "calendars.readwrite"
	ScopeMicrosoftTeams    = "onlinemeetings.readwrite"
)

// Microsoft reports whether k is served by a Microsoft grant: one consent covers the
// Outlook calendar and Teams, so one row (of either kind) holds the one refresh token that
// serves both. Two rows sharing a rotating refresh token would fork it.
func (k Kind) Microsoft() bool { return k == KindMicrosoftCalendar || k == KindTeams }

// Serves reports whether c's grant serves kind k: its own kind, or the other Microsoft
// kind when the granted scopes cover it.
func Serves(c Connection, k Kind) bool {
	if c.Kind == k {
		return true
	}
	switch {
	case c.Kind == KindMicrosoftCalendar && k == KindTeams:
		return slices.Contains(c.Scopes, ScopeMicrosoftTeams)
	case c.Kind == KindTeams && k == KindMicrosoftCalendar:
		return slices.Contains(c.Scopes, ScopeMicrosoftCalendar)
	}
	return false
}

// MicrosoftServing returns the member's working Microsoft connection among conns that
// already serves kind k (one consent holds the calendar and Teams), or false when none
// does or k is no Microsoft kind. A connect link for k would then only replace a grant
// that works.
func MicrosoftServing(conns []Connection, k Kind) (Connection, bool) {
	if !k.Microsoft() {
		return Connection{}, false
	}
	for _, c := range conns {
		if c.State.Works() && c.Kind.Microsoft() && Serves(c, k) {
			return c, true
		}
	}
	return Connection{}, false
}
