// Package sandbox emulates the OAuth and API surfaces of Salesforce, Google, Microsoft and
// Zoom that tether talks to, speaking each provider's real HTTP protocol as recorded in
// shared/reference (endpoints, JSON shapes, error bodies, token lifetimes and rotation
// rules), with fault injection and call counters.
//
// One *Sandbox is an http.Handler serving the four providers under /salesforce, /google,
// /microsoft and /zoom, plus an admin API under /admin/. Use it in-process with
// httptest.NewServer(sandbox.New(sandbox.Options{})) or as a process through
// ListenAndServe (the `tether sandbox` verb).
//
// Paths, relative to the server's base URL:
//
//	Salesforce  /salesforce/services/oauth2/{authorize,token,revoke,userinfo,introspect}
//	            /salesforce/id/{orgId}/{userId}        identity URL
//	            /salesforce/services/data/...          REST data plane (package sfdc)
//	Google      /google/o/oauth2/v2/auth               authorize (also /o/oauth2/auth)
//	            /google/token, /google/revoke, /google/tokeninfo
//	            /google/oauth2/v3/userinfo             (also /v1/userinfo)
//	            /google/calendar/v3/users/me/calendarList   (option.WithEndpoint(base+"/google/calendar/v3/"))
//	            /google/calendar/v3/users/me/calendarList/{id or primary}
//	Microsoft   /microsoft/{tenant}/oauth2/v2.0/{authorize,token}
//	            /microsoft/v1.0/me, /microsoft/v1.0/me/calendars, POST /microsoft/v1.0/me/onlineMeetings
//	Zoom        /zoom/oauth/{authorize,token,revoke}, /zoom/v2/users/me
//
// Provider behaviour that tests can rely on:
//
//   - Client authentication: Zoom only with HTTP Basic; the others with form parameters or
//     Basic. PKCE (S256 or plain) is checked whenever the authorize request carried a
//     code_challenge.
//   - Rotation: Google never rotates; Microsoft returns a new refresh token on every refresh
//     and the old one stays valid; Zoom rotates and the old token dies at once; Salesforce
//     rotates only when the app's RotateRefreshTokens is set, and replaying a rotated-out
//     token revokes the whole grant.
//   - Grant caps per user and app: Salesforce 5 (a sixth approval evicts the oldest), Google
//     100, Zoom 1 (a new authorization invalidates the previous one). Microsoft has none.
//   - Lifetimes (App fields override): access tokens Google/Microsoft 3599 s, Zoom 3600 s,
//     Salesforce 2 h (no expires_in sent); refresh tokens Google 6 months idle (7 days from
//     issue for an app in testing mode), Microsoft 90 days idle per token, Zoom 15 years,
//     Salesforce valid until revoked unless the app sets an idle or absolute TTL.
//   - Access tokens survive grant revocation only at Microsoft (JWTs live until expiry).
//
// Default apps (DefaultApps; RedirectURIs empty, so any http(s) redirect URI is accepted):
//
//	Salesforce  3MVG9sandbox.tether.salesforce / sandbox-salesforce-secret  (scopes api refresh_token id, no rotation)
//	Google      tether-sandbox.apps.googleusercontent.com / GOCSPX-sandbox-google-secret
//	Microsoft   00000000-0000-4000-8000-00000000c1d0 / sandbox~microsoft~secret
//	Zoom        sandboxZoomClient / sandbox-zoom-secret  (scopes user:read:user meeting:write:meeting meeting:read:meeting)
//
// Default users (DefaultUsers) are ada@example.com at Google, Microsoft and Zoom;
// Salesforce users come from the org data loaded into Salesforce() (package sfdc).
//
// Authorize without a browser: add sandbox_auto=allow (or deny) and login_hint=<user> to
// the authorize URL, or set Options.AutoApprove; the response is the 302 to the redirect
// URI. sandbox_grant_scopes=<subset> grants fewer scopes than requested (Google's granular
// consent). Without those, GET renders an HTML consent form with Allow and Deny buttons.
//
// Seeding and faults from Go: IssueGrant/NewGrant, RevokeGrant, ExpireRefreshToken,
// ExpireAccessTokens, SetScopes, SetAPIEnabled, SetUserActive, SetGrantAnswer, Faults().Add,
// Counters, Advance; over HTTP the same under /admin/ (see adminRoutes and answerRoutes).
// Scenario files: see Scenario.
//
// Answers: every provider answer the reference records (disabled accounts, MFA and
// re-authentication, consent, the intermittent AADSTS70000, deleted clients, Salesforce's
// daily and concurrent limits, Google's 403 quota answers, Graph and Zoom throttling) is
// named in Answers and given by a fault of kind "answer", to one grant's refreshes or API
// calls (SetGrantAnswer), or by the state that causes it (SetUserActive, an org's usage). A status fault is 429, 500, 502, 503 or 504, with the provider's
// body for that status; Salesforce, which sends no 429, answers a 429 fault as it limits
// (403 REQUEST_LIMIT_EXCEEDED on the API, 400 rate_limit_exceeded at the token endpoint).
//
// Time comes from Options.Clock (plus Advance), so expiry rules are tested without sleeping.
// Each grant keeps its 8 newest access tokens and 32 newest superseded refresh tokens; older
// ones are forgotten (a forgotten token answers like an unknown one), which bounds memory
// under benchmarks.
//
// All methods of *Sandbox are safe for concurrent use.
package sandbox
