package permissions

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// Probe is what one audit read from Salesforce, as plain data: the describes of the
// objects tether uses, the team user's own User row and its permission-set assignments,
// and the org's API usage. A Prober fills it from one /composite call; Evaluate turns it
// into checks. A failed subrequest is recorded in its Err, never dropped, so a check can
// say "unknown" with the reason instead of guessing.
type Probe struct {
	// UserID is the Salesforce user id of the team-level user that was audited.
	UserID string
	// Objects maps an sObject name (Lead, Contact, ...; see Objects) to its describe.
	Objects map[string]Describe
	// Me is the team user's User row.
	Me UserRow
	// Assignments are the team user's permission-set assignments, the profile's
	// included. Reading them needs View Setup and Configuration.
	Assignments AssignmentRows
	// Usage is the org's API usage after the probe; nil if Salesforce did not say.
	Usage *Usage
	// Calls is how many Salesforce API calls the probe made (for the report's evidence).
	Calls int
}

// SubError is a failed subrequest: its HTTP status and Salesforce's error code and
// message.
type SubError struct {
	Status  int    `json:"status"`
	Code    string `json:"code"`
	Message string `json:"message"`
}

func (e *SubError) String() string {
	if e.Code == "" {
		return fmt.Sprintf("HTTP %d %s", e.Status, e.Message)
	}
	return fmt.Sprintf("HTTP %d %s: %s", e.Status, e.Code, e.Message)
}

// refused reports an answer that means "you may not see this" (as opposed to a
// server fault, after which nothing can be concluded).
func (e *SubError) refused() bool { return e.Status >= 400 && e.Status < 500 }

// Describe is the part of an sObject describe the audit reads. Salesforce computes the
// flags for the running user (profile, permission sets and field-level security folded
// in) and leaves out fields the user cannot read.
type Describe struct {
	// Err is set when the describe subrequest failed; the other fields are then zero.
	Err                               *SubError
	Queryable, Createable, Updateable bool
	// Fields holds the fields present in the describe, by API name.
	Fields map[string]Field
}

// Field is one field of a describe.
type Field struct {
	Createable, Updateable bool
}

// UserRow is the result of the query for the team user's own User row.
type UserRow struct {
	Err *SubError
	// Found is false when the query succeeded but returned no row.
	Found         bool
	IsActive      bool
	MarketingUser bool
	ProfileName   string
}

// AssignmentRows is the result of the query for the team user's permission-set
// assignments.
type AssignmentRows struct {
	Err  *SubError
	Rows []Assignment
}

// Assignment is one permission set assigned to the team user.
type Assignment struct {
	// Name and Label of the permission set. For a profile's own set the label is the
	// profile's name when known.
	Name, Label string
	// OwnedByProfile marks the set that carries the user's profile permissions.
	OwnedByProfile bool
	// ConvertedLeads is PermissionsAllowViewEditConvertedLeads on the set.
	ConvertedLeads bool
	// APIEnabled is PermissionsApiEnabled on the set.
	APIEnabled bool
}

// Usage is the org's API consumption in the rolling 24 hours.
type Usage struct {
	Used, Max int
	// Source says where it came from ("Sforce-Limit-Info" or "/limits").
	Source string
}

// Session is the team-level connection an audit runs with. Credentials hands out the
// access token; the token itself never enters a Probe, a Report or an error.
type Session struct {
	OrgID        string
	ConnectionID string
	InstanceURL  string
	// UserID is the Salesforce user id of the team user (from the token's id URL).
	UserID      string
	Credentials Credentials
}

// Credentials gives the current access token and obtains a new one after a 401
// (persisting any rotated refresh token before returning). Both return an error
// wrapping ErrNeedsReconnect when the grant is dead.
type Credentials interface {
	Token(ctx context.Context) (string, error)
	Refresh(ctx context.Context) (string, error)
}

// Sessions finds an org's team-level session.
type Sessions interface {
	// Team returns the org's team session. Errors wrap ErrNoTeamConnection when the org
	// has none and ErrNeedsReconnect when it must be reconnected.
	Team(ctx context.Context, orgID string) (Session, error)
}

// Prober reads a Probe from Salesforce for a session.
type Prober interface {
	// Probe reads everything an audit needs, in as few API calls as it can. A failed
	// subrequest goes into the Probe; a failure of the whole call is an error wrapping
	// ErrInvalidSession, ErrOrgAPIDisabled, ErrUserAPIDisabled or ErrRequestLimit (a
	// *RateLimitError), or any other error for transient trouble.
	Probe(ctx context.Context, s Session) (Probe, error)
}

// Errors an audit distinguishes. The first five become report results; ErrRequestLimit
// and other errors fail the run so it is retried.
var (
	ErrNoTeamConnection = errors.New("org has no team-level Salesforce connection")
	ErrNeedsReconnect   = errors.New("team-level Salesforce connection needs reconnecting")
	ErrInvalidSession   = errors.New("salesforce refused the team-level session")
	// ErrOrgAPIDisabled is API_DISABLED_FOR_ORG, which Salesforce answers both for an org
	// without API access and for a user without API Enabled: it does not say which.
	ErrOrgAPIDisabled  = errors.New("salesforce API is not enabled for the org")
	ErrUserAPIDisabled = errors.New("salesforce API is disabled for the team-level user")
	ErrRequestLimit    = errors.New("salesforce API request limit exceeded")
)

// RateLimitError is REQUEST_LIMIT_EXCEEDED. It matches ErrRequestLimit with errors.Is.
type RateLimitError struct {
	// Daily is true for the rolling 24-hour allocation (back off for hours), false for
	// the concurrency limit (retry in seconds).
	Daily bool
	// RetryAfter is how long to wait before trying again.
	Delay time.Duration
}

func (e *RateLimitError) Error() string {
	if e.Daily {
		return "salesforce API request limit exceeded: daily allocation spent"
	}
	return "salesforce API request limit exceeded: too many concurrent requests"
}

// Is makes errors.Is(err, ErrRequestLimit) true.
func (e *RateLimitError) Is(target error) bool { return target == ErrRequestLimit }

// RetryAfter is how long to wait; the worker retries after it without spending a retry.
func (e *RateLimitError) RetryAfter() time.Duration { return e.Delay }
