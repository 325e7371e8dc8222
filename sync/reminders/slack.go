package reminders

import (
	"context"
	"errors"
	"fmt"
	"time"

	"tether/sync/directory"
	"tether/sync/vault"
)

// StatusSkipped settles a Slack message that cannot go: Slack knows no user with the
// rep's email. It is listed for the admins and never retried; the email carried it.
const StatusSkipped Status = "skipped"

// SlackSender delivers a Slack direct message with an org's bot token: the person is
// found by email (users.lookupByEmail), the conversation opened (conversations.open) and
// the text posted (chat.postMessage). It returns where Slack put the message.
//
// Errors: ErrSlackUserNotFound when Slack knows no such email; a *SlackTokenError when
// the token is refused (the admin's to fix); a *SlackRateLimited when Slack asked to wait;
// one wrapping delivery.ErrMaybeSent when the post went out and its answer was lost (the
// message is recorded unconfirmed and never posted again); a *SlackError when Slack
// answered with another error word or an HTTP status; anything else certainly posted
// nothing. Those last two are retried, and recorded on the member (SetSlackFailure).
type SlackSender interface {
	DirectMessage(ctx context.Context, token vault.Token, email, text string) (SlackMessage, error)
}

// SlackMessage is a posted Slack message: the conversation (the DM channel id) and its
// ts, which is the message's id in Slack.
type SlackMessage struct {
	Channel string
	TS      string
}

// ErrSlackUserNotFound says Slack has no user with the rep's email (users_not_found).
var ErrSlackUserNotFound = errors.New("no Slack user has this email")

// SlackTokenError is Slack refusing the org's bot token (invalid_auth, account_inactive,
// token_revoked, ...): no retry fixes it, an admin must give a new token.
type SlackTokenError struct {
	// Code is Slack's error string.
	Code string
}

func (e *SlackTokenError) Error() string {
	return fmt.Sprintf("Slack refused the org's bot token (%s): give a new one with tether org reminders ORG --slack-token-file FILE", e.Code)
}

// SlackRateLimited is Slack's ratelimited answer; RetryAfter is its Retry-After. The
// worker retries the task after that delay without spending a retry.
type SlackRateLimited struct {
	Delay time.Duration
}

func (e *SlackRateLimited) Error() string {
	return fmt.Sprintf("Slack rate-limited the reminder (retry after %s)", e.Delay)
}

// RetryAfter implements the worker's retry-after contract.
func (e *SlackRateLimited) RetryAfter() time.Duration { return e.Delay }

// SlackConfig is an org's Slack set-up as stored.
type SlackConfig struct {
	// TokenEnc is the bot token sealed under SlackTokenRow(org); nil when none is set.
	TokenEnc []byte
	// Problem is the token's last refusal (a SlackTokenError's text), "" when none.
	Problem   string
	ProblemAt time.Time
	UpdatedAt time.Time
}

// SlackStatus is what admins see of an org's Slack set-up: never the token.
type SlackStatus struct {
	Configured bool
	Problem    string
	ProblemAt  time.Time
	// NotFound are reps Slack did not know by email (latest first, at most 50).
	NotFound []string
}

// SlackTokenRow is the associated data the org's Slack token is sealed with, so a sealed
// token copied to another org does not open.
func SlackTokenRow(orgID string) string { return "reminder-slack:" + orgID }

// SlackStore is what the Slack channel reads and writes. SlackConfig returns a zero
// SlackConfig (TokenEnc nil) for an org with none, and an error wrapping
// directory.ErrNotFound for an unknown org.
type SlackStore interface {
	SlackConfig(ctx context.Context, orgID string) (SlackConfig, error)
	// SetSlackToken stores the sealed token (nil removes it) and clears any problem.
	SetSlackToken(ctx context.Context, orgID string, sealed []byte, at time.Time) error
	// SetSlackProblem records the token's refusal; a no-op when the org has no token.
	SetSlackProblem(ctx context.Context, orgID, problem string, at time.Time) error
	// SetSlackSent records the Slack reminder id sent at at, with where Slack put it.
	SetSlackSent(ctx context.Context, orgID, id string, msg SlackMessage, at time.Time) error
	// SetSlackFailure records on the membership the last Slack message that failed and
	// is left to the retry: Slack's reason and when.
	SetSlackFailure(ctx context.Context, orgID, membershipID string, f SlackFailure) error
	// SlackNotFound lists the recipients of the org's skipped Slack messages, latest
	// first, each once, at most limit.
	SlackNotFound(ctx context.Context, orgID string, limit int) ([]string, error)
}

