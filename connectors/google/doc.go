// Package google talks to Google Calendar for tether: for now, the verification of a
// personal calendar connection (calendarList.get of the primary calendar through
// google.golang.org/api, then tokeninfo for the scopes and the account the access token
// carries).
//
// Calendar API answers are classified by their reason, never by status alone (Google
// uses 403 for both a missing scope and a quota): see ../shared/reference/oauth.md §2.
package google
