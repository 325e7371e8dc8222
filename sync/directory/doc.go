// Package directory holds tether's tenant directory: orgs (customer accounts with a seat
// limit and an optional parent), users (one person, identified by lower-cased email,
// possibly a member of several orgs), memberships (user x org with a role, status, groups
// and action-required reasons), groups, seats, invites and imports.
//
// The package owns the types and their rules (valid roles, statuses, seat arithmetic, the
// default requirement policy). Persistence lives in tether/sync/store; services that act on
// the directory declare the small store interfaces they need.
package directory
