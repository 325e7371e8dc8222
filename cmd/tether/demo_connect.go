package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"html"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"strings"
	"time"

	"github.com/hibiken/asynq"

	"tether/connectors/sandbox"
	"tether/jobs"
	"tether/sync/connections"
	"tether/sync/directory"
)

var (
	demoForm   = regexp.MustCompile(`<form method="post" action="([^"]*)">`)
	demoHidden = regexp.MustCompile(`<input type="hidden" name="([^"]*)" value="([^"]*)">`)
	demoScope  = regexp.MustCompile(`name="grant_scope" value="([^"]*)"`)
	demoH1     = regexp.MustCompile(`<h1>([^<]*)</h1>`)
)

// connectLink asks tether serve's API for a connect link, as an operator's program does.
func (dm *demo) connectLink(ctx context.Context, path, body string) (string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, dm.httpURL+path, strings.NewReader(body))
	if err != nil {
		return "", err
	}
	req.Header.Set("Authorization", "Bearer "+dm.d.cfg.APIToken.Reveal())
	req.Header.Set("Content-Type", "application/json")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		return "", err
	}
	defer res.Body.Close()
	var out struct {
		URL string `json:"url"`
	}
	raw, _ := io.ReadAll(res.Body)
	if res.StatusCode != http.StatusCreated || json.Unmarshal(raw, &out) != nil || out.URL == "" {
		return "", fmt.Errorf("POST %s: %d %s", path, res.StatusCode, raw)
	}
	return out.URL, nil
}

// followLink does what a person does in a browser: opens the link (a page, nothing
// spent), presses its button, signs in on the sandbox's consent page as login and allows.
// It returns the heading of tether's final page.
func (dm *demo) followLink(ctx context.Context, link, login string) (string, error) {
	jar, _ := cookiejar.New(nil)
	c := &http.Client{Jar: jar, Timeout: 15 * time.Second}
	fetch := func(method, u string, form url.Values) (*http.Response, string, error) {
		var body io.Reader
		if form != nil {
			body = strings.NewReader(form.Encode())
		}
		req, err := http.NewRequestWithContext(ctx, method, u, body)
		if err != nil {
			return nil, "", err
		}
		if form != nil {
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		}
		res, err := c.Do(req)
		if err != nil {
			return nil, "", err
		}
		defer res.Body.Close()
		b, err := io.ReadAll(res.Body)
		return res, string(b), err
	}
	_, page, err := fetch(http.MethodGet, link, nil)
	if err != nil {
		return "", err
	}
	m := demoForm.FindStringSubmatch(page)
	if m == nil {
		return "", fmt.Errorf("the link's page has no button:\n%s", page)
	}
	res, page, err := fetch(http.MethodPost, dm.httpURL+html.UnescapeString(m[1]), url.Values{})
	if err != nil {
		return "", err
	}
	if !strings.HasPrefix(res.Request.URL.String(), dm.prov.sbURL) {
		return "", fmt.Errorf("the button did not lead to the provider (at %s)", res.Request.URL)
	}
	form := url.Values{"login": {login}, "decision": {"allow"}}
	for _, h := range demoHidden.FindAllStringSubmatch(page, -1) {
		form.Add(html.UnescapeString(h[1]), html.UnescapeString(h[2]))
	}
	if strings.Contains(page, `name="consent_form"`) {
		form.Set("consent_form", "1")
		for _, s := range demoScope.FindAllStringSubmatch(page, -1) {
			form.Add("grant_scope", html.UnescapeString(s[1]))
		}
	}
	res, page, err = fetch(http.MethodPost, res.Request.URL.String(), form)
	if err != nil {
		return "", err
	}
	h := demoH1.FindStringSubmatch(page)
	if res.StatusCode != http.StatusOK || h == nil {
		return "", fmt.Errorf("tether's page after the consent: %d\n%s", res.StatusCode, page)
	}
	return html.UnescapeString(h[1]), nil
}

