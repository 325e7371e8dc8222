package worker_test

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"tether/connectors/email"
	"tether/connectors/slack"
	"tether/connectors/slack/slackfake"
	"tether/sync/directory"
	"tether/sync/keys"
	"tether/sync/reminders"
	"tether/sync/store"
	"tether/sync/store/storetest"
	"tether/sync/vault"
	"tether/worker/httpapi"
	"tether/worker/redisstash"
	"tether/worker/redistest"
)

const slackToken = "xoxb-2222-3333-slacktokensecret"

// slackBundle: the reminders bundle plus a fake Slack workspace knowing the rep, and a
// service sending through it with the org's sealed token.
type slackBundle struct {
	*remindBundle
	slack  *slackfake.Server
	ring   *vault.Keyring
	spec   string // ring's TETHER_ENCRYPTION_KEYS form
	editor reminders.SettingsEditor
}

func setupSlack(t *testing.T, st *store.Store) *slackBundle {
	t.Helper()
	b := &slackBundle{remindBundle: setupReminders(t, st, nil), slack: slackfake.Start()}
	t.Cleanup(b.slack.Close)
	ring, spec, err := vault.GenerateKeyring("k1")
	if err != nil {
		t.Fatal(err)
	}
	b.ring, b.spec = ring, spec
	b.slack.AddToken(slackToken)
	b.slack.AddUser("rep@acme.example")
	b.editor = reminders.SettingsEditor{Store: st, Keyring: ring, Now: b.clock.now}
	tok := vault.NewToken(slackToken)
	if _, err := b.editor.Update(t.Context(), b.org.ID, reminders.SettingsChange{SlackToken: &tok}); err != nil {
		t.Fatal(err)
	}
	b.useRing(t, ring)
	return b
}

// useRing makes the service open the org's Slack token with ring, as a process started
// with another TETHER_ENCRYPTION_KEYS would.
func (b *slackBundle) useRing(t *testing.T, ring *vault.Keyring) {
	t.Helper()
	svc, err := reminders.New(reminders.Config{Store: b.st, Mailer: email.ReminderMailer(b.mailer, ""), Links: mustLinks(t, b.st),
		Queue: b.queue, Now: b.clock.now, Keyring: ring, Slack: slack.Client{APIURL: b.slack.URL()}})
	if err != nil {
		t.Fatal(err)
	}
	b.svc = svc
}

