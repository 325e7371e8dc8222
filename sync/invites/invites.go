package invites

import (
	"cmp"
	"context"
	"errors"
	"time"

	"tether/sync/directory"
)

// SalesforceUser is one Salesforce User row as the import reads it.
type SalesforceUser struct {
	ID        string // 18-character id
	Username  string // the login, which Email often is not
	Email     string // as stored in Salesforce; may be empty or malformed
	Name      string
	IsActive  bool
	UserType  string // "Standard" for internal users
	ProfileID string
	TimeZone  string // TimeZoneSidKey, an IANA zone such as America/New_York
}

// UserQuery selects the Salesforce users an import reads. Exactly one of ProfileIDs and
// UserIDs is set; ids are validated 18-character ids.
type UserQuery struct {
	ProfileIDs []string
	UserIDs    []string
	// ActiveStandardOnly adds IsActive = true AND UserType = 'Standard' to the query.
	ActiveStandardOnly bool
	// AfterID, when set, returns only users whose Id sorts after it (a resume checkpoint).
	AfterID string
}

// Usage is an org's Salesforce API consumption in the rolling 24 hours.
type Usage struct {
	Used, Max int
}

// Directory reads one org's Salesforce users through its team-level connection.
type Directory interface {
	// ResolveProfiles returns the profile id of each name (matched exactly, as Salesforce
	// does, case-insensitively), in one query. Returns *UnknownProfilesError when a name
	// matches no profile.
	ResolveProfiles(ctx context.Context, names []string) (map[string]string, error)
	// StreamUsers calls fn with each page of users matching q, in ascending Id order, as
	// pages arrive; total is Salesforce's totalSize of the query the page belongs to.
	// fn's error stops the stream and is returned as is. Long id lists are split so no
	// query passes Salesforce's URI limit.
	StreamUsers(ctx context.Context, q UserQuery, fn func(page []SalesforceUser, total int) error) error
	// Usage returns the org's API usage reported by the latest response; ok is false
	// before any response carried one.
	Usage() (u Usage, ok bool)
}

// Directories opens an org's Salesforce directory. Returns an error wrapping
// ErrNoConnection when the org has no usable team-level connection.
type Directories interface {
	Open(ctx context.Context, orgID string) (Directory, error)
}

// ErrNoConnection says the org has no usable team-level Salesforce connection: the import
// cannot run until an admin connects one. Adapters wrap it.
var ErrNoConnection = errors.New("no usable team-level Salesforce connection")

// Page is one page of writes.
type Page struct {
	// Memberships are new pending memberships of users of other orgs.
	Memberships []directory.Membership
	// Invites are new pending invites.
	Invites []directory.Invite
	// Expire are the org's lapsed invites (pending, past their expiry) for the page's
	// emails: marked expired first, so they no longer hold the (org, email) slot.
	Expire []string
}

// PageResult lists the ids a page write actually inserted (conflicting rows are skipped).
type PageResult struct {
	MembershipIDs []string
	InviteIDs     []string
}

