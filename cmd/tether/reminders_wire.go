package main

import (
	"cmp"
	"context"
	"fmt"
	"net/http"
	"time"

	"tether/connectors/email"
	"tether/connectors/slack"
	"tether/jobs"
	"tether/sync/connections"
	"tether/sync/reminders"
	"tether/worker"
)

// reminderService is the process's reminders service: the store, the mailer
// (TETHER_SMTP_URL, TETHER_MAIL_DIR under TETHER_MAILER=dir, or the log under TETHER_MAILER=log), the connect links
// (TETHER_LINK_SECRET) and the queue client.
func (a *app) reminderService() (*reminders.Service, error) {
	a.mu.Lock()
	if a.remind != nil {
		defer a.mu.Unlock()
		return a.remind, nil
	}
	a.mu.Unlock()
	d := *a.d
	if d.store == nil {
		return nil, fmt.Errorf("reminders need the store")
	}
	if err := d.cfg.RequireMailer("reminders"); err != nil {
		return nil, err
	}
	var mailer reminders.Mailer
	if d.cfg.Mailer == "log" {
		mailer = email.LogReminderMailer(d.log.With().Str("component", "mail").Logger())
	} else {
		m, err := a.outMailer()
		if err != nil {
			return nil, err
		}
		mailer = email.ReminderMailer(m, cmp.Or(d.cfg.MailFrom, d.cfg.InviteFrom))
	}
	if wrapReminderMailer != nil {
		mailer = wrapReminderMailer(mailer)
	}
	links, err := connectLinks(d)
	if err != nil {
		return nil, err
	}
	// Slack is on for every process; an org uses it once it sets a bot token.
	svc, err := reminders.New(reminders.Config{Store: d.store, Mailer: mailer, Links: links,
		Queue: jobs.ReminderQueue{Client: a.queueClient()}, Keyring: d.keyring,
		Slack: slack.Client{APIURL: d.cfg.SlackAPIURL, HTTP: &http.Client{Timeout: 20 * time.Second}}})
	if err != nil {
		return nil, err
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.remind == nil {
		a.count("reminders")
		a.remind = svc
	}
	return a.remind, nil
}

// wrapReminderMailer is nil in tether itself; only a test binary sets it
// (reminders_kill_test.go: a worker that dies between the SMTP accept and the record),
// so no build of tether carries the hook.
var wrapReminderMailer func(reminders.Mailer) reminders.Mailer

// observer is what hears a committed connection change: the members' Action Required
// recompute first, then the reminders trigger, which reads the reasons just stored.
func (a *app) observer() (connections.Observer, error) {
	ms, err := a.memberService()
	if err != nil {
		return nil, err
	}
	a.mu.Lock()
	t := a.reminderTriggerLocked()
	a.mu.Unlock()
	return reminders.Observers{ms, t}, nil
}

// reminderTriggerLocked is the process's reminders trigger (for a caller holding mu): the
// one path from "this member's reasons changed" to a queued reminders:notify. Its enqueue
// is bounded: an HTTP request or a CLI verb waits on it.
func (a *app) reminderTriggerLocked() *reminders.Trigger {
	return &reminders.Trigger{Store: a.d.store,
		Queue: jobs.ReminderQueue{Client: worker.BoundedEnqueuer{Client: a.queueClientLocked()}}}
}

// memberZones re-times a member's queued reminder, by the org's policy, after an admin
// changed the member's time zone. The retimer (and the inspector deleting the old task)
// is built when a zone changes, not with the members service every process has.
type memberZones struct{ a *app }

func (z memberZones) ZoneChanged(ctx context.Context, orgID, membershipID string) error {
	return reminders.ZoneRetimer{Settings: z.a.d.store, Retimer: z.a.reminderRetimer()}.ZoneChanged(ctx, orgID, membershipID)
}

// reminderRetimer moves an org's queued reminders to a changed policy, on the process's
// queue client (bounded: a person waits on the change) and inspector.
func (a *app) reminderRetimer() *reminders.Retimer {
	return &reminders.Retimer{Store: a.d.store, Queue: worker.ReminderRescheduler{
		Queue:     jobs.ReminderQueue{Client: worker.BoundedEnqueuer{Client: a.queueClient()}},
		Inspector: a.queueInspector()}}
}
