package main

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"

	"tether/connectors/sandbox"
	"tether/sync/connections"
	"tether/sync/directory"
	"tether/worker/httpapi"
)

// demoDeactivate deactivates a rep over the API and shows what the worker did: every grant
// with a revoke endpoint revoked at its provider (the sandbox's grants say so), the tokens
// gone, the seat free. Then the rep is invited again by email, joins, and is an active
// member again, asked to connect what the deactivation revoked.
func demoDeactivate(ctx context.Context, dm *demo) error {
	orgID := dm.acme.org.ID
	base := "/v1/orgs/" + url.PathEscape(orgID)
	// The rep with the most connections, all healthy (Salesforce, Microsoft, Zoom).
	page, err := dm.members(ctx, "chat", false)
	if err != nil {
		return err
	}
	var rep httpapi.MemberJSON
	for _, m := range page.Members {
		if len(m.Connections) > len(rep.Connections) && !slices.ContainsFunc(m.Connections, func(c httpapi.MemberConnectionJSON) bool {
			return c.State != connections.StateHealthy
		}) {
			rep = m
		}
	}
	if len(rep.Connections) < 3 {
		return fmt.Errorf("no chat member with three healthy connections to deactivate")
	}
	var conns struct {
		Connections []httpapi.ConnectionJSON `json:"connections"`
	}
	if err := dm.api(ctx, http.MethodGet, base+"/connections?member="+url.QueryEscape(rep.Email), nil, &conns); err != nil {
		return err
	}
	var before []sandbox.GrantInfo
	if err := dm.sandboxAdmin(ctx, http.MethodGet, "/admin/grants", nil, &before); err != nil {
		return err
	}
	// The rep's live grants at the providers, by connection.
	grants := map[string]sandbox.GrantInfo{}
	for _, c := range conns.Connections {
		for _, g := range before {
			if g.Live && g.Subject == c.Account && string(g.Provider) == c.Kind.Provider() {
				grants[string(c.Kind)] = g
			}
		}
	}
	var org httpapi.OrgOverviewJSON
	if err := dm.api(ctx, http.MethodGet, base, nil, &org); err != nil {
		return err
	}
	seatsBefore := org.Seats.Used

	var queued httpapi.DeactivationJSON
	if err := dm.api(ctx, http.MethodPost, base+"/members/"+url.PathEscape(rep.Email)+"/deactivate", nil, &queued); err != nil {
		return err
	}
	var gone httpapi.MemberJSON
	if err := waitFor(ctx, "the deactivation of "+rep.Email+" to finish", func() (bool, error) {
		p, err := dm.members(ctx, "deactivated", false)
		if err != nil {
			return false, err
		}
		m, ok := memberOf(p, rep.Email)
		gone = m
		return ok && !slices.ContainsFunc(m.Connections, func(c httpapi.MemberConnectionJSON) bool {
			return c.State != connections.StateRevoked
		}), nil
	}); err != nil {
		return err
	}
	var after []sandbox.GrantInfo
	if err := dm.sandboxAdmin(ctx, http.MethodGet, "/admin/grants", nil, &after); err != nil {
		return err
	}
	var revoked, live []string
	for kind, g := range grants {
		for _, a := range after {
			if a.ID != g.ID {
				continue
			}
			if a.Live {
				live = append(live, kind)
			} else {
				revoked = append(revoked, kind+" ("+a.Ended+")")
			}
		}
	}
	slices.Sort(revoked)
	slices.Sort(live)
	for _, k := range []string{"salesforce", "zoom"} {
		if g, ok := grants[k]; !ok || !slices.ContainsFunc(revoked, func(s string) bool { return strings.HasPrefix(s, k+" ") }) {
			return fmt.Errorf("after the deactivation the %s grant %s is still live at the sandbox", k, g.ID)
		}
	}
	if err := dm.api(ctx, http.MethodGet, base, nil, &org); err != nil {
		return err
	}
	if org.Seats.Used != seatsBefore-1 {
		return fmt.Errorf("seats used %d after the deactivation, %d before; want one freed", org.Seats.Used, seatsBefore)
	}
	dm.ok("POST %s/members/%s/deactivate: 202 %s; the worker revoked at the providers %s (the sandbox's grants ended), deleted the tokens of %s (Microsoft has no per-grant revoke); %s's %d connections revoked; seats used %d → %d",
		base, rep.Email, queued.TaskID, strings.Join(revoked, ", "), strings.Join(live, ", "), gone.Email, len(gone.Connections), seatsBefore, org.Seats.Used)
	// The org's audit log says what the deactivation did, as an admin reads it.
	var log httpapi.EventPageJSON
	logPath := base + "/events?kind=member.&subject=" + url.QueryEscape(gone.ID)
	if err := dm.api(ctx, http.MethodGet, logPath, nil, &log); err != nil {
		return err
	}
	if len(log.Events) != 1 || log.Events[0].Kind != "member.deactivated" {
		return fmt.Errorf("GET %s: %d events, want the one member.deactivated", logPath, len(log.Events))
	}
	dm.ok("GET %s (tether events list ORG --kind member. --subject MEMBER): %s at %s, revoked %v, tokens deleted %v",
		logPath, log.Events[0].Kind, log.Events[0].At.Format("15:04:05"), log.Events[0].Detail["revoked"], log.Events[0].Detail["dropped"])
	if err := dm.api(ctx, http.MethodPatch, base+"/members/"+url.PathEscape(rep.Email), map[string]string{"role": "meetings"}, nil); err == nil {
		return fmt.Errorf("PATCH of a deactivated member's role was accepted")
	} else if !strings.Contains(err.Error(), "409") || !strings.Contains(err.Error(), "member_deactivated") {
		return fmt.Errorf("PATCH of a deactivated member: %v; want 409 member_deactivated", err)
	}
	dm.ok("PATCH %s/members/%s {\"role\":\"meetings\"}: 409 member_deactivated (to bring them back, invite them again)", base, rep.Email)

	// The invitation the rep joined with does not bring them back.
	var old string
	for _, m := range dm.prov.sink.Messages() {
		if slices.Contains(m.To, rep.Email) && strings.HasPrefix(m.MessageID, "invite-") {
			old = demoJoinLink.FindString(m.Text)
			break
		}
	}
	if code, err := dm.joinLink(ctx, http.MethodGet, old); old == "" || err != nil || code != http.StatusGone {
		return fmt.Errorf("the old Join link of deactivated %s: %d, %v; want 410", rep.Email, code, err)
	}
	dm.ok("the Join link %s joined with: 410 (used); a deactivated member comes back through a new invitation", rep.Email)

	// The way back: a new invitation; the Join reactivates the same membership.
	_, link, err := dm.inviteByEmail(ctx, orgID, rep.Email, directory.RoleChat)
	if err != nil {
		return err
	}
	if code, err := dm.joinLink(ctx, http.MethodPost, link); err != nil || code != http.StatusOK {
		return fmt.Errorf("%s presses the Join button again: %d, %v", rep.Email, code, err)
	}
	p, err := dm.members(ctx, "active", false)
	if err != nil {
		return err
	}
	back, ok := memberOf(p, rep.Email)
	if !ok || back.ID != rep.ID || back.DeactivatedAt != nil || !back.ActionRequired {
		return fmt.Errorf("after the new Join %s is %+v; want the same membership active, asked to connect again", rep.Email, back)
	}
	var msgs []string
	for _, r := range back.Reasons {
		if !r.Recommended {
			msgs = append(msgs, r.Message)
		}
	}
	dm.ok("invited again (POST %s/imports {\"emails\":%q,\"role\":\"chat\"}) and joined: membership %s active again; Action Required: %s",
		base, rep.Email, back.ID, strings.Join(msgs, "; "))

	// A revoked connection is made again from a connect link, in place.
	link, err = dm.connectLink(ctx, base+"/members/"+url.PathEscape(rep.Email)+"/connect-links", `{"kind":"zoom"}`)
	if err != nil {
		return err
	}
	heading, err := dm.followLink(ctx, link, rep.Email)
	if err != nil {
		return err
	}
	if p, err = dm.members(ctx, "active", false); err != nil {
		return err
	}
	back, _ = memberOf(p, rep.Email)
	i := slices.IndexFunc(back.Connections, func(c httpapi.MemberConnectionJSON) bool { return c.Kind == connections.KindZoom })
	if i < 0 || back.Connections[i].State != connections.StateHealthy || len(back.Connections) != len(gone.Connections) {
		return fmt.Errorf("after %q %s's connections are %+v; want zoom healthy again, in place", heading, rep.Email, back.Connections)
	}
	dm.ok("the rep connected Zoom again from a link: %q; %s", heading, connStates(back.Connections))
	return nil
}

// connStates is "salesforce revoked, zoom healthy".
func connStates(cs []httpapi.MemberConnectionJSON) string {
	var s []string
	for _, c := range cs {
		s = append(s, string(c.Kind)+" "+string(c.State))
	}
	return strings.Join(s, ", ")
}
