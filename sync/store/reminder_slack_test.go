package store_test

import (
	"bytes"
	"slices"
	"testing"
	"time"

	"tether/sync/directory"
	"tether/sync/reminders"
	"tether/sync/store"
)

func TestReminderSlackSetup(t *testing.T) {
	each(t, func(t *testing.T, b *bundle) {
		none, err := b.s.SlackConfig(b.ctx, b.orgA.ID)
		must(t, err, "no set-up")
		if none.TokenEnc != nil || none.Problem != "" {
			t.Fatalf("an org without Slack: %+v", none)
		}
		_, err = b.s.SlackConfig(b.ctx, store.NewID())
		wantErr(t, err, directory.ErrNotFound, "Slack of a missing org")
		wantErr(t, b.s.SetSlackToken(b.ctx, store.NewID(), []byte("x"), b.now), directory.ErrNotFound, "token of a missing org")

		must(t, b.s.SetSlackToken(b.ctx, b.orgA.ID, []byte("sealed-1"), b.now), "set")
		must(t, b.s.SetSlackProblem(b.ctx, b.orgA.ID, "token_revoked", b.now.Add(time.Minute)), "problem")
		c, err := b.s.SlackConfig(b.ctx, b.orgA.ID)
		must(t, err, "read")
		if !bytes.Equal(c.TokenEnc, []byte("sealed-1")) || c.Problem != "token_revoked" || !c.ProblemAt.Equal(b.now.Add(time.Minute).Truncate(time.Microsecond)) {
			t.Fatalf("stored %+v", c)
		}
		if c, _ := b.s.SlackConfig(b.ctx, b.orgB.ID); c.TokenEnc != nil {
			t.Fatalf("org B sees org A's token")
		}
		// A new token clears the problem: the admin fixed it.
		must(t, b.s.SetSlackToken(b.ctx, b.orgA.ID, []byte("sealed-2"), b.now.Add(time.Hour)), "replace")
		c, _ = b.s.SlackConfig(b.ctx, b.orgA.ID)
		if !bytes.Equal(c.TokenEnc, []byte("sealed-2")) || c.Problem != "" || !c.UpdatedAt.Equal(b.now.Add(time.Hour).Truncate(time.Microsecond)) {
			t.Fatalf("replaced %+v", c)
		}
		must(t, b.s.SetSlackToken(b.ctx, b.orgA.ID, nil, b.now), "remove")
		if c, _ := b.s.SlackConfig(b.ctx, b.orgA.ID); c.TokenEnc != nil {
			t.Fatalf("removed token still there: %+v", c)
		}
		must(t, b.s.SetSlackProblem(b.ctx, b.orgA.ID, "invalid_auth", b.now), "problem without a token is a no-op")

		// A Slack message to a rep Slack does not know is settled as skipped and listed.
		ann := b.member(t, b.orgA, "ann@example.com", directory.RoleChat, directory.MembershipActive)
		bob := b.member(t, b.orgA, "bob@example.com", directory.RoleChat, directory.MembershipActive)
		for i, m := range []struct {
			id, to string
			seq    int
			st     reminders.Status
		}{{ann.ID, "ann@example.com", 1, reminders.StatusSkipped}, {ann.ID, "ann@example.com", 2, reminders.StatusSkipped},
			{bob.ID, "bob@example.com", 1, reminders.StatusSkipped}, {bob.ID, "bob@example.com", 2, reminders.StatusSent}} {
			r, err := b.s.InsertReminder(b.ctx, b.orgA.ID, reminders.Reminder{MembershipID: m.id, Channel: reminders.ChannelSlack,
				Sequence: m.seq, Status: reminders.StatusAttempting, Recipients: []string{m.to}, SentAt: b.now.Add(time.Duration(i) * time.Minute)})
			must(t, err, "slack %d", i)
			must(t, b.s.SetReminderStatus(b.ctx, b.orgA.ID, r.ID, m.st, r.SentAt), "status %d", i)
		}
		got, err := b.s.SlackNotFound(b.ctx, b.orgA.ID, 10)
		must(t, err, "not found")
		if !slices.Equal(got, []string{"bob@example.com", "ann@example.com"}) {
			t.Fatalf("reps Slack did not know: %v", got)
		}
		if got, _ := b.s.SlackNotFound(b.ctx, b.orgB.ID, 10); len(got) != 0 {
			t.Fatalf("org B lists org A's reps: %v", got)
		}
	})
}

func TestReminderSlackMessageAndLinksAt(t *testing.T) {
	each(t, func(t *testing.T, b *bundle) {
		ann := b.member(t, b.orgA, "ann@example.com", directory.RoleChat, directory.MembershipActive)
		mail, err := b.s.InsertReminder(b.ctx, b.orgA.ID, reminders.Reminder{MembershipID: ann.ID, Channel: reminders.ChannelEmail,
			Sequence: 1, Status: reminders.StatusAttempting, SentAt: b.now, LinksAt: b.now.Add(-time.Second)})
		must(t, err, "email")
		dm, err := b.s.InsertReminder(b.ctx, b.orgA.ID, reminders.Reminder{MembershipID: ann.ID, Channel: reminders.ChannelSlack,
			Sequence: 1, Status: reminders.StatusAttempting, SentAt: b.now})
		must(t, err, "slack")
		msg := reminders.SlackMessage{Channel: "D024BE91L", TS: "1700000000.000100"}
		must(t, b.s.SetSlackSent(b.ctx, b.orgA.ID, dm.ID, msg, b.now.Add(time.Minute)), "sent")
		wantErr(t, b.s.SetSlackSent(b.ctx, b.orgB.ID, dm.ID, msg, b.now), directory.ErrNotFound, "another org's reminder")

		got, err := b.s.GetReminderBySequence(b.ctx, b.orgA.ID, ann.ID, reminders.ChannelSlack, 1)
		must(t, err, "read slack")
		if got.Status != reminders.StatusSent || got.SlackChannel != msg.Channel || got.SlackTS != msg.TS ||
			!got.SentAt.Equal(b.now.Add(time.Minute).Truncate(time.Microsecond)) || !got.LinksAt.IsZero() {
			t.Fatalf("the Slack record: %+v", got)
		}
		got, err = b.s.GetReminderBySequence(b.ctx, b.orgA.ID, ann.ID, reminders.ChannelEmail, 1)
		must(t, err, "read email")
		if got.ID != mail.ID || !got.LinksAt.Equal(b.now.Add(-time.Second).Truncate(time.Microsecond)) || got.SlackTS != "" {
			t.Fatalf("the email record: %+v", got)
		}
		// The members' page read (the history and the members list) carries them too.
		page, err := b.s.MemberReminders(b.ctx, b.orgA.ID, []string{ann.ID})
		must(t, err, "page")
		var seen int
		for _, r := range page[ann.ID].Sent {
			switch {
			case r.Channel == reminders.ChannelSlack && r.SlackChannel == msg.Channel && r.SlackTS == msg.TS:
				seen++
			case r.Channel == reminders.ChannelEmail && r.LinksAt.Equal(b.now.Add(-time.Second).Truncate(time.Microsecond)):
				seen++
			}
		}
		if seen != 2 {
			t.Fatalf("the page read: %+v", page[ann.ID].Sent)
		}
	})
}
