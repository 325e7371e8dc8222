package main

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/http"
	"net/mail"
	"strings"
	"time"

	"tether/config"
	"tether/connectors/email/mailsink"
	"tether/connectors/sandbox"
	"tether/connectors/sandbox/sfdc"
	"tether/connectors/slack/slackfake"
	"tether/sync/directory"
	"tether/worker/httpapi"
)

// The demo's Salesforce org: generated, so every run sees the same users.
const (
	demoSFSeed    = 1  // GenerateOrg seed
	demoSFUsers   = 50 // users besides the team-level integration user
	demoSFProfile = sfdc.ProfileSalesUser
	// demoSandboxSeed seeds the sandbox's generator (fault shares).
	demoSandboxSeed = 2 // Zoom's flapping: 503, 503, then served
)

// demoProviders are the outside world of the demo, all on loopback: the provider sandbox
// (Salesforce, Google, Microsoft, Zoom) and an SMTP sink that keeps every email.
type demoProviders struct {
	sb     *sandbox.Sandbox
	srv    *http.Server
	sbURL  string // base URL of the sandbox; Salesforce lives under /salesforce
	sink   *mailsink.Sink
	slack  *slackfake.Server // the workspace reminders reach reps in
	spec   sfdc.OrgSpec
	sfOrg  string // Salesforce org id (00D…)
	team   sfdc.User
	httpAt string // the address tether serve will listen on, fixed up front for PUBLIC_URL
}

// startDemoProviders starts the sandbox with the demo's Salesforce org, the mail sink and
// the fake Slack workspace.
// Close releases them.
func startDemoProviders() (*demoProviders, error) {
	org := sfdc.GenerateOrg(demoSFSeed, demoSFUsers)
	// A fixed seed: the fault plan's shares (the upkeep step's flapping) fire alike every run.
	p := &demoProviders{sb: sandbox.New(sandbox.Options{Rand: rand.New(rand.NewPCG(demoSandboxSeed, demoSandboxSeed))}), spec: org}
	sfOrg, err := p.sb.Salesforce().AddOrg(org)
	if err != nil {
		return nil, fmt.Errorf("demo: salesforce org: %w", err)
	}
	p.sfOrg = sfOrg
	team, ok := p.sb.Salesforce().UserByUsername(sfdc.TeamUsername(org.Domain))
	if !ok {
		return nil, errors.New("demo: the generated org has no team-level user")
	}
	p.team = team
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("demo: sandbox listener: %w", err)
	}
	p.sbURL = "http://" + ln.Addr().String()
	p.srv = &http.Server{Handler: p.sb, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = p.srv.Serve(ln) }()
	if p.sink, err = mailsink.Start(); err != nil {
		p.Close()
		return nil, err
	}
	p.slack = slackfake.Start()
	// tether serve learns its address only when it listens, but PUBLIC_URL (the links in
	// emails, the OAuth redirect URI) is read when it starts: pick a free port first.
	hl, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		p.Close()
		return nil, fmt.Errorf("demo: pick an HTTP port: %w", err)
	}
	p.httpAt = hl.Addr().String()
	_ = hl.Close()
	return p, nil
}

// configure points cfg at the sandbox (with its default Salesforce app), the sink and Slack.
func (p *demoProviders) configure(cfg *config.Config) {
	cfg.SalesforceLoginURL = p.sbURL + "/salesforce"
	cfg.SalesforceClientID = sandbox.DefaultSalesforceClientID
	cfg.SalesforceClientSecret = config.Secret(sandbox.DefaultSalesforceClientSecret)
	cfg.GoogleClientID, cfg.GoogleClientSecret = sandbox.DefaultGoogleClientID, config.Secret(sandbox.DefaultGoogleClientSecret)
	cfg.GoogleAuthURL, cfg.GoogleTokenURL, cfg.GoogleAPIURL = p.sbURL+"/google/o/oauth2/v2/auth", p.sbURL+"/google/token", p.sbURL+"/google"
	cfg.MicrosoftClientID, cfg.MicrosoftClientSecret = sandbox.DefaultMicrosoftClientID, config.Secret(sandbox.DefaultMicrosoftClientSecret)
	cfg.MicrosoftLoginURL, cfg.MicrosoftBrowserLoginURL, cfg.MicrosoftGraphURL = p.sbURL+"/microsoft/organizations", "", p.sbURL+"/microsoft"
	cfg.ZoomClientID, cfg.ZoomClientSecret = sandbox.DefaultZoomClientID, config.Secret(sandbox.DefaultZoomClientSecret)
	cfg.ZoomOAuthURL, cfg.ZoomBrowserOAuthURL, cfg.ZoomAPIURL = p.sbURL+"/zoom", "", p.sbURL+"/zoom"
	cfg.SMTPURL = config.Secret(fmt.Sprintf("smtp+insecure://%s:%d", p.sink.Host(), p.sink.Port()))
	cfg.MailFrom = "tether <tether@demo.example>"
	cfg.InviteFrom = "Acme on tether <invite@demo.example>"
	cfg.PublicURL = "http://" + p.httpAt
	cfg.SlackAPIURL = p.slack.URL()
}