func TestRemindersSlackDirectMessage(t *testing.T) {
	storetest.Each(t, func(t *testing.T, st *store.Store) {
		b := setupSlack(t, st)
		t0 := b.clock.now()
		cfg, err := st.SlackConfig(t.Context(), b.org.ID)
		if err != nil || cfg.TokenEnc == nil || strings.Contains(string(cfg.TokenEnc), slackToken) {
			t.Fatalf("the token must be stored sealed: %v", err)
		}
		b.reasons(t, calBroken, sfMissing)
		b.clock.set(t0.Add(5 * time.Minute))
		res := b.notify(t, t0)
		if len(res.Sent) != 1 {
			t.Fatalf("first reminder: %+v", res)
		}
		mails, dms := b.sink.Messages(), b.slack.Messages()
		if len(mails) != 1 || len(dms) != 1 {
			t.Fatalf("%d emails and %d Slack messages, want one of each", len(mails), len(dms))
		}
		// Same content, same connect links, to the rep found by email.
		if dms[0].Email != "rep@acme.example" || dms[0].Token != slackToken {
			t.Fatalf("Slack message to %q", dms[0].Email)
		}
		mailLinks, dmLinks := connectLink.FindAllString(mails[0].Text, -1), connectLink.FindAllString(dms[0].Text, -1)
		if len(dmLinks) != 2 || strings.Join(dmLinks, " ") != strings.Join(mailLinks, " ") {
			t.Fatalf("links: email %v, Slack %v", mailLinks, dmLinks)
		}
		// The record says where Slack put the message, and the history shows it.
		r, err := st.GetReminderBySequence(t.Context(), b.org.ID, b.rep.ID, reminders.ChannelSlack, 1)
		if err != nil || r.Status != reminders.StatusSent || r.SlackChannel != dms[0].Channel || r.SlackTS != dms[0].TS || r.SlackTS == "" {
			t.Fatalf("the Slack message's record: %+v %v; posted in %s at %s", r, err, dms[0].Channel, dms[0].TS)
		}
		v, err := b.svc.View(t.Context(), b.org.ID, b.rep.ID)
		if err != nil {
			t.Fatal(err)
		}
		hist, _ := json.Marshal(httpapi.MemberRemindersOf(v))
		if !strings.Contains(string(hist), `"slack":{"channel":"`+dms[0].Channel+`","ts":"`+dms[0].TS+`"}`) {
			t.Fatalf("the history does not locate the Slack message: %s", hist)
		}

		// The second reminder meets a rate limit: the email goes, the task fails asking to
		// wait Slack's Retry-After, and the retry sends the Slack message only.
		b.slack.RateLimit("chat.postMessage", 1, 30*time.Second)
		b.clock.set(t0.Add(5*time.Minute + 24*time.Hour))
		_, err = b.svc.Notify(t.Context(), b.org.ID, b.rep.ID, time.Time{})
		var rl interface{ RetryAfter() time.Duration }
		if !errors.As(err, &rl) || rl.RetryAfter() != 30*time.Second {
			t.Fatalf("a rate-limited Slack message must ask for a retry after 30s: %v", err)
		}
		if n, m := len(b.sink.Messages()), len(b.slack.Messages()); n != 2 || m != 1 {
			t.Fatalf("after the rate limit: %d emails, %d Slack messages; want 2 and 1", n, m)
		}
		b.clock.set(b.clock.now().Add(30 * time.Second))
		res = b.notify(t, time.Time{})
		if len(res.Sent) != 0 {
			t.Fatalf("the retry must send no new reminder: %+v", res)
		}
		dms, mails = b.slack.Messages(), b.sink.Messages()
		if len(mails) != 2 || len(dms) != 2 {
			t.Fatalf("after the retry: %d emails, %d Slack messages; want 2 and 2", len(mails), len(dms))
		}
		// The retried Slack twin carries its email's very links, not new ones.
		mailLinks, dmLinks = connectLink.FindAllString(mails[1].Text, -1), connectLink.FindAllString(dms[1].Text, -1)
		if len(dmLinks) != 2 || strings.Join(dmLinks, " ") != strings.Join(mailLinks, " ") {
			t.Fatalf("links of the retry: email %v, Slack %v", mailLinks, dmLinks)
		}
		if r, err := st.GetReminderBySequence(t.Context(), b.org.ID, b.rep.ID, reminders.ChannelSlack, 2); err != nil || r.Status != reminders.StatusSent {
			t.Fatalf("the retried Slack message: %+v %v", r, err)
		}
		b.notify(t, time.Time{})
		if n, m := len(b.sink.Messages()), len(b.slack.Messages()); n != 2 || m != 2 {
			t.Fatalf("a third run sent more: %d emails, %d Slack messages", n, m)
		}

		// Slack revokes the token: the email still goes, nothing is retried, and the
		// admins see the problem in the settings.
		b.slack.RefuseToken(slackToken, "token_revoked")
		b.clock.set(t0.Add(5*time.Minute + 72*time.Hour))
		res = b.notify(t, time.Time{})
		if len(res.Sent) != 1 || len(b.sink.Messages()) != 3 || len(b.slack.Messages()) != 2 {
			t.Fatalf("with a revoked token: %+v, %d emails", res, len(b.sink.Messages()))
		}
		s, err := b.editor.Get(t.Context(), b.org.ID)
		if err != nil || !s.Slack.Configured || !strings.Contains(s.Slack.Problem, "token_revoked") {
			t.Fatalf("settings after the revocation: %+v %v", s.Slack, err)
		}
		calls := b.slack.Calls("users.lookupByEmail")
		b.clock.set(b.clock.now().Add(time.Minute))
		b.notify(t, time.Time{})
		if c := b.slack.Calls("users.lookupByEmail"); c != calls {
			t.Fatalf("a refused token was used again (%d calls, was %d)", c, calls)
		}
		// A new token clears the problem; the JSON the admins read never holds a token.
		b.slack.AddToken("xoxb-new-token-9999")
		tok := vault.NewToken("xoxb-new-token-9999")
		s, err = b.editor.Update(t.Context(), b.org.ID, reminders.SettingsChange{SlackToken: &tok})
		if err != nil || s.Slack.Problem != "" || !s.Slack.Configured {
			t.Fatalf("new token: %+v %v", s.Slack, err)
		}
		out, _ := json.Marshal(httpapi.ReminderSettingsOf(b.org.ID, s))
		if strings.Contains(string(out), "xoxb-") || !strings.Contains(string(out), `"configured":true`) {
			t.Fatalf("settings JSON: %s", out)
		}
	})
}

