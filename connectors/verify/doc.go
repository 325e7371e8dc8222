// Package verify is tether's one connections.Verifier: it proves a connection's access
// token works and carries the scopes tether needs with one cheap call per kind, made by
// the provider's own package:
//
//	salesforce, salesforce_team  userinfo at the connection's instance (or login host)
//	google_calendar              calendarList.get primary (google.golang.org/api) + tokeninfo
//	microsoft_calendar           Graph /me and /me/calendars
//	teams                        Graph /me; OnlineMeetings.ReadWrite from the granted scopes
//	zoom                         /v2/users/me
//
// It lives apart from connectors/oauth because connectors/salesforce imports that package:
// the adapter that dispatches to every provider must sit above all of them.
//
// Errors are *connections.Failure (see each provider's Verify); missing scopes are
// reported in the Verification, not as an error, and another account than the one the
// connection was made with is a FailNeedsReconnect with Code "other_account".
package verify