func (p *demoProviders) Close() {
	if p.sink != nil {
		_ = p.sink.Close()
	}
	if p.slack != nil {
		p.slack.Close()
	}
	if p.srv != nil {
		p.sb.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		_ = p.srv.Shutdown(ctx)
	}
}

// demoOrg is the tether org the Salesforce steps work in.
type demoOrg struct {
	org        directory.Org
	adminEmail string
	member     string // email of a Salesforce user who is a member before the import
}

// seedDemoOrg creates the org and its first two members the way an operator does, over
// tether serve's API: POST /v1/orgs (tether org create), then each member's invitation by
// email (POST /v1/orgs/{org}/imports, as tether invite emails), which the worker sends to
// the sink, and its Join link's button. The members are an admin (who gets the permission
// alerts) and a member who is also in Salesforce (and has a Google account at the
// sandbox). The team-level Salesforce connection is made later from a connect link
// (demoConnectTeam).
func seedDemoOrg(ctx context.Context, dm *demo) error {
	p := dm.prov
	var org httpapi.OrgJSON
	if err := dm.api(ctx, http.MethodPost, "/v1/orgs",
		httpapi.CreateOrgRequest{Name: "Acme (Salesforce " + p.sfOrg + ")", Seats: 100}, &org); err != nil {
		return err
	}
	dm.acme = demoOrg{org: directory.Org{ID: org.ID, Name: org.Name}, adminEmail: "admin@acme-demo.example"}
	dm.ok("POST /v1/orgs {\"name\":%q,\"seats\":%d} (tether org create): org %s; no team connection yet", org.Name, org.Seats.Limit, org.ID)
	// One Salesforce user of the imported profile is already a member: the import says so.
	for _, u := range p.spec.Users {
		if a, err := mail.ParseAddress(u.Email); err == nil && a.Address == u.Email && u.Active() && u.Profile == demoSFProfile {
			dm.acme.member = u.Email
			break
		}
	}
	if dm.acme.member == "" {
		return errors.New("demo: no active Sales User with an email in the generated org")
	}
	for _, m := range []struct {
		email string
		role  directory.Role
	}{{dm.acme.adminEmail, directory.RoleAdmin}, {dm.acme.member, directory.RoleChat}} {
		_, link, err := dm.inviteByEmail(ctx, org.ID, m.email, m.role)
		if err != nil {
			return err
		}
		if code, err := dm.joinLink(ctx, http.MethodPost, link); err != nil || code != http.StatusOK {
			return fmt.Errorf("%s presses the Join button: %d, %v", m.email, code, err)
		}
		page, err := dm.membersOf(ctx, org.ID, "all")
		if err != nil {
			return err
		}
		got, ok := memberOf(page, m.email)
		if !ok || got.Status != directory.MembershipActive || got.Role != m.role {
			return fmt.Errorf("after the Join %s is %s as %s; want active as %s", m.email, got.Status, got.Role, m.role)
		}
		dm.ok("POST /v1/orgs/%s/imports {\"emails\":%q,\"role\":%q}, the worker's invitation email, its Join button: %s %s as %s",
			org.ID, m.email, m.role, got.Email, got.Status, got.Role)
	}
	return demoGoogleUser(p, dm.acme.member)
}

// waitMail waits until the sink holds n messages that match, and returns them.
func (dm *demo) waitMail(ctx context.Context, what string, n int, match func(mailsink.Received) bool) ([]mailsink.Received, error) {
	var got []mailsink.Received
	err := waitFor(ctx, fmt.Sprintf("%d %s in the mail sink", n, what), func() (bool, error) {
		got = got[:0]
		for _, m := range dm.prov.sink.Messages() {
			if match(m) {
				got = append(got, m)
			}
		}
		return len(got) >= n, nil
	})
	return got, err
}

// waitSlack waits until the fake workspace holds n direct messages to email, and returns them.
func (dm *demo) waitSlack(ctx context.Context, email string, n int) ([]slackfake.Message, error) {
	var got []slackfake.Message
	err := waitFor(ctx, fmt.Sprintf("%d Slack messages to %s", n, email), func() (bool, error) {
		got = got[:0]
		for _, m := range dm.prov.slack.Messages() {
			if strings.EqualFold(m.Email, email) {
				got = append(got, m)
			}
		}
		return len(got) >= n, nil
	})
	return got, err
}

// to matches messages addressed to any of addrs (compared lower-cased).
func to(addrs ...string) func(mailsink.Received) bool {
	set := map[string]bool{}
	for _, a := range addrs {
		set[strings.ToLower(a)] = true
	}
	return func(m mailsink.Received) bool {
		for _, t := range m.To {
			if set[strings.ToLower(t)] {
				return true
			}
		}
		return false
	}
}
