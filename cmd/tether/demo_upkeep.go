package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/hibiken/asynq"
	"github.com/jedib0t/go-pretty/v6/table"

	"tether/connectors/sandbox"
	"tether/jobs"
	"tether/sync/connections"
	"tether/sync/directory"
	"tether/sync/store"
	"tether/worker/httpapi"
)

// demoRep is one rep of the upkeep step: a Salesforce user who joins from the import's
// invitation, then connects the kinds over personal connect links.
type demoRep struct {
	label    string // what happens to the rep's provider
	email    string
	sfLogin  string
	kinds    []connections.Kind
	googleID string // sandbox accounts, by provider
	msID     string
	zoomID   string
}

// demoUpkeep: three reps connect across the four providers; at the providers (the
// sandbox's admin API) the first rep's Google grant is revoked, the second rep's Microsoft
// account disabled, and Zoom starts answering a share of its token requests with 503;
// time passes; an operator's sweep (POST /v1/connections/sweep) has the worker refresh
// what is due. Then the members page says who must act: the first rep (reconnect), the
// second rep's admin (reconnecting cannot help), nobody for the third, whose Zoom
// connection rides out the flapping.
func demoUpkeep(ctx context.Context, dm *demo) error {
	orgID := dm.acme.org.ID
	reps, err := dm.joinReps(ctx)
	if err != nil {
		return err
	}
	var made []string
	for _, r := range reps {
		// The photo the Chat role requires, as the admin sets it: only connections remain.
		if err := dm.api(ctx, http.MethodPatch, "/v1/orgs/"+orgID+"/members/"+url.PathEscape(r.email),
			map[string]string{"photo_url": "https://photos.acme-demo.example/" + strings.SplitN(r.email, "@", 2)[0] + ".jpg"}, nil); err != nil {
			return err
		}
		for _, k := range r.kinds {
			link, err := dm.connectLink(ctx, "/v1/orgs/"+orgID+"/members/"+url.PathEscape(r.email)+"/connect-links", fmt.Sprintf(`{"kind":%q}`, k))
			if err != nil {
				return err
			}
			heading, err := dm.followLink(ctx, link, r.email)
			if err != nil {
				return fmt.Errorf("%s connects %s: %w", r.email, k, err)
			}
			if !strings.Contains(heading, "connected") {
				return fmt.Errorf("%s connects %s: tether's page says %q", r.email, k, heading)
			}
		}
	}
	before, err := dm.members(ctx, "all", false)
	if err != nil {
		return err
	}
	n := 0
	for _, r := range reps {
		m, ok := memberOf(before, r.email)
		if !ok {
			return fmt.Errorf("%s is not on the members page", r.email)
		}
		made = append(made, r.email+" ("+connList(m.Connections)+")")
		for _, c := range m.Connections {
			if c.State != connections.StateHealthy {
				return fmt.Errorf("after connecting, %s's %s is %s", r.email, c.Kind, c.State)
			}
			n++
		}
		if m.ActionRequired {
			return fmt.Errorf("after connecting, %s needs action: %+v", r.email, m.Reasons)
		}
	}
	dm.ok("3 reps joined with Salesforce from their invitations and connected over their links (POST …/members/{member}/connect-links, consent at the sandbox): %s; %d connections healthy, no Action Required",
		strings.Join(made, "; "), n)

	// What happens at the providers, through the sandbox's admin API.
	ava, ben, cleo := reps[0], reps[1], reps[2]
	var grants []sandbox.GrantInfo
	if err := dm.sandboxAdmin(ctx, http.MethodGet, "/admin/grants", nil, &grants); err != nil {
		return err
	}
	gi := slices.IndexFunc(grants, func(g sandbox.GrantInfo) bool {
		return g.Provider == sandbox.Google && g.Subject == ava.googleID && g.Live
	})
	if gi < 0 {
		return fmt.Errorf("the sandbox has no live Google grant of %s", ava.email)
	}
	if err := dm.sandboxAdmin(ctx, http.MethodPost, "/admin/grants/"+grants[gi].ID+"/revoke", nil, nil); err != nil {
		return err
	}
	if err := dm.sandboxAdmin(ctx, http.MethodPost, "/admin/users/microsoft/"+ben.msID+"/active", map[string]bool{"active": false}, nil); err != nil {
		return err
	}
	flap := sandbox.Fault{Provider: sandbox.Zoom, Endpoint: "token", Kind: sandbox.FaultStatus, Status: 503, Share: demoFlapShare}
	var fault struct {
		ID string `json:"id"`
	}
	if err := dm.sandboxAdmin(ctx, http.MethodPost, "/admin/faults", flap, &fault); err != nil {
		return err
	}
	dm.ok("at the providers (sandbox admin API): %s revoked tether's Google grant (POST /admin/grants/%s/revoke); %s's Microsoft account disabled (POST /admin/users/microsoft/%s/active {\"active\":false}); Zoom flaps (POST /admin/faults: 503 to %.0f%% of token requests)",
		ava.email, grants[gi].ID, ben.email, ben.msID, demoFlapShare*100)

	// Round 1: the access tokens near expiry, the sweep refreshes every connection.
	if err := dm.timePasses(ctx, 2*time.Hour, "every access token nears its expiry"); err != nil {
		return err
	}
	if err := dm.sweep(ctx); err != nil {
		return err
	}
	// Later rounds: while Zoom flaps, a degraded connection is retried when its backoff
	// (never before the provider's Retry-After) has passed; nobody is asked to act.
	const rounds = 6
	for round := 2; ; round++ {
		page, err := dm.members(ctx, "all", false)
		if err != nil {
			return err
		}
		m, _ := memberOf(page, cleo.email)
		if m.ActionRequired {
			return fmt.Errorf("while Zoom flaps, %s needs action: %+v", cleo.email, m.Reasons)
		}
		var waiting []httpapi.MemberConnectionJSON
		for _, c := range m.Connections {
			if c.State == connections.StateDegraded {
				waiting = append(waiting, c)
			} else if c.State != connections.StateHealthy {
				return fmt.Errorf("while Zoom flaps, %s's %s is %s (%s)", cleo.email, c.Kind, c.State, c.Reason)
			}
		}
		if len(waiting) == 0 {
			break
		}
		if round > rounds {
			return fmt.Errorf("%s's %s still degraded after %d sweeps", cleo.email, waiting[0].Kind, rounds)
		}
		c := waiting[0]
		// Due at the start of this second: a later second than the last retry's, so its
		// task (TaskID per connection and due second) is a new one.
		wait := max(0, c.NextRefreshAt.Sub(time.Now().Truncate(time.Second)))
		dm.ok("%s's %s is degraded, not condemned (Zoom answered 503, code %s: %s); nobody is asked to act; retried at %s",
			cleo.email, c.Kind, orDash(c.Code), c.Reason, c.NextRefreshAt.Format(time.TimeOnly))
		if err := dm.timePasses(ctx, wait, "the retry of "+cleo.email+"'s "+string(c.Kind)+" is due"); err != nil {
			return err
		}
		if err := dm.sweep(ctx); err != nil {
			return err
		}
	}
	var flaps []sandbox.Fault
	if err := dm.sandboxAdmin(ctx, http.MethodGet, "/admin/faults", nil, &flaps); err != nil {
		return err
	}
	fired := int64(0)
	for _, f := range flaps {
		if f.ID == fault.ID {
			fired = f.Fired
		}
	}
	if err := dm.sandboxAdmin(ctx, http.MethodDelete, "/admin/faults/"+fault.ID, nil, nil); err != nil {
		return err
	}

	// Who must act, from the members endpoint an admin's page reads.
	after, err := dm.members(ctx, "all", false)
	if err != nil {
		return err
	}
	want := []struct {
		rep   demoRep
		kinds []connections.Kind
		state connections.State
		actor string
	}{
		{ava, []connections.Kind{connections.KindGoogleCalendar}, connections.StateNeedsReconnect, directory.ActorRep},
		{ben, []connections.Kind{connections.KindMicrosoftCalendar, connections.KindTeams}, connections.StateNeedsAdmin, directory.ActorAdmin},
		{cleo, nil, "", ""},
	}
	for _, w := range want {
		m, _ := memberOf(after, w.rep.email)
		var states []string
		for _, c := range m.Connections {
			states = append(states, connList([]httpapi.MemberConnectionJSON{c})+" "+string(c.State))
			broken := slices.Contains(w.kinds, c.Kind)
			switch {
			case broken && (c.State != w.state || c.Actor != w.actor):
				return fmt.Errorf("%s's %s is %s for %q, want %s for the %s", w.rep.email, c.Kind, c.State, c.Actor, w.state, w.actor)
			case !broken && c.State != connections.StateHealthy:
				return fmt.Errorf("%s's %s is %s (%s), want healthy", w.rep.email, c.Kind, c.State, c.Reason)
			}
		}
		var counted []directory.ActionReason
		for _, r := range m.Reasons {
			if !r.Recommended {
				counted = append(counted, r)
			}
		}
		if w.actor == "" {
			if m.ActionRequired || len(counted) > 0 {
				return fmt.Errorf("%s (%s) needs action: %+v", w.rep.email, w.rep.label, counted)
			}
			dm.ok("%s (%s): %s; Action Required: none", w.rep.email, w.rep.label, strings.Join(states, ", "))
			continue
		}
		if !m.ActionRequired || len(counted) == 0 {
			return fmt.Errorf("%s (%s) is not Action Required: %+v", w.rep.email, w.rep.label, m.Reasons)
		}
		for _, r := range counted {
			if r.Actor != w.actor {
				return fmt.Errorf("%s (%s): reason %s names the %s, want the %s", w.rep.email, w.rep.label, r.Requirement, r.Actor, w.actor)
			}
		}
		r := counted[0]
		code := orDash(r.Code)
		if r.SubCode != "" {
			code += "/" + r.SubCode
		}
		dm.ok("%s (%s): %s; Action Required: %s %s %s → the %s acts (code %s): %q",
			w.rep.email, w.rep.label, strings.Join(states, ", "), r.Requirement, r.Kind, r.State, r.Actor, code, r.Message)
	}
	dm.ok("Zoom answered 503 to %d token request(s) while it flapped; %s's Zoom connection was retried, not condemned, and is healthy", fired, cleo.email)

	// The counts per filter, as GET /v1/orgs/{org}/members serves them to the admin.
	ar, err := dm.members(ctx, "chat", true)
	if err != nil {
		return err
	}
	var tbl bytes.Buffer
	t := newTable(&tbl, "FILTER", "MEMBERS", "ACTION REQUIRED")
	for _, f := range directory.MemberFilters() {
		t.AppendRow(table.Row{f, ar.Counts[f].Members, ar.Counts[f].ActionRequired})
	}
	t.Render()
	fmt.Fprintf(&tbl, "and %d invitations not accepted yet (pending_invites): members once they join\n", ar.PendingInvites)
	fmt.Fprint(dm.out, indent(tbl.String(), "         "))
	if ar.PendingInvites == 0 {
		return fmt.Errorf("GET /v1/orgs/%s/members: pending_invites 0, though most of the import's invitations are still open", orgID)
	}
	var who []string
	for _, m := range ar.Members {
		who = append(who, m.Email)
	}
	for _, r := range []demoRep{ava, ben} {
		if !slices.Contains(who, r.email) {
			return fmt.Errorf("GET /v1/orgs/%s/members?filter=chat&action_required=true lacks %s: %v", orgID, r.email, who)
		}
	}
	if slices.Contains(who, cleo.email) {
		return fmt.Errorf("GET /v1/orgs/%s/members?filter=chat&action_required=true lists %s, who needs nothing", orgID, cleo.email)
	}
	if c := ar.Counts[directory.FilterChat]; c.ActionRequired != len(ar.Members) || ar.Next != "" {
		return fmt.Errorf("chat counts %d Action Required but the page lists %d", c.ActionRequired, len(ar.Members))
	}
	dm.ok("GET /v1/orgs/%s/members?filter=chat&action_required=true: %d members (among them %s and %s, not %s); the counts above are every filter's",
		orgID, len(ar.Members), ava.email, ben.email, cleo.email)
	return nil
}

