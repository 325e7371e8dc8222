package directory

import (
	"strings"
	"time"
)

// Role is a membership's role in an org.
type Role string

// Roles a membership can have.
const (
	RoleAdmin       Role = "admin"
	RoleCustomAdmin Role = "custom_admin"
	RoleChat        Role = "chat"
	RoleMeetings    Role = "meetings"
)

// Valid reports whether r is one of the known roles.
func (r Role) Valid() bool {
	switch r {
	case RoleAdmin, RoleCustomAdmin, RoleChat, RoleMeetings:
		return true
	}
	return false
}

// MembershipStatus is where a membership is in its life.
type MembershipStatus string

// Membership statuses. A pending membership (a user of another org added by an import) is
// always backed by a pending invite; seats count the invite, not the membership.
const (
	MembershipPending     MembershipStatus = "pending"
	MembershipActive      MembershipStatus = "active"
	MembershipDeactivated MembershipStatus = "deactivated"
)

// InviteStatus is where an invite is in its life.
type InviteStatus string

// Invite statuses. Only one pending invite may exist per (org, email).
const (
	InvitePending  InviteStatus = "pending"
	InviteAccepted InviteStatus = "accepted"
	InviteExpired  InviteStatus = "expired"
	InviteRevoked  InviteStatus = "revoked"
)

// InviteSource says how an invite came to be.
type InviteSource string

// Invite sources.
const (
	SourceEmail      InviteSource = "email"
	SourceSalesforce InviteSource = "salesforce"
)

// ImportStatus is where an import is in its life.
type ImportStatus string

// Import statuses.
const (
	ImportQueued  ImportStatus = "queued"
	ImportRunning ImportStatus = "running"
	ImportPaused  ImportStatus = "paused"
	ImportDone    ImportStatus = "done"
	ImportFailed  ImportStatus = "failed"
)

// NormalizeEmail returns the form emails are stored and compared in: trimmed, lower-cased.
func NormalizeEmail(email string) string {
	return strings.ToLower(strings.TrimSpace(email))
}

// Org is a customer account (a tenant).
type Org struct {
	ID   string
	Name string
	// SeatLimit is how many seats (active members + pending invites) the org may use.
	// Zero means no limit.
	SeatLimit int
	// ParentOrgID is the agency or "All Clients" parent; empty if none. A parent must
	// exist and an org is never its own ancestor.
	ParentOrgID string
	// SalesforceLogin is where the org's Salesforce users sign in (production or
	// sandbox); empty is stored as production.
	SalesforceLogin SalesforceLogin
	// Policy says which connections each role needs. A nil policy is stored as
	// DefaultPolicy().
	Policy    Policy
	CreatedAt time.Time
	// SalesforceSession is the org's Salesforce session timeout as tether learned it;
	// read-only here: the store's LearnSalesforceSession family writes it.
	SalesforceSession SalesforceSession
}

// SalesforceSession is a Salesforce org's session timeout as tether learned it by
// introspecting a fresh access token (exp − iat): Salesforce token answers carry no
// expires_in, so the timeout is what schedules the org's Salesforce refreshes.
type SalesforceSession struct {
	// Timeout is zero while not known (the configured default applies).
	Timeout time.Duration
	// LearnedAt is when Timeout was learned; zero while not known.
	LearnedAt time.Time
	// CheckedAt is the last attempt to learn it, successful or not.
	CheckedAt time.Time
}

// User is one person with one login, possibly a member of several orgs.
type User struct {
	ID string
	// Email is lower-cased and globally unique.
	Email string
	Name  string
	// FavouriteOrgID is the org the user lands in; empty if none.
	FavouriteOrgID string
	CreatedAt      time.Time
}

// Membership is a user's place in an org.
type Membership struct {
	ID     string
	OrgID  string
	UserID string
	Role   Role
	// CustomPermissions are the permissions of a custom admin; empty for other roles.
	CustomPermissions []string
	Status            MembershipStatus
	GroupIDs          []string
	SalesforceUserID  string
	PhotoURL          string
	// TimeZone is the member's own IANA zone, for quiet hours: the Salesforce User's
	// TimeZoneSidKey copied from the invite at Join, or what an admin set (tether members
	// set --time-zone). "" is unknown: the org's zone is used.
	TimeZone string
	// ActionRequired lists why the membership needs action, recommended ones included;
	// empty means none. It is materialised by sync/members (the org's policy applied to
	// the member's connections) and indexed for the counts. Only active memberships
	// carry reasons.
	ActionRequired []ActionReason
	// ActionCheckedAt is when the reasons were last computed; zero: never (tether
	// members recompute ORG computes them).
	ActionCheckedAt time.Time
	// DeactivatedAt is when the membership was deactivated; zero while it is not.
	DeactivatedAt time.Time
	// ActivatedAt is when it last became active: created active, or its Join (a
	// deactivated member's too). Zero: not active yet, or active since before it was kept.
	ActivatedAt time.Time
	CreatedAt   time.Time
	UpdatedAt   time.Time
}

