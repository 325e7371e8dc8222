package onboarding

import (
	"cmp"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"net/url"
	"strconv"
	"strings"
	"time"

	"tether/sync/delivery"
	"tether/sync/directory"
	"tether/sync/events"
)

// DefaultTokenTTL is how long a Join link works when SenderConfig.TokenTTL is zero.
const DefaultTokenTTL = 7 * 24 * time.Hour

// ErrUndeliverable marks a send the mail server refused for good (a 5xx answer, a bad
// address). Mailer implementations wrap such failures with it. It is permanent: retrying
// cannot help.
var ErrUndeliverable error = permanentError("invitation email undeliverable")

// ErrInviteNotFound is returned when the org has no invite with the id asked for. It is
// permanent: the invite was deleted and no retry brings it back.
var ErrInviteNotFound error = permanentError("invite not found")

// permanentError is a sentinel that no retry can fix; it says so with Permanent, which
// the worker turns into an archived task.
type permanentError string

func (e permanentError) Error() string   { return string(e) }
func (e permanentError) Permanent() bool { return true }

// ErrNotPending is returned by Resend for an invite that was accepted, revoked or expired.
var ErrNotPending = errors.New("invite is not pending")

// Email is one message for a Mailer. The sender address is the Mailer's.
type Email struct {
	To        string
	Subject   string
	Text      string
	HTML      string
	MessageID string // without angle brackets
}

// Mailer sends one email. It returns an error wrapping delivery.ErrMaybeSent when the server may
// have accepted the email despite the error, one wrapping ErrUndeliverable when the
// server refused it for good; any other error must mean the email certainly was not
// accepted (refused, or never handed over), and is retried.
type Mailer interface {
	Send(ctx context.Context, e Email) error
}

// SendStore is what Sender needs from persistence.
type SendStore interface {
	// GetInvite returns directory.ErrNotFound if the org has no invite id.
	GetInvite(ctx context.Context, orgID, id string) (directory.Invite, error)
	GetOrg(ctx context.Context, orgID string) (directory.Org, error)
	// RecordInviteDelivery marks the attempt sent and stores its token hash in one step;
	// first is false for a repeat. Returns directory.ErrConflict if the invite is no
	// longer pending (then nothing is recorded).
	RecordInviteDelivery(ctx context.Context, orgID string, d directory.InviteDelivery) (first bool, err error)
	// MarkInviteSendFailed records why the invite's email could not be sent.
	MarkInviteSendFailed(ctx context.Context, orgID, inviteID, reason string, at time.Time) error
	// NoteInviteSendError records why attempt failed while it is retried; dropped when
	// the attempt is settled. Returns directory.ErrNotFound if there is no such invite.
	NoteInviteSendError(ctx context.Context, orgID, inviteID string, attempt int, reason string, at time.Time) error
	// BeginInviteAttempt records the attempt as attempting before its email leaves;
	// returns "" if this call recorded it, else the earlier record's status.
	BeginInviteAttempt(ctx context.Context, orgID string, a directory.InviteAttempt) (directory.AttemptStatus, error)
	// AbandonInviteAttempt deletes an attempting record whose email certainly did not
	// leave, so the retry sends it.
	AbandonInviteAttempt(ctx context.Context, orgID, inviteID string, attempt int) error
	// SettleInviteAttempt marks an attempting record unknown (never sent again) and
	// reports whether it did.
	SettleInviteAttempt(ctx context.Context, orgID, inviteID string, attempt int, at time.Time) (bool, error)
	AppendEvent(ctx context.Context, e events.Event) error
}

// SenderConfig configures a Sender.
type SenderConfig struct {
	Store  SendStore
	Mailer Mailer
	// PublicURL is where people reach tether serve; links are PublicURL/join/{token}.
	PublicURL string
	// TokenTTL is how long a link works after its email. Zero means DefaultTokenTTL.
	TokenTTL time.Duration
	// Product names the product in the email. Empty means "tether".
	Product string
	// ConnectSalesforce, as JoinerConfig's: a Salesforce-sourced invite's Join is the
	// Salesforce sign-in, and its email says so. False: it says Salesforce is connected
	// after joining, from a link.
	ConnectSalesforce bool
	// Now is the clock; nil means time.Now. Rand is the token source; nil means
	// crypto/rand.Reader.
	Now  func() time.Time
	Rand io.Reader
}

