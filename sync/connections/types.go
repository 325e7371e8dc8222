package connections

import "time"

// Kind is what a connection connects to.
type Kind string

// Connection kinds. KindSalesforceTeam is org-level (no membership); the others belong to
// one membership.
const (
	KindSalesforceTeam    Kind = "salesforce_team"
	KindSalesforce        Kind = "salesforce"
	KindGoogleCalendar    Kind = "google_calendar"
	KindMicrosoftCalendar Kind = "microsoft_calendar"
	KindZoom              Kind = "zoom"
	KindTeams             Kind = "teams"
)

// Valid reports whether k is a known kind.
func (k Kind) Valid() bool {
	switch k {
	case KindSalesforceTeam, KindSalesforce, KindGoogleCalendar, KindMicrosoftCalendar, KindZoom, KindTeams:
		return true
	}
	return false
}

// OrgLevel reports whether connections of kind k belong to the org rather than a member.
func (k Kind) OrgLevel() bool { return k == KindSalesforceTeam }

// Title is k as people call it, for messages and pages; an unknown kind is itself.
func (k Kind) Title() string {
	switch k {
	case KindSalesforceTeam:
		return "the team-level Salesforce user"
	case KindSalesforce:
		return "Salesforce"
	case KindGoogleCalendar:
		return "Google Calendar"
	case KindMicrosoftCalendar:
		return "Outlook calendar"
	case KindZoom:
		return "Zoom"
	case KindTeams:
		return "Microsoft Teams"
	}
	return string(k)
}

// State is a connection's health (see ARCHITECTURE.md, "Connection states").
type State string

// Connection states.
const (
	StateMissing        State = "missing"
	StateHealthy        State = "healthy"
	StateRefreshing     State = "refreshing"
	StateDegraded       State = "degraded"
	StateError          State = "error"
	StateNeedsReconnect State = "needs_reconnect"
	StateRevoked        State = "revoked"
)

// Works reports whether a connection in state s serves its member: reminders, Action
// Required and connect links all count these three as connected.
func (s State) Works() bool {
	return s == StateHealthy || s == StateRefreshing || s == StateDegraded
}

// AwaitsReconnect reports whether upkeep leaves a connection in state s alone until the
// rep connects it again: no refresh or verification can bring it back.
func (s State) AwaitsReconnect() bool {
	return s == StateNeedsReconnect || s == StateRevoked || s == StateMissing
}

// skipReason says why upkeep calls no provider for c, a connection awaiting a reconnect.
// Only a deactivation stores revoked: "needs reconnecting" would ask a departed rep.
func skipReason(c Connection) string {
	switch c.State {
	case StateRevoked:
		return "the connection was revoked by its member's deactivation (its tokens are deleted); nothing to refresh until it is connected again from a connect link"
	case StateMissing:
		return "the connection was never made (missing); it is made from a connect link"
	}
	return "the connection needs reconnecting (" + string(c.State) + ")"
}

// Connection is one OAuth connection as stored. Token fields hold ciphertext only (the
// vault encrypts with the row ID as associated data, which is why IDs are made before
// insert). Zero times mean "never" / "not set".
type Connection struct {
	ID    string
	OrgID string
	// MembershipID is the owning membership; empty for org-level kinds.
	MembershipID string
	Kind         Kind

	AccessTokenEnc  []byte
	RefreshTokenEnc []byte
	// PendingTokenEnc holds a rotated token set whose final write failed, so the next
	// attempt finds it (invariant 1). Nil when there is none.
	PendingTokenEnc []byte
	// ExpiresAt is when the access token expires.
	ExpiresAt time.Time
	Scopes    []string

	ProviderAccountID string
	ProviderOrgID     string
	InstanceURL       string // Salesforce
	LoginURL          string // Salesforce: login.salesforce.com or test.salesforce.com

	State                State
	ConsecutiveFailures  int
	LastErrorCode        string
	LastErrorDescription string
	LastRefreshedAt      time.Time
	LastVerifiedAt       time.Time
	// NextRefreshAt is when the sweep next picks the connection up: the earliest of its
	// next refresh, verification and retry, never before NextAttemptAt. Zero: never (the
	// rep must reconnect).
	NextRefreshAt time.Time
	// FailureClass, FailureSubCode and FailureReason describe the last failure: what to
	// do, the provider's own refinement (an AADSTS number, invalid_rapt, ...) and the
	// sentence for whoever must act. Empty while healthy.
	FailureClass   FailureClass
	FailureSubCode string
	FailureReason  string
	// FailureCause separates causes of one class that call for different words (see
	// Cause): a grant lost during a refresh is not a revoke by the user.
	FailureCause Cause
	// NextAttemptAt is the earliest time a provider call is allowed (Retry-After,
	// backoff); zero when any time is.
	NextAttemptAt time.Time
	// FailingSince is when the current run of failures started; zero while healthy.
	FailingSince time.Time

	// Version is bumped by every update; an update must name the version it read.
	Version int64
	// RefreshFence is the fencing token of the lock lease under which the tokens were last
	// refreshed. An update carrying a lower one is refused: its lease lapsed and a newer
	// holder refreshed since (invariant 2).
	RefreshFence int64
	CreatedAt    time.Time
	UpdatedAt    time.Time
}

// APIUsage is an org's Salesforce API consumption as last reported by a
// Sforce-Limit-Info header.
type APIUsage struct {
	OrgID      string
	Used       int64
	Max        int64
	RecordedAt time.Time
}

// Provider is the registry name of the provider serving kind k (Teams is Microsoft's).
func (k Kind) Provider() string {
	switch k {
	case KindSalesforceTeam, KindSalesforce:
		return "salesforce"
	case KindGoogleCalendar:
		return "google"
	case KindMicrosoftCalendar, KindTeams:
		return "microsoft"
	case KindZoom:
		return "zoom"
	}
	return string(k)
}

// Due is a connection as the sweep reads it: enough to decide what is due and enqueue it,
// no tokens.
type Due struct {
	ID              string
	OrgID           string
	MembershipID    string
	Kind            Kind
	State           State
	NextRefreshAt   time.Time
	LastRefreshedAt time.Time
	LastVerifiedAt  time.Time
	ExpiresAt       time.Time
}

// DueOf is c as the sweep reads it.
func DueOf(c Connection) Due {
	return Due{ID: c.ID, OrgID: c.OrgID, MembershipID: c.MembershipID, Kind: c.Kind, State: c.State,
		NextRefreshAt: c.NextRefreshAt, LastRefreshedAt: c.LastRefreshedAt, LastVerifiedAt: c.LastVerifiedAt,
		ExpiresAt: c.ExpiresAt}
}

// DueQuery pages through connections due at or before Before, in (NextRefreshAt, ID)
// order: AfterTime and AfterID are the last row of the previous page.
type DueQuery struct {
	Before    time.Time
	AfterTime time.Time
	AfterID   string
	Limit     int // <= 0: 1000
}