// NeedsAction reports whether m counts as Action Required: a reason that is not merely
// recommended.
func (m Membership) NeedsAction() bool { return Counted(m.ActionRequired) }

// Group is a named set of members in one org.
type Group struct {
	ID        string
	OrgID     string
	Name      string
	CreatedAt time.Time
}

// Invite asks a person to join an org with a role.
type Invite struct {
	ID      string
	OrgID   string
	Email   string
	Role    Role
	GroupID string // empty if none
	Source  InviteSource
	// SalesforceUserID is the Salesforce User the invite came from (source salesforce).
	SalesforceUserID string
	// SalesforceUsername is that User's Username, the login Join's sign-in is pre-filled
	// with (its Email often is not one); "" when unknown.
	SalesforceUsername string
	// TimeZone is that User's TimeZoneSidKey (an IANA zone), "" when unknown; accepting
	// the invite gives it to the membership, for reminders' quiet hours.
	TimeZone string
	// TokenHash is the hash of the Join link's token; globally unique. The token itself is
	// never stored.
	TokenHash   string
	Status      InviteStatus
	ExpiresAt   time.Time
	SentCount   int
	ResendCount int
	// LastSendAttemptID and LastSentAt describe the latest recorded send.
	LastSendAttemptID string
	LastSentAt        time.Time
	// SendError says why the latest send failed for good (undeliverable, retries spent);
	// SendFailedAt is when. A later recorded send clears both.
	SendError    string
	SendFailedAt time.Time
	// LastSendError says why the latest attempt failed while its task still retries (no
	// secrets: the worker's sentence); "" once a send is recorded, unknown or failed for
	// good, or a resend is asked.
	LastSendError string
	// LastAttempt is the highest send attempt whose outcome is settled (sent or unknown);
	// the next resend is LastAttempt + 1.
	LastAttempt int
	// SendUnknownAt is set while the latest attempt's delivery is unknown: its worker died
	// after the mail server may have accepted the email. tether never sends it again by
	// itself; an operator resends it.
	SendUnknownAt time.Time
	ImportID      string // empty unless created by an import
	AcceptedAt    time.Time
	CreatedAt     time.Time
	UpdatedAt     time.Time
}

// Seats is an org's seat usage.
type Seats struct {
	// Limit is the org's seat limit; zero means no limit.
	Limit          int
	Active         int // active memberships
	PendingInvites int // pending invites
}

// Used is the number of seats taken: active members plus pending invites.
func (s Seats) Used() int { return s.Active + s.PendingInvites }

// Available is how many more seats may be taken; -1 means no limit.
func (s Seats) Available() int {
	if s.Limit == 0 {
		return -1
	}
	return max(s.Limit-s.Used(), 0)
}

// MemberFilter is one of the members page's filters.
type MemberFilter string

// Member filters. The role filters (admin, chat, meetings) leave deactivated members out;
// all holds every membership, deactivated ones included.
const (
	FilterAll         MemberFilter = "all"
	FilterActive      MemberFilter = "active"
	FilterAdmin       MemberFilter = "admin" // role admin or custom_admin
	FilterChat        MemberFilter = "chat"
	FilterMeetings    MemberFilter = "meetings"
	FilterPending     MemberFilter = "pending"
	FilterDeactivated MemberFilter = "deactivated"
)

// MemberFilters lists the filters in the order the members page shows them.
func MemberFilters() []MemberFilter {
	return []MemberFilter{FilterAll, FilterActive, FilterAdmin, FilterChat, FilterMeetings, FilterPending, FilterDeactivated}
}

// Valid reports whether f is a known filter.
func (f MemberFilter) Valid() bool {
	for _, k := range MemberFilters() {
		if f == k {
			return true
		}
	}
	return false
}

