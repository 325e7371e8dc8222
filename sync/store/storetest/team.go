package storetest

import (
	"context"
	"testing"
	"time"

	"tether/sync/connections"
	"tether/sync/store"
	"tether/sync/vault"
)

// TeamGrant is what a team-level Salesforce connect yields: the org and user it
// authorised, the instance, and the tokens in clear (as the provider returned them).
type TeamGrant struct {
	InstanceURL      string
	SalesforceOrgID  string
	SalesforceUserID string
	AccessToken      string
	RefreshToken     string
	// ExpiresAt of the access token; zero means unknown (used until refused). A past
	// time makes the first call refresh.
	ExpiresAt time.Time
}

// CreateTeamConnection stores g as orgID's healthy team Salesforce connection, both
// tokens sealed with keys and bound to the row id as tether's writers do.
func CreateTeamConnection(tb testing.TB, ctx context.Context, st *store.Store, keys *vault.Keyring, orgID string, g TeamGrant) connections.Connection {
	tb.Helper()
	c := connections.Connection{ID: "conn-" + orgID, Kind: connections.KindSalesforceTeam, State: connections.StateHealthy,
		InstanceURL: g.InstanceURL, ProviderAccountID: g.SalesforceUserID, ProviderOrgID: g.SalesforceOrgID, ExpiresAt: g.ExpiresAt}
	var err error
	if c.AccessTokenEnc, err = keys.SealToken(vault.NewToken(g.AccessToken), c.ID); err != nil {
		tb.Fatal(err)
	}
	if c.RefreshTokenEnc, err = keys.SealToken(vault.NewToken(g.RefreshToken), c.ID); err != nil {
		tb.Fatal(err)
	}
	stored, err := st.CreateConnection(ctx, orgID, c)
	if err != nil {
		tb.Fatalf("store team connection of org %s: %v", orgID, err)
	}
	return stored
}
