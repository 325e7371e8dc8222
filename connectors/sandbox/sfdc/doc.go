// Package sfdc emulates the Salesforce REST data plane (/services/data/...) for tether's
// tests, demo and benchmarks. It speaks Salesforce's wire protocol as recorded in
// shared/reference/salesforce.md and fixtures/salesforce, so a connector that works against
// it has been exercised against real shapes, not against a mock that answers whatever the
// code expects.
//
// Served (every path below /services/data/vXX.X, versions 20.0 to 66.0):
//
//   - GET  /services/data/                  versions list (no auth, no Sforce-Limit-Info)
//   - GET  /                                resources of a version
//   - GET  /query?q=, /queryAll?q=          SOQL (package soql); pages of batchSize rows
//     (Sforce-Query-Options: batchSize=N, clamped to 200..2000, default 2000) with
//     nextRecordsUrl /services/data/vXX.X/query/01g…-2000; cursors live server-side
//     (Params.CursorTTL, default 2 days) and hold the matched rows, so later pages are
//     slices, not re-runs
//   - GET  /query/{locator}-{offset}         next page; unknown/expired: 400 INVALID_QUERY_LOCATOR
//   - GET  /sobjects, /sobjects/{X}, /sobjects/{X}/describe, /sobjects/{X}/{id}?fields=
//   - GET  /limits                          DailyApiRequests from the org's usage
//   - POST /composite                       ≤25 subrequests, ≤5 queries, @{ref.path}
//     references, allOrNone; counts as ONE call
//   - POST /composite/batch                 ≤25 subrequests, haltOnError; counts one call
//     PER subrequest
//
// Objects: User, Profile, UserLicense, UserRole, Organization, PermissionSet,
// PermissionSetAssignment, ObjectPermissions, FieldPermissions hold data; Lead, Contact,
// Campaign, CampaignMember, Account, Opportunity, Event, Task have full describes and
// answer queries with no rows.
//
// Permissions are computed for the running user (the token's user) from the profile's
// profile-owned permission set plus assigned permission sets, as Salesforce does:
// describe's queryable/createable/updateable/deletable follow object permissions (Campaign
// create/edit also needs the Marketing User checkbox; Event/Task follow Edit Events / Edit
// Tasks); fields without field-level read are absent from describe's fields[] and are
// "No such column" (INVALID_FIELD) in SOQL. PermissionSet, PermissionSetAssignment,
// ObjectPermissions and FieldPermissions need View Setup and Configuration; without it they
// are INVALID_TYPE "sObject type 'X' is not supported." (salesforce.md §9 leaves the exact
// code open; INVALID_TYPE is what Salesforce answers for objects a user cannot access).
// Note: Salesforce makes required fields such as Lead.LastName, Company, Status and OwnerId
// not FLS-controllable; the sandbox lets a test remove them anyway so that every field
// tether writes has a failing case.
//
// Errors are Salesforce's JSON arrays [{"message","errorCode"}]: 401 INVALID_SESSION_ID
// (bad token, inactive user), 403 API_DISABLED_FOR_ORG (org API off, or the user lacks API
// Enabled), 403 REQUEST_LIMIT_EXCEEDED "TotalRequests Limit exceeded." (rolling 24-hour
// allocation spent) or "ConcurrentRequests (Concurrent API Requests) Limit exceeded."
// (injected), 400 MALFORMED_QUERY (anything the SOQL parser cannot read; never an empty
// result), INVALID_FIELD, INVALID_TYPE, INVALID_QUERY_FILTER_OPERATOR, 404 NOT_FOUND, 414
// for a request URI over 16,384 bytes and 431 when URI plus headers exceed it. Every
// authenticated response carries Sforce-Limit-Info: api-usage=N/M.
//
// Faults: SetAPIEnabled, SetUsage / ExhaustDailyLimit / ResetUsage, InjectConcurrencyLimit,
// RemovePermission / GrantPermission (see Permission and TeamPermissions), SetUserActive.
//
// Data: LoadScenario takes a JSON-decodable Scenario; GenerateOrg and GenerateUsers build
// realistic orgs of any size (100,000 users well under a second).
package sfdc
