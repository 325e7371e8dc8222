package worker_test

import (
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
	"tether/worker/httpapi"
)

// membersAPI serves the members and reminder-settings routes over b's store, with the
// members service telling the same reminders trigger the worker's observer chain uses.
func (b *remindBundle) membersAPI(t *testing.T) string {
	t.Helper()
	trig := &reminders.Trigger{Store: b.st, Queue: b.queue, Now: b.clock.now}
	ms, err := members.New(members.Config{Store: b.st, Reminders: trig, Now: b.clock.now})
	if err != nil {
		t.Fatal(err)
	}
	api, err := httpapi.New(httpapi.Params{Logger: zerolog.Nop(), Gatherer: prometheus.NewRegistry(), AdminUser: "admin", AdminPassword: "pw",
		Members: ms, ReminderSettings: reminders.SettingsEditor{Store: b.st, Now: b.clock.now}})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(api)
	t.Cleanup(srv.Close)
	return srv.URL
}

func call(t *testing.T, method, url, body string) {
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
