package connect_test

import (
	"slices"
	"strings"
	"testing"
	"time"

	"tether/connectors/oauth"
	"tether/sync/connect"
	"tether/sync/connections"
	"tether/sync/directory"
	"tether/sync/store/storetest"
	"tether/sync/vault"
	"tether/worker/redisconnect"
	"tether/worker/redistest"
)

// NextSteps lists what the rep can do themselves, by the policy applied to their
// connections now: a problem only an admin can fix is not theirs, a kind just connected is
// not asked for again, the photo has no link, and what the role only recommends comes last.
func TestNextSteps(t *testing.T) {
	t.Parallel()
	st := storetest.SQLite(t)
	ctx := t.Context()
	org, m := orgWithRep(t, st)
	// The rep's Google account is disabled: the calendar is the admin's to fix.
	now := time.Now()
	c, err := st.EnsureConnection(ctx, org.ID, m.ID, connections.KindGoogleCalendar, now)
	if err != nil {
		t.Fatal(err)
	}
	c.State, c.FailureClass, c.LastErrorCode = connections.StateNeedsAdmin, connections.FailNeedsAdmin, "invalid_grant"
	if _, err := st.UpdateConnection(ctx, org.ID, c, now); err != nil {
		t.Fatal(err)
	}
	links, err := connect.NewLinks(connect.LinksParams{Store: st, Secret: []byte("unit-test-secret-0123456789abcdefghijklm"), BaseURL: "https://tether.example"})
	if err != nil {
		t.Fatal(err)
	}
	keys, _, err := vault.GenerateKeyring("k1")
	if err != nil {
		t.Fatal(err)
	}
	_, rdb := redistest.Client(t, 9)
	oc, err := oauth.New(oauth.Config{})
	if err != nil {
		t.Fatal(err)
	}
	flow, err := connect.NewFlow(connect.FlowParams{Links: links, Store: st, Sessions: redisconnect.New(rdb, "tether:connect:"),
		Providers: &oauth.Connector{Client: oc}, Vault: keys, SalesforceLoginURL: func(directory.Org) string { return "https://login.salesforce.com" }})
	if err != nil {
		t.Fatal(err)
	}

	type step struct {
		req   string
		kinds []connections.Kind
	}
	read := func(served ...connections.Kind) []step {
		t.Helper()
		steps, err := flow.NextSteps(ctx, org.ID, m.ID, served...)
		if err != nil {
			t.Fatal(err)
		}
		var out []step
		for _, s := range steps {
			if s.Reason.Actor != directory.ActorRep {
				t.Errorf("a step for %s, who is not the rep: %+v", s.Reason.Actor, s.Reason)
			}
			st := step{req: s.Reason.Requirement}
			for _, l := range s.Links {
				if l.MembershipID != m.ID || !strings.HasPrefix(l.URL, "https://tether.example/connect/") ||
					l.ExpiresAt.Sub(now) > connect.NextStepLinkTTL+time.Minute {
					t.Errorf("link %+v: not the member's own, or lives past %s", l.Link, connect.NextStepLinkTTL)
				}
				st.kinds = append(st.kinds, l.Kind)
			}
			out = append(out, st)
		}
		return out
	}
	eq := func(a, b step) bool { return a.req == b.req && slices.Equal(a.kinds, b.kinds) }
	want := []step{
		{directory.RequirementSalesforce, []connections.Kind{connections.KindSalesforce}},
		{directory.RequirementPhoto, nil},
		{directory.RequirementConferencing, []connections.Kind{connections.KindZoom, connections.KindTeams}},
	}
	if got := read(); !slices.EqualFunc(got, want, eq) {
		t.Fatalf("steps %+v, want %+v (the calendar is the admin's)", got, want)
	}
	// Salesforce just connected: a stale reason about it is not shown.
	if got := read(connections.KindSalesforce); !slices.EqualFunc(got, want[1:], eq) {
		t.Fatalf("steps after a Salesforce connect %+v, want %+v", got, want[1:])
	}
}