// FilterCount is one filter's count: how many members it shows and how many of those
// are Action Required (recommended-only reasons not counted).
type FilterCount struct {
	Members        int `json:"members"`
	ActionRequired int `json:"action_required"`
}

// MembershipCounts are the counts served per filter on the members page.
type MembershipCounts struct {
	All         FilterCount
	Active      FilterCount
	Admin       FilterCount
	Chat        FilterCount
	Meetings    FilterCount
	Pending     FilterCount
	Deactivated FilterCount
}

// Ref returns a pointer to filter f's count in c, for filling it.
func (c *MembershipCounts) Ref(f MemberFilter) *FilterCount {
	switch f {
	case FilterActive:
		return &c.Active
	case FilterAdmin:
		return &c.Admin
	case FilterChat:
		return &c.Chat
	case FilterMeetings:
		return &c.Meetings
	case FilterPending:
		return &c.Pending
	case FilterDeactivated:
		return &c.Deactivated
	}
	return &c.All
}

// Of returns filter f's count.
func (c MembershipCounts) Of(f MemberFilter) FilterCount {
	switch f {
	case FilterActive:
		return c.Active
	case FilterAdmin:
		return c.Admin
	case FilterChat:
		return c.Chat
	case FilterMeetings:
		return c.Meetings
	case FilterPending:
		return c.Pending
	case FilterDeactivated:
		return c.Deactivated
	}
	return c.All
}

// MembershipFilter selects memberships. Zero fields select everything.
type MembershipFilter struct {
	// Filter is one of the members page's filters; empty means FilterAll. Status and
	// Role narrow it further.
	Filter MemberFilter
	Status MembershipStatus
	Role   Role
	// ActionRequired selects only memberships that are Action Required.
	ActionRequired bool
	// AfterID pages: only ids greater than it (results are in id order).
	AfterID string
	// Limit caps the page; <= 0 means 1000.
	Limit int
}

// Member is a membership with its user, as the members page lists it.
type Member struct {
	Membership Membership
	Email      string
	Name       string
}

// EmailSituation is what the directory already knows about one email, relative to an org.
type EmailSituation struct {
	Email string
	// UserID is the user with this email; empty if none exists.
	UserID string
	// MembershipID and MembershipStatus describe the user's membership in the org; empty
	// if the user is not a member of it.
	MembershipID     string
	MembershipStatus MembershipStatus
	// PendingInviteID is the org's pending invite for this email; empty if none.
	PendingInviteID string
	// LapsedInviteID is the org's invite for this email that is still marked pending but
	// past its expiry: it holds no seat and must be expired before a new invite takes its
	// (org, email) slot. Empty if none.
	LapsedInviteID string
	// InOtherOrg is true when the user is a member of at least one other org.
	InOtherOrg bool
}

// OrgUsage is an org with its seat usage, as lists show it.
type OrgUsage struct {
	Org   Org
	Seats Seats
	// Clients is how many orgs have this org as their parent.
	Clients int
}

// OrgFilter selects orgs to list. Zero fields select everything.
type OrgFilter struct {
	// ParentID selects the client orgs of one parent.
	ParentID string
	// AfterID pages: only ids greater than it (results are in id order).
	AfterID string
	// Limit caps the page; <= 0 means 1000.
	Limit int
}

// OrgChange is a partial update of an org: nil fields are left as they are.
type OrgChange struct {
	Name *string
	// SeatLimit may not go below the seats in use (*SeatsInUseError); zero means no limit.
	SeatLimit *int
	// ParentOrgID "" removes the parent. The parent must exist (ErrNotFound) and may not
	// be the org or one of its clients, at any depth (*ParentCycleError).
	ParentOrgID     *string
	SalesforceLogin *SalesforceLogin
	// Policy replaces the roles it names; the others keep theirs.
	Policy Policy
}

// UserMembership is one of a user's memberships with the org's name, as a user's list
// of orgs shows it.
type UserMembership struct {
	Membership Membership
	OrgName    string
	// Default is true for the org the user marked as their default.
	Default bool
}

// ValidTimeZone reports whether name is an IANA zone such as Europe/Paris or UTC. "" and
// "Local" are not: "Local" would be whatever zone the server runs in.
func ValidTimeZone(name string) bool {
	if name == "" || name == "Local" {
		return false
	}
	_, err := time.LoadLocation(name)
	return err == nil
}
