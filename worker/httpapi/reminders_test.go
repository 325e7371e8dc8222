package httpapi_test

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"

	"tether/sync/directory"
	"tether/sync/reminders"
	"tether/sync/store"
	"tether/sync/store/storetest"
	"tether/sync/vault"
	"tether/worker/httpapi"
)

// TestMemberRemindersAPI reads GET /v1/orgs/{org}/members/{member}/reminders on both
// stores: what was sent when, and the next reminder by the org's policy.
func TestMemberRemindersAPI(t *testing.T) {
	storetest.Each(t, func(t *testing.T, st *store.Store) {
		now := time.Date(2026, 3, 2, 10, 0, 0, 0, time.UTC)
		server, err := httpapi.New(httpapi.Params{Logger: zerolog.Nop(), Gatherer: prometheus.NewRegistry(),
			AdminUser: "admin", AdminPassword: "pw", Reminders: reminders.Viewer{Store: st, Now: func() time.Time { return now }}})
		if err != nil {
			t.Fatal(err)
		}
		srv := httptest.NewServer(server)
		t.Cleanup(srv.Close)
		b := &orgBundle{st: st, url: srv.URL}
		ctx := t.Context()
		org, err := st.CreateOrg(ctx, directory.Org{Name: "Acme"})
		if err != nil {
			t.Fatal(err)
		}
		u, err := st.CreateUser(ctx, directory.User{Email: "rep@acme.example"})
		if err != nil {
			t.Fatal(err)
		}
		m, err := st.CreateMembership(ctx, org.ID, directory.Membership{UserID: u.ID, Role: directory.RoleChat, Status: directory.MembershipActive})
		if err != nil {
			t.Fatal(err)
		}
		if err := st.SetActionRequired(ctx, org.ID, m.ID, []directory.ActionReason{{Requirement: "salesforce", State: "missing",
			Actor: directory.ActorRep, Message: "connect Salesforce"}}, now); err != nil {
			t.Fatal(err)
		}
		for i, at := range []time.Time{now.Add(-72 * time.Hour), now.Add(-48 * time.Hour)} {
			if _, err := st.InsertReminder(ctx, org.ID, reminders.Reminder{MembershipID: m.ID, Channel: reminders.ChannelEmail,
				Sequence: i + 1, SentAt: at, Recipients: []string{"rep@acme.example"}}); err != nil {
				t.Fatal(err)
			}
		}
		var got httpapi.MemberRemindersJSON
		if r := b.call(t, http.MethodGet, "/v1/orgs/"+org.ID+"/members/"+m.ID+"/reminders", "", &got); r.StatusCode != http.StatusOK {
			t.Fatalf("status %d", r.StatusCode)
		}
		// Sent 3 and 2 days ago: the third reminder (3 days after the first) is due now.
		if len(got.Sent) != 2 || got.Sent[0].Sequence != 2 || got.Streak != 3 || !got.Escalated ||
			got.Next != now.Format(time.RFC3339) {
			t.Fatalf("reminders %+v", got)
		}
		b.wantError(t, http.MethodGet, "/v1/orgs/"+org.ID+"/members/nobody/reminders", "", http.StatusNotFound, "member_not_found")
	})
}

