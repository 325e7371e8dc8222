// Package salesforce talks to one Salesforce org's REST API on behalf of
// tether's invite import, permission audit and token upkeep.
//
// A Client is built per org connection from an instance URL and two
// functions the caller supplies: Token (the current access token) and
// Refresh (obtain a new one, persisting any rotated refresh token; the sync
// layer does this under its per-connection lock). On a 401 the Client calls
// Refresh once and replays the request once; a second 401 is returned, never
// looped. Every response's Sforce-Limit-Info api-usage is reported to
// OnUsage so the caller can keep the org inside its daily allocation.
//
// SOQL queries page through simpleforce (github.com/simpleforce/simpleforce),
// guarded against its known faults; see simpleforce.go. A plain REST pager
// with the same behaviour is available as PagerREST.
//
// Nothing an admin types reaches SOQL unescaped: use Quote/EscapeString for
// string literals, EscapeLike inside LIKE patterns, ValidID/NormalizeID for
// ids, and SplitIN/Client.INQueries for long IN lists that must stay under
// the GET URI limit (16,384 bytes of URI and headers at Salesforce).
//
// Errors from the REST API are *APIError values (decoded from Salesforce's
// JSON error array, tolerant of empty arrays, objects, plain text and HTML);
// test them with the Is* helpers. APIError implements oauth.Classifier, so
// oauth.Classify understands it.
//
// The higher-level reads (ListProfiles, ResolveProfiles, StreamUsers,
// Describe, Composite, UserInfo, Limits) return plain Go structs and know
// nothing about tether's store or tasks.
package salesforce
