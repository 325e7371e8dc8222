package worker_test

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"

	"tether/jobs"
	"tether/sync/members"
	"tether/sync/reminders"
	"tether/sync/store"
	"tether/sync/store/storetest"
	"tether/worker"
	"tether/worker/httpapi"
)

// membersAPI serves the members and reminder-settings routes over b's store, with the
// members service telling the same reminders trigger the worker's observer chain uses.
func (b *remindBundle) membersAPI(t *testing.T) string {
	t.Helper()
	trig := &reminders.Trigger{Store: b.st, Queue: b.queue, Now: b.clock.now}
	retimer := &reminders.Retimer{Store: b.st, Queue: worker.ReminderRescheduler{Queue: b.queue, Inspector: b.inspector}}
	ms, err := members.New(members.Config{Store: b.st, Reminders: trig, Now: b.clock.now,
		Zones: reminders.ZoneRetimer{Settings: b.st, Retimer: retimer, Now: b.clock.now}})
	if err != nil {
		t.Fatal(err)
	}
	api, err := httpapi.New(httpapi.Params{Logger: zerolog.Nop(), Gatherer: prometheus.NewRegistry(), AdminUser: "admin", AdminPassword: "pw",
		Members: ms, ReminderSettings: reminders.SettingsEditor{Store: b.st, Now: b.clock.now, Retimer: retimer}})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(api)
	t.Cleanup(srv.Close)
	return srv.URL
}

// send sends body to the admin API as membersAPI's admin; the caller closes the answer.
func send(t *testing.T, method, url, body string) *http.Response {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.SetBasicAuth("admin", "pw")
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	return resp
}

func call(t *testing.T, method, url, body string) {
	t.Helper()
	resp := send(t, method, url, body)
	defer resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		t.Fatalf("%s %s: %s", method, url, resp.Status)
	}
}

// runBreak runs, as the worker does, the rep's reminders:notify waiting in its group
// (one, queued by the trigger at noticed) and deletes it.
func (b *remindBundle) runBreak(t *testing.T, noticed time.Time) {
	t.Helper()
	ts, err := b.inspector.ListAggregatingTasks(jobs.QueueLow, jobs.GroupReminders(b.rep.ID))
	if err != nil || len(ts) != 1 {
		t.Fatalf("the rep's group holds %d reminders:notify, want 1 (%v)", len(ts), err)
	}
	p, err := jobs.Decode[jobs.RemindersNotify](ts[0].Payload)
	if err != nil || p.OrgID != b.org.ID || p.MembershipID != b.rep.ID || p.Noticed != noticed.Unix() {
		t.Fatalf("the queued notify %+v (%v): want the rep's, noticed at %s", p, err, noticed)
	}
	if err := b.inspector.DeleteTask(jobs.QueueLow, ts[0].ID); err != nil {
		t.Fatal(err)
	}
	b.clock.set(noticed.Add(time.Second)) // the worker's batch
	b.notify(t, time.Unix(p.Noticed, 0))
}

// TestReminderAfterRoleChangeThroughAPI: a rep whose reasons come from a role change
// (PATCH /v1/orgs/{org}/members/{member}), not from a connection's change, gets the
// observer's reminders:notify in Redis; run, it queues the first reminder a grace after
// the change, which the view shows.
func TestReminderAfterRoleChangeThroughAPI(t *testing.T) {
	storetest.Each(t, func(t *testing.T, st *store.Store) {
		b := setupReminders(t, st, nil)
		url := b.membersAPI(t)
		t0 := time.Date(2031, 3, 4, 10, 0, 0, 0, time.UTC) // ahead of the wall clock, no quiet hours near
		b.clock.set(t0)
		// Made an admin, the rep lacks the Salesforce connection the policy asks of admins.
		call(t, http.MethodPatch, url+"/v1/orgs/"+b.org.ID+"/members/"+b.rep.ID, `{"role":"admin"}`)
		b.runBreak(t, t0)
		b.nextIsQueued(t, t0.Add(time.Minute), 1, t0.Add(5*time.Minute), false)
	})
}

