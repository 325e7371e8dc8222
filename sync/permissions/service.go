package permissions

import (
	"context"
	"errors"
	"fmt"
	"slices"
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
	// AttemptedAt is when a run began emailing it (zero: never). Attempted but not sent,
	// it is never sent again (see Service.Audit).
	AttemptedAt time.Time
	// Unconfirmed: SentAt is when the email was handed over or attempted, and whether the
	// server accepted it is unknown.
	Unconfirmed bool
	// NeverConnected: the connection check's alert of an org that has no team connection
	// and never had one. Nothing was lost: it says missing since LostSince, not lost.
	NeverConnected bool
}

// Alert deliveries, as the CLI and the HTTP API show them.
const (
	// DeliveryPending: not emailed yet (no admin to tell, or the send failed and the
	// retry or the next audit sends it).
	DeliveryPending = "pending"
	// DeliveryAttempting: a run began the send and has not recorded the outcome: it is
	// sending now, or its worker died. Never sent again; settled unconfirmed once stale.
	DeliveryAttempting = "attempting"
	// DeliverySent: the SMTP server accepted it.
	DeliverySent = "sent"
	// DeliveryUnconfirmed: handed over, outcome unknown (the connection broke after the
	// final dot, or the worker died before recording the answer). Never sent again.
	DeliveryUnconfirmed = "unconfirmed"
)

// Delivery is the alert's delivery state, one of the Delivery constants.
func (a Alert) Delivery() string {
	switch {
	case !a.SentAt.IsZero() && a.Unconfirmed:
		return DeliveryUnconfirmed
	case !a.SentAt.IsZero():
		return DeliverySent
	case !a.AttemptedAt.IsZero():
		return DeliveryAttempting
	}
	return DeliveryPending
}

// StaleAlertAttempt is how old an alert's unrecorded attempt must be before an audit
// settles it unconfirmed: longer than an audit task's timeout (2 min), so an audit still
// sending it is left alone.
const StaleAlertAttempt = 5 * time.Minute

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
	// PendingPermissionAlerts returns the org's open alerts not yet emailed (including
	// those attempted), oldest first.
	PendingPermissionAlerts(ctx context.Context, orgID string) ([]Alert, error)
	// BeginPermissionAlert records at as the start of the alert's one send attempt and
	// reports whether this call did; false when the alert was attempted or sent before.
	// Returns an error wrapping directory.ErrNotFound if there is no such alert.
	BeginPermissionAlert(ctx context.Context, orgID, check string, lostSince, at time.Time) (bool, error)
	// AbandonPermissionAlert clears the attempt of an alert not sent, after a send that
	// certainly did not reach the server, so a later run sends it.
	AbandonPermissionAlert(ctx context.Context, orgID, check string, lostSince time.Time) error
	// SettlePermissionAlerts marks the org's alerts attempted before before and never
	// recorded sent as sent (at their attempt) and unconfirmed; returns how many.
	SettlePermissionAlerts(ctx context.Context, orgID string, before time.Time) (int, error)
	// MarkPermissionAlertSent records that the alert's email went out.
	MarkPermissionAlertSent(ctx context.Context, orgID, check string, lostSince, at time.Time) error
	// MarkPermissionAlertUnconfirmed records that the alert's email was handed over and
	// the server's answer lost: no longer pending (never sent again), and unconfirmed.
	MarkPermissionAlertUnconfirmed(ctx context.Context, orgID, check string, lostSince, at time.Time) error
	// TeamEverConnected reports whether the org's team-level user was ever connected: a
	// team connection row with a Salesforce account. A row a connect never completed
	// (no account) is not: its audit says not connected yet, not needs reconnecting.
	TeamEverConnected(ctx context.Context, orgID string) (bool, error)
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
	// OnFailure, when set, receives the error behind a report Salesforce answered nothing
	// usable for (no connection, a refused session, API access off), for the log: the
	// report itself says what is wrong and the fix in words, without the error chain.
	// Called synchronously.
	OnFailure func(orgID string, err error)
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
// An alert is emailed at most once, even across a crash: see sendAlert.
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
	if (errors.Is(in.Failure, ErrNeedsReconnect) || errors.Is(in.Failure, ErrInvalidSession)) && !errors.Is(in.Failure, ErrNoTeamConnection) {
		// A row a connect never completed needs a first connect, not a reconnect.
		ever, err := s.p.Store.TeamEverConnected(ctx, orgID)
		if err != nil {
			return Report{}, fmt.Errorf("audit org %s: %w", orgID, err)
		}
		if !ever {
			in.Failure = fmt.Errorf("%w: its team connection was never completed (no Salesforce account): %v", ErrNoTeamConnection, in.Failure)
		}
	}
	if in.Failure != nil && s.p.OnFailure != nil {
		s.p.OnFailure(orgID, in.Failure)
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
	// An attempt a dead worker left behind, now stale, may have been delivered: it is
	// settled unconfirmed, never sent again.
	if _, err := s.p.Store.SettlePermissionAlerts(ctx, orgID, s.p.Clock().Add(-StaleAlertAttempt)); err != nil {
		return fmt.Errorf("audit org %s: settle stale alert attempts: %w", orgID, err)
	}
	alerts, err := s.p.Store.PendingPermissionAlerts(ctx, orgID)
	if err != nil {
		return fmt.Errorf("audit org %s: pending alerts: %w", orgID, err)
	}
	alerts = slices.DeleteFunc(alerts, func(a Alert) bool { return !a.AttemptedAt.IsZero() })
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
		verb := "Reconnect"
		if a.NeverConnected {
			// Nothing was lost: the org has yet to connect its team-level user.
			verb = "Connect"
			m.Subject = "Salesforce is not connected yet: connect the team-level Salesforce user"
			m.Text = fmt.Sprintf("tether's permission audit found no team-level Salesforce connection for this org: it has never been connected, so nothing in Salesforce can be read or audited.\n\nHow to fix it: %s\n\nMissing since: %s\n",
				c.Fix, a.LostSince.UTC().Format(time.RFC1123))
		}
		if a.Check == CheckConnection && s.p.Links != nil {
			if u, exp, err := s.p.Links.TeamLink(ctx, orgID); err == nil {
				m.Text += fmt.Sprintf("\n%s with this link (single use, valid until %s): %s\n", verb, exp.UTC().Format(time.RFC1123), u)
			} else {
				m.Text += "\n(No link could be made here: " + err.Error() + ". Run the command above.)\n"
			}
		}
		if err := s.sendAlert(ctx, a, m); err != nil {
			return err
		}
	}
	return nil
}

