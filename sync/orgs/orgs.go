package orgs

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"tether/sync/connections"
	"tether/sync/directory"
	"tether/sync/members"
	"tether/sync/permissions"
)

// Store is what the service reads and writes. Methods return errors wrapping
// directory.ErrNotFound for an unknown org or user.
type Store interface {
	CreateOrg(ctx context.Context, o directory.Org) (directory.Org, error)
	GetOrg(ctx context.Context, orgID string) (directory.Org, error)
	ListOrgs(ctx context.Context, f directory.OrgFilter, at time.Time) ([]directory.OrgUsage, error)
	// ChangeOrg returns *directory.SeatsInUseError and *directory.ParentCycleError.
	ChangeOrg(ctx context.Context, orgID string, ch directory.OrgChange, at time.Time) (directory.Org, error)
	CountSeats(ctx context.Context, orgID string, at time.Time) (directory.Seats, error)
	GetTeamConnection(ctx context.Context, orgID string) (connections.Connection, error)
	LatestPermissionReport(ctx context.Context, orgID string) (permissions.Report, error)
	PendingImports(ctx context.Context, orgID string) ([]directory.Import, error)

	GetUser(ctx context.Context, id string) (directory.User, error)
	GetUserByEmail(ctx context.Context, email string) (directory.User, error)
	ListUserMemberships(ctx context.Context, userID string) ([]directory.UserMembership, error)
	SetFavouriteOrg(ctx context.Context, orgID, userID string) error
}

// Limits of what an org may be given.
const (
	MaxNameLength = 200
	MaxSeats      = 1_000_000
)

// Recomputer recomputes every member's Action Required reasons after the org's policy
// changed (*members.Service).
type Recomputer interface {
	RecomputeOrg(ctx context.Context, orgID string) (members.RecomputeResult, error)
}

// Config are the Service's dependencies.
type Config struct {
	Store Store
	// Members recomputes Action Required after a policy change. Nil: a policy change is
	// refused (the reasons would go stale).
	Members Recomputer
	// Now is the clock (seat counts skip invites expired by then). Nil means time.Now.
	Now func() time.Time
	// SalesforceSessionDefault is the session timeout refreshes assume while an org's is
	// not learned (TETHER_SALESFORCE_SESSION_TIMEOUT); zero: connections.DefaultPolicy's.
	SalesforceSessionDefault time.Duration
}

// Service creates, lists, shows and changes orgs, and lists a user's orgs. Safe for
// concurrent use.
type Service struct {
	st      Store
	members Recomputer
	now     func() time.Time
	session time.Duration
}