// Validate reports a config a person can fix.
func (c SenderConfig) Validate() error {
	switch {
	case c.Store == nil || c.Mailer == nil:
		return errors.New("onboarding sender: store and mailer are required")
	case c.TokenTTL < 0:
		return fmt.Errorf("onboarding sender: token TTL %s is negative", c.TokenTTL)
	}
	u, err := url.Parse(c.PublicURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("onboarding sender: public URL %q is not an http(s) URL (example: https://tether.example.com)", c.PublicURL)
	}
	return nil
}

// Sender emails invitations. Safe for concurrent use.
type Sender struct {
	cfg    SenderConfig
	domain string // Message-ID right-hand side
	// afterAccept, if set, runs right after the mail server accepted an email and before
	// it is recorded: the crash window, for tests (SetAfterAccept).
	afterAccept func()
}

// SetAfterAccept makes fn run right after the mail server accepts each email and before
// the send is recorded. Only for tests that kill a worker in that window; nil removes it.
// Not safe to call while sends run.
func (s *Sender) SetAfterAccept(fn func()) { s.afterAccept = fn }

// NewSender validates cfg, fills its defaults and returns a Sender.
func NewSender(cfg SenderConfig) (*Sender, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg.TokenTTL = cmp.Or(cfg.TokenTTL, DefaultTokenTTL)
	cfg.Product = cmp.Or(cfg.Product, "tether")
	cfg.PublicURL = strings.TrimRight(cfg.PublicURL, "/")
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Rand == nil {
		cfg.Rand = rand.Reader
	}
	u, _ := url.Parse(cfg.PublicURL)
	return &Sender{cfg: cfg, domain: u.Hostname()}, nil
}

// Outcome is what Send did.
type Outcome string

// Send outcomes.
const (
	// Sent: the email went out and the attempt is recorded.
	Sent Outcome = "sent"
	// AlreadySent: the attempt (or a later one) was recorded before; nothing was sent.
	AlreadySent Outcome = "already_sent"
	// NotPending: the invite was accepted, revoked, expired or has lapsed (past its
	// expiry; resend it to renew it under the seat lock); nothing was sent (or, if it
	// changed during the send, the email's link will not work).
	NotPending Outcome = "not_pending"
	// Unknown: the attempt was begun before (by a run that died, or one still sending)
	// or the mail server may have accepted it despite an error: it is not sent again and
	// the invite's delivery is unknown until an operator resends it.
	Unknown Outcome = "unknown"
)

// MessageID returns the Message-ID of attempt of an invite: the same for every run of the
// attempt, so a receiver can drop a copy sent twice across a crash.
func (s *Sender) MessageID(inviteID string, attempt int) string {
	return "invite-" + inviteID + "-" + strconv.Itoa(attempt) + "@" + s.domain
}

