package main

import (
	"cmp"
	"context"
	"errors"
	"io"
	"strings"
	"time"

	"tether/config"
	"tether/connectors/oauth"
	"tether/sync/connect"
	"tether/sync/connections"
	"tether/sync/directory"
	"tether/sync/onboarding"
	"tether/sync/vault"
	"tether/worker/httpapi"
	"tether/worker/redisconnect"
)

// connectLinks is the one producer of connect links (CLI, HTTP API, demo, Join).
func connectLinks(d deps) (*connect.Links, error) {
	if d.store == nil {
		return nil, errors.New("connect links need the store")
	}
	if err := d.cfg.RequireLinkSecret("connect links"); err != nil {
		return nil, err
	}
	return connect.NewLinks(connect.LinksParams{Store: d.store, Secret: []byte(d.cfg.LinkSecret.Reveal()),
		BaseURL: d.cfg.PublicURL, TeamTTL: d.cfg.TeamLinkTTL, PersonalTTL: d.cfg.ConnectLinkTTL})
}

// connectProviders is the connect flow's view of every provider: browser-facing
// authorize hosts, server-side token hosts, identity endpoints.
func connectProviders(cfg config.Config, oc *oauth.Client) *oauth.Connector {
	trim := func(s string) string { return strings.TrimRight(s, "/") }
	msBrowser := trim(cmp.Or(cfg.MicrosoftBrowserLoginURL, cfg.MicrosoftLoginURL))
	zoomBrowser := trim(cmp.Or(cfg.ZoomBrowserOAuthURL, cfg.ZoomOAuthURL))
	return &oauth.Connector{
		Client:     oc,
		Salesforce: oauth.App{ClientID: cfg.SalesforceClientID, ClientSecret: cfg.SalesforceClientSecret.Reveal()},
		SalesforceBrowserLogin: map[string]string{
			trim(cfg.SalesforceLoginURL):        trim(cfg.SalesforceBrowserLoginURL),
			trim(cfg.SalesforceSandboxLoginURL): trim(cfg.SalesforceSandboxBrowserLoginURL),
		},
		Google: oauth.App{ClientID: cfg.GoogleClientID, ClientSecret: cfg.GoogleClientSecret.Reveal(),
			AuthorizeURL: cfg.GoogleAuthURL, TokenURL: cfg.GoogleTokenURL, APIURL: cfg.GoogleAPIURL},
		Microsoft: oauth.App{ClientID: cfg.MicrosoftClientID, ClientSecret: cfg.MicrosoftClientSecret.Reveal(),
			AuthorizeURL: msBrowser + "/oauth2/v2.0/authorize", TokenURL: trim(cfg.MicrosoftLoginURL) + "/oauth2/v2.0/token",
			APIURL: cfg.MicrosoftGraphURL},
		Zoom: oauth.App{ClientID: cfg.ZoomClientID, ClientSecret: cfg.ZoomClientSecret.Reveal(),
			AuthorizeURL: zoomBrowser + "/oauth/authorize", TokenURL: trim(cfg.ZoomOAuthURL) + "/oauth/token",
			APIURL: cfg.ZoomAPIURL},
	}
}

// salesforceLogin picks an org's Salesforce login host (cfg.SalesforceHosts, which
// tether org show and GET /v1/orgs/{org} print too).
func salesforceLogin(cfg config.Config) func(directory.Org) string {
	hosts := cfg.SalesforceHosts()
	return func(o directory.Org) string { return hosts.URL(o.SalesforceLogin) }
}

// connectParts are the browser side of the connect flow and its Join user.
type connectParts struct {
	flow   *connect.Flow
	links  *connect.Links
	joiner *onboarding.Joiner
}

// connectFlow builds the browser side of the connect flow for tether serve: the links,
// Redis-kept state, every provider, the vault, the audit queue, and the Joiner whose
// Salesforce-sourced invites finish through it. Close the closer when the server stops.
func connectFlow(d deps, queue httpapi.TaskEnqueuer) (connectParts, io.Closer, error) {
	if d.store == nil || d.keyring == nil {
		return connectParts{}, nil, errors.New("the connect flow needs the store and the key ring")
	}
	links, err := connectLinks(d)
	if err != nil {
		return connectParts{}, nil, err
	}
	observer, err := d.app.observer()
	if err != nil {
		return connectParts{}, nil, err
	}
	admins, err := d.app.memberService()
	if err != nil {
		return connectParts{}, nil, err
	}
	joiner, err := onboarding.NewJoiner(onboarding.JoinerConfig{Store: d.store, ConnectSalesforce: joinConnectsSalesforce(d),
		Observer: observer, Admins: admins})
	if err != nil {
		return connectParts{}, nil, err
	}
	oc, err := d.app.oauthClient()
	if err != nil {
		return connectParts{}, nil, err
	}
	rdb := d.app.redisClient(redisConnect)
	sessions, err := d.app.sessionLearner()
	if err != nil {
		return connectParts{}, nil, err
	}
	var salesforceSession func(context.Context, connections.Connection, vault.Token) time.Duration
	if sessions != nil {
		salesforceSession = sessions.Connected
	}
	flow, err := connect.NewFlow(connect.FlowParams{
		Policy:             d.app.policy(),
		SalesforceSession:  salesforceSession,
		Observer:           observer,
		Links:              links,
		Store:              d.store,
		Sessions:           redisconnect.New(rdb, "tether:connect:"),
		Providers:          connectProviders(d.cfg, oc),
		Vault:              d.keyring,
		Audits:             auditRequests(d, queue),
		Invites:            joiner,
		BaseURL:            d.cfg.PublicURL,
		SalesforceLoginURL: salesforceLogin(d.cfg),
	})
	if err != nil {
		return connectParts{}, nil, err
	}
	return connectParts{flow: flow, links: links, joiner: joiner}, nopCloser{}, nil
}

// joinConnectsSalesforce: a Salesforce-sourced invite's Join is the Salesforce sign-in
// when a Salesforce client is configured. The Joiner and the invitation email's sender
// both read it here, so the email always says what the Join does.
func joinConnectsSalesforce(d deps) bool { return d.cfg.SalesforceClientID != "" }
