package connections

import "testing"

// Who acts on a connection's failure: the class's actor, except that an org's team
// connection has no rep to reconnect it.
func TestConnectionActor(t *testing.T) {
	for _, tc := range []struct {
		kind  Kind
		class FailureClass
		want  Actor
	}{
		{KindGoogleCalendar, FailNeedsReconnect, ActorRep},   // the rep reconnects their own
		{KindSalesforceTeam, FailNeedsReconnect, ActorAdmin}, // an admin reconnects the org's
		{KindSalesforceTeam, FailNeedsAdmin, ActorAdmin},
		{KindSalesforceTeam, FailMisconfigured, ActorOperator},
		{KindSalesforceTeam, FailTransient, ActorNone}, // retried: nobody acts
		{KindZoom, FailMisconfigured, ActorOperator},
	} {
		if got := (Connection{Kind: tc.kind, FailureClass: tc.class}).Actor(); got != tc.want {
			t.Errorf("%s %s: actor %q, want %q", tc.kind, tc.class, got, tc.want)
		}
	}
}