// Send emails attempt of the org's invite inviteID at most once, unless the invite is no
// longer pending or the attempt (or a later one) is already settled (see the package doc
// for every crash point). Errors: ErrInviteNotFound (permanent), an error wrapping
// ErrUndeliverable (permanent), others transient (retry the same attempt). The Unknown
// outcome comes with a nil error: retrying cannot tell more.
func (s *Sender) Send(ctx context.Context, orgID, inviteID string, attempt int) (Outcome, error) {
	inv, err := s.cfg.Store.GetInvite(ctx, orgID, inviteID)
	if errors.Is(err, directory.ErrNotFound) {
		return "", fmt.Errorf("send invite %s attempt %d: %w", inviteID, attempt, ErrInviteNotFound)
	}
	if err != nil {
		return "", fmt.Errorf("send invite %s attempt %d: %w", inviteID, attempt, err)
	}
	switch {
	case inv.Status != directory.InvitePending:
		return NotPending, nil
	case inv.LastAttempt >= attempt:
		return AlreadySent, nil
	case !s.cfg.Now().Before(inv.ExpiresAt):
		// A lapsed invite holds no seat: renewing it by email would take one without the
		// seat lock. Resender.Resend reserves a seat first.
		return NotPending, nil
	}
	org, err := s.cfg.Store.GetOrg(ctx, orgID)
	if err != nil {
		return "", fmt.Errorf("send invite %s attempt %d: %w", inviteID, attempt, err)
	}
	tok, err := NewToken(s.cfg.Rand)
	if err != nil {
		return "", fmt.Errorf("send invite %s attempt %d: %w", inviteID, attempt, err)
	}
	now := s.cfg.Now()
	expires := now.Add(s.cfg.TokenTTL)
	msg, err := buildEmail(emailData{
		Product: s.cfg.Product, OrgName: org.Name, Role: roleName(inv.Role),
		Link: s.cfg.PublicURL + "/join/" + tok.Plain, Expires: expires.UTC().Format("2 January 2006 15:04 MST"),
		Salesforce:     inv.Source == directory.SourceSalesforce,
		SalesforceJoin: inv.Source == directory.SourceSalesforce && s.cfg.ConnectSalesforce,
	})
	if err != nil {
		return "", fmt.Errorf("send invite %s attempt %d: %w", inviteID, attempt, err)
	}
	msg.To = inv.Email
	msg.MessageID = s.MessageID(inv.ID, attempt)
	// The attempt is durable before the email leaves: a run finding it is not the first.
	prev, err := s.cfg.Store.BeginInviteAttempt(ctx, orgID, directory.InviteAttempt{
		InviteID: inv.ID, Attempt: attempt, TokenHash: tok.Hash, ExpiresAt: expires, At: now})
	switch {
	case errors.Is(err, directory.ErrNotFound):
		return "", fmt.Errorf("send invite %s attempt %d: %w", inviteID, attempt, ErrInviteNotFound)
	case err != nil:
		return "", fmt.Errorf("record invite %s attempt %d as attempting: %w", inviteID, attempt, err)
	case prev == directory.AttemptSent:
		return AlreadySent, nil
	case prev != "":
		// A run that died after its record, maybe after the server accepted the email.
		return s.unknown(ctx, orgID, inv.ID, attempt, "a previous run of this attempt ended without recording its outcome")
	}
	if err := s.cfg.Mailer.Send(ctx, msg); err != nil {
		if errors.Is(err, delivery.ErrMaybeSent) {
			return s.unknown(ctx, orgID, inv.ID, attempt, err.Error())
		}
		// Certainly not accepted: free the attempt so the retry sends it.
		if aerr := s.cfg.Store.AbandonInviteAttempt(context.WithoutCancel(ctx), orgID, inv.ID, attempt); aerr != nil {
			// The retry will find the record and settle it unknown: nothing is sent twice.
			return "", errors.Join(fmt.Errorf("send invite %s attempt %d: %w", inviteID, attempt, err), aerr)
		}
		return "", fmt.Errorf("send invite %s attempt %d: %w", inviteID, attempt, err)
	}
	if s.afterAccept != nil {
		s.afterAccept()
	}
	// A crash from here to the commit below leaves the attempt attempting: the retry
	// settles it unknown rather than sending again.
	first, err := s.cfg.Store.RecordInviteDelivery(context.WithoutCancel(ctx), orgID, directory.InviteDelivery{
		InviteID: inv.ID, AttemptID: strconv.Itoa(attempt), Resend: attempt > 1,
		TokenHash: tok.Hash, ExpiresAt: expires, At: now,
	})
	switch {
	case errors.Is(err, directory.ErrConflict):
		return NotPending, nil
	case err != nil:
		return "", fmt.Errorf("record invite %s attempt %d sent: %w", inviteID, attempt, err)
	case !first:
		// Another run of this attempt recorded first; its link is the one that works.
		return AlreadySent, nil
	}
	err = s.cfg.Store.AppendEvent(ctx, events.Event{OrgID: orgID, Kind: "invite.sent", Subject: inv.ID, At: now,
		Detail: map[string]any{"attempt": attempt, "message_id": msg.MessageID, "expires_at": expires.UTC().Format(time.RFC3339)}})
	if err != nil {
		// The attempt is recorded, so a retry sends nothing; only the audit line is missing.
		return Sent, fmt.Errorf("invite %s attempt %d sent, audit event not written: %w", inviteID, attempt, err)
	}
	return Sent, nil
}