// demoFlapShare is the share of Zoom's token requests the flapping answers with 503. The
// sandbox's fault plan draws from the demo's seeded generator, so every run flaps alike.
const demoFlapShare = 0.5

// joinReps has three imported Salesforce users accept their invitations through Join with
// Salesforce (as demoSalesforceJoin does) and gives each accounts at the sandbox's other
// providers over its admin API.
func (dm *demo) joinReps(ctx context.Context) ([]demoRep, error) {
	st := dm.d.store
	invs, err := st.ListInvites(ctx, dm.acme.org.ID, store.InviteFilter{Status: directory.InvitePending, Limit: 50})
	if err != nil {
		return nil, err
	}
	plan := []struct {
		label string
		kinds []connections.Kind
	}{
		{"Google grant revoked", []connections.Kind{connections.KindGoogleCalendar}},
		// One Microsoft consent serves the calendar and Teams: a Teams link after it would be
		// refused (already_connected), so the rep follows one link and gets both.
		{"Microsoft account disabled", []connections.Kind{connections.KindMicrosoftCalendar}},
		{"Zoom flapping", []connections.Kind{connections.KindMicrosoftCalendar, connections.KindZoom}},
	}
	var reps []demoRep
	for _, inv := range invs {
		if len(reps) == len(plan) {
			break
		}
		if inv.Source != directory.SourceSalesforce || inv.SalesforceUserID == "" {
			continue
		}
		u, ok := dm.prov.sb.Salesforce().User(inv.SalesforceUserID)
		if !ok {
			continue
		}
		i := len(reps)
		reps = append(reps, demoRep{label: plan[i].label, email: inv.Email, sfLogin: u.Username, kinds: plan[i].kinds,
			googleID: fmt.Sprintf("1188000000000000001%02d", i), msID: fmt.Sprintf("7e57a000-0000-4000-8000-%012d", i+1),
			zoomID: fmt.Sprintf("zRep%02dDemoUser", i)})
		msgs, err := dm.waitMail(ctx, "invitation to "+inv.Email, 1, to(inv.Email))
		if err != nil {
			return nil, err
		}
		link := demoJoinLink.FindString(msgs[0].Text)
		if link == "" {
			return nil, fmt.Errorf("no Join link in the invitation to %s", inv.Email)
		}
		if err := waitFor(ctx, "the invitation to "+inv.Email+" to be recorded as sent", func() (bool, error) {
			got, err := st.GetInvite(ctx, dm.acme.org.ID, inv.ID)
			return err == nil && got.SentCount >= 1, err
		}); err != nil {
			return nil, err
		}
		if code, title, _, err := dm.browse(ctx, link, u.Username); err != nil || code != http.StatusOK {
			return nil, fmt.Errorf("%s joins with Salesforce: %d %q, %v", inv.Email, code, title, err)
		}
	}
	if len(reps) < len(plan) {
		return nil, fmt.Errorf("the import left %d pending Salesforce invites; the demo needs %d", len(reps), len(plan))
	}
	for i, r := range reps {
		first := strings.SplitN(r.email, "@", 2)[0]
		for _, u := range []sandbox.User{
			{Provider: sandbox.Google, ID: r.googleID, Email: r.email, GivenName: first},
			{Provider: sandbox.Microsoft, ID: r.msID, Email: r.email, GivenName: first},
			{Provider: sandbox.Zoom, ID: r.zoomID, Email: r.email, GivenName: first},
		} {
			if err := dm.sandboxAdmin(ctx, http.MethodPost, "/admin/users", u, nil); err != nil {
				return nil, fmt.Errorf("rep %d: %w", i+1, err)
			}
		}
	}
	return reps, nil
}

