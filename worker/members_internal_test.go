package worker

import (
	"testing"
	"time"

	"tether/sync/connections"
	"tether/sync/members"
)

// TestDeactivationSummary: what members deactivate --wait prints for each kind of result.
func TestDeactivationSummary(t *testing.T) {
	back := time.Date(2026, 12, 1, 9, 30, 0, 0, time.UTC)
	for _, tc := range []struct {
		name string
		res  members.DeactivateResult
		want string
	}{
		{"first run", members.DeactivateResult{Deactivated: true, Revoked: []connections.Kind{connections.KindSalesforce, connections.KindZoom},
			Dropped: []connections.Kind{connections.KindMicrosoftCalendar}, Failed: map[connections.Kind]string{connections.KindGoogleCalendar: "503", connections.KindTeams: "503", connections.KindZoom: "503"}, TasksCancelled: 3},
			"revoked=salesforce,zoom dropped=microsoft_calendar failed=google_calendar,teams,zoom tasks_cancelled=3"},
		{"retry", members.DeactivateResult{Revoked: []connections.Kind{connections.KindGoogleCalendar}, Earlier: []connections.Kind{connections.KindSalesforce}},
			"revoked=google_calendar dropped= failed= tasks_cancelled=0 closed_earlier=salesforce"},
		{"re-run", members.DeactivateResult{Earlier: []connections.Kind{connections.KindSalesforce, connections.KindZoom}},
			"nothing left to do: the member was already deactivated and its connections closed (closed_earlier=salesforce,zoom)"},
		{"superseded", members.DeactivateResult{Superseded: back},
			"nothing done: the member joined again at 2026-12-01T09:30:00Z, after this deactivation was asked; their membership and connections are left as they are (deactivate them again to end them)"},
		{"superseded with a grant left", members.DeactivateResult{Superseded: back, Revoked: []connections.Kind{connections.KindGoogleCalendar},
			Failed: map[connections.Kind]string{connections.KindSalesforce: "503"}},
			"the member joined again at 2026-12-01T09:30:00Z, after this deactivation was asked; their membership and connections are left as they are (deactivate them again to end them); " +
				"grants left by the deactivation: revoked=google_calendar dropped= failed=salesforce"},
	} {
		if got := deactivationSummary(tc.res); got != tc.want {
			t.Errorf("%s:\n got %q\nwant %q", tc.name, got, tc.want)
		}
	}
}
