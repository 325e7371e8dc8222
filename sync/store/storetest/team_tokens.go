package storetest

// This file gives tests the real token service over the provider sandbox: an org's
// team-level Salesforce connection sealed into the store, and connections.Tokens
// refreshing it through the sandbox's token endpoint, with its lock and stash on a
// leased Redis database, so a 401 takes the same refresh path as in production.

import (
	"testing"

	"tether/connectors/oauth"
	"tether/connectors/sandbox"
	"tether/sync/connections"
	"tether/sync/store"
	"tether/sync/vault"
	"tether/worker/redislock"
	"tether/worker/redisstash"
	"tether/worker/redistest"
)

// Team is a sealed team connection and the token service over it.
type Team struct {
	Tokens *connections.Tokens
	Keys   *vault.Keyring
	// ConnectionID is the stored connection's id.
	ConnectionID string
}

// TeamParams names what Team seals and where.
type TeamParams struct {
	Store *store.Store
	OrgID string
	// SandboxURL is the sandbox server's base URL (the Salesforce login and instance
	// URL is SandboxURL + "/salesforce").
	SandboxURL string
	// Grant is a sandbox Salesforce grant of SFUser in SFOrg.
	Grant         sandbox.Tokens
	SFUser, SFOrg string
	// RedisDB is the Redis database the lock and stash prefer (leased, see redistest).
	RedisDB int
}

// NewTeam seals p.Grant as p.OrgID's team connection (state healthy) and returns the
// token service that refreshes it over the sandbox with the default Salesforce app.
func NewTeam(t testing.TB, p TeamParams) *Team {
	t.Helper()
	sf := oauth.Salesforce(p.SandboxURL + "/salesforce")
	sf.ClientID, sf.ClientSecret = sandbox.DefaultSalesforceClientID, sandbox.DefaultSalesforceClientSecret
	oc, err := oauth.New(oauth.Config{Providers: []oauth.Provider{sf}})
	if err != nil {
		t.Fatal(err)
	}
	keys, _, err := vault.GenerateKeyring("test")
	if err != nil {
		t.Fatal(err)
	}
	_, rdb := redistest.Client(t, p.RedisDB)
	tokens, err := connections.NewTokens(connections.TokensParams{
		Store: p.Store, Keys: keys, Locker: redislock.New(rdb, "lock:"), Stash: redisstash.New(rdb, "stash:"),
		Refresher: oauth.ConnectionRefresher{Client: oc,
			Providers: map[connections.Kind]string{connections.KindSalesforceTeam: "salesforce"}},
	})
	if err != nil {
		t.Fatal(err)
	}
	c := connections.Connection{ID: store.NewID(), Kind: connections.KindSalesforceTeam, State: connections.StateHealthy,
		InstanceURL: p.SandboxURL + "/salesforce", LoginURL: p.SandboxURL + "/salesforce",
		ProviderAccountID: p.SFUser, ProviderOrgID: p.SFOrg}
	if c.AccessTokenEnc, err = keys.SealToken(vault.NewToken(p.Grant.AccessToken), c.ID); err != nil {
		t.Fatal(err)
	}
	if c.RefreshTokenEnc, err = keys.SealToken(vault.NewToken(p.Grant.RefreshToken), c.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := p.Store.CreateConnection(t.Context(), p.OrgID, c); err != nil {
		t.Fatal(err)
	}
	return &Team{Tokens: tokens, Keys: keys, ConnectionID: c.ID}
}

// AccessToken returns the access token the store holds now.
func (tm *Team) AccessToken(t testing.TB, st *store.Store, orgID string) string {
	t.Helper()
	c, err := st.GetConnection(t.Context(), orgID, tm.ConnectionID)
	if err != nil {
		t.Fatal(err)
	}
	tok, err := tm.Keys.OpenToken(c.AccessTokenEnc, c.ID)
	if err != nil {
		t.Fatal(err)
	}
	return tok.Reveal()
}
