package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hibiken/asynq"

	"tether/jobs"
	"tether/sync/directory"
	"tether/sync/reminders"
	"tether/worker/httpapi"
	"tether/worker/redistest"
)

// TestMembersRemindersVerb runs tether members reminders on both backends: what was sent
// is listed, with the next reminder the policy gives.
func TestMembersRemindersVerb(t *testing.T) {
	eachBackend(t, func(t *testing.T, v *verbTest) {
		ctx, st, ok := v.ctx, v.st, v.ok
		org := v.org("Acme", 10)
		m := v.member(org, "rep@acme.example", directory.RoleChat, directory.MembershipActive)
		reason := directory.ActionReason{Requirement: "calendar", Kind: "google_calendar", State: "needs_reconnect", Actor: directory.ActorRep, Message: "reconnect"}
		if err := st.SetActionRequired(ctx, org, m.ID, []directory.ActionReason{reason}, time.Now()); err != nil {
			t.Fatal(err)
		}
		// No quiet hours, so the wall clock's hour does not move the next reminder.
		if err := st.SetReminderSettings(ctx, org, reminders.Settings{QuietStart: 1, QuietEnd: 1}, time.Now()); err != nil {
			t.Fatal(err)
		}
		sent := time.Now().Add(-time.Hour).UTC().Truncate(time.Second)
		if _, err := st.InsertReminder(ctx, org, reminders.Reminder{MembershipID: m.ID, Channel: reminders.ChannelEmail, Sequence: 1,
			SentAt: sent, Reasons: []string{"calendar:google_calendar:needs_reconnect"}, Recipients: []string{"rep@acme.example"}}); err != nil {
			t.Fatal(err)
		}
		out := ok("members", "reminders", org, "rep@acme.example")
		for _, want := range []string{"1 message, streak 1", "#1 reminder email sent", "calendar:google_calendar:needs_reconnect",
			"next: " + sent.Add(24*time.Hour).Format(time.RFC3339)} {
			if !strings.Contains(out, want) {
				t.Errorf("output lacks %q:\n%s", want, out)
			}
		}
		var js httpapi.MemberRemindersJSON
		if err := json.Unmarshal([]byte(ok("members", "reminders", org, m.ID, "--json")), &js); err != nil {
			t.Fatal(err)
		}
		if len(js.Sent) != 1 || js.Sent[0].Status != "sent" || js.Next != sent.Add(24*time.Hour).Format(time.RFC3339) {
			t.Fatalf("json %+v", js)
		}
		v.refused("tether members list", "members", "reminders", org, "nobody@acme.example")

		// The members list carries the same: the last message and the next one, per member.
		v.member(org, "fine@acme.example", directory.RoleChat, directory.MembershipActive)
		list := ok("members", "list", org)
		for _, want := range []string{"LAST REMINDER", "NEXT REMINDER", "#1 reminder email sent " + sent.Format(time.RFC3339),
			sent.Add(24*time.Hour).Format(time.RFC3339) + " reminder: reminder 2 of the streak", "none: reasons not computed yet"} {
			if !strings.Contains(list, want) {
				t.Errorf("members list lacks %q:\n%s", want, list)
			}
		}

		// A Slack message left to its retry is shown in Slack's words until a later Slack
		// message gets through.
		failed := sent.Add(time.Minute)
		if err := st.SetSlackFailure(ctx, org, m.ID, reminders.SlackFailure{Reason: "channel_not_found", At: failed}); err != nil {
			t.Fatal(err)
		}
		line := "last Slack failure: channel_not_found at " + failed.Format(time.RFC3339)
		if out := ok("members", "reminders", org, m.ID); !strings.Contains(out, line) {
			t.Fatalf("output lacks %q:\n%s", line, out)
		}
		if _, err := st.InsertReminder(ctx, org, reminders.Reminder{MembershipID: m.ID, Channel: reminders.ChannelSlack, Sequence: 2,
			Kind: reminders.KindReminder, Status: reminders.StatusSent, SentAt: failed.Add(time.Minute)}); err != nil {
			t.Fatal(err)
		}
		if out := ok("members", "reminders", org, m.ID); strings.Contains(out, "last Slack failure") || !strings.Contains(out, "#2 reminder slack") {
			t.Fatalf("a Slack message went out after the failure, yet:\n%s", out)
		}
	})
}

