package members

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"reflect"
	"slices"
	"strings"
	"time"

	"tether/sync/connections"
	"tether/sync/directory"
)

// Store is what the service reads and writes; methods return errors wrapping
// directory.ErrNotFound for an unknown org, user or membership.
type Store interface {
	GetOrg(ctx context.Context, orgID string) (directory.Org, error)
	GetMembership(ctx context.Context, orgID, id string) (directory.Membership, error)
	GetMembershipByUser(ctx context.Context, orgID, userID string) (directory.Membership, error)
	GetUserByEmail(ctx context.Context, email string) (directory.User, error)
	GetUser(ctx context.Context, id string) (directory.User, error)
	// GetInvite and FindPendingInvite return directory.ErrNotFound if the org has no such
	// invite.
	GetInvite(ctx context.Context, orgID, id string) (directory.Invite, error)
	FindPendingInvite(ctx context.Context, orgID, email string) (directory.Invite, error)
	ListMemberships(ctx context.Context, orgID string, f directory.MembershipFilter) ([]directory.Membership, error)
	ListMembers(ctx context.Context, orgID string, f directory.MembershipFilter) ([]directory.Member, error)
	ListMemberConnections(ctx context.Context, orgID string, membershipIDs []string) ([]connections.Connection, error)
	CountMemberships(ctx context.Context, orgID string) (directory.MembershipCounts, error)
	CountOpenInvites(ctx context.Context, orgID string, at time.Time) (int, error)
	MemberEmails(ctx context.Context, orgID string, ids []string) (map[string]string, error)
	UpdateMembership(ctx context.Context, orgID string, m directory.Membership, at time.Time) error
	// SetMemberTimeZone records the member's own zone ("" clears it).
	SetMemberTimeZone(ctx context.Context, orgID, membershipID, tz string) error
	// RecomputeActionRequired stores what compute returns for the membership, atomically
	// with the reads it is computed from.
	RecomputeActionRequired(ctx context.Context, orgID, id string, at time.Time,
		compute func(org directory.Org, m directory.Membership, conns []connections.Connection) []directory.ActionReason) (directory.Membership, error)
}

// Reminders hears a member whose reasons were recomputed outside a connection change
// (reminders.Trigger: it queues the notify when the reasons call for one, exactly as
// after a connection change).
type Reminders interface {
	ReasonsChanged(ctx context.Context, orgID, membershipID string) error
	// AdminAlertsOwed queues the notify of each of ms whose admins were never told of
	// its current admin-only problems.
	AdminAlertsOwed(ctx context.Context, orgID string, ms []directory.Membership) (int, error)
}

// Zones hears that an admin changed a member's time zone: the reminder it has queued is
// re-timed to quiet hours in the new zone (reminders.ZoneRetimer).
type Zones interface {
	ZoneChanged(ctx context.Context, orgID, membershipID string) error
}

// Config are the Service's dependencies.
type Config struct {
	Store Store
	// Reminders is told after Update and RecomputeOrg (a role or photo change, a policy
	// change, the repair). Nil queues no reminder: only for tests of Action Required
	// alone; every tether process sets it.
	Reminders Reminders
	// Zones is told after Update changed a time zone. Nil leaves a queued reminder at its
	// time; the reminder then re-decides quiet hours in the new zone when it runs.
	Zones Zones
	// Now is the clock. Nil means time.Now.
	Now func() time.Time
}

// Service computes Action Required, lists members with their counts and changes a
// member's role and photo. Safe for concurrent use.
type Service struct {
	st        Store
	reminders Reminders
	zones     Zones
	now       func() time.Time
}

var _ connections.Observer = (*Service)(nil)

