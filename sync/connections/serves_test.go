package connections

import "testing"

// One Microsoft consent serves the calendar and Teams when its scopes cover both; a connect
// link for a kind already served by a working grant would only replace it.
func TestMicrosoftServing(t *testing.T) {
	both := []string{ScopeMicrosoftCalendar, ScopeMicrosoftTeams}
	conn := func(id string, k Kind, s State, scopes ...string) Connection {
		return Connection{ID: id, Kind: k, State: s, Scopes: scopes}
	}
	cases := []struct {
		name  string
		conns []Connection
		kind  Kind
		want  string // the serving connection's ID, "" for none
	}{
		{"calendar grant with the Teams scope serves Teams",
			[]Connection{conn("cal", KindMicrosoftCalendar, StateHealthy, both...)}, KindTeams, "cal"},
		{"calendar grant without the Teams scope does not serve Teams",
			[]Connection{conn("cal", KindMicrosoftCalendar, StateHealthy, ScopeMicrosoftCalendar)}, KindTeams, ""},
		{"Teams grant with the calendar scope serves the calendar",
			[]Connection{conn("teams", KindTeams, StateDegraded, both...)}, KindMicrosoftCalendar, "teams"},
		{"a grant serves its own kind whatever its scopes",
			[]Connection{conn("teams", KindTeams, StateRefreshing)}, KindTeams, "teams"},
		{"a grant needing a reconnect serves nothing",
			[]Connection{conn("cal", KindMicrosoftCalendar, StateNeedsReconnect, both...)}, KindTeams, ""},
		{"a grant in error serves nothing",
			[]Connection{conn("cal", KindMicrosoftCalendar, StateError, both...)}, KindMicrosoftCalendar, ""},
		{"a revoked grant serves nothing",
			[]Connection{conn("cal", KindMicrosoftCalendar, StateRevoked, both...)}, KindMicrosoftCalendar, ""},
		{"the working one is found behind a broken one",
			[]Connection{conn("old", KindMicrosoftCalendar, StateNeedsReconnect, both...),
				conn("new", KindTeams, StateHealthy, both...)}, KindMicrosoftCalendar, "new"},
		{"no Microsoft kind is ever served",
			[]Connection{conn("cal", KindMicrosoftCalendar, StateHealthy, both...)}, KindGoogleCalendar, ""},
		{"a working Google calendar does not serve the Microsoft calendar",
			[]Connection{conn("g", KindGoogleCalendar, StateHealthy, both...)}, KindMicrosoftCalendar, ""},
		{"nothing connected", nil, KindTeams, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, ok := MicrosoftServing(tc.conns, tc.kind)
			if ok != (tc.want != "") || got.ID != tc.want {
				t.Fatalf("MicrosoftServing(%s) = %q, %v; want %q", tc.kind, got.ID, ok, tc.want)
			}
		})
	}
}