// TestOrgRemindersVerb shows and changes an org's reminder policy on both backends; a
// refused value names its flag, the stored policy is what the worker reads, and a change
// of timing moves a reminder already queued in Redis (and needs TETHER_REDIS_URL).
func TestOrgRemindersVerb(t *testing.T) {
	eachBackend(t, func(t *testing.T, v *verbTest) {
		ctx, st, ok := v.ctx, v.st, v.ok
		org := v.org("Acme", 10)
		if out := ok("org", "reminders", org); !strings.Contains(out, "grace 5m0s") || !strings.Contains(out, "quiet hours 20:00-08:00") {
			t.Fatalf("defaults:\n%s", out)
		}
		// A change of timing moves the reminders already queued: without Redis it is
		// refused before anything is stored (showing the policy needs none).
		v.refused("TETHER_REDIS_URL: is not set; tether org reminders needs Redis", "org", "reminders", org, "--grace", "10m")
		opt, _ := redistest.Client(t, 12)
		v.env["TETHER_REDIS_URL"] = redistest.URL(opt)
		out := ok("org", "reminders", org, "--grace", "10m", "--quiet-hours", "21:00-08:00", "--time-zone", "Europe/Paris", "--steps", "12h,48h")
		if !strings.Contains(out, "grace 10m0s, then reminders at +12h0m0s, +48h0m0s") || !strings.Contains(out, "quiet hours 21:00-08:00") ||
			!strings.Contains(out, "org time zone Europe/Paris") {
			t.Fatalf("changed:\n%s", out)
		}
		got, err := st.ReminderSettings(ctx, org)
		if err != nil {
			t.Fatal(err)
		}
		if got.Grace != 10*time.Minute || got.QuietStart != 21*60 || got.QuietEnd != 8*60 || got.TimeZone != "Europe/Paris" ||
			len(got.Steps) != 2 || got.Steps[1] != 48*time.Hour || got.EscalateAfter != 3 {
			t.Fatalf("stored %+v", got)
		}
		var js httpapi.ReminderSettingsJSON
		if err := json.Unmarshal([]byte(ok("org", "reminders", org, "--quiet-hours", "none", "--json")), &js); err != nil {
			t.Fatal(err)
		}
		if js.QuietHours != "none" || js.Grace != "10m0s" || js.TimeZone != "Europe/Paris" {
			t.Fatalf("json %+v", js)
		}
		if out := ok("org", "reminders", org); !strings.Contains(out, "no quiet hours: reminders go at any hour; org time zone Europe/Paris") {
			t.Fatalf("no quiet hours:\n%s", out)
		}

		// A rep reminded an hour ago has reminder 2 queued a day after (the min gap); longer
		// steps move it: the new task is in Redis, the record says its time, the old is gone.
		m := v.member(org, "rep@acme.example", directory.RoleChat, directory.MembershipActive)
		sent := time.Now().Add(-time.Hour).Truncate(time.Second)
		if err := st.SetActionRequired(ctx, org, m.ID, []directory.ActionReason{{Requirement: "calendar", Kind: "google_calendar",
			State: "needs_reconnect", Actor: directory.ActorRep, Message: "reconnect"}}, sent); err != nil {
			t.Fatal(err)
		}
		if _, err := st.InsertReminder(ctx, org, reminders.Reminder{MembershipID: m.ID, Channel: reminders.ChannelEmail, Sequence: 1,
			Kind: reminders.KindReminder, Status: reminders.StatusSent, SentAt: sent, MessageID: reminders.MessageID(m.ID, 1)}); err != nil {
			t.Fatal(err)
		}
		old := sent.Add(24 * time.Hour)
		client := asynq.NewClient(opt)
		defer client.Close()
		if err := (jobs.ReminderQueue{Client: client}).FollowUp(ctx, org, m.ID, 2, old); err != nil {
			t.Fatal(err)
		}
		if err := st.SetReminderQueued(ctx, org, m.ID, reminders.Queued{Sequence: 2, At: old}, sent); err != nil {
			t.Fatal(err)
		}
		ok("org", "reminders", org, "--steps", "36h,72h")
		in := asynq.NewInspector(opt)
		defer in.Close()
		moved := sent.Add(36 * time.Hour)
		if info, err := in.GetTaskInfo(jobs.QueueLow, jobs.TaskIDRemindersFollowUp(m.ID, 2, moved)); err != nil || !info.NextProcessAt.Equal(moved) {
			t.Fatalf("reminder 2 moved to %s: task %+v, %v", moved, info, err)
		}
		if _, err := in.GetTaskInfo(jobs.QueueLow, jobs.TaskIDRemindersFollowUp(m.ID, 2, old)); err == nil {
			t.Fatal("reminder 2's old task is still queued")
		}
		if mr, err := st.MemberReminders(ctx, org, []string{m.ID}); err != nil || !mr[m.ID].Queued.At.Equal(moved) {
			t.Fatalf("recorded %+v, %v; want reminder 2 at %s", mr[m.ID].Queued, err, moved)
		}
		for _, c := range []struct{ args []string }{
			{[]string{"--grace", "2h"}}, {[]string{"--quiet-hours", "9pm-8am"}}, {[]string{"--time-zone", "Mars/Olympus"}},
			{[]string{"--steps", "48h,24h"}}, {[]string{"--escalate-after", "0"}},
		} {
			v.refused(c.args[0]+":", append([]string{"org", "reminders", org}, c.args...)...)
		}
		v.refused("no org nope", "org", "reminders", "nope")
		// A file without a bot token names the flag given and the one that removes a token.
		tok := filepath.Join(t.TempDir(), "token")
		if err := os.WriteFile(tok, []byte("not-a-token\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		v.env["TETHER_ENCRYPTION_KEYS"] = testKeys
		v.refused("--slack-token-file: the file does not hold a Slack bot token", "org", "reminders", org, "--slack-token-file", tok)
	})
}
