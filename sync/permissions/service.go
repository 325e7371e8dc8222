package permissions

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"tether/sync/delivery"
	"tether/sync/directory"
	"tether/sync/events"
)

// Event kinds the audit records.
const (
	EventAudited = "permissions.audited"
	EventLost    = "permissions.lost"
	EventGained  = "permissions.gained"
)

// Alert is the notification state of one lost permission, keyed by (org, check, lost
// since): a permission that stays lost keeps its alert (one email); regained and lost
// again, it gets a new one (another email).
type Alert struct {
	OrgID     string
	Check     string
	LostSince time.Time
	ReportID  string // the report that first saw it lost
	SentAt    time.Time
}

// AuditRecord is everything an audit writes, in one transaction.
type AuditRecord struct {
	Report Report
	Events []events.Event
	// Lost are required checks now missing: an alert is opened for each unless one is
	// already open for that check. Regained are checks now ok: their open alert closes.
	Lost, Regained []string
}

// Store is the persistence the audit needs.
type Store interface {
	// LatestPermissionReport returns the org's newest report, or an error wrapping
	// directory.ErrNotFound if it has none.
	LatestPermissionReport(ctx context.Context, orgID string) (Report, error)
	// SavePermissionAudit writes the report, its events and the alert changes in one
	// transaction and returns the report as stored.
	SavePermissionAudit(ctx context.Context, orgID string, r AuditRecord) (Report, error)
	// PendingPermissionAlerts returns the org's open alerts not yet emailed, oldest first.
	PendingPermissionAlerts(ctx context.Context, orgID string) ([]Alert, error)
	// MarkPermissionAlertSent records that the alert's email went out.
	MarkPermissionAlertSent(ctx context.Context, orgID, check string, lostSince, at time.Time) error
	// MarkPermissionAlertUnconfirmed records that the alert's email was handed over and
	// the server's answer lost: no longer pending (never sent again), and unconfirmed.
	MarkPermissionAlertUnconfirmed(ctx context.Context, orgID, check string, lostSince, at time.Time) error
	// OrgAdminEmails returns the e-mail addresses of the org's active admins.
	OrgAdminEmails(ctx context.Context, orgID string) ([]string, error)
	// RunStore keeps the audit runs RunAudit and FailAudit update.
	RunStore
}

// Mail is one message to the org's admins.
type Mail struct {
	To      []string
	Subject string
	Text    string
	// ID is stable per alert, so a resend after a crash can be recognised downstream.
	ID string
}

// Mailer sends mail. An error wrapping delivery.ErrMaybeSent means the server may have
// accepted the message (the connection broke after it was handed over): the alert is
// recorded unconfirmed and never sent again. Any other error means it certainly was not
// accepted; the alert stays pending and the retry sends it.
type Mailer interface {
	SendMail(ctx context.Context, m Mail) error
}

// Params are a Service's dependencies. Store, Sessions, Prober and Mailer are required.
type Params struct {
	Store    Store
	Sessions Sessions
	Prober   Prober
	Mailer   Mailer
	// Clock defaults to time.Now.
	Clock func() time.Time
	// UsageWarnShare is the share of the daily API allocation above which the audit
	// warns. Zero means DefaultUsageWarnShare.
	UsageWarnShare float64
	// Links, when set, puts a fresh team connect link into the alert about a lost or
	// broken team connection. Nil: the alert names the command only.
	Links TeamLinks
}

// TeamLinks issues team-level Salesforce connect links (sync/connect's producer).
type TeamLinks interface {
	TeamLink(ctx context.Context, orgID string) (url string, expires time.Time, err error)
}