// New returns a Service; the store is required.
func New(c Config) (*Service, error) {
	if c.Store == nil {
		return nil, errors.New("orgs: Config.Store is required")
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.SalesforceSessionDefault <= 0 {
		c.SalesforceSessionDefault = connections.DefaultPolicy().SalesforceSession
	}
	return &Service{st: c.Store, members: c.Members, now: c.Now, session: c.SalesforceSessionDefault}, nil
}

// CreateRequest is a new org.
type CreateRequest struct {
	Name  string
	Seats int
	// ParentID is the parent (agency) org; empty for none.
	ParentID string
	// SalesforceLogin is "production" (also when empty) or "sandbox".
	SalesforceLogin string
}

// Create validates req and stores the org. Returns *Error for a bad name, seats, login
// or an unknown parent.
func (s *Service) Create(ctx context.Context, req CreateRequest) (directory.Org, error) {
	name, err := checkName(req.Name)
	if err != nil {
		return directory.Org{}, err
	}
	if err := checkSeats(req.Seats); err != nil {
		return directory.Org{}, err
	}
	login, err := parseLogin(req.SalesforceLogin)
	if err != nil {
		return directory.Org{}, err
	}
	o, err := s.st.CreateOrg(ctx, directory.Org{Name: name, SeatLimit: req.Seats,
		ParentOrgID: strings.TrimSpace(req.ParentID), SalesforceLogin: login, CreatedAt: s.now()})
	if errors.Is(err, directory.ErrNotFound) && req.ParentID != "" {
		return directory.Org{}, parentNotFound(req.ParentID)
	}
	if err != nil {
		return directory.Org{}, fmt.Errorf("create org %q: %w", name, err)
	}
	return o, nil
}

// List returns the orgs f selects with their seat use, in id order. With f.ParentID it
// lists that parent's client orgs, and refuses an unknown parent.
func (s *Service) List(ctx context.Context, f directory.OrgFilter) ([]directory.OrgUsage, error) {
	if f.ParentID != "" {
		if _, err := s.org(ctx, f.ParentID); err != nil {
			return nil, err
		}
	}
	out, err := s.st.ListOrgs(ctx, f, s.now())
	if err != nil {
		return nil, fmt.Errorf("list orgs: %w", err)
	}
	return out, nil
}

// Change is a partial update of an org; nil fields stay as they are.
type Change struct {
	Name  *string
	Seats *int
	// ParentID "" removes the parent.
	ParentID        *string
	SalesforceLogin *string
	// Policy replaces the roles it names (see directory.ParseRolePolicy); the others keep
	// theirs. Every member's reasons are recomputed afterwards.
	Policy directory.Policy
}

// Update applies ch to the org. Returns *Error: org_not_found, parent_not_found,
// parent_cycle, seats_in_use (a limit below the seats in use, with the count), or a bad
// value; empty_change when ch changes nothing.
func (s *Service) Update(ctx context.Context, orgID string, ch Change) (directory.Org, error) {
	var dc directory.OrgChange
	if ch.Name == nil && ch.Seats == nil && ch.ParentID == nil && ch.SalesforceLogin == nil && ch.Policy == nil {
		return directory.Org{}, refuse(CodeEmptyChange, "nothing to change: give a name, seats, a parent, a Salesforce login or a policy")
	}
	if ch.Policy != nil {
		if len(ch.Policy) == 0 {
			return directory.Org{}, refuse(CodeInvalidPolicy, "policy: no role given; name at least one role (admin, custom_admin, chat or meetings) and what it needs, e.g. --policy chat=salesforce,calendar,photo,~conferencing")
		}
		if err := ch.Policy.Validate(); err != nil {
			return directory.Org{}, refuse(CodeInvalidPolicy, "%v; e.g. --policy chat=salesforce,calendar,photo,~conferencing", err)
		}
		if s.members == nil {
			return directory.Org{}, errors.New("orgs: a policy change needs Config.Members to recompute Action Required")
		}
		dc.Policy = ch.Policy
	}
	if ch.Name != nil {
		name, err := checkName(*ch.Name)
		if err != nil {
			return directory.Org{}, err
		}
		dc.Name = &name
	}
	if ch.Seats != nil {
		if err := checkSeats(*ch.Seats); err != nil {
			return directory.Org{}, err
		}
		dc.SeatLimit = ch.Seats
	}
	if ch.ParentID != nil {
		p := strings.TrimSpace(*ch.ParentID)
		dc.ParentOrgID = &p
	}
	if ch.SalesforceLogin != nil {
		l, err := parseLogin(*ch.SalesforceLogin)
		if err != nil {
			return directory.Org{}, err
		}
		dc.SalesforceLogin = &l
	}
	o, err := s.st.ChangeOrg(ctx, orgID, dc, s.now())
	var (
		inUse *directory.SeatsInUseError
		cycle *directory.ParentCycleError
	)
	switch {
	case err == nil:
		if ch.Policy != nil {
			if _, err := s.members.RecomputeOrg(ctx, orgID); err != nil {
				return directory.Org{}, fmt.Errorf("org %s: policy changed, but recomputing Action Required failed (tether members recompute %s repairs it): %w", orgID, orgID, err)
			}
		}
		return o, nil
	case errors.As(err, &inUse):
		return directory.Org{}, refuse(CodeSeatsInUse,
			"org %s uses %s (%s, %s), so its seats cannot go below %d (asked %d): revoke invites or deactivate members first",
			orgID, directory.Plural(inUse.Seats.Used(), "seat"), directory.Plural(inUse.Seats.Active, "active member"),
			directory.Plural(inUse.Seats.PendingInvites, "pending invite"), inUse.Seats.Used(), inUse.Limit)
	case errors.As(err, &cycle):
		return directory.Org{}, refuse(CodeParentCycle, "%s; pick a parent outside org %s's clients", cycle.Error(), orgID)
	case errors.Is(err, directory.ErrNotFound):
		if _, gerr := s.st.GetOrg(ctx, orgID); errors.Is(gerr, directory.ErrNotFound) {
			return directory.Org{}, orgNotFound(orgID)
		}
		if dc.ParentOrgID != nil {
			return directory.Org{}, parentNotFound(*dc.ParentOrgID)
		}
	}
	return directory.Org{}, fmt.Errorf("update org %s: %w", orgID, err)
}

// org reads one org, answering *Error org_not_found for an unknown id.
func (s *Service) org(ctx context.Context, orgID string) (directory.Org, error) {
	o, err := s.st.GetOrg(ctx, orgID)
	if errors.Is(err, directory.ErrNotFound) {
		return directory.Org{}, orgNotFound(orgID)
	}
	if err != nil {
		return directory.Org{}, fmt.Errorf("read org %s: %w", orgID, err)
	}
	return o, nil
}

func orgNotFound(id string) *Error {
	return refuse(CodeOrgNotFound, "no org with id %q: tether org list (GET /v1/orgs) lists the orgs", id)
}

func parentNotFound(id string) *Error {
	return refuse(CodeParentNotFound, "no parent org with id %q: create it first (tether org create, POST /v1/orgs) or pick one from tether org list (GET /v1/orgs)", id)
}

func checkName(name string) (string, error) {
	name = strings.TrimSpace(name)
	switch {
	case name == "":
		return "", refuse(CodeInvalidName, "an org needs a name, e.g. --name \"Acme EMEA\"")
	case utf8.RuneCountInString(name) > MaxNameLength:
		return "", refuse(CodeInvalidName, "the org's name is %d characters long: at most %d", utf8.RuneCountInString(name), MaxNameLength)
	}
	return name, nil
}

func checkSeats(n int) error {
	if n < 1 || n > MaxSeats {
		return refuse(CodeInvalidSeats, "seats must be a whole number from 1 to %d, got %d", MaxSeats, n)
	}
	return nil
}

func parseLogin(s string) (directory.SalesforceLogin, error) {
	l, err := directory.ParseSalesforceLogin(strings.TrimSpace(s))
	if err != nil {
		return "", refuse(CodeInvalidSalesforceLogin, "Salesforce login %q: use production (login.salesforce.com) or sandbox (test.salesforce.com)", s)
	}
	return l, nil
}
