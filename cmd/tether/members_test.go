package main

import (
	"encoding/json"
	"errors"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/hibiken/asynq"

	"tether/jobs"
	"tether/sync/connections"
	"tether/sync/directory"
	"tether/sync/reminders"
	"tether/worker/httpapi"
	"tether/worker/redistest"
)

// TestMembersVerbs runs tether members list/set/recompute and org set --policy through
// run, on both backends: the counts table matches the store, reasons name who acts, and
// a policy change, a photo and a role change move the member in and out of Action Required.
// Each of those verbs queues, in real Redis, the reminders:notify of an active member
// who needs action, as a connection's change does; without TETHER_REDIS_URL they refuse
// before changing anything.
func TestMembersVerbs(t *testing.T) {
	eachBackend(t, func(t *testing.T, v *verbTest) {
		ctx, st, ok, refused := v.ctx, v.st, v.ok, v.refused
		opt, _ := redistest.Client(t, 12)
		in := asynq.NewInspector(opt)
		defer in.Close()
		// notifies are the member's reminders:notify tasks waiting in its group (no worker
		// runs here to aggregate them), each checked to be the observer's: its org and
		// membership ids, noticed between from and now.
		notifies := func(m directory.Membership, from time.Time) int {
			t.Helper()
			ts, err := in.ListAggregatingTasks(jobs.QueueLow, jobs.GroupReminders(m.ID))
			if err != nil && !errors.Is(err, asynq.ErrQueueNotFound) {
				t.Fatal(err)
			}
			for _, ti := range ts {
				p, err := jobs.Decode[jobs.RemindersNotify](ti.Payload)
				if err != nil || ti.Type != jobs.TypeRemindersNotify || p.OrgID != m.OrgID || p.MembershipID != m.ID || p.Breaks != 1 ||
					p.Noticed < from.Unix() || p.Noticed > time.Now().Unix() {
					t.Fatalf("member %s: task %s %s: %+v %v", m.ID, ti.Type, ti.Payload, p, err)
				}
			}
			return len(ts)
		}
		expect := func(what string, m directory.Membership, from time.Time, want int) {
			t.Helper()
			if got := notifies(m, from); got != want {
				t.Errorf("after %s: %d reminders:notify queued for %s, want %d", what, got, m.ID, want)
			}
		}
		match := func(out string, res ...string) {
			t.Helper()
			for _, re := range res {
				if !regexp.MustCompile(re).MatchString(out) {
					t.Errorf("output lacks %s:\n%s", re, out)
				}
			}
		}
		org := v.org("Acme", 10)
		add := func(email string, role directory.Role, status directory.MembershipStatus) directory.Membership {
			return v.member(org, email, role, status)
		}
		rep := add("rep@acme.example", directory.RoleChat, directory.MembershipActive)
		if _, err := st.CreateConnection(ctx, org, connections.Connection{MembershipID: rep.ID, Kind: connections.KindSalesforce,
			State: connections.StateNeedsReconnect, LastErrorCode: "invalid_grant"}); err != nil {
			t.Fatal(err)
		}
		if _, err := st.CreateConnection(ctx, org, connections.Connection{MembershipID: rep.ID, Kind: connections.KindGoogleCalendar,
			State: connections.StateHealthy}); err != nil {
			t.Fatal(err)
		}
		boss := add("boss@acme.example", directory.RoleAdmin, directory.MembershipActive)
		add("new@acme.example", directory.RoleMeetings, directory.MembershipPending)

		out := ok("members", "list", org)
		match(out, `not computed yet \(tether members recompute `+org+`\)`)
		// Without Redis the reminders could not be queued: refused, nothing recomputed.
		refused("TETHER_REDIS_URL: is not set; tether members recompute needs Redis", "members", "recompute", org)
		refused("POST /v1/orgs/{org}/members/recompute", "members", "recompute", org)
		refused("TETHER_REDIS_URL: is not set; tether org set --policy needs Redis", "org", "set", org, "--policy", "admin=")
		match(ok("members", "list", org), `not computed yet`)
		v.env["TETHER_REDIS_URL"] = redistest.URL(opt)

		from := time.Now().Truncate(time.Second)
		match(ok("members", "recompute", org), `recomputed 3 members of org `+org+`: 2 Action Required`)
		expect("members recompute", rep, from, 1)
		expect("members recompute", boss, from, 1)

		out = ok("members", "list", org)
		counts, err := st.CountMemberships(ctx, org)
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range directory.MemberFilters() {
			c := counts.Of(f)
			match(out, `(?m)^`+string(f)+`\s+`+itoa(c.Members)+`\s+`+itoa(c.ActionRequired)+`$`)
		}
		match(out, `(?m)^all\s+3\s+2$`, `(?m)^admin\s+1\s+1$`,
			`rep@acme\.example\s+chat\s+active\s+-\s+salesforce needs_reconnect \(rep\), google_calendar healthy\s+salesforce needs_reconnect \[invalid_grant\] \(rep\); ~conferencing missing \(rep\); photo missing \(rep\)`)

		// --json is the route's document: the same counts, every member with its reasons.
		var js httpapi.MemberListJSON
		if err := json.Unmarshal([]byte(ok("members", "list", org, "--json")), &js); err != nil {
			t.Fatal(err)
		}
		if js.OrgID != org || js.Filter != directory.FilterAll || len(js.Members) != 3 || js.Next != "" {
			t.Fatalf("json: org %s filter %s, %d members, next %q", js.OrgID, js.Filter, len(js.Members), js.Next)
		}
		for _, f := range directory.MemberFilters() {
			if js.Counts[f] != counts.Of(f) {
				t.Errorf("json counts[%s] = %+v, store %+v", f, js.Counts[f], counts.Of(f))
			}
		}
		if err := json.Unmarshal([]byte(ok("members", "list", org, "--filter", "chat", "--action-required", "--json")), &js); err != nil {
			t.Fatal(err)
		}
		if len(js.Members) != 1 || js.Members[0].Email != "rep@acme.example" || !js.Members[0].ActionRequired || !js.ActionRequired ||
			len(js.Members[0].Reasons) == 0 || js.Members[0].Reasons[0].Kind != "salesforce" || js.Members[0].Reasons[0].Actor != directory.ActorRep ||
			len(js.Members[0].Connections) != 2 {
			t.Fatalf("json chat, action required: %+v", js)
		}

		out = ok("members", "list", org, "--filter", "chat", "--action-required")
		match(out, `Action Required members under filter chat: 1`, `rep@acme\.example`)
		if strings.Contains(out, "boss@") {
			t.Errorf("admin listed under chat:\n%s", out)
		}
		out = ok("members", "list", org, "--filter", "pending", "--action-required")
		match(out, `no Action Required members under filter pending`)
		if strings.Contains(out, "not accepted yet") {
			t.Errorf("a line about invitations with none open:\n%s", out)
		}
		// Someone invited without a tether user is in no filter: the list says the
		// invitation is open and where to see it.
		if _, err := st.CreateInvite(ctx, org, directory.Invite{Email: "invited@acme.example", Role: directory.RoleChat,
			TokenHash: "h-invited", Status: directory.InvitePending, ExpiresAt: time.Now().Add(time.Hour)}); err != nil {
			t.Fatal(err)
		}
		match(ok("members", "list", org, "--filter", "pending"),
			`and 1 invitation not accepted yet: members once they join \(tether invite list --org `+org+` --status pending lists them\)`)
		refused(`filter "everyone": use one of all, active, admin, chat, meetings, pending, deactivated`, "members", "list", org, "--filter", "everyone")

		// Admins need nothing under the org's policy: boss leaves Action Required (never
		// reminded, so no all-set note is queued); rep still needs action: queued again,
		// which the policy turns into nothing new.
		out = ok("org", "set", org, "--policy", "admin=")
		expect("org set --policy", boss, from, 1)
		expect("org set --policy", rep, from, 2)
		match(out, `policy: admin=nothing  custom_admin=salesforce  chat=salesforce,calendar,~conferencing,photo`)
		match(ok("members", "list", org, "--filter", "admin"), `(?m)^admin\s+1\s+0$`)
		match(ok("org", "show", org), `action required policy: admin=nothing`)
		refused(`unknown requirement "fax"`, "org", "set", org, "--policy", "chat=fax")

		match(ok("members", "set", org, "rep@acme.example", "--photo", "https://img.example/rep.png"),
			`(?m)action required: salesforce needs_reconnect \[invalid_grant\] \(rep\); ~conferencing missing \(rep\)$`)
		expect("members set --photo", rep, from, 3)
		match(ok("members", "set", org, boss.ID, "--role", "meetings"),
			`member `+boss.ID+` of org `+org+`: meetings, active`, `action required: calendar missing \(rep\); ~conferencing missing \(rep\); photo missing \(rep\)`)
		expect("members set --role", boss, from, 2)
		refused(`org `+org+` has no member "ghost@acme.example"`, "members", "set", org, "ghost@acme.example", "--role", "chat")
		refused(`nothing to change`, "members", "set", org, rep.ID)

		// The rep's own time zone for quiet hours: set, shown by the list's JSON, refused
		// when it is no IANA name (nothing changes), removed with "".
		match(ok("members", "set", org, "rep@acme.example", "--time-zone", "Europe/Paris"),
			`member `+rep.ID+` of org `+org+`: chat, active, photo https://img\.example/rep\.png, time zone Europe/Paris`)
		zoneIs := func(want string) {
			t.Helper()
			if tz, err := st.MemberTimeZone(ctx, org, rep.ID); err != nil || tz != want {
				t.Fatalf("stored time zone %q (%v), want %q", tz, err, want)
			}
		}
		zoneIs("Europe/Paris")
		match(ok("members", "list", org, "--filter", "chat"), `rep@acme\.example\s+chat\s+active\s+Europe/Paris\s+salesforce`)
		if err := json.Unmarshal([]byte(ok("members", "list", org, "--filter", "chat", "--json")), &js); err != nil {
			t.Fatal(err)
		}
		if len(js.Members) != 1 || js.Members[0].TimeZone != "Europe/Paris" {
			t.Fatalf("json chat members: %+v", js.Members)
		}
		refused(`time zone "Europe/Lutece" is not an IANA zone: give one such as Europe/Paris`, "members", "set", org, rep.ID, "--time-zone", "Europe/Lutece")
		refused(`time zone "Local" is not an IANA zone`, "members", "set", org, rep.ID, "--time-zone", "Local")
		zoneIs("Europe/Paris")
		match(ok("members", "set", org, rep.ID, "--time-zone", ""), `time zone - \(the org's\)`)
		zoneIs("")
		// A zone changes no reason: no notify queued for it, only its reminder moved.
		expect("members set --time-zone", rep, from, 3)
	})
}

