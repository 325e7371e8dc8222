// Package microsoft talks to Microsoft Graph for tether: for now, the verification of a
// personal Outlook calendar or Teams connection (GET /v1.0/me, and /v1.0/me/calendars for
// the calendar).
//
// Graph has no cheap call proving OnlineMeetings.ReadWrite, and access tokens are opaque
// to clients (../shared/reference/oauth.md §3), so the Teams scope is judged from the
// scopes the token endpoint granted, which the caller passes in.
package microsoft