// timePasses stands in for waiting: the providers' clock moves on over the sandbox's admin
// API, and tether's stored times of the org's connections (expiry, last refresh and
// verification, next refresh or retry, failing since) move back by d, as if d had passed;
// tether reads the machine's clock, which the demo does not touch. Nothing else is written.
func (dm *demo) timePasses(ctx context.Context, d time.Duration, why string) error {
	if err := dm.sandboxAdmin(ctx, http.MethodPost, "/admin/clock/advance", map[string]string{"by": shortDuration(d.Round(time.Second))}, nil); err != nil {
		return err
	}
	st, orgID := dm.d.store, dm.acme.org.ID
	cs, err := st.ListConnections(ctx, orgID, "")
	if err != nil {
		return err
	}
	back := func(t *time.Time) {
		if !t.IsZero() {
			*t = t.Add(-d)
		}
	}
	for _, c := range cs {
		for {
			back(&c.ExpiresAt)
			back(&c.LastRefreshedAt)
			back(&c.LastVerifiedAt)
			back(&c.NextRefreshAt)
			back(&c.NextAttemptAt)
			back(&c.FailingSince)
			_, err := st.UpdateConnection(ctx, orgID, c, time.Now())
			if !errors.Is(err, directory.ErrConflict) {
				if err != nil {
					return fmt.Errorf("move connection %s's times back: %w", c.ID, err)
				}
				break
			}
			if c, err = st.GetConnection(ctx, orgID, c.ID); err != nil { // a worker wrote it meanwhile
				return err
			}
		}
	}
	dm.ok("%s later (%s): POST /admin/clock/advance {\"by\":%q} at the sandbox; the org's %d connections' stored times moved back as much (tether's clock is the machine's)",
		shortDuration(d.Round(time.Second)), why, shortDuration(d.Round(time.Second)), len(cs))
	return nil
}