func itoa(n int) string { return strconv.Itoa(n) }

// TestMembersDeactivateVerb queues members:deactivate through the CLI on Redis: the task
// carries ids only under its deterministic TaskID, asking twice is the same task, a
// pending member is refused with the command that helps, and so is someone who only has a
// pending invite: the exact tether invite revoke command it prints works, after which the
// address is unknown. (The worker's run against the
// sandbox is worker.TestDeactivateMemberAgainstSandbox.)
func TestMembersDeactivateVerb(t *testing.T) {
	opt, _ := redistest.Client(t, 11)
	v := newVerbTest(t, "sqlite:"+filepath.Join(t.TempDir(), "tether.db"), map[string]string{"TETHER_REDIS_URL": redistest.URL(opt)})
	ok := v.ok
	org := v.org("Acme", 10)
	ids := []string{
		v.member(org, "rep@acme.example", directory.RoleChat, directory.MembershipActive).ID,
		v.member(org, "new@acme.example", directory.RoleChat, directory.MembershipPending).ID,
	}
	asked := time.Now().Unix()
	out := ok("members", "deactivate", org, "rep@acme.example")
	taskID := jobs.TaskIDMembersDeactivate(org, ids[0])
	if !strings.Contains(out, "queued the deactivation of member "+ids[0]+" of org "+org+" (task "+taskID+")") {
		t.Fatalf("deactivate output:\n%s", out)
	}
	in := asynq.NewInspector(opt)
	defer in.Close()
	info, err := in.GetTaskInfo(jobs.QueueCritical, taskID)
	if err != nil || info.Type != jobs.TypeMembersDeactivate {
		t.Fatalf("queued task %+v %v", info, err)
	}
	// Ids, and when it was asked (for --wait's "retrying for"): nothing else.
	var payload map[string]any
	err = json.Unmarshal(info.Payload, &payload)
	at, _ := payload["requested_at"].(float64)
	if err != nil || len(payload) != 3 || payload["org_id"] != org || payload["membership_id"] != ids[0] ||
		at < float64(asked) || at > float64(time.Now().Unix()) {
		t.Fatalf("payload %s (%v)", info.Payload, err)
	}
	if out := ok("members", "deactivate", org, ids[0]); !strings.Contains(out, "already queued or running (task "+taskID+")") {
		t.Errorf("second deactivate:\n%s", out)
	}
	v.refused("is pending (invited, not joined): revoke the invite instead (tether invite list --org "+org, "members", "deactivate", org, "new@acme.example")
	v.refused(`has no member "ghost@acme.example"`, "members", "deactivate", org, "ghost@acme.example")

	inv, err := v.st.CreateInvite(v.ctx, org, directory.Invite{Email: "aaron.johnson@example.com", Role: directory.RoleChat,
		TokenHash: "h-aaron", ExpiresAt: time.Now().Add(time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	revoke := []string{"invite", "revoke", inv.ID, "--org", org}
	v.refused("aaron.johnson@example.com is invited to org "+org+" (invite "+inv.ID+", pending), not a member: revoke the invite instead with tether "+strings.Join(revoke, " "),
		"members", "deactivate", org, "aaron.johnson@example.com")
	// The other member verbs say the email is an invite's, not that nobody has it.
	v.refused("aaron.johnson@example.com is invited to org "+org+" (invite "+inv.ID+", pending), not a member yet",
		"members", "set", org, "aaron.johnson@example.com", "--role", "admin")
	if out := ok(revoke...); !strings.Contains(out, "revoked invite "+inv.ID) {
		t.Fatalf("the printed revoke command:\n%s", out)
	}
	v.refused(`has no member "aaron.johnson@example.com"`, "members", "deactivate", org, "aaron.johnson@example.com")
}

// TestAdminArrivalReleasesHeldAlerts: in an org without an admin, a rep's problem only an
// admin can fix has nobody to alert; making a member the org's first admin queues that
// rep's notify again (the policy sends the alert still owed). So does a second admin while
// the alert is still owed (two first admins at once each see the other), and once it was
// sent a third admin queues nothing.
func TestAdminArrivalReleasesHeldAlerts(t *testing.T) {
	eachBackend(t, func(t *testing.T, v *verbTest) {
		ctx, st, ok := v.ctx, v.st, v.ok
		opt, _ := redistest.Client(t, 12)
		in := asynq.NewInspector(opt)
		defer in.Close()
		notifies := func(m directory.Membership) int {
			t.Helper()
			ts, err := in.ListAggregatingTasks(jobs.QueueLow, jobs.GroupReminders(m.ID))
			if err != nil && !errors.Is(err, asynq.ErrQueueNotFound) {
				t.Fatal(err)
			}
			return len(ts)
		}
		v.env["TETHER_REDIS_URL"] = redistest.URL(opt)
		org := v.org("Acme", 10)
		rep := v.member(org, "rep@acme.example", directory.RoleChat, directory.MembershipActive)
		if _, err := st.CreateConnection(ctx, org, connections.Connection{MembershipID: rep.ID, Kind: connections.KindSalesforce,
			State: connections.StateNeedsAdmin, LastErrorCode: "user_disabled"}); err != nil {
			t.Fatal(err)
		}
		calm := v.member(org, "calm@acme.example", directory.RoleChat, directory.MembershipActive)
		first := v.member(org, "first@acme.example", directory.RoleChat, directory.MembershipActive)
		second := v.member(org, "second@acme.example", directory.RoleChat, directory.MembershipActive)
		third := v.member(org, "third@acme.example", directory.RoleChat, directory.MembershipActive)
		ok("members", "recompute", org)
		repBefore, calmBefore := notifies(rep), notifies(calm)

		ok("members", "set", org, first.ID, "--role", "admin")
		if got := notifies(rep); got != repBefore+1 {
			t.Errorf("the first admin: %d notifies queued for the rep waiting on an admin, want %d", got, repBefore+1)
		}
		if got := notifies(calm); got != calmBefore {
			t.Errorf("the first admin queued %d notifies for a member with nothing for an admin, want %d", got, calmBefore)
		}
		ok("members", "set", org, second.ID, "--role", "admin")
		if got := notifies(rep); got != repBefore+2 {
			t.Errorf("a second admin while the alert is still owed: %d notifies queued for the rep, want %d", got, repBefore+2)
		}

		// The alert about the rep's problem as it is now was sent.
		m, err := st.GetMembership(ctx, org, rep.ID)
		if err != nil {
			t.Fatal(err)
		}
		var adminOnly []directory.ActionReason
		for _, r := range m.ActionRequired {
			if !r.Recommended && r.Actor != directory.ActorRep {
				adminOnly = append(adminOnly, r)
			}
		}
		if len(adminOnly) == 0 {
			t.Fatalf("the rep's reasons %+v hold nothing for an admin", m.ActionRequired)
		}
		if _, err := st.InsertReminder(ctx, org, reminders.Reminder{MembershipID: rep.ID, Channel: reminders.ChannelEmail, Sequence: 1,
			SentAt: time.Now(), Kind: reminders.KindAdmin, Status: reminders.StatusSent, AdminKey: reminders.AdminKey(adminOnly),
			Recipients: []string{"first@acme.example"}}); err != nil {
			t.Fatal(err)
		}
		ok("members", "set", org, third.ID, "--role", "admin")
		if got := notifies(rep); got != repBefore+2 {
			t.Errorf("a third admin after the alert was sent: %d notifies queued for the rep, want still %d", got, repBefore+2)
		}
	})
}
