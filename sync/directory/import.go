package directory

import "time"

// MaxRefusedRows caps the refused rows an import keeps, so one import of many bad rows
// cannot grow a row without bound. Counters still count every row.
const MaxRefusedRows = 500

// MaxImportErrors caps the error messages an import keeps.
const MaxImportErrors = 100

// Import is one admin request to turn Salesforce users into invites.
type Import struct {
	ID          string
	OrgID       string
	RequestedBy string // membership or user id of the admin; empty for the system
	Selection   ImportSelection
	Role        Role
	GroupID     string // empty if none
	DryRun      bool
	Status      ImportStatus
	Counts      ImportCounts
	Progress    ImportProgress
	// Refused lists rows that were not invited and why, at most MaxRefusedRows.
	Refused []RefusedRow
	// Errors lists what went wrong, at most MaxImportErrors.
	Errors       []string
	PausedUntil  time.Time
	PausedReason string
	CreatedAt    time.Time
	UpdatedAt    time.Time
	StartedAt    time.Time
	FinishedAt   time.Time
	// Emails counts the import's invitation emails by delivery. Only invites.Service.Get
	// fills it (a count over the import's invites); nil elsewhere.
	Emails *DeliveryCounts
}

// ImportSelection says which Salesforce users an import reads.
type ImportSelection struct {
	ProfileIDs   []string `json:"profile_ids,omitempty"`
	ProfileNames []string `json:"profile_names,omitempty"`
	UserIDs      []string `json:"user_ids,omitempty"`
	// UserIDsGiven is how many user ids the request gave, when more than UserIDs: a
	// repeated id (or one user's 15- and 18-character ids) is read once. Zero when none
	// were merged, so a person is told only when the count differs.
	UserIDsGiven int `json:"user_ids_given,omitempty"`
	// ProfilesGiven is how many profiles the request gave, when more than ProfileIDs and
	// ProfileNames together: a repeated profile (or one profile by name and by id, once
	// the name is resolved) is read once. Zero when none were merged.
	ProfilesGiven int `json:"profiles_given,omitempty"`
	// Emails is the plain email route (invites:import_emails): addresses as typed.
	Emails []string `json:"emails,omitempty"`
	// ProfilesChecked says the producer found every profile id at Salesforce, so the run
	// need not ask again.
	ProfilesChecked bool `json:"profiles_checked,omitempty"`
}

// ImportCounts are an import's outcome counters.
type ImportCounts struct {
	Found               int `json:"found"`
	Invited             int `json:"invited"`
	AlreadyMember       int `json:"already_member"`
	AlreadyInvited      int `json:"already_invited"`
	AddedMultiAccount   int `json:"added_multi_account"`
	SkippedInactive     int `json:"skipped_inactive"`
	SkippedNotStandard  int `json:"skipped_not_standard"`
	SkippedNoEmail      int `json:"skipped_no_email"`
	SkippedInvalidEmail int `json:"skipped_invalid_email"`
	DuplicateInImport   int `json:"duplicate_in_import"`
	OverSeatLimit       int `json:"over_seat_limit"`
	// NotFound counts selected Salesforce user ids Salesforce did not return.
	NotFound int `json:"not_found"`
}

// ImportProgress says how far an import got; Cursor lets a re-run resume.
type ImportProgress struct {
	Done   int    `json:"done"`
	Total  int    `json:"total"`
	Cursor string `json:"cursor,omitempty"`
}

// RefusedRow is a Salesforce user an import did not invite.
type RefusedRow struct {
	SalesforceUserID string `json:"salesforce_user_id,omitempty"`
	Email            string `json:"email,omitempty"`
	Name             string `json:"name,omitempty"`
	Reason           string `json:"reason"`
}

// Ref names one row of an org: an import, an invite.
type Ref struct {
	OrgID string
	ID    string
}