// TestReminderSettingsAPI reads and changes GET/PATCH /v1/orgs/{org}/reminder-settings on
// both stores; refusals name the field.
func TestReminderSettingsAPI(t *testing.T) {
	storetest.Each(t, func(t *testing.T, st *store.Store) {
		ring, _, err := vault.GenerateKeyring("k1")
		if err != nil {
			t.Fatal(err)
		}
		server, err := httpapi.New(httpapi.Params{Logger: zerolog.Nop(), Gatherer: prometheus.NewRegistry(),
			AdminUser: "admin", AdminPassword: "pw", ReminderSettings: reminders.SettingsEditor{Store: st, Keyring: ring}})
		if err != nil {
			t.Fatal(err)
		}
		srv := httptest.NewServer(server)
		t.Cleanup(srv.Close)
		b := &orgBundle{st: st, url: srv.URL}
		ctx := t.Context()
		org, err := st.CreateOrg(ctx, directory.Org{Name: "Acme"})
		if err != nil {
			t.Fatal(err)
		}
		path := "/v1/orgs/" + org.ID + "/reminder-settings"
		var got httpapi.ReminderSettingsJSON
		if r := b.call(t, http.MethodGet, path, "", &got); r.StatusCode != http.StatusOK {
			t.Fatalf("status %d", r.StatusCode)
		}
		if got.Grace != "5m0s" || got.QuietHours != "20:00-08:00" || got.TimeZone != "UTC" || len(got.Steps) != 3 {
			t.Fatalf("defaults %+v", got)
		}
		if r := b.call(t, http.MethodPatch, path, `{"grace":"15m","quiet_hours":"21:00-08:00","time_zone":"Europe/Paris","steps":["24h","96h"],"escalate_after":2}`, &got); r.StatusCode != http.StatusOK {
			t.Fatalf("status %d", r.StatusCode)
		}
		stored, err := st.ReminderSettings(ctx, org.ID)
		if err != nil {
			t.Fatal(err)
		}
		if stored.Grace != 15*time.Minute || stored.QuietStart != 21*60 || stored.TimeZone != "Europe/Paris" ||
			len(stored.Steps) != 2 || stored.Steps[1] != 96*time.Hour || stored.EscalateAfter != 2 || got.Grace != "15m0s" {
			t.Fatalf("stored %+v, answered %+v", stored, got)
		}
		for body, field := range map[string]string{`{"grace":"3h"}`: "grace", `{"quiet_hours":"late"}`: "quiet_hours",
			`{"time_zone":"Mars/Olympus"}`: "time_zone", `{"steps":["2h","1h"]}`: "steps", `{"tail":"10m"}`: "tail"} {
			e := b.wantError(t, http.MethodPatch, path, body, http.StatusUnprocessableEntity, "invalid_reminder_settings")
			if !strings.HasPrefix(e.Message, field+":") {
				t.Fatalf("%s: message %q does not name %s", body, e.Message, field)
			}
		}
		// An empty list of steps says what to give, not that "" is no duration.
		if e := b.wantError(t, http.MethodPatch, path, `{"steps":[]}`, http.StatusUnprocessableEntity, "invalid_reminder_settings"); !strings.HasPrefix(e.Message, "steps: give at least one") {
			t.Errorf("empty steps: %q", e.Message)
		}
		// A body that changes nothing is refused and names what can be changed.
		for _, body := range []string{`{}`, `{"grace":null}`} {
			if e := b.wantError(t, http.MethodPatch, path, body, http.StatusUnprocessableEntity, "empty_change"); !strings.Contains(e.Message, "grace, steps, tail, min_gap, escalate_after, quiet_hours, time_zone, slack_token") {
				t.Errorf("%s: message %q does not name the fields", body, e.Message)
			}
		}
		// A refused change leaves the stored policy as it was.
		if again, err := st.ReminderSettings(ctx, org.ID); err != nil || again.Grace != 15*time.Minute {
			t.Fatalf("after refusals %+v %v", again, err)
		}
		b.wantError(t, http.MethodGet, "/v1/orgs/nope/reminder-settings", "", http.StatusNotFound, "org_not_found")
		b.wantError(t, http.MethodPatch, "/v1/orgs/nope/reminder-settings", `{"grace":"10m"}`, http.StatusNotFound, "org_not_found")

		// A Slack token is sealed, answered only as configured, and removed with "".
		if got.Slack.Configured {
			t.Fatalf("Slack configured by default: %+v", got.Slack)
		}
		e := b.wantError(t, http.MethodPatch, path, `{"slack_token":"hunter2"}`, http.StatusUnprocessableEntity, "invalid_reminder_settings")
		if !strings.HasPrefix(e.Message, "slack_token:") || strings.Contains(e.Message, "hunter2") {
			t.Fatalf("refused token: %q", e.Message)
		}
		raw := b.raw(t, http.MethodPatch, path, `{"slack_token":"xoxb-123-456-abcdef"}`)
		if strings.Contains(raw, "xoxb-") || !strings.Contains(raw, `"configured":true`) {
			t.Fatalf("PATCH slack_token answered %s", raw)
		}
		cfg, err := st.SlackConfig(ctx, org.ID)
		if err != nil {
			t.Fatal(err)
		}
		if tok, err := ring.OpenToken(cfg.TokenEnc, reminders.SlackTokenRow(org.ID)); err != nil || tok.Reveal() != "xoxb-123-456-abcdef" {
			t.Fatalf("the stored token does not open to the one given: %v", err)
		}
		if raw := b.raw(t, http.MethodGet, path, ""); strings.Contains(raw, "xoxb-") || !strings.Contains(raw, `"configured":true`) {
			t.Fatalf("GET answered %s", raw)
		}
		if b.call(t, http.MethodPatch, path, `{"slack_token":""}`, &got); got.Slack.Configured {
			t.Fatalf("after removing the token: %+v", got.Slack)
		}
	})
}

// raw is the body of an admin call, as text, failing t unless it is a 200.
func (b *orgBundle) raw(t *testing.T, method, path, body string) string {
	t.Helper()
	var m json.RawMessage
	if r := b.call(t, method, path, body, &m); r.StatusCode != http.StatusOK {
		t.Fatalf("%s %s: %d %s", method, path, r.StatusCode, m)
	}
	return string(m)
}
