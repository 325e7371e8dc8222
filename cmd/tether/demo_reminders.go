package main

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"time"

	"tether/connectors/email/mailsink"
	"tether/connectors/sandbox"
	"tether/sync/connections"
	"tether/sync/directory"
	"tether/worker/httpapi"
)

// demoConnectLink is a connect link as a reminder email carries it.
var demoConnectLink = regexp.MustCompile(`http://[^\s"<>]+/connect/[^\s"<>]+`)

// demoReminderGrace is the org's grace period in the demo: long enough that the break's
// notify finds the reminder not yet due and queues it for the end of the grace (the path
// a real 5-minute grace takes), short enough to keep the demo quick.
const demoReminderGrace = 3 * time.Second

// demoReminders: the org sets a Slack bot token with its reminder policy; the third rep
// of the upkeep step revokes tether's Microsoft grant at the provider; the operator's
// refresh notices; after the org's grace one reminder email reaches the sink with a
// connect link, and the same reminder reaches the rep as a Slack direct message; the
// link, followed over HTTP through the provider's consent, reconnects the calendar; the
// rep is healthy again, the Action Required counts drop, an "all set" note follows on
// both channels and no further reminder is due.
func demoReminders(ctx context.Context, dm *demo) error {
	orgID := dm.acme.org.ID
	page, err := dm.members(ctx, "chat", false)
	if err != nil {
		return err
	}
	// The rep whose connections all came through the upkeep step (Zoom rode out its flapping).
	var rep httpapi.MemberJSON
	for _, m := range page.Members {
		if m.ActionRequired || slices.IndexFunc(m.Connections, func(c httpapi.MemberConnectionJSON) bool {
			return c.Kind == connections.KindMicrosoftCalendar && c.State == connections.StateHealthy
		}) < 0 {
			continue
		}
		rep = m
		break
	}
	if rep.ID == "" {
		return fmt.Errorf("no chat member with a healthy Microsoft calendar and nothing to do")
	}
	// The org's Slack workspace: its people, and the bot token of the org's Slack app
	// (what an admin copies from the app's OAuth page).
	for _, m := range page.Members {
		dm.prov.slack.AddUser(m.Email)
	}
	botToken := "xoxb-" + randomPassword()
	dm.prov.slack.AddToken(botToken)

	// The admin's policy change, over the route `tether org reminders` also calls. Quiet
	// hours would hold a reminder until 08:00 in the org's zone, whenever the demo runs.
	var set httpapi.ReminderSettingsJSON
	if err := dm.api(ctx, http.MethodPatch, "/v1/orgs/"+orgID+"/reminder-settings",
		map[string]string{"grace": demoReminderGrace.String(), "quiet_hours": "none", "slack_token": botToken}, &set); err != nil {
		return err
	}
	if set.Grace != demoReminderGrace.String() || set.QuietHours != "none" || !set.Slack.Configured {
		return fmt.Errorf("PATCH reminder-settings answered grace %s, quiet hours %s, Slack configured %t", set.Grace, set.QuietHours, set.Slack.Configured)
	}
	dm.ok("PATCH /v1/orgs/%s/reminder-settings {\"grace\":%q,\"quiet_hours\":\"none\",\"slack_token\":\"xoxb-…\"}: grace %s (default 5m), then reminders at +%s, quiet hours %s; Slack configured (the token is stored sealed, never shown again); the workspace has the org's %d chat members",
		orgID, demoReminderGrace, set.Grace, strings.Join(set.Steps, ", +"), set.QuietHours, len(page.Members))

	ci := slices.IndexFunc(rep.Connections, func(c httpapi.MemberConnectionJSON) bool { return c.Kind == connections.KindMicrosoftCalendar })
	cal := rep.Connections[ci]
	countsBefore := page.Counts

	// The Microsoft account behind it, as GET /v1/orgs/{org}/connections shows it.
	var list struct {
		Connections []httpapi.ConnectionJSON `json:"connections"`
	}
	if err := dm.api(ctx, http.MethodGet, "/v1/orgs/"+orgID+"/connections?member="+url.QueryEscape(rep.ID), nil, &list); err != nil {
		return err
	}
	li := slices.IndexFunc(list.Connections, func(c httpapi.ConnectionJSON) bool { return c.ID == cal.ID })
	if li < 0 {
		return fmt.Errorf("GET /v1/orgs/%s/connections?member=%s lacks connection %s", orgID, rep.ID, cal.ID)
	}
	account := list.Connections[li].Account

	// At the provider: the rep removes tether from their Microsoft account's apps.
	var grants []sandbox.GrantInfo
	if err := dm.sandboxAdmin(ctx, http.MethodGet, "/admin/grants", nil, &grants); err != nil {
		return err
	}
	gi := slices.IndexFunc(grants, func(g sandbox.GrantInfo) bool {
		return g.Provider == sandbox.Microsoft && g.Subject == account && g.Live
	})
	if gi < 0 {
		return fmt.Errorf("the sandbox has no live Microsoft grant of %s", rep.Email)
	}
	if err := dm.sandboxAdmin(ctx, http.MethodPost, "/admin/grants/"+grants[gi].ID+"/revoke", nil, nil); err != nil {
		return err
	}
	// Microsoft's access token outlives the grant until it expires (a verification still
	// passes): the refresh notices. The operator's refresh runs the upkeep the worker's
	// connections:refresh task runs when the token nears expiry.
	// The break is noticed during the request: the grace counts from before it (a loaded
	// machine may take seconds to answer).
	broke := time.Now()
	var v httpapi.UpkeepResultJSON
	if err := dm.api(ctx, http.MethodPost, "/v1/orgs/"+orgID+"/connections/"+cal.ID+"/refresh", nil, &v); err != nil {
		return err
	}
	if v.Connection.State != connections.StateNeedsReconnect {
		return fmt.Errorf("after the revocation the refresh left %s's calendar %s (%s)", rep.Email, v.Connection.State, v.Connection.Reason)
	}
	dm.ok("%s revoked tether's Microsoft grant (POST /admin/grants/%s/revoke at the sandbox); POST /v1/orgs/%s/connections/%s/refresh: %s, code %s; a reminder is queued",
		rep.Email, grants[gi].ID, orgID, cal.ID, v.Connection.State, orDash(v.Connection.Code))

	page, err = dm.members(ctx, "chat", false)
	if err != nil {
		return err
	}
	if m, _ := memberOf(page, rep.Email); !m.ActionRequired {
		return fmt.Errorf("after the revocation %s is not Action Required: %+v", rep.Email, m.Reasons)
	}
	countsBroken := page.Counts

	// One email, after the grace, with a link per thing to reconnect.
	toRep := to(rep.Email)
	reminder := func(m mailsink.Received) bool { // not the invitation: Message-ID reminder-<membership>-<seq>
		return toRep(m) && strings.Contains(m.MessageID, "reminder-"+rep.ID+"-")
	}
	msgs, err := dm.waitMail(ctx, "reminder to "+rep.Email, 1, reminder)
	if err != nil {
		return err
	}
	took := time.Since(broke)
	if took < demoReminderGrace-time.Second { // the break's time is kept in whole seconds
		return fmt.Errorf("the reminder came %s after the break, before the %s grace", took, demoReminderGrace)
	}
	mail := msgs[0]
	links := demoConnectLink.FindAllString(mail.Text, -1)
	if len(links) != 1 || !strings.Contains(mail.Text, string(connections.KindMicrosoftCalendar)) {
		return fmt.Errorf("the reminder carries %d connect links, want one for %s:\n%s", len(links), connections.KindMicrosoftCalendar, mail.Text)
	}
	dm.ok("%s later (grace %s): one email to %s, %q, Message-ID %s, one connect link %s…",
		took.Round(100*time.Millisecond), demoReminderGrace, rep.Email, mail.Subject, mail.MessageID, links[0][:min(len(links[0]), len(dm.httpURL)+20)])

	// The same reminder as a Slack direct message, with the same link.
	dms, err := dm.waitSlack(ctx, rep.Email, 1)
	if err != nil {
		return err
	}
	if dmLinks := demoConnectLink.FindAllString(dms[0].Text, -1); len(dmLinks) != 1 || dmLinks[0] != links[0] {
		return fmt.Errorf("the Slack reminder to %s carries links %v, want the email's %s", rep.Email, dmLinks, links[0])
	}
	dm.ok("and one Slack direct message to %s (user %s, found by email; DM %s, ts %s) with the email's connect link",
		rep.Email, dms[0].User, dms[0].Channel, dms[0].TS)

	// The rep follows it, as a browser does: the page, its button, the consent at Microsoft.
	heading, err := dm.followLink(ctx, links[0], rep.Email)
	if err != nil {
		return fmt.Errorf("%s follows the reminder's link: %w", rep.Email, err)
	}
	if !strings.Contains(heading, "connected") {
		return fmt.Errorf("%s follows the reminder's link: tether's page says %q", rep.Email, heading)
	}
	page, err = dm.members(ctx, "chat", false)
	if err != nil {
		return err
	}
	m, _ := memberOf(page, rep.Email)
	if m.ActionRequired {
		return fmt.Errorf("after reconnecting, %s still needs action: %+v", rep.Email, m.Reasons)
	}
	for _, c := range m.Connections {
		if c.State != connections.StateHealthy {
			return fmt.Errorf("after reconnecting, %s's %s is %s", rep.Email, c.Kind, c.State)
		}
	}
	dm.ok("%s opened the link, pressed its button and allowed at the sandbox's Microsoft consent: %q; %s", rep.Email, heading, connList(m.Connections)+" healthy")

	fmt.Fprintf(dm.out, "         Action Required (GET /v1/orgs/%s/members): before the break, after it, after the fix\n", orgID)
	for _, f := range []directory.MemberFilter{directory.FilterAll, directory.FilterChat} {
		fmt.Fprintf(dm.out, "         %-5s %d → %d → %d\n", f, countsBefore[f].ActionRequired, countsBroken[f].ActionRequired, page.Counts[f].ActionRequired)
		if countsBroken[f].ActionRequired != countsBefore[f].ActionRequired+1 || page.Counts[f].ActionRequired != countsBefore[f].ActionRequired {
			return fmt.Errorf("Action Required of filter %s went %d → %d → %d, want +1 then back", f,
				countsBefore[f].ActionRequired, countsBroken[f].ActionRequired, page.Counts[f].ActionRequired)
		}
	}
	dm.ok("the counts rose by one with the break and dropped by one with the fix")

	// Fixed after a reminder: one "all set" note, then nothing is due.
	msgs, err = dm.waitMail(ctx, "all-set note to "+rep.Email, 2, reminder)
	if err != nil {
		return err
	}
	if dms, err = dm.waitSlack(ctx, rep.Email, 2); err != nil {
		return err
	}
	// The sink and Slack have the note a moment before the worker records it as sent.
	var view httpapi.MemberRemindersJSON
	err = waitFor(ctx, "the all-set note to be recorded as sent", func() (bool, error) {
		err := dm.api(ctx, http.MethodGet, "/v1/orgs/"+orgID+"/members/"+url.PathEscape(rep.ID)+"/reminders", nil, &view)
		sent := 0
		for _, r := range view.Sent {
			if r.Status == "sent" {
				sent++
			}
		}
		return err == nil && sent == 4, err
	})
	if err != nil {
		return err
	}
	var kinds []string
	for _, r := range view.Sent {
		kinds = append(kinds, fmt.Sprintf("#%d %s %s %s", r.Sequence, r.Kind, r.Channel, r.Status))
	}
	// Newest first; the two channels of one message in a fixed order for the report.
	want := []string{"#2 all_set email sent", "#2 all_set slack sent", "#1 reminder email sent", "#1 reminder slack sent"}
	got, sorted := slices.Sorted(slices.Values(kinds)), slices.Sorted(slices.Values(want))
	reminded := 0
	for _, mm := range msgs {
		if mm.MessageID != mail.MessageID && strings.Contains(mm.Subject, "reconnect") {
			reminded++
		}
	}
	if len(msgs) != 2 || reminded != 0 || len(dms) != 2 || !slices.Equal(got, sorted) || view.Sent[0].Kind != "all_set" {
		return fmt.Errorf("%s got %d emails (%d more reminders) and %d Slack messages; the route lists %v", rep.Email, len(msgs), reminded, len(dms), kinds)
	}
	if view.Next != "" || view.Streak != 0 {
		return fmt.Errorf("GET …/members/%s/reminders: next %q, streak %d (%s); want nothing due", rep.ID, view.Next, view.Streak, view.Why)
	}
	dm.ok("%q to %s, by email and on Slack; GET /v1/orgs/%s/members/%s/reminders: %s; next: none (%s)",
		msgs[1].Subject, rep.Email, orgID, rep.ID, strings.Join(want, ", "), view.Why)

	// The members list says the same, for every member of the page at once.
	page, err = dm.members(ctx, "chat", false)
	if err != nil {
		return err
	}
	m, _ = memberOf(page, rep.Email)
	if r := m.Reminders; r == nil || r.Last == nil || r.Last.Kind != "all_set" || r.Next != nil {
		return fmt.Errorf("GET /v1/orgs/%s/members shows %s's reminders as %+v; want the all-set note last and nothing next", orgID, rep.Email, m.Reminders)
	}
	dm.ok("GET /v1/orgs/%s/members: %s last #%d %s %s %s, next: none (%s)", orgID, rep.Email, m.Reminders.Last.Sequence,
		m.Reminders.Last.Kind, m.Reminders.Last.Channel, m.Reminders.Last.Status, m.Reminders.Why)
	return nil
}