// Validate reports a missing dependency or a share outside (0, 1].
func (p Params) Validate() error {
	var missing []string
	for name, ok := range map[string]bool{"Store": p.Store != nil, "Sessions": p.Sessions != nil, "Prober": p.Prober != nil, "Mailer": p.Mailer != nil} {
		if !ok {
			missing = append(missing, name)
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("permissions: Params needs %s", strings.Join(missing, ", "))
	}
	if p.UsageWarnShare < 0 || p.UsageWarnShare > 1 {
		return fmt.Errorf("permissions: usage warning share %v is outside 0..1", p.UsageWarnShare)
	}
	return nil
}

// Service audits orgs' team-level Salesforce accounts. Safe for concurrent use.
type Service struct {
	p Params
}

// NewService validates p and returns a Service.
func NewService(p Params) (*Service, error) {
	if err := p.Validate(); err != nil {
		return nil, err
	}
	if p.Clock == nil {
		p.Clock = time.Now
	}
	return &Service{p: p}, nil
}

// Audit runs one audit of orgID: reads the team user's permissions, stores the report,
// records lost and gained permissions as events and emails the org's admins once per
// newly lost permission. A broken connection, an org without API access and the like
// are results in the report, not errors. Errors: one wrapping ErrRequestLimit (retry
// later, see RateLimitError) or any transient failure of Salesforce, the store or mail.
// Running it twice at once is safe: alerts are unique per (org, check, lost since).
func (s *Service) Audit(ctx context.Context, orgID string) (Report, error) {
	in := Input{UsageWarnShare: s.p.UsageWarnShare, OrgID: orgID}
	var connectionID string
	sess, err := s.p.Sessions.Team(ctx, orgID)
	switch {
	case errors.Is(err, ErrNoTeamConnection), errors.Is(err, ErrNeedsReconnect):
		in.Failure = err
	case err != nil:
		return Report{}, fmt.Errorf("audit org %s: team session: %w", orgID, err)
	default:
		connectionID = sess.ConnectionID
		probe, err := s.p.Prober.Probe(ctx, sess)
		switch {
		case err == nil:
			in.Probe = &probe
		case isResult(err):
			in.Failure = err
		default:
			return Report{}, fmt.Errorf("audit org %s: %w", orgID, err)
		}
	}
	now := s.p.Clock()
	r := Report{OrgID: orgID, ConnectionID: connectionID, CreatedAt: now, Checks: Evaluate(in)}

	prev, err := s.p.Store.LatestPermissionReport(ctx, orgID)
	var prevChecks []Check
	switch {
	case errors.Is(err, directory.ErrNotFound):
	case err != nil:
		return Report{}, fmt.Errorf("audit org %s: previous report: %w", orgID, err)
	default:
		prevChecks = prev.Checks
		if prevChecks == nil {
			prevChecks = []Check{}
		}
	}
	rec := AuditRecord{Report: r}
	rec.Events = append(rec.Events, events.Event{OrgID: orgID, Kind: EventAudited, Subject: connectionID, At: now,
		Detail: map[string]any{"summary": Summarize(r.Checks)}})
	for _, ch := range Diff(prevChecks, r.Checks) {
		kind := EventGained
		if ch.Lost {
			kind = EventLost
		}
		rec.Events = append(rec.Events, events.Event{OrgID: orgID, Kind: kind, Subject: ch.Check, At: now,
			Detail: map[string]any{"required": ch.Required, "previous_report": prev.ID}})
	}
	for _, c := range r.Checks {
		switch {
		case c.Required && c.Result == ResultMissing:
			rec.Lost = append(rec.Lost, c.Name)
		case c.Result == ResultOK:
			rec.Regained = append(rec.Regained, c.Name)
		}
	}
	saved, err := s.p.Store.SavePermissionAudit(ctx, orgID, rec)
	if err != nil {
		return Report{}, fmt.Errorf("audit org %s: save report: %w", orgID, err)
	}
	if err := s.notify(ctx, orgID, saved); err != nil {
		return saved, err
	}
	return saved, nil
}

func isResult(err error) bool {
	for _, e := range []error{ErrInvalidSession, ErrNeedsReconnect, ErrNoTeamConnection, ErrOrgAPIDisabled, ErrUserAPIDisabled} {
		if errors.Is(err, e) {
			return true
		}
	}
	return false
}

// notify emails the admins about every open alert not yet sent (this run's, and any a
// failed earlier run left behind), one message per lost permission. With no admin to
// tell, alerts stay pending for the next run.
func (s *Service) notify(ctx context.Context, orgID string, r Report) error {
	alerts, err := s.p.Store.PendingPermissionAlerts(ctx, orgID)
	if err != nil {
		return fmt.Errorf("audit org %s: pending alerts: %w", orgID, err)
	}
	if len(alerts) == 0 {
		return nil
	}
	to, err := s.p.Store.OrgAdminEmails(ctx, orgID)
	if err != nil {
		return fmt.Errorf("audit org %s: admin emails: %w", orgID, err)
	}
	if len(to) == 0 {
		return nil
	}
	checks := make(map[string]Check, len(r.Checks))
	for _, c := range r.Checks {
		checks[c.Name] = c
	}
	for _, a := range alerts {
		c, ok := checks[a.Check]
		if !ok || c.Result != ResultMissing {
			continue // regained or unknown since; the next run closes or keeps it
		}
		m := Mail{To: to, ID: fmt.Sprintf("permission-alert.%s.%s.%d@tether", orgID, a.Check, a.LostSince.UnixMicro()),
			Subject: "Salesforce integration user lost a permission: " + a.Check,
			Text: fmt.Sprintf("tether's permission audit found that the team-level Salesforce account no longer passes the check %q.\n\nWhat we saw: %s\n\nHow to fix it: %s\n\nMissing since: %s\n",
				a.Check, c.Evidence, c.Fix, a.LostSince.UTC().Format(time.RFC1123))}
		if a.Check == CheckConnection && s.p.Links != nil {
			if u, exp, err := s.p.Links.TeamLink(ctx, orgID); err == nil {
				m.Text += fmt.Sprintf("\nReconnect with this link (single use, valid until %s): %s\n", exp.UTC().Format(time.RFC1123), u)
			} else {
				m.Text += "\n(No link could be made here: " + err.Error() + ". Run the command above.)\n"
			}
		}
		if err := s.p.Mailer.SendMail(ctx, m); errors.Is(err, delivery.ErrMaybeSent) {
			// Maybe delivered: a retry could only send it twice, so it is settled
			// unconfirmed and the run goes on.
			if err := s.p.Store.MarkPermissionAlertUnconfirmed(context.WithoutCancel(ctx), orgID, a.Check, a.LostSince, s.p.Clock()); err != nil {
				return fmt.Errorf("audit org %s: mark alert %s unconfirmed: %w", orgID, a.Check, err)
			}
			continue
		} else if err != nil {
			return fmt.Errorf("audit org %s: email alert %s: %w", orgID, a.Check, err)
		}
		if err := s.p.Store.MarkPermissionAlertSent(ctx, orgID, a.Check, a.LostSince, s.p.Clock()); err != nil {
			return fmt.Errorf("audit org %s: mark alert %s sent: %w", orgID, a.Check, err)
		}
	}
	return nil
}

// Summarize counts a report's results: {"ok": 40, "missing": 1, ...}.
func Summarize(cs []Check) map[string]int {
	m := map[string]int{}
	for _, c := range cs {
		m[string(c.Result)]++
	}
	return m
}
