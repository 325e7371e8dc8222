package oauth

import (
	"context"
	"fmt"

	"tether/sync/connections"
	"tether/sync/vault"
)

// ConnectionRefresher adapts a Client to connections.Refresher: it picks the
// provider for a connection kind, and its errors are *connections.Failure
// (class, provider codes, reason, Retry-After, intermittent, outcome unknown).
// The *Error stays in the chain, and Failure.Is keeps the older sentinels
// (connections.ErrNeedsReconnect, ...) working.
type ConnectionRefresher struct {
	Client *Client
	// Providers maps a connection kind to a registry name; a kind missing
	// here is a configuration error.
	Providers map[connections.Kind]string
}

var _ connections.Refresher = ConnectionRefresher{}

// Refresh implements connections.Refresher.
func (r ConnectionRefresher) Refresh(ctx context.Context, req connections.RefreshRequest) (connections.TokenSet, error) {
	name, ok := r.Providers[req.Kind]
	if !ok {
		return connections.TokenSet{}, &connections.Failure{Class: connections.FailMisconfigured, Op: "refresh", Code: "unknown_provider",
			Reason: fmt.Sprintf("no OAuth provider is configured for %s connections; set its TETHER_<PROVIDER>_CLIENT_ID and restart", req.Kind)}
	}
	var set TokenSet
	var err error
	if p, ok := r.Client.Provider(name); ok && p.Dialect == DialectSalesforce && req.LoginURL != "" {
		// The connection was made at its org's login host (production or sandbox, as the
		// connect flow recorded it): refresh there, with the same connected app.
		at := Salesforce(req.LoginURL)
		at.Name, at.ClientID, at.ClientSecret, at.RequiredScopes = p.Name, p.ClientID, p.ClientSecret, p.RequiredScopes
		set, err = r.Client.RefreshWith(ctx, at, req.RefreshToken.Reveal())
	} else {
		set, err = r.Client.Refresh(ctx, name, req.RefreshToken.Reveal())
	}
	if err != nil {
		return connections.TokenSet{}, FailureOf(name, "refresh", err)
	}
	// A set with MissingScopes is returned too: it may hold a rotated refresh
	// token, so it is stored first; Scopes tells the caller what was lost.
	return connections.TokenSet{
		AccessToken:  vault.NewToken(set.AccessToken),
		RefreshToken: vault.NewToken(set.RefreshToken),
		Expiry:       set.Expiry,
		Scopes:       set.Scopes,
		InstanceURL:  set.InstanceURL,
		// Scopes missing from the answer turn the connection needs_reconnect, naming them.
		MissingScopes: set.MissingScopes,
	}, nil
}

// ErrorCode is the provider's error code, for the connection's last_error_code.
func (e *Error) ErrorCode() string { return e.Code }
