// Package store is tether's persistence: one set of queries run on PostgreSQL (a pgx/v5
// pool seen through database/sql) and on SQLite (modernc.org/sqlite, WAL), with a small
// dialect for what differs. Migrations are embedded per backend and applied by Migrate
// (goose). One contract suite (the tests of this package, through storetest.Each) runs on
// both backends.
//
// # Contracts
//
//   - Tenancy: every method that touches tenant data takes the org id and puts it in its
//     WHERE clause; an id of another org's row behaves as if the row did not exist
//     (directory.ErrNotFound for reads and writes). Composite foreign keys (org_id, id) stop a row
//     from referring to another org's rows. The exceptions, documented on each, are the
//     invite token-hash lookup (GetInviteByTokenHash, AcceptInvite), global users, and
//     system-wide sweeps (ListConnectionsDue, ListOrgsWithTeamConnection, ExpireInvites,
//     PruneEvents) and the /metrics reads (CountConnectionsByState, OldestOverdueConnection).
//   - Errors: methods return directory.ErrNotFound, directory.ErrConflict, directory.ErrDuplicate, directory.ErrExpired or
//     directory.ErrInvalid (wrapped with the operation and an id; test with errors.Is). Driver errors
//     are mapped in one function per backend.
//   - Ids are UUIDv7 strings made in Go (NewID), so callers may set a row's id before
//     insert; an empty id gets a new one. Times are stored in UTC with microsecond
//     precision; a zero time.Time means NULL ("never", "not set").
//   - Transactions: Store.InTx gives a *Queries whose methods run in one transaction;
//     methods that need several statements join it. LockOrgSeats makes "check seats, then
//     insert invites" safe under concurrency.
//   - Group commit: on PostgreSQL, GetConnection and UpdateConnection calls on the pool
//     that overlap share one statement (connGroups), each still with its own result and
//     error; a lone call runs at once.
//
// Get a test store with storetest.Each, storetest.Postgres or storetest.SQLite.
package store
