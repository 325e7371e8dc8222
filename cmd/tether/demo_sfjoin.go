package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"regexp"
	"strings"

	"tether/connectors/sandbox"
	"tether/sync/connections"
	"tether/sync/directory"
	"tether/sync/onboarding"
	"tether/sync/store"
)

var demoPageTitle = regexp.MustCompile(`<h1>([^<]*)</h1>`)

// demoNextButton is a button of a finished Join's or connect's "Still to do" list (its
// other buttons say "Continue to" or "Join").
var demoNextButton = regexp.MustCompile(`<button type="submit"(?: class="alt")?>Connect ([^<]+)</button>`)

// demoSalesforceJoin follows an imported invite's Join link as a browser would: tether
// serve shows the Join page, its button redirects to Salesforce (the sandbox) with PKCE;
// the person signs in and approves; the callback checks that the approving user is the
// invited one, and only then accepts the invite and stores the rep's personal Salesforce
// connection. First the wrong person approves (refused, nothing stored, the invite still
// pending, the grant revoked at Salesforce), then the right one.
func demoSalesforceJoin(ctx context.Context, dm *demo) error {
	st := dm.d.store
	invs, err := st.ListInvites(ctx, dm.acme.org.ID, store.InviteFilter{Status: directory.InvitePending, Limit: 10})
	if err != nil {
		return err
	}
	var inv, other directory.Invite
	for _, i := range invs {
		switch {
		case i.Source != directory.SourceSalesforce || i.SalesforceUserID == "":
		case inv.ID == "":
			inv = i
		case other.ID == "":
			other = i
		}
	}
	if other.ID == "" {
		return errors.New("the import left fewer than two pending Salesforce invites")
	}
	sf := dm.prov.sb.Salesforce()
	invited, ok1 := sf.User(inv.SalesforceUserID)
	wrong, ok2 := sf.User(other.SalesforceUserID)
	if !ok1 || !ok2 {
		return fmt.Errorf("the sandbox does not know Salesforce users %s and %s", inv.SalesforceUserID, other.SalesforceUserID)
	}
	msgs, err := dm.waitMail(ctx, "invitation to "+inv.Email, 1, to(inv.Email))
	if err != nil {
		return err
	}
	link := demoJoinLink.FindString(msgs[0].Text)
	if link == "" {
		return fmt.Errorf("no Join link in the invitation to %s", inv.Email)
	}
	// A link works once its send is recorded, which follows the SMTP server's
	// acceptance by a moment; a person never clicks that fast, the demo can.
	if err := waitFor(ctx, "the invitation to "+inv.Email+" to be recorded as sent", func() (bool, error) {
		got, err := st.GetInvite(ctx, dm.acme.org.ID, inv.ID)
		return err == nil && got.SentCount >= 1, err
	}); err != nil {
		return err
	}

	// First attempt: someone else signs in to Salesforce and approves.
	code, title, hops, err := dm.browse(ctx, link, wrong.Username)
	if err != nil {
		return err
	}
	if code != http.StatusForbidden {
		return fmt.Errorf("approved as %s for the invite of %s: %d %q; want 403", wrong.Username, invited.Username, code, title)
	}
	if got, err := st.GetInvite(ctx, inv.OrgID, inv.ID); err != nil || got.Status != directory.InvitePending {
		return fmt.Errorf("a refused connect left the invite %s (%v); want pending", got.Status, err)
	}
	if _, err := st.GetUserByEmail(ctx, inv.Email); err == nil {
		return fmt.Errorf("a refused connect created the user %s", inv.Email)
	}
	revoked := false
	for _, g := range dm.prov.sb.Grants() {
		if g.Provider == sandbox.Salesforce && onboarding.SameSalesforceID(g.Subject, wrong.ID) && g.Ended == "revoked" {
			revoked = true
		}
	}
	if !revoked {
		return fmt.Errorf("the grant %s approved was not revoked at Salesforce", wrong.Username)
	}
	dm.ok("%s approved in place of %s: %d %q after %s; invite still pending, nothing stored, the grant revoked at Salesforce",
		wrong.Username, invited.Username, code, title, strings.Join(hops, " → "))

	// The same link again, and this time the invited user approves.
	code, title, hops, err = dm.browse(ctx, link, invited.Username)
	if err != nil {
		return err
	}
	if code != http.StatusOK {
		return fmt.Errorf("approved as the invited %s: %d %q", invited.Username, code, title)
	}
	if len(dm.nextSteps) == 0 {
		return fmt.Errorf("the page after %s joined offers nothing to connect next; a chat member has no calendar yet", invited.Username)
	}
	dm.ok("the same link, approved by %s: %d %q after %s; the page goes on with what the role still needs, a button each: %s",
		invited.Username, code, title, strings.Join(hops, " → "), strings.Join(dm.nextSteps, ", "))
	u, err := st.GetUserByEmail(ctx, inv.Email)
	if err != nil {
		return err
	}
	m, err := st.GetMembershipByUser(ctx, inv.OrgID, u.ID)
	if err != nil {
		return err
	}
	c, err := st.FindConnection(ctx, inv.OrgID, m.ID, connections.KindSalesforce)
	if err != nil {
		return err
	}
	if m.Status != directory.MembershipActive || c.State != connections.StateHealthy || !onboarding.SameSalesforceID(c.ProviderAccountID, invited.ID) {
		return fmt.Errorf("after the connect: membership %s, connection %s as %s", m.Status, c.State, c.ProviderAccountID)
	}
	if _, err := dm.d.keyring.OpenToken(c.RefreshTokenEnc, c.ID); err != nil || len(c.RefreshTokenEnc) == 0 {
		return fmt.Errorf("the stored refresh token does not open with the row id: %v", err)
	}
	dm.ok("%s: membership %s as %s; personal Salesforce connection %s, user %s, instance %s, tokens sealed",
		inv.Email, m.Status, m.Role, c.State, c.ProviderAccountID, c.InstanceURL)
	return nil
}

