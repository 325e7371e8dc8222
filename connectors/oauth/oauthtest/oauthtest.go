// Package oauthtest points tether's OAuth clients at the provider sandbox, for tests.
package oauthtest

import (
	"tether/connectors/oauth"
	"tether/connectors/sandbox"
)

// Connector is the connect flow's view of every provider served by the sandbox at base,
// with the sandbox's default apps. Salesforce's login host is the org's own (the flow's
// SalesforceLoginURL).
func Connector(oc *oauth.Client, base string) *oauth.Connector {
	return &oauth.Connector{Client: oc,
		Salesforce: oauth.App{ClientID: sandbox.DefaultSalesforceClientID, ClientSecret: sandbox.DefaultSalesforceClientSecret},
		Google: oauth.App{ClientID: sandbox.DefaultGoogleClientID, ClientSecret: sandbox.DefaultGoogleClientSecret,
			AuthorizeURL: base + "/google/o/oauth2/v2/auth", TokenURL: base + "/google/token", APIURL: base + "/google"},
		Microsoft: oauth.App{ClientID: sandbox.DefaultMicrosoftClientID, ClientSecret: sandbox.DefaultMicrosoftClientSecret,
			AuthorizeURL: base + "/microsoft/organizations/oauth2/v2.0/authorize", TokenURL: base + "/microsoft/organizations/oauth2/v2.0/token",
			APIURL: base + "/microsoft"},
		Zoom: oauth.App{ClientID: sandbox.DefaultZoomClientID, ClientSecret: sandbox.DefaultZoomClientSecret,
			AuthorizeURL: base + "/zoom/oauth/authorize", TokenURL: base + "/zoom/oauth/token", APIURL: base + "/zoom"},
	}
}

// Providers is the refresh registry of every provider at the sandbox at base, with the
// sandbox's default apps. Salesforce's entry points at a host that does not exist: a
// connection refreshes at its own login host.
func Providers(base string) []oauth.Provider {
	sf := oauth.Salesforce("http://production.invalid")
	sf.ClientID, sf.ClientSecret = sandbox.DefaultSalesforceClientID, sandbox.DefaultSalesforceClientSecret
	g := oauth.Google(base + "/google")
	g.ClientID, g.ClientSecret = sandbox.DefaultGoogleClientID, sandbox.DefaultGoogleClientSecret
	ms := oauth.Microsoft(base + "/microsoft/organizations")
	ms.ClientID, ms.ClientSecret = sandbox.DefaultMicrosoftClientID, sandbox.DefaultMicrosoftClientSecret
	z := oauth.Zoom(base + "/zoom")
	z.ClientID, z.ClientSecret = sandbox.DefaultZoomClientID, sandbox.DefaultZoomClientSecret
	return []oauth.Provider{sf, g, ms, z}
}