func TestRemindersSlackUnknownRepIsSkippedNotRetried(t *testing.T) {
	storetest.Each(t, func(t *testing.T, st *store.Store) {
		b := setupSlack(t, st)
		other := b.member(t, "nobody-in-slack@acme.example", directory.RoleChat)
		t0 := b.clock.now()
		if err := st.SetActionRequired(t.Context(), b.org.ID, other.ID, []directory.ActionReason{calBroken}, t0); err != nil {
			t.Fatal(err)
		}
		b.clock.set(t0.Add(5 * time.Minute))
		for range 2 {
			if _, err := b.svc.Notify(t.Context(), b.org.ID, other.ID, t0); err != nil {
				t.Fatalf("an email Slack does not know must not fail the task: %v", err)
			}
		}
		if n, m := len(b.sink.Messages()), len(b.slack.Messages()); n != 1 || m != 0 {
			t.Fatalf("%d emails and %d Slack messages, want 1 and 0", n, m)
		}
		if c := b.slack.Calls("users.lookupByEmail"); c != 1 {
			t.Fatalf("Slack was asked %d times for an unknown email, want once", c)
		}
		r, err := st.GetReminderBySequence(t.Context(), b.org.ID, other.ID, reminders.ChannelSlack, 1)
		if err != nil || r.Status != reminders.StatusSkipped {
			t.Fatalf("the Slack record: %+v %v", r, err)
		}
		s, err := b.editor.Get(t.Context(), b.org.ID)
		if err != nil || len(s.Slack.NotFound) != 1 || s.Slack.NotFound[0] != "nobody-in-slack@acme.example" {
			t.Fatalf("reps Slack does not know: %+v %v", s.Slack, err)
		}
	})
}

// TestRemindersSlackAfterKeyRotation: the org's Slack token is sealed under k1; a new key
// k2 goes first in the ring, tether keys reseal runs, and k1 is dropped. Slack reminders
// still go out with a ring of k2 alone.
func TestRemindersSlackAfterKeyRotation(t *testing.T) {
	storetest.Each(t, func(t *testing.T, st *store.Store) {
		b := setupSlack(t, st)
		_, k2, err := vault.GenerateKeyring("k2")
		if err != nil {
			t.Fatal(err)
		}
		rotated, err := vault.ParseKeyring(k2 + "," + b.spec)
		if err != nil {
			t.Fatal(err)
		}
		only, err := vault.ParseKeyring(k2)
		if err != nil {
			t.Fatal(err)
		}
		cfg, err := st.SlackConfig(t.Context(), b.org.ID)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := only.OpenToken(cfg.TokenEnc, reminders.SlackTokenRow(b.org.ID)); err == nil {
			t.Fatal("the token opens with k2 before any reseal: the test proves nothing")
		}
		_, rdb := redistest.Client(t, 14)
		ks, err := keys.New(st, redisstash.New(rdb, "keys-test:"+store.NewID()+":"), rotated)
		if err != nil {
			t.Fatal(err)
		}
		if p, err := ks.Reseal(t.Context(), 0, nil); err != nil || p.Resealed != 1 {
			t.Fatalf("reseal: %+v, %v; want the Slack token resealed", p, err)
		}
		status, err := ks.Status(t.Context(), 0)
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range status {
			if c.KeyID == "k1" && c.Values != 0 {
				t.Fatalf("k1 still seals %d values after the reseal: %+v", c.Values, status)
			}
		}

		b.useRing(t, only) // k1 dropped from TETHER_ENCRYPTION_KEYS
		t0 := b.clock.now()
		b.reasons(t, calBroken)
		b.clock.set(t0.Add(5 * time.Minute))
		if res := b.notify(t, t0); len(res.Sent) != 1 {
			t.Fatalf("reminder after the rotation: %+v", res)
		}
		if n, m := len(b.sink.Messages()), len(b.slack.Messages()); n != 1 || m != 1 {
			t.Fatalf("after the rotation: %d emails, %d Slack messages; want one of each", n, m)
		}
		r, err := st.GetReminderBySequence(t.Context(), b.org.ID, b.rep.ID, reminders.ChannelSlack, 1)
		if err != nil || r.Status != reminders.StatusSent {
			t.Fatalf("the Slack record after the rotation: %+v, %v", r, err)
		}
		if s, err := b.editor.Get(t.Context(), b.org.ID); err != nil || s.Slack.Problem != "" {
			t.Fatalf("settings after the rotation: %+v, %v", s.Slack, err)
		}
	})
}

