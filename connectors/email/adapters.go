package email

import (
	"context"
	"errors"
	"fmt"

	"github.com/rs/zerolog"

	"tether/sync/delivery"
	"tether/sync/onboarding"
	"tether/sync/permissions"
	"tether/sync/reminders"
)

// InviteMailer adapts m to onboarding.Mailer, sending from from (empty: the mailer's
// sender): a failure is classified by classify, and a permanent one (5xx, a bad
// address) is also wrapped with onboarding.ErrUndeliverable.
func InviteMailer(m *Mailer, from string) onboarding.Mailer { return inviteMailer{m, from} }

type inviteMailer struct {
	m    *Mailer
	from string
}

func (im inviteMailer) Send(ctx context.Context, e onboarding.Email) error {
	err := classify(im.m.Send(ctx, Message{To: []string{e.To}, Subject: e.Subject, Text: e.Text, HTML: e.HTML, MessageID: e.MessageID, From: im.from}))
	if err != nil && !errors.Is(err, delivery.ErrMaybeSent) && IsPermanent(err) {
		return fmt.Errorf("%w: %w", onboarding.ErrUndeliverable, err)
	}
	return err
}

// classify wraps a Send error after which the server may have accepted the message with
// delivery.ErrMaybeSent, the one sentinel every at-most-once sender (invitations,
// reminders, permission alerts) reads; any other error certainly sent nothing and is returned as is.
func classify(err error) error {
	if err != nil && MaybeSent(err) {
		return fmt.Errorf("%w: %w", delivery.ErrMaybeSent, err)
	}
	return err
}

// LogMailer is the trial mailer (TETHER_MAILER=log): it sends nothing and logs each
// invitation's recipient and subject, so an operator trying tether sees what would have
// gone out. The body is not logged: its Join link is a credential.
func LogMailer(log zerolog.Logger) onboarding.Mailer { return logMailer{log} }

type logMailer struct{ log zerolog.Logger }

func (m logMailer) Send(_ context.Context, e onboarding.Email) error {
	m.log.Info().Str("to", e.To).Str("subject", e.Subject).Str("message_id", e.MessageID).
		Msg("email not sent (TETHER_MAILER=log)")
	return nil
}

// AlertMailer adapts m to permissions.Mailer (lost-permission alerts). A failure is
// classified as for invitations (classify).
func AlertMailer(m *Mailer) permissions.Mailer { return alertMailer{m} }

type alertMailer struct{ m *Mailer }

func (a alertMailer) SendMail(ctx context.Context, m permissions.Mail) error {
	return classify(a.m.Send(ctx, Message{To: m.To, Subject: m.Subject, Text: m.Text, MessageID: m.ID}))
}

// ReminderMailer adapts m to reminders.Mailer, sending from from (empty: m's sender). A
// failure is classified as for invitations (classify).
func ReminderMailer(m *Mailer, from string) reminders.Mailer { return reminderMailer{m, from} }

type reminderMailer struct {
	m    *Mailer
	from string
}

func (r reminderMailer) Send(ctx context.Context, msg reminders.Message) error {
	return classify(r.m.Send(ctx, Message{To: msg.To, Subject: msg.Subject, Text: msg.Text, HTML: msg.HTML, MessageID: msg.ID, From: r.from}))
}

// LogReminderMailer logs reminders (recipients and subject) instead of sending them, for
// TETHER_MAILER=log.
func LogReminderMailer(log zerolog.Logger) reminders.Mailer { return logReminderMailer{log} }

type logReminderMailer struct{ log zerolog.Logger }

func (l logReminderMailer) Send(_ context.Context, msg reminders.Message) error {
	l.log.Info().Strs("to", msg.To).Str("subject", msg.Subject).Str("message_id", msg.ID).
		Msg("reminder not sent (TETHER_MAILER=log)")
	return nil
}