// gone fails unless the follow-up (membership, seq, at) is no longer in Redis.
func (b *remindBundle) gone(t *testing.T, seq int, at time.Time) {
	t.Helper()
	if info, err := b.inspector.GetTaskInfo(jobs.QueueLow, jobs.TaskIDRemindersFollowUp(b.rep.ID, seq, at)); err == nil {
		t.Fatalf("reminder %d's task at %s is still queued (%s) after the policy moved it", seq, at, info.State)
	}
}

// TestReminderRetimedByPolicyChange: PATCH /v1/orgs/{org}/reminder-settings moves the
// reminders already queued to the new policy. A first reminder that quiet hours held
// until 08:00 goes a new grace after its break once quiet hours are dropped; the next
// reminder of a streak follows longer steps. Each time the view, the membership's record
// and the task in Redis agree, the old task is gone, and the view no longer says the
// reminder predates the policy.
func TestReminderRetimedByPolicyChange(t *testing.T) {
	storetest.Each(t, func(t *testing.T, st *store.Store) {
		b := setupReminders(t, st, nil)
		url := b.membersAPI(t) + "/v1/orgs/" + b.org.ID + "/reminder-settings"
		noticed, morning := b.heldByQuietHours(t)

		b.clock.set(noticed.Add(time.Minute))
		call(t, http.MethodPatch, url, `{"grace":"10m","quiet_hours":"none"}`)
		first := noticed.Add(10 * time.Minute)
		v := b.nextIsQueued(t, noticed.Add(2*time.Minute), 1, first, false)
		if v.Why != "first reminder after the grace period" {
			t.Fatalf("why: %q", v.Why)
		}
		b.gone(t, 1, morning)

		if res, err := b.runFollowUp(t, first, 1, first); err != nil || len(res.Sent) != 1 { // the moved task runs
			t.Fatalf("the re-timed reminder: %+v, %v", res, err)
		}
		b.nextIsQueued(t, first.Add(time.Hour), 2, first.Add(24*time.Hour), false)
		call(t, http.MethodPatch, url, `{"steps":["36h","72h"]}`)
		v = b.nextIsQueued(t, first.Add(2*time.Hour), 2, first.Add(36*time.Hour), false)
		if strings.Contains(v.Why, "policy changed") {
			t.Fatalf("re-timed, the view still says it predates the policy: %q", v.Why)
		}
		b.gone(t, 2, first.Add(24*time.Hour))
	})
}

// patchMember sends PATCH /v1/orgs/{org}/members/{rep} with body and decodes the answer.
func (b *remindBundle) patchMember(t *testing.T, url, body string) (int, httpapi.MemberJSON, httpapi.APIError) {
	t.Helper()
	resp := send(t, http.MethodPatch, url+"/v1/orgs/"+b.org.ID+"/members/"+b.rep.ID, body)
	defer resp.Body.Close()
	var m httpapi.MemberJSON
	var e struct{ Error httpapi.APIError }
	dst := any(&m)
	if resp.StatusCode != http.StatusOK {
		dst = &e
	}
	if err := json.NewDecoder(resp.Body).Decode(dst); err != nil {
		t.Fatalf("PATCH %s: %s, body not JSON: %v", body, resp.Status, err)
	}
	return resp.StatusCode, m, e.Error
}

