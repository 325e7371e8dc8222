package httpapi_test

import (
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"

	"tether/sync/directory"
	"tether/sync/members"
	"tether/sync/reminders"
	"tether/sync/store"
	"tether/sync/store/storetest"
	"tether/worker/httpapi"
)

// TestMembersListShowsReminders reads GET /v1/orgs/{org}/members on both stores, two
// members a page: each member's last message and what is next, or why nothing is: due
// now, quiet hours in the rep's zone (the queued reminder's time), fixed, the admin's
// problem, deactivated, nothing to fix, a break no reminder was queued for yet.
func TestMembersListShowsReminders(t *testing.T) {
	storetest.Each(t, func(t *testing.T, st *store.Store) {
		now := time.Date(2026, 3, 2, 10, 0, 0, 0, time.UTC) // 05:00 in New York: quiet there
		ms, err := members.New(members.Config{Store: st})
		if err != nil {
			t.Fatal(err)
		}
		server, err := httpapi.New(httpapi.Params{Logger: zerolog.Nop(), Gatherer: prometheus.NewRegistry(), AdminUser: "admin",
			AdminPassword: "pw", Members: ms, Reminders: reminders.Viewer{Store: st, Now: func() time.Time { return now }}})
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
		repReason := directory.ActionReason{Requirement: "calendar", Kind: "google_calendar", State: "needs_reconnect", Actor: directory.ActorRep, Message: "reconnect"}
		adminReason := directory.ActionReason{Requirement: "salesforce", Kind: "salesforce", State: "needs_admin", Actor: directory.ActorAdmin, Message: "disabled"}
		add := func(email string, status directory.MembershipStatus, reasons []directory.ActionReason, sent ...reminders.Reminder) directory.Membership {
			u, err := st.CreateUser(ctx, directory.User{Email: email})
			if err != nil {
				t.Fatal(err)
			}
			m, err := st.CreateMembership(ctx, org.ID, directory.Membership{UserID: u.ID, Role: directory.RoleChat, Status: directory.MembershipActive})
			if err != nil {
				t.Fatal(err)
			}
			if err := st.SetActionRequired(ctx, org.ID, m.ID, reasons, now); err != nil {
				t.Fatal(err)
			}
			for _, r := range sent {
				r.MembershipID = m.ID
				if _, err := st.InsertReminder(ctx, org.ID, r); err != nil {
					t.Fatal(err)
				}
			}
			if status != directory.MembershipActive {
				m.Status = status
				if err := st.UpdateMembership(ctx, org.ID, m, now); err != nil {
					t.Fatal(err)
				}
			}
			return m
		}
		email := func(seq int, kind reminders.Kind, at time.Time) reminders.Reminder {
			return reminders.Reminder{Channel: reminders.ChannelEmail, Sequence: seq, Kind: kind, SentAt: at}
		}
		add("due@acme.example", directory.MembershipActive, []directory.ActionReason{repReason},
			email(1, reminders.KindReminder, now.Add(-25*time.Hour)),
			reminders.Reminder{Channel: reminders.ChannelSlack, Sequence: 1, SentAt: now.Add(-25*time.Hour + time.Second)})
		ny := add("ny@acme.example", directory.MembershipActive, []directory.ActionReason{repReason})
		if err := st.SetMemberTimeZone(ctx, org.ID, ny.ID, "America/New_York"); err != nil {
			t.Fatal(err)
		}
		// What the notify of ny's break at 09:58 queued: the grace ends in quiet hours.
		morning := time.Date(2026, 3, 2, 13, 0, 0, 0, time.UTC)
		if err := st.SetReminderQueued(ctx, org.ID, ny.ID, reminders.Queued{Sequence: 1, At: morning}, now); err != nil {
			t.Fatal(err)
		}
		add("unqueued@acme.example", directory.MembershipActive, []directory.ActionReason{repReason})
		add("fixed@acme.example", directory.MembershipActive, nil,
			email(1, reminders.KindReminder, now.Add(-48*time.Hour)), email(2, reminders.KindAllSet, now.Add(-time.Hour)))
		add("adminonly@acme.example", directory.MembershipActive, []directory.ActionReason{adminReason},
			email(1, reminders.KindAdmin, now.Add(-2*time.Hour)))
		add("gone@acme.example", directory.MembershipDeactivated, nil, email(1, reminders.KindReminder, now.Add(-72*time.Hour)))
		add("fine@acme.example", directory.MembershipActive, nil)

		got := map[string]httpapi.MemberJSON{}
		path, pages := "/v1/orgs/"+org.ID+"/members?limit=2", 0
		for path != "" {
			var page httpapi.MemberListJSON
			if r := b.call(t, "GET", path, "", &page); r.StatusCode != 200 {
				t.Fatalf("GET %s: %d", path, r.StatusCode)
			}
			for _, m := range page.Members {
				got[m.Email] = m
			}
			path, pages = page.Next, pages+1
		}
		if len(got) != 7 || pages < 3 {
			t.Fatalf("%d members in %d pages", len(got), pages)
		}
		rfc := func(t time.Time) string { return t.UTC().Format(time.RFC3339) }
		for _, c := range []struct {
			email, lastKind, lastChannel, lastAt, next, why string
		}{
			{"due@acme.example", "reminder", "slack", rfc(now.Add(-25*time.Hour + time.Second)), rfc(now), "reminder 2 of the streak is due now"},
			{"ny@acme.example", "", "", "", "2026-03-02T13:00:00Z", "quiet hours until 2026-03-02 08:00 America/New_York"},
			{"fixed@acme.example", "all_set", "email", rfc(now.Add(-time.Hour)), "", "fixed: all set"},
			{"adminonly@acme.example", "admin", "email", rfc(now.Add(-2 * time.Hour)), "", "only an admin can fix it"},
			{"gone@acme.example", "reminder", "email", rfc(now.Add(-72 * time.Hour)), "", "member is deactivated: no reminders"},
			{"fine@acme.example", "", "", "", "", "nothing to fix"},
			{"unqueued@acme.example", "", "", "", "", "no reminder queued yet"},
		} {
			r := got[c.email].Reminders
			if r == nil {
				t.Fatalf("%s: no reminders on the members page", c.email)
			}
			var lastKind, lastChannel, lastAt, next string
			if r.Last != nil {
				lastKind, lastChannel, lastAt = r.Last.Kind, r.Last.Channel, r.Last.SentAt
			}
			if r.Next != nil {
				next = *r.Next
			}
			if lastKind != c.lastKind || lastChannel != c.lastChannel || lastAt != c.lastAt || next != c.next || !strings.HasPrefix(r.Why, c.why) {
				t.Errorf("%s: last %s %s %s, next %q, why %q; want last %s %s %s, next %q, why %q", c.email,
					lastKind, lastChannel, lastAt, next, r.Why, c.lastKind, c.lastChannel, c.lastAt, c.next, c.why)
			}
		}
		if r := got["ny@acme.example"].Reminders; !r.Quiet || r.NextKind != "reminder" {
			t.Errorf("ny: %+v", r)
		}
		// A filtered page carries them too: the Action Required members, one a page.
		path, seen := "/v1/orgs/"+org.ID+"/members?filter=chat&action_required=true&limit=1", 0
		for path != "" {
			var page httpapi.MemberListJSON
			b.call(t, "GET", path, "", &page)
			for _, m := range page.Members {
				if m.Reminders == nil || m.Reminders.Why != got[m.Email].Reminders.Why {
					t.Errorf("%s under action_required: %+v, want %+v", m.Email, m.Reminders, got[m.Email].Reminders)
				}
				seen++
			}
			path = page.Next
		}
		if seen != 4 {
			t.Errorf("%d Action Required chat members, want due, ny, unqueued and adminonly", seen)
		}
		// The member's own route takes an email as well as an id, as the CLI does.
		var byEmail httpapi.MemberRemindersJSON
		if r := b.call(t, "GET", "/v1/orgs/"+org.ID+"/members/NY@acme.example/reminders", "", &byEmail); r.StatusCode != 200 {
			t.Fatalf("GET the reminders of ny by email: %d", r.StatusCode)
		}
		if byEmail.MembershipID != ny.ID || byEmail.Why != got["ny@acme.example"].Reminders.Why {
			t.Errorf("reminders by email: %+v, want member %s, why %q", byEmail, ny.ID, got["ny@acme.example"].Reminders.Why)
		}
		b.wantError(t, "GET", "/v1/orgs/"+org.ID+"/members/nobody@acme.example/reminders", "", 404, "member_not_found")
	})
}