// slackToken opens the org's bot token; ok is false when the org has none, or its token
// was refused and not replaced since (no use knocking with it on every reminder).
func (s *Service) slackToken(ctx context.Context, orgID string) (vault.Token, SlackConfig, bool, error) {
	cfg, err := s.c.Store.SlackConfig(ctx, orgID)
	if err != nil {
		return vault.Token{}, cfg, false, fmt.Errorf("read the Slack set-up of org %s: %w", orgID, err)
	}
	if cfg.TokenEnc == nil || cfg.Problem != "" {
		return vault.Token{}, cfg, false, nil
	}
	if s.c.Keyring == nil {
		return vault.Token{}, cfg, false, fmt.Errorf("org %s has a Slack token but this process has no key ring to open it: set TETHER_ENCRYPTION_KEYS as for tether serve", orgID)
	}
	tok, err := s.c.Keyring.OpenToken(cfg.TokenEnc, SlackTokenRow(orgID))
	if err != nil {
		return vault.Token{}, cfg, false, fmt.Errorf("open the Slack token of org %s (was the key that sealed it dropped from TETHER_ENCRYPTION_KEYS?): %w", orgID, err)
	}
	return tok, cfg, true, nil
}

// slack sends text to the rep as Slack message seq, under the same at-most-once key as
// the email (channel slack). Not configured is a no-op. A rep Slack does not know is
// recorded skipped; a refused token is recorded on the org for the admins and not
// retried; anything else (a rate limit, a network error) returns an error so the task is
// retried, and the next run sends it (see retrySlack).
func (s *Service) slack(ctx context.Context, m directory.Membership, email string, seq int, kind Kind, reasons []string, text string) error {
	if s.c.Slack == nil {
		return nil
	}
	tok, _, ok, err := s.slackToken(ctx, m.OrgID)
	if err != nil || !ok {
		return err
	}
	r := Reminder{OrgID: m.OrgID, MembershipID: m.ID, Channel: ChannelSlack, Sequence: seq, Kind: kind,
		Reasons: reasons, Recipients: []string{email}}
	var tokErr *SlackTokenError
	_, _, err = s.send(ctx, r, func(ctx context.Context) (SlackMessage, error) {
		return s.c.Slack.DirectMessage(ctx, tok, email, text)
	})
	switch {
	case errors.As(err, &tokErr):
		// The admin's problem: shown in the reminder settings, the email already went.
		return s.c.Store.SetSlackProblem(context.WithoutCancel(ctx), m.OrgID, tokErr.Error(), s.c.Now())
	case err != nil:
		f := SlackFailure{Reason: slackReason(err), At: s.c.Now()}
		if serr := s.c.Store.SetSlackFailure(context.WithoutCancel(ctx), m.OrgID, m.ID, f); serr != nil {
			err = errors.Join(err, serr)
		}
		return fmt.Errorf("Slack message %d to member %s: %w", seq, m.ID, err)
	}
	return nil
}

// SlackError is Slack refusing a call with one of its error words (channel_not_found,
// not_in_channel, internal_error) or an HTTP status: Code is that word or "HTTP 503".
type SlackError struct {
	Method string
	Code   string
}

func (e *SlackError) Error() string { return "slack " + e.Method + ": " + e.Code }

// slackReason is what the member's record keeps of a failed send: Slack's own words when
// it answered, else that it did not (the worker's log has the network error).
func slackReason(err error) string {
	var (
		se *SlackError
		rl *SlackRateLimited
	)
	switch {
	case errors.As(err, &se):
		return se.Code
	case errors.As(err, &rl):
		return "ratelimited"
	}
	return "no answer from Slack (see the worker log)"
}

// SlackRetryWindow is how long after its email a Slack message that failed is still
// retried; later, it would be news of a stale state.
const SlackRetryWindow = 24 * time.Hour

// pendingSlack returns the rep's latest email message (a reminder or the all-set note)
// whose Slack twin has not gone because its send failed, if it is recent and the org's
// token predates it; ok is false otherwise.
func (s *Service) pendingSlack(ctx context.Context, m directory.Membership, now time.Time) (Reminder, bool, error) {
	if s.c.Slack == nil {
		return Reminder{}, false, nil
	}
	rs, err := s.c.Store.ListReminders(ctx, m.OrgID, m.ID, 20)
	if err != nil {
		return Reminder{}, false, fmt.Errorf("read reminders of member %s of org %s: %w", m.ID, m.OrgID, err)
	}
	slacked := map[int]bool{}
	for _, r := range rs {
		if r.Channel == ChannelSlack {
			slacked[r.Sequence] = true
		}
	}
	for _, r := range rs { // newest first
		if r.Channel != ChannelEmail || r.Kind == KindAdmin {
			continue
		}
		if r.Status != StatusSent || slacked[r.Sequence] || now.Sub(r.SentAt) > SlackRetryWindow {
			return Reminder{}, false, nil
		}
		cfg, err := s.c.Store.SlackConfig(ctx, m.OrgID)
		if err != nil {
			return Reminder{}, false, fmt.Errorf("read the Slack set-up of org %s: %w", m.OrgID, err)
		}
		if cfg.TokenEnc == nil || cfg.Problem != "" || cfg.UpdatedAt.After(r.SentAt) {
			return Reminder{}, false, nil
		}
		return r, true, nil
	}
	return Reminder{}, false, nil
}
