// Package invites turns people an admin selects into pending invites of an org: Salesforce
// users chosen by profile or by user id (read through the org's team-level connection),
// or a plain list of email addresses.
//
// An import is created (Service.Create: validated, stored as queued) and then run by a
// worker (Service.Run). Run streams the selection page by page (at most a Salesforce query
// page, 2,000 rows, is held at a time), decides each person, and writes each page in one
// transaction together with the import's counters and progress checkpoint. Each person
// ends in exactly one reason of directory.ImportCounts:
//
//   - invited: a new pending invite; also for a deactivated member of this org, whose Join
//     reactivates the membership with the invite's role (the way back after members
//     deactivate: its connections were revoked and are connected again);
//   - already_member: an active member of this org: skipped;
//   - already_invited: the org already has a pending invite for the email: not duplicated;
//   - added_multi_account: a user of another org: a pending membership with this import's
//     role (and group) plus a pending invite, so one login reaches several orgs;
//   - skipped_inactive / skipped_not_standard: only for selection by user id (see below);
//   - skipped_no_email / skipped_invalid_email: no or malformed email (sandbox-rewritten
//     ".invalid" addresses count as malformed);
//   - duplicate_in_import: the email (lower-cased) already appeared earlier in this import;
//   - over_seat_limit: active members + pending invites may not pass the org's seat limit;
//     rows past it are refused and listed (directory.MaxRefusedRows at most; the counter
//     has them all) and the import's errors say how many seats are missing;
//   - not_found: a selected Salesforce user id that Salesforce did not return.
//
// Selection by profile filters IsActive = true AND UserType = 'Standard' in SOQL, so
// inactive and non-standard users of those profiles are never fetched and never counted
// (found counts what was fetched). Selection by user id fetches the named users without
// those filters, so every id is accounted for and inactive or non-standard ones are
// counted as skipped.
//
// Seats are decided inside the page's transaction with the org's seat count locked, so two
// imports at once cannot oversell. A page's rows are inserted with ON CONFLICT DO NOTHING
// and counted from what was actually inserted; the import's checkpoint (rows done, last
// Salesforce id) commits with them. A re-run after a crash resumes after the checkpoint,
// creates no duplicate rows, and re-enqueues the send tasks of the import's unsent
// invites, which the Sender deduplicates per invite (see Sender).
//
// A dry run takes the same path, writes nothing but the import row, and reports the same
// summary (seats are counted without the lock).
//
// API budget: after every Salesforce page the org's usage (from Sforce-Limit-Info) is
// compared to Config.BudgetShare of its daily allocation; past it the import is marked
// paused with the reason and Run returns a *PausedError whose RetryAfter tells the worker
// when to run it again (without spending a retry). The re-run resumes from the checkpoint.
//
// This package imports no queue, driver or provider SDK: it declares Store, Directories,
// Directory and Sender, implemented by sync/store, connectors/salesforce and worker.
package invites
