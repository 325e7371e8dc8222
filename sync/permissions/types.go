package permissions

import "time"

// Result is the outcome of one check.
type Result string

// Check results. Unknown means the check could not be run (for example the API refused
// the describe call), which is not the same as missing.
const (
	ResultOK      Result = "ok"
	ResultMissing Result = "missing"
	ResultUnknown Result = "unknown"
)

// Check is one permission check in a report.
type Check struct {
	Name     string `json:"name"`
	Required bool   `json:"required"`
	Result   Result `json:"result"`
	// Evidence says what was observed (no secrets).
	Evidence string `json:"evidence,omitempty"`
	// Fix tells an admin how to grant what is missing.
	Fix string `json:"fix,omitempty"`
}

// Report is one audit of an org's team connection.
type Report struct {
	ID    string
	OrgID string
	// ConnectionID is the team connection audited; empty if the org had none.
	ConnectionID string
	CreatedAt    time.Time
	Checks       []Check
}