// New returns a Service; the store is required.
func New(c Config) (*Service, error) {
	if c.Store == nil {
		return nil, errors.New("members: Config.Store is required")
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	return &Service{st: c.Store, reminders: c.Reminders, zones: c.Zones, now: c.Now}, nil
}

// ConnectionChanged implements connections.Observer: it recomputes the member's reasons.
// An org-level connection (membershipID "") changes no member's reasons. Reminders are
// not told: the observer chain's own reminders.Trigger follows this one.
func (s *Service) ConnectionChanged(ctx context.Context, orgID, membershipID string) error {
	if membershipID == "" {
		return nil
	}
	_, err := s.Recompute(ctx, orgID, membershipID)
	return err
}

// Recompute applies the org's policy to the membership's connections and photo and stores
// the reasons; it returns the membership as stored. Idempotent.
func (s *Service) Recompute(ctx context.Context, orgID, membershipID string) (directory.Membership, error) {
	m, _, err := s.recompute(ctx, orgID, membershipID)
	return m, err
}

// recompute is Recompute, also saying whether the stored reasons changed.
func (s *Service) recompute(ctx context.Context, orgID, membershipID string) (directory.Membership, bool, error) {
	changed := false
	m, err := s.st.RecomputeActionRequired(ctx, orgID, membershipID, s.now(),
		func(org directory.Org, m directory.Membership, conns []connections.Connection) []directory.ActionReason {
			rs := Reasons(org.Policy, m, conns)
			changed = m.ActionCheckedAt.IsZero() || !reflect.DeepEqual(normal(m.ActionRequired), normal(rs))
			return rs
		})
	if errors.Is(err, directory.ErrNotFound) {
		return directory.Membership{}, false, refuse(CodeMemberNotFound, "org %s has no member %q: tether members list %s lists them", orgID, membershipID, orgID)
	}
	if err != nil {
		return directory.Membership{}, false, fmt.Errorf("recompute action required of member %s in org %s: %w", membershipID, orgID, err)
	}
	return m, changed, nil
}

// normal makes an empty reason list compare equal to a nil one (a stored row reads back
// either).
func normal(rs []directory.ActionReason) []directory.ActionReason {
	if len(rs) == 0 {
		return nil
	}
	return rs
}

// remind tells Reminders about m after a recompute outside a connection change: when its
// reasons changed (it gained some, or was fixed: the all-set note), or when it still
// needs action, so a repair queues the reminder an earlier failed enqueue lost (a notify
// for a member already reminded changes nothing: the policy reads the history).
func (s *Service) remind(ctx context.Context, m directory.Membership, changed bool) error {
	if s.reminders == nil || m.Status != directory.MembershipActive || (!changed && !m.NeedsAction()) {
		return nil
	}
	if err := s.reminders.ReasonsChanged(ctx, m.OrgID, m.ID); err != nil {
		// The *Error's message is for the API; the cause, for the CLI and the log.
		return fmt.Errorf("%w: %w", refuse(CodeReminderNotQueued, "member %s of org %s: reasons stored, but the reminder could not be queued (is Redis reachable?); tether members recompute %s queues it again",
			m.ID, m.OrgID, m.OrgID), err)
	}
	return nil
}

// RecomputeResult is what RecomputeOrg did.
type RecomputeResult struct {
	Members        int // memberships recomputed
	ActionRequired int // of which Action Required afterwards
}

// RecomputeOrg recomputes every membership of the org: the repair for reasons a crash or
// a policy change left stale, and what follows a policy change. Each active member whose
// reasons changed or who needs action is handed to Reminders; a reminder that could not
// be queued stops it with *Error reminder_not_queued (the reasons so far are stored;
// running it again is the repair).
func (s *Service) RecomputeOrg(ctx context.Context, orgID string) (RecomputeResult, error) {
	if _, err := s.org(ctx, orgID); err != nil {
		return RecomputeResult{}, err
	}
	var res RecomputeResult
	f := directory.MembershipFilter{Limit: 500}
	for {
		page, err := s.st.ListMemberships(ctx, orgID, f)
		if err != nil {
			return res, fmt.Errorf("recompute org %s: %w", orgID, err)
		}
		for _, m := range page {
			got, changed, err := s.recompute(ctx, orgID, m.ID)
			var e *Error
			if errors.As(err, &e) && e.Code == CodeMemberNotFound {
				continue // deleted meanwhile
			}
			if err != nil {
				return res, err
			}
			if err := s.remind(ctx, got, changed); err != nil {
				return res, err
			}
			res.Members++
			if got.NeedsAction() {
				res.ActionRequired++
			}
		}
		if len(page) < f.Limit {
			return res, nil
		}
		f.AfterID = page[len(page)-1].ID
	}
}

// ListRequest selects a page of members.
type ListRequest struct {
	// Filter is one of directory.MemberFilters(); empty means all.
	Filter directory.MemberFilter
	// ActionRequired keeps only members that are Action Required.
	ActionRequired bool
	After          string
	// Limit caps the page: 1 to 1000; 0 means 100.
	Limit int
}

// ConnectionView is a member's connection as the members page shows it: never a token.
type ConnectionView struct {
	ID    string
	Kind  connections.Kind
	State connections.State
	// Serves are the kinds the grant serves (one Microsoft grant may serve both).
	Serves []connections.Kind
	// Actor is who must act on its state; empty when nobody needs to.
	Actor           string
	Code            string
	Reason          string
	LastRefreshedAt time.Time
	LastVerifiedAt  time.Time
	NextRefreshAt   time.Time
}

// MemberView is a member with its connections and reasons.
type MemberView struct {
	directory.Member
	Connections []ConnectionView
}

// Page is one page of the members list with the counts of every filter.
type Page struct {
	OrgID   string
	Members []MemberView
	Counts  directory.MembershipCounts
	// PendingInvites counts the org's invitations not yet accepted nor expired. A person
	// invited without a tether user is no membership until they join, so no filter shows
	// them (pending is a membership awaiting its user: one invited from another org).
	PendingInvites int
	// Next is the id to pass as After for the next page; empty on the last.
	Next string
}

// StateActor is who acts on a connection in state st: the rep for a grant to (re)make,
// the admin when reconnecting cannot help or failures persist, nobody otherwise.
func StateActor(st connections.State) string {
	switch st {
	case connections.StateMissing, connections.StateNeedsReconnect, connections.StateRevoked:
		return directory.ActorRep
	case connections.StateNeedsAdmin, connections.StateError:
		return directory.ActorAdmin
	}
	return ""
}

// List returns a page of the org's members with their connections, plus every filter's
// counts and the pending invitations: four queries whatever the page size.
func (s *Service) List(ctx context.Context, orgID string, req ListRequest) (Page, error) {
	if req.Filter == "" {
		req.Filter = directory.FilterAll
	}
	if !req.Filter.Valid() {
		var names []string
		for _, f := range directory.MemberFilters() {
			names = append(names, string(f))
		}
		return Page{}, refuse(CodeInvalidFilter, "filter %q: use one of %s", req.Filter, strings.Join(names, ", "))
	}
	if req.Limit == 0 {
		req.Limit = 100
	}
	if req.Limit < 1 || req.Limit > 1000 {
		return Page{}, refuse(CodeInvalidFilter, "limit %d: use 1 to 1000", req.Limit)
	}
	if _, err := s.org(ctx, orgID); err != nil {
		return Page{}, err
	}
	ms, err := s.st.ListMembers(ctx, orgID, directory.MembershipFilter{Filter: req.Filter,
		ActionRequired: req.ActionRequired, AfterID: req.After, Limit: req.Limit})
	if err != nil {
		return Page{}, fmt.Errorf("list members of org %s: %w", orgID, err)
	}
	ids := make([]string, len(ms))
	for i, m := range ms {
		ids[i] = m.Membership.ID
	}
	conns, err := s.st.ListMemberConnections(ctx, orgID, ids)
	if err != nil {
		return Page{}, fmt.Errorf("list members of org %s: %w", orgID, err)
	}
	byMember := map[string][]ConnectionView{}
	for _, c := range conns {
		byMember[c.MembershipID] = append(byMember[c.MembershipID], viewOf(c))
	}
	p := Page{OrgID: orgID, Members: make([]MemberView, 0, len(ms))}
	for _, m := range ms {
		p.Members = append(p.Members, memberView(m, byMember[m.Membership.ID]))
	}
	if len(ms) == req.Limit {
		p.Next = ms[len(ms)-1].Membership.ID
	}
	if p.Counts, err = s.st.CountMemberships(ctx, orgID); err != nil {
		return Page{}, fmt.Errorf("count members of org %s: %w", orgID, err)
	}
	if p.PendingInvites, err = s.st.CountOpenInvites(ctx, orgID, s.now()); err != nil {
		return Page{}, fmt.Errorf("count invites of org %s: %w", orgID, err)
	}
	return p, nil
}

// Emails maps the connections' memberships to their members' emails, for lists that
// would otherwise show only ids; the org's own connections (no membership) are not in it.
func (s *Service) Emails(ctx context.Context, orgID string, cs []connections.Connection) (map[string]string, error) {
	var ids []string
	seen := map[string]bool{}
	for _, c := range cs {
		if c.MembershipID != "" && !seen[c.MembershipID] {
			seen[c.MembershipID] = true
			ids = append(ids, c.MembershipID)
		}
	}
	out, err := s.st.MemberEmails(ctx, orgID, ids)
	if err != nil {
		return nil, fmt.Errorf("read members' emails in org %s: %w", orgID, err)
	}
	return out, nil
}

// Member returns one member as the members list shows it: the membership, the user's
// email and name, and the member's connections. Returns a *Error member_not_found or
// org_not_found for an id the org does not have.
func (s *Service) Member(ctx context.Context, orgID, membershipID string) (MemberView, error) {
	m, err := s.Resolve(ctx, orgID, membershipID)
	if err != nil {
		return MemberView{}, err
	}
	u, err := s.st.GetUser(ctx, m.UserID)
	if err != nil {
		return MemberView{}, fmt.Errorf("read user %s of member %s: %w", m.UserID, m.ID, err)
	}
	conns, err := s.st.ListMemberConnections(ctx, orgID, []string{m.ID})
	if err != nil {
		return MemberView{}, fmt.Errorf("read connections of member %s of org %s: %w", m.ID, orgID, err)
	}
	var views []ConnectionView
	for _, c := range conns {
		views = append(views, viewOf(c))
	}
	return memberView(directory.Member{Membership: m, Email: u.Email, Name: u.Name}, views), nil
}

// memberView joins m and its connections. A deactivated member's connections were revoked
// by the deactivation: nobody is to act on them, so none names an actor.
func memberView(m directory.Member, conns []ConnectionView) MemberView {
	if m.Membership.Status == directory.MembershipDeactivated {
		for i := range conns {
			conns[i].Actor = ""
		}
	}
	return MemberView{Member: m, Connections: conns}
}

// ConnectionActor is who acts on c: StateActor, except that a refused OAuth client
// (misconfigured, stored as needs_admin) is the operator's.
func ConnectionActor(c connections.Connection) string {
	if c.State == connections.StateNeedsAdmin && c.FailureClass == connections.FailMisconfigured {
		return directory.ActorOperator
	}
	return StateActor(c.State)
}

func viewOf(c connections.Connection) ConnectionView {
	reason := c.FailureReason
	if reason == "" {
		reason = c.LastErrorDescription
	}
	v := ConnectionView{ID: c.ID, Kind: c.Kind, State: c.State, Actor: ConnectionActor(c), Code: c.LastErrorCode,
		Reason: reason, LastRefreshedAt: c.LastRefreshedAt, LastVerifiedAt: c.LastVerifiedAt,
		NextRefreshAt: c.NextRefreshAt}
	v.Serves = []connections.Kind{c.Kind}
	if c.Kind.Microsoft() {
		v.Serves = nil
		for _, k := range []connections.Kind{connections.KindMicrosoftCalendar, connections.KindTeams} {
			if connections.Serves(c, k) {
				v.Serves = append(v.Serves, k)
			}
		}
	}
	return v
}

// Change is a partial update of a member; nil fields stay as they are.
type Change struct {
	Role *directory.Role
	// PhotoURL "" removes the photo; otherwise an absolute http(s) URL.
	PhotoURL *string
	// TimeZone is the member's own IANA zone for quiet hours; "" removes it (the org's
	// zone is used).
	TimeZone *string
}

// MaxPhotoURL bounds a photo URL.
const MaxPhotoURL = 2048

// Update changes the member's role, photo or time zone. A role or photo recomputes its
// reasons (a role brings its own policy, a photo meets or fails the photo requirement)
// and tells Reminders as RecomputeOrg does; a time zone tells Zones, which moves the
// queued reminder. memberRef is the membership id or the member's email.
func (s *Service) Update(ctx context.Context, orgID, memberRef string, ch Change) (directory.Membership, error) {
	if ch.Role == nil && ch.PhotoURL == nil && ch.TimeZone == nil {
		return directory.Membership{}, refuse(CodeEmptyChange, "nothing to change: give a role, a photo URL or a time zone")
	}
	m, err := s.Resolve(ctx, orgID, memberRef)
	if err != nil {
		return directory.Membership{}, err
	}
	if m.Status == directory.MembershipDeactivated {
		// A role on a member who is gone would read as if they were back; the way back is
		// a new invitation, whose role the Join gives them.
		return directory.Membership{}, refuse(CodeDeactivated, "member %s of org %s is deactivated: to bring them back, invite them again "+
			"(tether invite emails --org %s --role ROLE EMAIL); their Join reactivates the membership with that role", m.ID, orgID, orgID)
	}
	before := m.Role
	if ch.Role != nil {
		if !ch.Role.Valid() {
			return directory.Membership{}, refuse(CodeInvalidRole, "role %q: use admin, custom_admin, chat or meetings", *ch.Role)
		}
		m.Role = *ch.Role
		if m.Role != directory.RoleCustomAdmin {
			m.CustomPermissions = nil
		}
	}
	if ch.PhotoURL != nil {
		p := strings.TrimSpace(*ch.PhotoURL)
		if p != "" {
			u, err := url.Parse(p)
			if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || len(p) > MaxPhotoURL {
				return directory.Membership{}, refuse(CodeInvalidPhoto, "photo %q: give an absolute http(s) URL of at most %d characters, or \"\" to remove it", clip(p, 80), MaxPhotoURL)
			}
		}
		m.PhotoURL = p
	}
	if ch.TimeZone != nil {
		tz := strings.TrimSpace(*ch.TimeZone)
		if tz != "" && !directory.ValidTimeZone(tz) {
			return directory.Membership{}, refuse(CodeInvalidTimeZone, "time zone %q is not an IANA zone: give one such as Europe/Paris or America/New_York, or \"\" to use the org's", clip(tz, 80))
		}
		if err := s.st.SetMemberTimeZone(ctx, orgID, m.ID, tz); err != nil {
			return directory.Membership{}, fmt.Errorf("set the time zone of member %s of org %s: %w", m.ID, orgID, err)
		}
		m.TimeZone = tz
	}
	got := m
	if ch.Role != nil || ch.PhotoURL != nil {
		// A zone changes no reason, so a zone alone skips this: only its reminder moves.
		if got, err = s.updateRoleOrPhoto(ctx, orgID, m, before); err != nil {
			return directory.Membership{}, err
		}
	}
	if ch.TimeZone != nil && s.zones != nil {
		// Always, not only when the zone differs: running the change again repairs a
		// re-timing that failed.
		if err := s.zones.ZoneChanged(ctx, orgID, got.ID); err != nil {
			return directory.Membership{}, fmt.Errorf("%w: %w", refuse(CodeReminderNotRetimed, "the time zone of member %s of org %s is stored, but its queued reminder could not be moved to it (is Redis reachable?); "+
				"it re-decides quiet hours when it runs, and tether members set %s %s --time-zone %q moves it", got.ID, orgID, orgID, got.ID, got.TimeZone), err)
		}
	}
	return got, nil
}

// updateRoleOrPhoto writes m, whose role was before, recomputes its reasons, tells
// Reminders of a change and, for a new admin, releases the alerts that waited for one.
func (s *Service) updateRoleOrPhoto(ctx context.Context, orgID string, m directory.Membership, before directory.Role) (directory.Membership, error) {
	if err := s.st.UpdateMembership(ctx, orgID, m, s.now()); err != nil {
		return directory.Membership{}, fmt.Errorf("update member %s of org %s: %w", m.ID, orgID, err)
	}
	got, changed, err := s.recompute(ctx, orgID, m.ID)
	if err != nil {
		return directory.Membership{}, err
	}
	if err := s.remind(ctx, got, changed); err != nil {
		return directory.Membership{}, err
	}
	if before != directory.RoleAdmin && got.Role == directory.RoleAdmin && got.Status == directory.MembershipActive {
		if err := s.AdminArrived(ctx, orgID, got.ID); err != nil {
			return directory.Membership{}, err
		}
	}
	return got, nil
}

// AdminArrived releases the admin alerts that waited for an admin; membershipID has just
// become an active admin. A notify that found no admin fails and retries with backoff
// (its last retries hours apart, then it gives up), so without this the first admin would
// hear of nothing until each member's reasons changed again. It queues the notify of every
// active member with a problem only an admin can fix whose alert was never sent; the
// policy sends it. Not only the first admin's arrival: two admins arriving at once each
// count two, and an alert already sent is not queued again, so a later admin costs one
// read of the messages per page of waiting members and queues nothing.
func (s *Service) AdminArrived(ctx context.Context, orgID, membershipID string) error {
	if s.reminders == nil {
		return nil
	}
	f := directory.MembershipFilter{Status: directory.MembershipActive, ActionRequired: true, Limit: 500}
	for {
		ms, err := s.st.ListMemberships(ctx, orgID, f)
		if err != nil {
			return fmt.Errorf("list the members of org %s waiting on an admin: %w", orgID, err)
		}
		waiting := slices.DeleteFunc(slices.Clone(ms), func(m directory.Membership) bool { return !directory.AdminActs(m.ActionRequired) })
		if _, err := s.reminders.AdminAlertsOwed(ctx, orgID, waiting); err != nil {
			return fmt.Errorf("%w: %w", refuse(CodeReminderNotQueued, "member %s of org %s is an admin now, but the alerts that waited for one could not be queued (is Redis reachable?); tether members recompute %s queues them",
				membershipID, orgID, orgID), err)
		}
		if len(ms) < f.Limit {
			return nil
		}
		f.AfterID = ms[len(ms)-1].ID
	}
}

func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

// Resolve finds the org's membership by id or by the member's email.
func (s *Service) Resolve(ctx context.Context, orgID, ref string) (directory.Membership, error) {
	ref = strings.TrimSpace(ref)
	if _, err := s.org(ctx, orgID); err != nil {
		return directory.Membership{}, err
	}
	if strings.Contains(ref, "@") {
		u, err := s.st.GetUserByEmail(ctx, directory.NormalizeEmail(ref))
		if errors.Is(err, directory.ErrNotFound) {
			return directory.Membership{}, s.notFound(ctx, orgID, ref)
		}
		if err != nil {
			return directory.Membership{}, fmt.Errorf("find member %q of org %s: %w", ref, orgID, err)
		}
		m, err := s.st.GetMembershipByUser(ctx, orgID, u.ID)
		if errors.Is(err, directory.ErrNotFound) {
			return directory.Membership{}, s.notFound(ctx, orgID, ref)
		}
		return m, err
	}
	m, err := s.st.GetMembership(ctx, orgID, ref)
	if errors.Is(err, directory.ErrNotFound) {
		return directory.Membership{}, s.notFound(ctx, orgID, ref)
	}
	return m, err
}

// notFound is Resolve's member_not_found. An invited person is no member until they
// join, and members list does not show invites: without a word the operator who typed an
// email from the invitations finds no one to look for.
func (s *Service) notFound(ctx context.Context, orgID, ref string) error {
	if inv, err := s.pendingInvite(ctx, orgID, ref); err == nil && inv.ID != "" {
		return refuse(CodeMemberNotFound, "%s is invited to org %s (invite %s, pending), not a member yet: it becomes one when they join "+
			"with the invitation's link (tether invite list --org %s shows the invites)", inv.Email, orgID, inv.ID, orgID)
	}
	return refuse(CodeMemberNotFound, "org %s has no member %q (a membership id or an email): tether members list %s lists them", orgID, ref, orgID)
}

// org reads one org, answering *Error org_not_found for an unknown id.
func (s *Service) org(ctx context.Context, orgID string) (directory.Org, error) {
	o, err := s.st.GetOrg(ctx, orgID)
	if errors.Is(err, directory.ErrNotFound) {
		return directory.Org{}, refuse(CodeOrgNotFound, "no org with id %q: tether org list (GET /v1/orgs) lists the orgs", orgID)
	}
	if err != nil {
		return directory.Org{}, fmt.Errorf("read org %s: %w", orgID, err)
	}
	return o, nil
}

// Deactivatable resolves the member to deactivate (id or email) and refuses a pending one:
// it has not joined, its seat is its invite's. A reference that is no member but names a
// pending invite (its email or id) is refused the same way, with the revoke command,
// rather than as unknown: members list does not show invitees.
func (s *Service) Deactivatable(ctx context.Context, orgID, memberRef string) (directory.Membership, error) {
	m, err := s.Resolve(ctx, orgID, memberRef)
	var me *Error
	if errors.As(err, &me) && me.Code == CodeMemberNotFound {
		inv, ierr := s.pendingInvite(ctx, orgID, strings.TrimSpace(memberRef))
		if ierr != nil {
			return directory.Membership{}, ierr
		}
		if inv.ID != "" {
			return directory.Membership{}, refuse(CodeNotDeactivatable,
				"%s is invited to org %s (invite %s, pending), not a member: revoke the invite instead with tether invite revoke %s --org %s",
				inv.Email, orgID, inv.ID, inv.ID, orgID)
		}
	}
	if err != nil {
		return directory.Membership{}, err
	}
	if m.Status == directory.MembershipPending {
		// The invite that holds the seat, for the exact revoke command; without it (or
		// the user unreadable) the message points at the invite listing.
		if u, err := s.st.GetUser(ctx, m.UserID); err == nil {
			inv, err := s.pendingInvite(ctx, orgID, u.Email)
			if err != nil {
				return directory.Membership{}, err
			}
			if inv.ID != "" {
				return directory.Membership{}, refuse(CodeNotDeactivatable,
					"member %s of org %s is pending (invited as %s, not joined): revoke the invite instead with tether invite revoke %s --org %s",
					m.ID, orgID, inv.Email, inv.ID, orgID)
			}
		}
		return directory.Membership{}, refuse(CodeNotDeactivatable,
			"member %s of org %s is pending (invited, not joined): revoke the invite instead (tether invite list --org %s, then tether invite revoke INVITE_ID --org %s)",
			m.ID, orgID, orgID, orgID)
	}
	return m, nil
}

// pendingInvite is the org's pending invite that ref names, by email or by id; the zero
// Invite when there is none.
func (s *Service) pendingInvite(ctx context.Context, orgID, ref string) (directory.Invite, error) {
	var (
		inv directory.Invite
		err error
	)
	if strings.Contains(ref, "@") {
		inv, err = s.st.FindPendingInvite(ctx, orgID, directory.NormalizeEmail(ref))
	} else {
		inv, err = s.st.GetInvite(ctx, orgID, ref)
	}
	if errors.Is(err, directory.ErrNotFound) || (err == nil && inv.Status != directory.InvitePending) {
		return directory.Invite{}, nil
	}
	if err != nil {
		return directory.Invite{}, fmt.Errorf("find a pending invite %q in org %s: %w", ref, orgID, err)
	}
	return inv, nil
}