// demoConnectTeam connects the org's team-level Salesforce user the way an operator does:
// a link from POST /v1/orgs/{org}/connect-links (what `tether org connect-salesforce`
// prints), opened by the admin, consent at the sandbox as the integration user.
func demoConnectTeam(ctx context.Context, dm *demo) error {
	orgID := dm.acme.org.ID
	link, err := dm.connectLink(ctx, "/v1/orgs/"+orgID+"/connect-links", "")
	if err != nil {
		return err
	}
	dm.ok("POST /v1/orgs/%s/connect-links: a single-use link %s…", orgID, link[:min(len(link), len(dm.httpURL)+20)])
	heading, err := dm.followLink(ctx, link, dm.prov.team.Username)
	if err != nil {
		return err
	}
	svc, err := dm.d.app.orgService()
	if err != nil {
		return err
	}
	ov, err := svc.Show(ctx, orgID)
	if err != nil {
		return err
	}
	if ov.Team.State != connections.StateHealthy || !directory.SameSalesforceID(ov.Team.ProviderAccountID, dm.prov.team.ID) {
		return fmt.Errorf("after %q the team connection is %s as %s", heading, ov.Team.State, ov.Team.ProviderAccountID)
	}
	dm.ok("the admin opened it, pressed the button, allowed as %s: %q; tether org show says %s, next refresh %s",
		dm.prov.team.Username, heading, ov.Team.State, ov.Team.NextRefreshAt.Format(time.TimeOnly))
	// The connect queued an audit; wait for its report so the audit step starts clean.
	err = waitFor(ctx, "the audit queued by the connect", func() (bool, error) {
		if _, err := dm.d.store.LatestPermissionReport(ctx, orgID); errors.Is(err, directory.ErrNotFound) {
			return false, nil
		} else if err != nil {
			return false, err
		}
		for _, list := range []func(string, ...asynq.ListOption) ([]*asynq.TaskInfo, error){dm.inspector.ListPendingTasks, dm.inspector.ListActiveTasks} {
			ts, err := list(jobs.QueueDefault)
			if err != nil {
				return false, err
			}
			for _, t := range ts {
				if t.Type == jobs.TypeAuditPermissions {
					return false, nil
				}
			}
		}
		return true, nil
	})
	if err != nil {
		return err
	}
	dm.ok("the permission audit it queued at once has run and stored its report")
	return nil
}

// demoConnectCalendar shows a rep connecting Google Calendar from a personal link.
func demoConnectCalendar(ctx context.Context, dm *demo) error {
	orgID, rep := dm.acme.org.ID, dm.acme.member
	link, err := dm.connectLink(ctx, "/v1/orgs/"+orgID+"/members/"+rep+"/connect-links", `{"kind":"google_calendar"}`)
	if err != nil {
		return err
	}
	dm.ok("POST /v1/orgs/%s/members/%s/connect-links {\"kind\":\"google_calendar\"}: a link for the rep", orgID, rep)
	heading, err := dm.followLink(ctx, link, rep)
	if err != nil {
		return err
	}
	u, err := dm.d.store.GetUserByEmail(ctx, rep)
	if err != nil {
		return err
	}
	m, err := dm.d.store.GetMembershipByUser(ctx, orgID, u.ID)
	if err != nil {
		return err
	}
	c, err := dm.d.store.FindConnection(ctx, orgID, m.ID, connections.KindGoogleCalendar)
	if err != nil {
		return err
	}
	if c.State != connections.StateHealthy || c.NextRefreshAt.IsZero() {
		return fmt.Errorf("after %q the calendar connection is %s, next refresh %v", heading, c.State, c.NextRefreshAt)
	}
	dm.ok("the rep allowed Google Calendar: %q; connection healthy, tokens sealed, next refresh %s (15 minutes before expiry)",
		heading, c.NextRefreshAt.Format(time.TimeOnly))
	return nil
}

// demoGoogleUser gives the rep a Google account at the sandbox.
func demoGoogleUser(p *demoProviders, email string) error {
	return p.sb.AddUser(sandbox.User{Provider: sandbox.Google, ID: "118800000000000000001", Email: email, GivenName: "Rep"})
}