// sweep is what an operator does instead of waiting for the 5-minute slot: POST
// /v1/connections/sweep, then it waits until the worker has run the sweep and every
// refresh or verification it queued.
func (dm *demo) sweep(ctx context.Context) error {
	began := time.Now()
	// A sweep's TaskID is its second: a second sweep in the same second would be the same task.
	time.Sleep(time.Until(began.Truncate(time.Second).Add(time.Second)))
	var out struct {
		TaskID string `json:"task_id"`
	}
	if err := dm.api(ctx, http.MethodPost, "/v1/connections/sweep", nil, &out); err != nil {
		return err
	}
	info, err := waitTask(ctx, dm.inspector, jobs.QueueConnections, out.TaskID, asynq.TaskStateCompleted)
	if err != nil {
		return err
	}
	err = waitFor(ctx, "the refreshes the sweep queued", func() (bool, error) {
		for _, q := range []string{jobs.QueueConnections, jobs.QueueLow} {
			qi, err := dm.inspector.GetQueueInfo(q)
			if errors.Is(err, asynq.ErrQueueNotFound) {
				continue
			}
			if err != nil {
				return false, err
			}
			if qi.Pending+qi.Active+qi.Retry > 0 {
				return false, nil
			}
		}
		return true, nil
	})
	if err != nil {
		return err
	}
	dm.ok("POST /v1/connections/sweep: 202 %s; the worker's sweep: %s; every task it queued has run (%s)",
		out.TaskID, info.Result, time.Since(began).Round(10*time.Millisecond))
	return nil
}