// TestReminderRetimedByZoneChange: PATCH /v1/orgs/{org}/members/{member} with a time
// zone stores it, shows it, and moves the rep's queued reminder to quiet hours in that
// zone. A first reminder that quiet hours held until 08:00 UTC (the org's zone) goes a
// grace after its break once the rep is in New York (15:03 there); in Tokyo (05:03) it
// waits for 08:00 Tokyo; with the zone removed it is the org's 08:00 again. Each time
// the view, the record and the task in Redis agree and the old task is gone. A zone
// that is not an IANA name is refused, naming the field, and changes nothing.
func TestReminderRetimedByZoneChange(t *testing.T) {
	storetest.Each(t, func(t *testing.T, st *store.Store) {
		b := setupReminders(t, st, nil)
		url := b.membersAPI(t)
		noticed, morning := b.heldByQuietHours(t)

		b.clock.set(noticed.Add(time.Minute))
		status, m, _ := b.patchMember(t, url, `{"time_zone":"America/New_York"}`)
		if status != http.StatusOK || m.TimeZone != "America/New_York" {
			t.Fatalf("PATCH time_zone: %d, member %+v", status, m)
		}
		if tz, err := st.MemberTimeZone(t.Context(), b.org.ID, b.rep.ID); err != nil || tz != "America/New_York" {
			t.Fatalf("stored zone %q (%v)", tz, err)
		}
		first := noticed.Add(5 * time.Minute)
		b.nextIsQueued(t, noticed.Add(2*time.Minute), 1, first, false)
		b.gone(t, 1, morning)

		b.clock.set(noticed.Add(3 * time.Minute))
		if status, m, _ = b.patchMember(t, url, `{"time_zone":"Asia/Tokyo"}`); status != http.StatusOK || m.TimeZone != "Asia/Tokyo" {
			t.Fatalf("PATCH Asia/Tokyo: %d, member %+v", status, m)
		}
		tokyoMorning := time.Date(2031, 3, 4, 23, 0, 0, 0, time.UTC) // 08:00 in Tokyo
		b.nextIsQueued(t, noticed.Add(4*time.Minute), 1, tokyoMorning, true)
		b.gone(t, 1, first)

		status, _, e := b.patchMember(t, url, `{"time_zone":"Mars/Olympus_Mons"}`)
		if status != http.StatusUnprocessableEntity || e.Code != members.CodeInvalidTimeZone ||
			!strings.Contains(e.Message, `"Mars/Olympus_Mons" is not an IANA zone`) || !strings.Contains(e.Message, "Europe/Paris") {
			t.Fatalf("a made-up zone: %d %+v", status, e)
		}
		b.nextIsQueued(t, noticed.Add(4*time.Minute), 1, tokyoMorning, true)

		if status, m, _ = b.patchMember(t, url, `{"time_zone":""}`); status != http.StatusOK || m.TimeZone != "" {
			t.Fatalf("PATCH time_zone \"\": %d, member %+v", status, m)
		}
		b.nextIsQueued(t, noticed.Add(5*time.Minute), 1, morning, true)
		b.gone(t, 1, tokyoMorning)
	})
}

// TestReminderRetimedByLearntZone: a zone a verification finds (connections.Upkeep's
// Zones, wired as reminders.LearntZones) moves a reminder already queued, as an admin's
// change does: the first reminder that quiet hours held until 08:00 UTC goes at the end
// of its grace once New York is learnt. A later zone is not learnt over it, and moves
// nothing.
func TestReminderRetimedByLearntZone(t *testing.T) {
	storetest.Each(t, func(t *testing.T, st *store.Store) {
		b := setupReminders(t, st, nil)
		noticed, morning := b.heldByQuietHours(t)
		retimer := &reminders.Retimer{Store: st, Queue: worker.ReminderRescheduler{Queue: b.queue, Inspector: b.inspector}}
		learn := reminders.LearntZones{Store: st, Zones: reminders.ZoneRetimer{Settings: st, Retimer: retimer, Now: b.clock.now}}

		b.clock.set(noticed.Add(time.Minute))
		if set, err := learn.LearnMemberTimeZone(t.Context(), b.org.ID, b.rep.ID, "America/New_York"); !set || err != nil {
			t.Fatalf("learn New York: %v, %v", set, err)
		}
		first := noticed.Add(5 * time.Minute)
		v := b.nextIsQueued(t, noticed.Add(2*time.Minute), 1, first, false)
		if v.Why != "first reminder after the grace period" {
			t.Fatalf("why: %q", v.Why)
		}
		b.gone(t, 1, morning)

		if set, err := learn.LearnMemberTimeZone(t.Context(), b.org.ID, b.rep.ID, "Asia/Tokyo"); set || err != nil {
			t.Fatalf("learn Tokyo over New York: %v, %v; want not set", set, err)
		}
		b.nextIsQueued(t, noticed.Add(3*time.Minute), 1, first, false)
	})
}