// browse opens url with a cookie jar, presses the Join page's button (POST) and follows
// redirects like a browser. At Salesforce's
// authorize page it signs in as login and clicks Allow (the sandbox's login_hint and
// sandbox_auto=allow), so the demo needs no HTML form. It returns the final status, the
// page's title and the hosts' paths it went through; dm.nextSteps keeps the final page's
// buttons of what is still to do.
func (dm *demo) browse(ctx context.Context, url, login string) (int, string, []string, error) {
	jar, err := cookiejar.New(nil)
	if err != nil {
		return 0, "", nil, err
	}
	authorize := dm.prov.sbURL + "/salesforce/services/oauth2/authorize"
	hops := []string{"/join/…"}
	client := &http.Client{Jar: jar, CheckRedirect: func(req *http.Request, via []*http.Request) error {
		if len(via) > 10 {
			return errors.New("too many redirects")
		}
		if strings.HasPrefix(req.URL.String(), authorize) {
			q := req.URL.Query()
			q.Set("login_hint", login)
			q.Set("sandbox_auto", "allow")
			req.URL.RawQuery = q.Encode()
			hops = append(hops, "Salesforce authorize")
		} else {
			hops = append(hops, req.URL.Path)
		}
		return nil
	}}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return 0, "", nil, err
	}
	res, err := client.Do(req)
	if err != nil {
		return 0, "", nil, err
	}
	_, _ = io.Copy(io.Discard, res.Body)
	res.Body.Close()
	if res.StatusCode != http.StatusOK {
		return 0, "", nil, fmt.Errorf("GET %s/join/…: %d, want the Join page", dm.httpURL, res.StatusCode)
	}
	hops = append(hops, "POST /join/…")
	if req, err = http.NewRequestWithContext(ctx, http.MethodPost, url, nil); err != nil {
		return 0, "", nil, err
	}
	if res, err = client.Do(req); err != nil {
		return 0, "", nil, err
	}
	defer res.Body.Close()
	body, err := io.ReadAll(res.Body)
	if err != nil {
		return 0, "", nil, err
	}
	title := ""
	if m := demoPageTitle.FindSubmatch(body); m != nil {
		title = string(m[1])
	}
	dm.nextSteps = dm.nextSteps[:0]
	for _, m := range demoNextButton.FindAllSubmatch(body, -1) {
		dm.nextSteps = append(dm.nextSteps, string(m[1]))
	}
	return res.StatusCode, title, hops, nil
}
