package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strings"

	"tether/connectors/email"
	"tether/connectors/email/mailsink"
	"tether/sync/directory"
	"tether/sync/onboarding"
	"tether/worker/httpapi"
)

var demoJoinLink = regexp.MustCompile(`http://[^\s"]+/join/[A-Za-z0-9_-]{43}`)

// demoJoin creates an org and invites one address over the API, as an operator does
// (tether org create, tether invite emails); the worker emails the invitation to the sink,
// and the Join link from it is followed against the running tether serve.
func demoJoin(ctx context.Context, dm *demo) error {
	var org httpapi.OrgJSON
	if err := dm.api(ctx, http.MethodPost, "/v1/orgs", httpapi.CreateOrgRequest{Name: "Demo Join Co", Seats: 10}, &org); err != nil {
		return err
	}
	inv, link, err := dm.inviteByEmail(ctx, org.ID, "rep@demo.example", directory.RoleChat)
	if err != nil {
		return err
	}
	// A second run of the attempt the worker ran (as after a crash before its
	// acknowledgement) sends nothing: the process's one mailer, the worker's sender.
	m, err := dm.d.app.outMailer()
	if err != nil {
		return err
	}
	sender, err := onboarding.NewSender(onboarding.SenderConfig{Store: dm.d.store,
		Mailer: email.InviteMailer(m, "tether <invite@demo.example>"), PublicURL: dm.httpURL})
	if err != nil {
		return err
	}
	if out, err := sender.Send(ctx, org.ID, inv.ID, 1); err != nil || out != onboarding.AlreadySent {
		return fmt.Errorf("re-run of attempt 1: %s, %v", out, err)
	}
	msgs, err := dm.waitMail(ctx, "invitation to "+inv.Email, 1, to(inv.Email))
	if err != nil {
		return err
	}
	if len(msgs) != 1 {
		return fmt.Errorf("%d invitations to %s after a re-run of attempt 1; want 1", len(msgs), inv.Email)
	}
	dm.ok("POST /v1/orgs {\"name\":%q} and POST /v1/orgs/%s/imports {\"emails\":%q,\"role\":\"chat\"}: the worker sent the invitation: %q, Message-ID %s (1 email after 2 runs of attempt 1)",
		org.Name, org.ID, inv.Email, msgs[0].Subject, msgs[0].MessageID)
	// A mail scanner opening the link spends nothing: GET and HEAD only show the page.
	for _, method := range []string{http.MethodGet, http.MethodHead} {
		if code, err := dm.joinLink(ctx, method, link); err != nil || code != http.StatusOK {
			return fmt.Errorf("%s Join link: %d, %v", method, code, err)
		}
	}
	if got, err := dm.invite(ctx, org.ID, inv); err != nil || got.Status != directory.InvitePending {
		return fmt.Errorf("after GET and HEAD of the Join link the invite is %s (%v); want pending", got.Status, err)
	}
	dm.ok("GET and HEAD %s/join/…: 200, the invite still pending", dm.httpURL)
	code, err := dm.joinLink(ctx, http.MethodPost, link)
	if err != nil || code != http.StatusOK {
		return fmt.Errorf("POST Join link (the page's button): %d, %v", code, err)
	}
	page, err := dm.membersOf(ctx, org.ID, "all")
	if err != nil {
		return err
	}
	mem, ok := memberOf(page, inv.Email)
	if !ok {
		return fmt.Errorf("after the Join GET /v1/orgs/%s/members does not list %s", org.ID, inv.Email)
	}
	dm.ok("POST %s/join/… (the page's button): 200; GET /v1/orgs/%s/members: %s, %s as %s", dm.httpURL, org.ID, mem.Email, mem.Status, mem.Role)
	if code, err = dm.joinLink(ctx, http.MethodGet, link); err != nil || code != http.StatusGone {
		return fmt.Errorf("GET of the used Join link: %d, %v", code, err)
	}
	dm.ok("the same link again: 410 (used)")
	return nil
}

// inviteByEmail invites one address as `tether invite emails` does (POST
// /v1/orgs/{org}/imports), waits until the import is done and the worker has sent the
// invitation, and returns the invite and the Join link from the email.
func (dm *demo) inviteByEmail(ctx context.Context, orgID, addr string, role directory.Role) (httpapi.InviteView, string, error) {
	base := "/v1/orgs/" + url.PathEscape(orgID)
	var imp httpapi.ImportView
	if err := dm.api(ctx, http.MethodPost, base+"/imports", httpapi.ImportRequest{Emails: addr, Role: string(role)}, &imp); err != nil {
		return httpapi.InviteView{}, "", err
	}
	if err := waitFor(ctx, "import "+imp.ID+" of "+addr+" to finish", func() (bool, error) {
		err := dm.api(ctx, http.MethodGet, base+"/imports/"+url.PathEscape(imp.ID), nil, &imp)
		return err == nil && imp.Status.Finished(), err
	}); err != nil {
		return httpapi.InviteView{}, "", err
	}
	if imp.Status != directory.ImportDone || imp.Counts.Invited != 1 {
		return httpapi.InviteView{}, "", fmt.Errorf("import %s of %s: %s, %d invited; want done, 1", imp.ID, addr, imp.Status, imp.Counts.Invited)
	}
	var inv httpapi.InviteView
	if err := waitFor(ctx, "the invitation to "+addr+" to be recorded as sent", func() (bool, error) {
		var list struct {
			Invites []httpapi.InviteView `json:"invites"`
		}
		err := dm.api(ctx, http.MethodGet, base+"/invites?import="+url.QueryEscape(imp.ID), nil, &list)
		if err != nil || len(list.Invites) != 1 {
			return false, err
		}
		inv = list.Invites[0]
		return inv.SentCount >= 1, nil
	}); err != nil {
		return inv, "", err
	}
	// This invite's email (Message-ID invite-<invite>-<attempt>@…): an address invited
	// before has older ones.
	toAddr := to(addr)
	msgs, err := dm.waitMail(ctx, "invitation to "+addr, 1, func(m mailsink.Received) bool {
		return toAddr(m) && strings.HasPrefix(m.MessageID, "invite-"+inv.ID+"-")
	})
	if err != nil {
		return inv, "", err
	}
	link := demoJoinLink.FindString(msgs[0].Text)
	if link == "" {
		return inv, "", fmt.Errorf("no Join link in the invitation to %s", addr)
	}
	return inv, link, nil
}

// invite is inv as GET /v1/orgs/{org}/invites?import=… shows it now.
func (dm *demo) invite(ctx context.Context, orgID string, inv httpapi.InviteView) (httpapi.InviteView, error) {
	var list struct {
		Invites []httpapi.InviteView `json:"invites"`
	}
	err := dm.api(ctx, http.MethodGet, "/v1/orgs/"+url.PathEscape(orgID)+"/invites?import="+url.QueryEscape(inv.ImportID), nil, &list)
	if err != nil {
		return inv, err
	}
	for _, got := range list.Invites {
		if got.ID == inv.ID {
			return got, nil
		}
	}
	return inv, fmt.Errorf("GET /v1/orgs/%s/invites does not list invite %s", orgID, inv.ID)
}

// joinLink calls a Join link with method, as a browser (or a mail scanner) does.
func (dm *demo) joinLink(ctx context.Context, method, link string) (int, error) {
	req, err := http.NewRequestWithContext(ctx, method, link, nil)
	if err != nil {
		return 0, err
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, err
	}
	defer res.Body.Close()
	_, _ = io.Copy(io.Discard, res.Body)
	return res.StatusCode, nil
}