// Store is the persistence the import needs. Implemented by sync/store (store.Invites).
type Store interface {
	GetOrg(ctx context.Context, orgID string) (directory.Org, error)
	// InviteDeliveryCounts counts the import's invites by where their email is.
	InviteDeliveryCounts(ctx context.Context, orgID, importID string) (directory.DeliveryCounts, error)
	// FindGroup returns the org's group named name; ok is false if there is none.
	FindGroup(ctx context.Context, orgID, name string) (g directory.Group, ok bool, err error)
	GetOrCreateGroup(ctx context.Context, orgID, name string, at time.Time) (directory.Group, error)
	CreateImport(ctx context.Context, orgID string, imp directory.Import) (directory.Import, error)
	// GetImport returns an error wrapping directory.ErrNotFound if there is none.
	GetImport(ctx context.Context, orgID, id string) (directory.Import, error)
	UpdateImport(ctx context.Context, orgID string, imp directory.Import, at time.Time) error
	// LookupEmails returns the situation of each (normalised) email in the org at time at,
	// in one query.
	LookupEmails(ctx context.Context, orgID string, emails []string, at time.Time) (map[string]directory.EmailSituation, error)
	CountSeats(ctx context.Context, orgID string, at time.Time) (directory.Seats, error)
	// WritePage runs, in one transaction: lock the org's seats and read them, plan the
	// page from them, expire the plan's lapsed invites, insert the plan skipping
	// conflicting rows, and save the checkpoint finish returns from the result
	// (SaveCheckpoint). Any error rolls everything back; an error wrapping
	// directory.ErrImportCancelled means an admin cancelled the import.
	WritePage(ctx context.Context, orgID string, at time.Time,
		plan func(seats directory.Seats) (Page, error),
		finish func(res PageResult) (directory.Checkpoint, error)) error
	// SaveCheckpoint saves the import, appends cp.Seen to its seen set and stores the
	// skipped rows, in one transaction. UpdateImport and SaveCheckpoint never overwrite a
	// cancelled import: they return an error wrapping directory.ErrImportCancelled.
	SaveCheckpoint(ctx context.Context, orgID string, cp directory.Checkpoint, at time.Time) error
	// ImportSeen returns the hashes saved by the import's checkpoints.
	ImportSeen(ctx context.Context, orgID, id string) ([]uint64, error)
	// UnsentInvites returns the ids of the import's pending invites that were never sent,
	// in id order after afterID, at most limit.
	UnsentInvites(ctx context.Context, orgID, importID, afterID string, limit int) ([]string, error)
}

// Sender queues the invitation email of each invite. Queuing the same invite twice must
// not send twice (a deterministic task id per invite and attempt). Implemented in worker.
type Sender interface {
	QueueSends(ctx context.Context, orgID string, inviteIDs []string) error
}

// Config configures a Service.
type Config struct {
	Store       Store       // required
	Directories Directories // required for Salesforce imports
	Sender      Sender      // required
	// Tasks queues an import's task; required for Start (producers), not for Run.
	Tasks Tasks
	// Clock returns the current time. Nil means time.Now.
	Clock func() time.Time
	// InviteTTL is how long an invite stays valid. Zero means 7 days.
	InviteTTL time.Duration
	// BudgetShare is the share of the org's daily Salesforce API allocation past which an
	// import pauses. Zero means 0.8; 1 or more never pauses.
	BudgetShare float64
	// PauseFor is how long a paused import waits before it runs again. Zero means 15
	// minutes.
	PauseFor time.Duration
	// MaxEmails caps the addresses of one email-list import. Zero means 10,000.
	MaxEmails int
	// PageSize is how many rows an email-list import writes per transaction. Zero means
	// 2,000 (a Salesforce page).
	PageSize int
	// Sequential turns off prefetching: the next Salesforce page is then fetched only
	// after the current one is written (the behaviour before prefetching, kept for the
	// benchmark's comparison). False (the default) fetches one page ahead.
	Sequential bool
}

// Service creates and runs imports. Safe for concurrent use.
type Service struct {
	store      Store
	dirs       Directories
	sender     Sender
	tasks      Tasks
	now        func() time.Time
	ttl        time.Duration
	share      float64
	pauseFor   time.Duration
	maxEmails  int
	pageSize   int
	sequential bool
}

// New returns a Service. It returns an error if cfg.Store is nil.
func New(cfg Config) (*Service, error) {
	if cfg.Store == nil {
		return nil, errors.New("invites: Config.Store is required")
	}
	if cfg.Sender == nil {
		return nil, errors.New("invites: Config.Sender is required")
	}
	s := &Service{
		store:      cfg.Store,
		dirs:       cfg.Directories,
		sender:     cfg.Sender,
		tasks:      cfg.Tasks,
		now:        cfg.Clock,
		ttl:        cmp.Or(cfg.InviteTTL, 7*24*time.Hour),
		share:      cmp.Or(cfg.BudgetShare, 0.8),
		pauseFor:   cmp.Or(cfg.PauseFor, 15*time.Minute),
		maxEmails:  cmp.Or(cfg.MaxEmails, 10000),
		pageSize:   cmp.Or(cfg.PageSize, 2000),
		sequential: cfg.Sequential,
	}
	if s.now == nil {
		s.now = time.Now
	}
	return s, nil
}
