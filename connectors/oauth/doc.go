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
// (connections.FailureClass: needs_reconnect, needs_admin, misconfigured,
// transient, rate_limited, unknown). Error.Failure and FailureOf turn them
// into *connections.Failure; APIFailure classifies API answers the same way.
// Classify maps any error to a Class. No error string or Detail ever contains
// a token or a client secret.
package oauth