// TestRemindersSlackAnswerLostIsNotResent: Slack posts the DM but the connection drops
// before its answer. The Slack record is unconfirmed, the run ends without error, and
// no later run posts it again.
func TestRemindersSlackAnswerLostIsNotResent(t *testing.T) {
	storetest.Each(t, func(t *testing.T, st *store.Store) {
		b := setupSlack(t, st)
		t0 := b.clock.now()
		b.reasons(t, calBroken)
		b.clock.set(t0.Add(5 * time.Minute))
		b.slack.DropAnswer("chat.postMessage", 1)
		if res := b.notify(t, t0); len(res.Sent) != 1 {
			t.Fatalf("first reminder: %+v", res)
		}
		for range 2 { // the retries, later
			b.clock.set(b.clock.now().Add(time.Minute))
			b.notify(t, time.Time{})
		}
		if n, m := len(b.sink.Messages()), len(b.slack.Messages()); n != 1 || m != 1 {
			t.Fatalf("%d emails and %d Slack messages, want exactly one of each", n, m)
		}
		r, err := st.GetReminderBySequence(t.Context(), b.org.ID, b.rep.ID, reminders.ChannelSlack, 1)
		if err != nil || r.Status != reminders.StatusUnconfirmed {
			t.Fatalf("the Slack record: %+v, %v; want unconfirmed", r, err)
		}
	})
}

// A Slack twin that keeps failing does not hold back the admins' alert: a problem only an
// admin can fix arrives while the rep's last reminder waits to be posted on Slack, and the
// admins get their email at once; the Slack error still fails the task, for its retry.
func TestRemindersSlackDownDoesNotHoldBackTheAdminAlert(t *testing.T) {
	storetest.Each(t, func(t *testing.T, st *store.Store) {
		b := setupSlack(t, st)
		t0 := b.clock.now()
		b.reasons(t, calBroken)
		b.clock.set(t0.Add(5 * time.Minute))
		b.slack.Fail("users.lookupByEmail", "internal_error", 2)
		if _, err := b.svc.Notify(t.Context(), b.org.ID, b.rep.ID, t0); err == nil {
			t.Fatal("a Slack failure must fail the notify, for its retry")
		}
		if n := len(to(b.sink.Messages(), "rep@acme.example")); n != 1 {
			t.Fatalf("%d reminder emails, want 1", n)
		}
		// The rep's Salesforce user is deactivated meanwhile: the admins must hear of it.
		b.reasons(t, calBroken, zoomAdmin)
		b.clock.set(b.clock.now().Add(time.Minute))
		if _, err := b.svc.Notify(t.Context(), b.org.ID, b.rep.ID, b.clock.now()); err == nil {
			t.Fatal("the Slack twin still failing must fail the notify, for its retry")
		}
		if adm := to(b.sink.Messages(), "boss@acme.example"); len(adm) != 1 || !strings.Contains(adm[0].Text, "INACTIVE_USER") {
			t.Fatalf("admins got %d alerts while Slack was down, want 1", len(adm))
		}
		// Slack back: the retry posts the twin and sends no second alert.
		b.clock.set(b.clock.now().Add(time.Minute))
		b.notify(t, time.Time{})
		if adm, dms := to(b.sink.Messages(), "boss@acme.example"), b.slack.Messages(); len(adm) != 1 || len(dms) != 1 {
			t.Fatalf("after Slack is back: %d admin alerts, %d Slack messages; want 1 and 1", len(adm), len(dms))
		}
	})
}

// TestRemindersSlackFailureShownOnTheMember: a Slack refusal left to the retry is kept on
// the member in Slack's own words, and the member's reminders (the route's and the CLI's
// view) show it and when.
func TestRemindersSlackFailureShownOnTheMember(t *testing.T) {
	storetest.Each(t, func(t *testing.T, st *store.Store) {
		b := setupSlack(t, st)
		t0 := b.clock.now()
		b.reasons(t, calBroken)
		b.clock.set(t0.Add(5 * time.Minute))
		b.slack.Fail("chat.postMessage", "channel_not_found", 1)
		if _, err := b.svc.Notify(t.Context(), b.org.ID, b.rep.ID, t0); err == nil {
			t.Fatal("a Slack failure must fail the notify, for its retry")
		}
		v, err := b.svc.View(t.Context(), b.org.ID, b.rep.ID)
		if err != nil {
			t.Fatal(err)
		}
		got := httpapi.MemberRemindersOf(v).SlackFailure
		if got == nil || got.Reason != "channel_not_found" || got.At != b.clock.now().UTC().Format(time.RFC3339) {
			t.Fatalf("slack_failure %+v, want channel_not_found at %s", got, b.clock.now().UTC().Format(time.RFC3339))
		}
		// The retry gets through: the failure is history and no longer shown.
		b.clock.set(t0.Add(6 * time.Minute))
		if _, err := b.svc.Notify(t.Context(), b.org.ID, b.rep.ID, t0); err != nil {
			t.Fatalf("the retry: %v", err)
		}
		if v, err = b.svc.View(t.Context(), b.org.ID, b.rep.ID); err != nil {
			t.Fatal(err)
		}
		if got := httpapi.MemberRemindersOf(v).SlackFailure; got != nil {
			t.Fatalf("slack_failure %+v after the retry sent the message, want none", got)
		}
	})
}