// sendAlert emails a at most once: the attempt is recorded before the send and the
// outcome after it. An alert attempted before (a run that died after the server may have
// accepted it, or a concurrent audit sending it) is not sent. A send that certainly did
// not reach the server clears the attempt and returns the error, so the retry sends it;
// a maybe-sent one (delivery.ErrMaybeSent) is settled unconfirmed and the run goes on.
// A crash between the send and the record leaves the attempt: stale, a later audit
// settles it unconfirmed (notify).
func (s *Service) sendAlert(ctx context.Context, a Alert, m Mail) error {
	began, err := s.p.Store.BeginPermissionAlert(ctx, a.OrgID, a.Check, a.LostSince, s.p.Clock())
	if err != nil {
		return fmt.Errorf("audit org %s: record alert %s attempt: %w", a.OrgID, a.Check, err)
	}
	if !began {
		return nil
	}
	bg := context.WithoutCancel(ctx)
	if err := s.p.Mailer.SendMail(ctx, m); errors.Is(err, delivery.ErrMaybeSent) {
		// Maybe delivered: a retry could only send it twice.
		if err := s.p.Store.MarkPermissionAlertUnconfirmed(bg, a.OrgID, a.Check, a.LostSince, s.p.Clock()); err != nil {
			return fmt.Errorf("audit org %s: mark alert %s unconfirmed: %w", a.OrgID, a.Check, err)
		}
		return nil
	} else if err != nil {
		err = fmt.Errorf("audit org %s: email alert %s: %w", a.OrgID, a.Check, err)
		if aerr := s.p.Store.AbandonPermissionAlert(bg, a.OrgID, a.Check, a.LostSince); aerr != nil {
			// Left attempting: settled unconfirmed once stale, never sent.
			return errors.Join(err, fmt.Errorf("clear alert %s attempt: %w", a.Check, aerr))
		}
		return err
	}
	if err := s.p.Store.MarkPermissionAlertSent(bg, a.OrgID, a.Check, a.LostSince, s.p.Clock()); err != nil {
		return fmt.Errorf("audit org %s: mark alert %s sent: %w", a.OrgID, a.Check, err)
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
