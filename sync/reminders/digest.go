package reminders

import (
	"context"
	"errors"
	"fmt"
	"html"
	"strings"
	"time"

	"tether/sync/delivery"
	"tether/sync/directory"
)

// DigestResult is what one admin digest did.
type DigestResult struct {
	Day string
	// Members are the reps listed: still needing action after EscalateAfter reminders.
	Members []directory.Member
	Sent    bool
	// Skipped is true when the day's digest was already attempted.
	Skipped bool
	// Unconfirmed is true when this run handed the digest over and lost the server's
	// answer (delivery.ErrMaybeSent): recorded unconfirmed, never sent again.
	Unconfirmed bool
}

// Digest sends the org's admins the day's digest of reps who still need action after
// Settings.EscalateAfter reminders, read now; nothing when there are none. One digest per
// org and UTC day, with the same at-most-once record as Notify. While anyone is listed,
// the next day's digest is queued.
func (s *Service) Digest(ctx context.Context, orgID string) (DigestResult, error) {
	now := s.c.Now()
	res := DigestResult{Day: now.UTC().Format("20060102")}
	org, err := s.c.Store.GetOrg(ctx, orgID)
	if errors.Is(err, directory.ErrNotFound) {
		return res, nil
	}
	if err != nil {
		return res, fmt.Errorf("admin digest of org %s: %w", orgID, err)
	}
	settings, err := s.c.Store.ReminderSettings(ctx, orgID)
	if err != nil {
		return res, fmt.Errorf("admin digest of org %s: %w", orgID, err)
	}
	f := directory.MembershipFilter{ActionRequired: true, Status: directory.MembershipActive, Limit: 500}
	for {
		page, err := s.c.Store.ListMembers(ctx, orgID, f)
		if err != nil {
			return res, fmt.Errorf("admin digest of org %s: %w", orgID, err)
		}
		// One read of the page's messages, never one per member.
		ids := make([]string, len(page))
		for i, mb := range page {
			ids[i] = mb.Membership.ID
		}
		sent, err := s.c.Store.MemberReminders(ctx, orgID, ids)
		if err != nil {
			return res, fmt.Errorf("admin digest of org %s: %w", orgID, err)
		}
		for _, mb := range page {
			d := Decide(Input{Now: now, Settings: settings, Reasons: mb.Membership.ActionRequired,
				History: historyOf(sent[mb.Membership.ID].Sent)})
			if len(d.RepReasons) > 0 && d.Streak >= settings.EscalateAfter {
				res.Members = append(res.Members, mb)
			}
		}
		if len(page) < f.Limit {
			break
		}
		f.AfterID = page[len(page)-1].Membership.ID
	}
	if len(res.Members) == 0 {
		return res, nil
	}
	admins, err := s.admins(ctx, orgID)
	if err != nil {
		return res, err
	}
	if len(admins) == 0 {
		return res, fmt.Errorf("org %s has no active admin for the reminders digest: make one with tether members set %s MEMBER --role admin", orgID, orgID)
	}
	msg := digestMessage(org, res.Members, settings.EscalateAfter)
	msg.To, msg.ID = emails(admins), fmt.Sprintf("reminders-digest-%s-%s@tether", orgID, res.Day)
	err = s.c.Store.BeginDigest(ctx, orgID, res.Day, msg.ID, len(res.Members), now)
	if errors.Is(err, directory.ErrDuplicate) {
		st, err := s.c.Store.DigestStatus(ctx, orgID, res.Day)
		if err == nil && st == StatusAttempting {
			err = s.c.Store.FinishDigest(ctx, orgID, res.Day, StatusUnconfirmed, now)
		}
		res.Skipped = true
		return res, err
	}
	if err != nil {
		return res, fmt.Errorf("record the admin digest of org %s: %w", orgID, err)
	}
	if err := s.c.Mailer.Send(ctx, msg); errors.Is(err, delivery.ErrMaybeSent) {
		// Maybe delivered: kept unconfirmed so no run sends the day's digest again.
		res.Unconfirmed = true
		return res, s.c.Store.FinishDigest(context.WithoutCancel(ctx), orgID, res.Day, StatusUnconfirmed, now)
	} else if err != nil {
		// Certainly not delivered: the record goes, so the retry sends it.
		return res, errors.Join(fmt.Errorf("send the admin digest of org %s: %w", orgID, err),
			s.c.Store.FinishDigest(context.WithoutCancel(ctx), orgID, res.Day, "", now))
	}
	res.Sent = true
	if err := s.c.Store.FinishDigest(context.WithoutCancel(ctx), orgID, res.Day, StatusSent, s.c.Now()); err != nil {
		return res, err
	}
	if err := s.c.Queue.Digest(ctx, orgID, now.Add(24*time.Hour)); err != nil {
		return res, fmt.Errorf("queue tomorrow's admin digest of org %s: %w", orgID, err)
	}
	return res, nil
}

func digestMessage(org directory.Org, ms []directory.Member, after int) Message {
	var t, h strings.Builder
	need := "need" // the verb agrees with the count: "1 rep … still needs"
	if len(ms) == 1 {
		need = "needs"
	}
	fmt.Fprintf(&t, "%s in %s still %s action after %s or more:\n\n", directory.Plural(len(ms), "rep"), org.Name, need, directory.Plural(after, "reminder"))
	fmt.Fprintf(&h, "<p>%s in %s still %s action after %s or more:</p><ul>", directory.Plural(len(ms), "rep"), html.EscapeString(org.Name), need, directory.Plural(after, "reminder"))
	for _, mb := range ms {
		var why []string
		for _, r := range mb.Membership.ActionRequired {
			if !r.Recommended {
				why = append(why, r.Message)
			}
		}
		fmt.Fprintf(&t, "- %s (%s): %s\n", mb.Email, mb.Membership.Role, strings.Join(why, "; "))
		fmt.Fprintf(&h, "<li>%s (%s): %s</li>", html.EscapeString(mb.Email), mb.Membership.Role, html.EscapeString(strings.Join(why, "; ")))
	}
	fmt.Fprintf(&t, "\nSee: tether members list %s --action-required\n", org.ID)
	fmt.Fprintf(&h, "</ul><p>See: <code>tether members list %s --action-required</code></p>", html.EscapeString(org.ID))
	return Message{Subject: fmt.Sprintf("%s in %s still %s to reconnect", directory.Plural(len(ms), "rep"), org.Name, need), Text: t.String(), HTML: h.String()}
}