// members is GET /v1/orgs/{org}/members?filter=F[&action_required=true], one page.
func (dm *demo) members(ctx context.Context, filter string, actionRequired bool) (httpapi.MemberListJSON, error) {
	return dm.memberPage(ctx, dm.acme.org.ID, filter, actionRequired)
}

// membersOf is GET /v1/orgs/{org}/members?filter=F of any org, one page.
func (dm *demo) membersOf(ctx context.Context, orgID, filter string) (httpapi.MemberListJSON, error) {
	return dm.memberPage(ctx, orgID, filter, false)
}

func (dm *demo) memberPage(ctx context.Context, orgID, filter string, actionRequired bool) (httpapi.MemberListJSON, error) {
	var page httpapi.MemberListJSON
	q := url.Values{"filter": {filter}, "limit": {"200"}}
	if actionRequired {
		q.Set("action_required", "true")
	}
	err := dm.api(ctx, http.MethodGet, "/v1/orgs/"+url.PathEscape(orgID)+"/members?"+q.Encode(), nil, &page)
	return page, err
}

func memberOf(p httpapi.MemberListJSON, email string) (httpapi.MemberJSON, bool) {
	for _, m := range p.Members {
		if strings.EqualFold(m.Email, email) {
			return m, true
		}
	}
	return httpapi.MemberJSON{}, false
}

// api calls tether serve's /v1 API with the demo's API token; a non-2xx answer is an error
// carrying the body.
func (dm *demo) api(ctx context.Context, method, path string, in, out any) error {
	return dm.callJSON(ctx, method, dm.httpURL+path, "Bearer "+dm.d.cfg.APIToken.Reveal(), in, out)
}

// sandboxAdmin calls the sandbox's admin HTTP API, as a test or an operator's script does.
func (dm *demo) sandboxAdmin(ctx context.Context, method, path string, in, out any) error {
	return dm.callJSON(ctx, method, dm.prov.sbURL+path, "", in, out)
}

func (dm *demo) callJSON(ctx context.Context, method, u, auth string, in, out any) error {
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return err
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, u, body)
	if err != nil {
		return err
	}
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer res.Body.Close()
	raw, err := io.ReadAll(res.Body)
	if err != nil {
		return err
	}
	path := req.URL.Path
	if res.StatusCode/100 != 2 {
		return fmt.Errorf("%s %s: %d %s", method, path, res.StatusCode, bytes.TrimSpace(raw))
	}
	if out != nil {
		if err := json.Unmarshal(raw, out); err != nil {
			return fmt.Errorf("%s %s: %w", method, path, err)
		}
	}
	return nil
}

// connList names a member's connections, with the kinds each serves besides its own
// (a Teams connect adds its scope to the Microsoft calendar connection).
func connList(cs []httpapi.MemberConnectionJSON) string {
	var s []string
	for _, c := range cs {
		name := string(c.Kind)
		for _, k := range c.Serves {
			if k != c.Kind {
				name += "+" + string(k)
			}
		}
		s = append(s, name)
	}
	return strings.Join(s, ", ")
}

// shortDuration prints 2h0m0s as 2h, 1m0s as 1m and 1m5s as is.
func shortDuration(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}
