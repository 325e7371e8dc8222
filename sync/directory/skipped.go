package directory

import "errors"

// ImportCancelled is the status of an import an admin cancelled; its run stops at its
// next page and writes nothing more.
const ImportCancelled ImportStatus = "cancelled"

// Finished reports whether an import in status s will not run again.
func (s ImportStatus) Finished() bool {
	return s == ImportDone || s == ImportFailed || s == ImportCancelled
}

// ErrImportCancelled is returned by a write to an import that was cancelled meanwhile.
var ErrImportCancelled = errors.New("import cancelled")

// ErrNoSeat is returned when an invite would take a seat the org does not have.
var ErrNoSeat = errors.New("no seat left in the org")

// SkippedRow is one row an import did not invite, kept in full (every row, not a capped
// sample) so it can be listed and downloaded.
type SkippedRow struct {
	// Seq is the row's position in the import (0-based), stable across a resumed run.
	Seq              int    `json:"seq"`
	SalesforceUserID string `json:"salesforce_user_id,omitempty"`
	Email            string `json:"email,omitempty"`
	Name             string `json:"name,omitempty"`
	// Reason is one of the ImportCounts keys other than invited and
	// added_multi_account (for example skipped_invalid_email, duplicate_in_import).
	Reason string `json:"reason"`
}

// Checkpoint is what one page of an import saves in the page's transaction: the import's
// counters and progress, the rows it skipped, and the hashes of the emails it saw first,
// which a resumed run needs to keep counting duplicates within the import.
type Checkpoint struct {
	Import  Import
	Skipped []SkippedRow
	// Seen are appended to the import's seen set; never read back with the import.
	Seen []uint64
}

// InviteFilter selects an org's invites. Zero fields select everything.
type InviteFilter struct {
	Status InviteStatus
	// Delivery selects pending invites whose invitation email is in that state.
	Delivery Delivery
	ImportID string
	Email    string
	// AfterID pages: only ids greater than it (results are in id order).
	AfterID string
	// Limit caps the page; <= 0 means 1000.
	Limit int
}