// StaleAttempt is how long an attempt may stay attempting before Settle may mark it
// unknown: longer than a send task's timeout plus the mail server's, so a run still
// sending is left alone.
const StaleAttempt = 5 * time.Minute

// Settle marks attempt of the org's invite unknown if it is still attempting (its run
// died; the reconciler calls it for attempts older than StaleAttempt) and reports
// whether it did. It never sends.
func (s *Sender) Settle(ctx context.Context, orgID, inviteID string, attempt int) (bool, error) {
	return s.settle(ctx, orgID, inviteID, attempt, "its run ended without recording its outcome (found by the reconciler)")
}

// unknown settles attempt of the invite as unknown (see settle) and returns Unknown, also
// when the attempt was settled before.
func (s *Sender) unknown(ctx context.Context, orgID, inviteID string, attempt int, why string) (Outcome, error) {
	if _, err := s.settle(ctx, orgID, inviteID, attempt, why); err != nil {
		return "", err
	}
	return Unknown, nil
}

// settle marks attempt of the invite unknown if it is still attempting (why says what
// happened, for the invite.send_unknown event) and reports whether it did.
func (s *Sender) settle(ctx context.Context, orgID, inviteID string, attempt int, why string) (bool, error) {
	ctx = context.WithoutCancel(ctx)
	now := s.cfg.Now()
	settled, err := s.cfg.Store.SettleInviteAttempt(ctx, orgID, inviteID, attempt, now)
	if err != nil {
		return false, fmt.Errorf("mark invite %s attempt %d unknown: %w", inviteID, attempt, err)
	}
	if !settled {
		return false, nil
	}
	err = s.cfg.Store.AppendEvent(ctx, events.Event{OrgID: orgID, Kind: "invite.send_unknown", Subject: inviteID, At: now,
		Detail: map[string]any{"attempt": attempt, "message_id": s.MessageID(inviteID, attempt), "reason": why}})
	if err != nil {
		// The attempt is settled: nothing will send it; only the audit line is missing.
		return true, fmt.Errorf("invite %s attempt %d unknown, audit event not written: %w", inviteID, attempt, err)
	}
	return true, nil
}

// Fail records that the invite's email could not be sent, for good (undeliverable, or its
// retries spent): reason is kept on the invite (shown to operators, who resend once the
// cause is fixed) and in an invite.send_failed event. The reconciler does not queue a
// failed send again.
func (s *Sender) Fail(ctx context.Context, orgID, inviteID, reason string) error {
	now := s.cfg.Now()
	if err := s.cfg.Store.MarkInviteSendFailed(ctx, orgID, inviteID, reason, now); err != nil {
		if errors.Is(err, directory.ErrNotFound) {
			return fmt.Errorf("mark send of invite %s failed: %w", inviteID, ErrInviteNotFound)
		}
		return fmt.Errorf("mark send of invite %s failed: %w", inviteID, err)
	}
	return s.cfg.Store.AppendEvent(ctx, events.Event{OrgID: orgID, Kind: "invite.send_failed", Subject: inviteID, At: now,
		Detail: map[string]any{"reason": reason}})
}

// Retrying records reason (a sentence for an operator, never an error chain, which may
// hold a server's banner or an address) as why attempt of the invite failed while its task
// retries, so the invites list shows it before the retries are spent rather than only the
// worker's log. A recorded send, an unknown or failed-for-good one, or a resend clears it.
func (s *Sender) Retrying(ctx context.Context, orgID, inviteID string, attempt int, reason string) error {
	if err := s.cfg.Store.NoteInviteSendError(ctx, orgID, inviteID, attempt, reason, s.cfg.Now()); err != nil {
		if errors.Is(err, directory.ErrNotFound) {
			return fmt.Errorf("note send error of invite %s: %w", inviteID, ErrInviteNotFound)
		}
		return fmt.Errorf("note send error of invite %s: %w", inviteID, err)
	}
	return nil
}

func roleName(r directory.Role) string {
	switch r {
	case directory.RoleAdmin:
		return "Admin"
	case directory.RoleCustomAdmin:
		return "Custom Admin"
	case directory.RoleChat:
		return "Chat"
	case directory.RoleMeetings:
		return "Meetings"
	}
	return string(r)
}
