// Package oauth is the client side of OAuth token upkeep for every provider
// tether talks to (Salesforce, Google, Microsoft, Zoom): the refresh-token
// grant, revocation, and the classification of failures into what the
// connection state machine does next.
//
// It wraps golang.org/x/oauth2 for the HTTP exchange but avoids its traps
// (see shared/reference/oauth.md §7):
//
//   - AuthStyle is always explicit; AuthStyleAutoDetect is rejected because it
//     replays a single-use refresh token with the other style on any failure.
//   - Every token request is bounded by a timeout and uses the configured
//     http.Client through the context, never http.DefaultClient.
//   - Refresh returns a TokenSet and nothing else: no self-refreshing
//     TokenSource is handed out, because x/oauth2 keeps rotated refresh tokens
//     only in memory. The caller persists the set (under its per-connection
//     lock) before using the new access token.
//   - A response without refresh_token keeps the old one; TokenSet.Rotated
//     says whether a new one arrived.
//   - Salesforce sends no expires_in: TokenSet.Expiry is then zero, which
//     means "unknown", not "never".
//
// Errors from Refresh and Revoke are *Error values carrying a Class
// (needs_reconnect, transient, rate_limited, misconfigured, org_problem,
// unknown). Classify maps any error to a Class. No error string ever contains
// a token or a client secret.
package oauth
