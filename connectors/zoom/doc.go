// Package zoom talks to the Zoom API for tether: for now, the verification of a personal
// Zoom connection (GET /v2/users/me).
//
// Zoom reports a missing scope as HTTP 400 code 4711 with the scopes in brackets, and a
// daily limit's Retry-After as an RFC 3339 time (../shared/reference/oauth.md §4).
package zoom
