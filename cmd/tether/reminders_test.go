package main

import (
	"context"
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"tether/sync/directory"
	"tether/sync/reminders"
	"tether/sync/store"
	"tether/worker/httpapi"
)

// TestMembersRemindersVerb runs tether members reminders on both backends: what was sent
// is listed, with the next reminder the policy gives.
func TestMembersRemindersVerb(t *testing.T) {
	backends := map[string]string{
		"sqlite":   "sqlite:" + filepath.Join(t.TempDir(), "tether.db"),
		"postgres": freshPostgres(t),
	}
	for name, dbURL := range backends {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			env := map[string]string{"TETHER_DATABASE_URL": dbURL}
			ok := func(args ...string) string {
				t.Helper()
				r := runTether(t, ctx, env, args...)
				if r.err != nil {
					t.Fatalf("tether %s: %v\n%s%s", strings.Join(args, " "), r.err, r.stdout, r.stderr)
				}
				return r.stdout
			}
			ok("migrate", "up")
			org := strings.SplitN(ok("org", "create", "--name", "Acme", "--seats", "10"), "\n", 2)[0]
			st, err := store.Open(ctx, dbURL)
			if err != nil {
				t.Fatal(err)
			}
			defer st.Close()
			u, err := st.CreateUser(ctx, directory.User{Email: "rep@acme.example"})
			if err != nil {
				t.Fatal(err)
			}
			m, err := st.CreateMembership(ctx, org, directory.Membership{UserID: u.ID, Role: directory.RoleChat, Status: directory.MembershipActive})
			if err != nil {
				t.Fatal(err)
			}
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
			for _, want := range []string{"1 messages, streak 1", "#1 reminder email sent", "calendar:google_calendar:needs_reconnect",
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
			r := runTether(t, ctx, env, "members", "reminders", org, "nobody@acme.example")
			if r.err == nil || !strings.Contains(r.err.Error(), "tether members list") {
				t.Fatalf("unknown member: %v", r.err)
			}
		})
	}
}

// TestOrgRemindersVerb shows and changes an org's reminder policy on both backends; a
// refused value names its flag, and the stored policy is what the worker reads.
func TestOrgRemindersVerb(t *testing.T) {
	backends := map[string]string{
		"sqlite":   "sqlite:" + filepath.Join(t.TempDir(), "tether.db"),
		"postgres": freshPostgres(t),
	}
	for name, dbURL := range backends {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			env := map[string]string{"TETHER_DATABASE_URL": dbURL}
			ok := func(args ...string) string {
				t.Helper()
				r := runTether(t, ctx, env, args...)
				if r.err != nil {
					t.Fatalf("tether %s: %v\n%s%s", strings.Join(args, " "), r.err, r.stdout, r.stderr)
				}
				return r.stdout
			}
			ok("migrate", "up")
			org := strings.SplitN(ok("org", "create", "--name", "Acme", "--seats", "10"), "\n", 2)[0]
			if out := ok("org", "reminders", org); !strings.Contains(out, "grace 5m0s") || !strings.Contains(out, "quiet hours 20:00-08:00") {
				t.Fatalf("defaults:\n%s", out)
			}
			out := ok("org", "reminders", org, "--grace", "10m", "--quiet-hours", "21:00-08:00", "--time-zone", "Europe/Paris", "--steps", "12h,48h")
			if !strings.Contains(out, "grace 10m0s, then reminders at +12h0m0s, +48h0m0s") || !strings.Contains(out, "quiet hours 21:00-08:00") ||
				!strings.Contains(out, "org time zone Europe/Paris") {
				t.Fatalf("changed:\n%s", out)
			}
			st, err := store.Open(ctx, dbURL)
			if err != nil {
				t.Fatal(err)
			}
			defer st.Close()
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
			for _, c := range []struct{ args []string }{
				{[]string{"--grace", "2h"}}, {[]string{"--quiet-hours", "9pm-8am"}}, {[]string{"--time-zone", "Mars/Olympus"}},
				{[]string{"--steps", "48h,24h"}}, {[]string{"--escalate-after", "0"}},
			} {
				r := runTether(t, ctx, env, append([]string{"org", "reminders", org}, c.args...)...)
				if r.err == nil || !strings.Contains(r.err.Error(), c.args[0]+":") {
					t.Fatalf("%v: want an error naming %s, got %v", c.args, c.args[0], r.err)
				}
			}
			if r := runTether(t, ctx, env, "org", "reminders", "nope"); r.err == nil || !strings.Contains(r.err.Error(), "no org nope") {
				t.Fatalf("unknown org: %v", r.err)
			}
		})
	}
}
