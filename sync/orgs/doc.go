// Package orgs is the operator's door to tether's tenants: creating an org with its seat
// limit, optional parent and Salesforce login host; listing orgs (a parent with its client
// orgs and their seat use); an org's overview (seats used and free, the team-level
// Salesforce connection's state, the last permission audit's result, imports not yet
// finished); changing an org's seats, name, parent or login host; and a user's orgs
// (memberships with their role) and default org.
//
// The CLI (tether org …, tether users …) and the HTTP API (/v1/orgs, /v1/users) both call
// Service, so an action behaves the same whichever door it came through.
//
// Rules:
//   - A name is required (at most 200 characters); seats are a whole number from 1 to
//     1,000,000 (an org created by other means may have 0: no limit).
//   - A parent must exist, and an org is never its own ancestor (no cycles).
//   - A seat limit may not go below the seats in use (active members plus pending,
//     unexpired invites), counted under the same org lock that imports take.
//   - The Salesforce login is production (login.salesforce.com, the default) or sandbox
//     (test.salesforce.com).
//   - A user is named by id or by email (anything with an @); their default org must be
//     one of their orgs, with a membership that is not deactivated.
//
// Refusals are *Error with a stable code and a message that says what to do.
package orgs
