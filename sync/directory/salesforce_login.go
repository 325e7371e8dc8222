package directory

import (
	"cmp"
	"fmt"
)

// SalesforceLogin says which Salesforce login host an org's users sign in at: production
// orgs at login.salesforce.com, sandboxes at test.salesforce.com. The connect flows start
// the OAuth authorization there.
type SalesforceLogin string

// Salesforce login kinds. The zero value reads as production.
const (
	SalesforceProduction SalesforceLogin = "production"
	SalesforceSandbox    SalesforceLogin = "sandbox"
)

// ParseSalesforceLogin accepts "production" or "sandbox"; "" is production.
func ParseSalesforceLogin(s string) (SalesforceLogin, error) {
	switch SalesforceLogin(s) {
	case "", SalesforceProduction:
		return SalesforceProduction, nil
	case SalesforceSandbox:
		return SalesforceSandbox, nil
	}
	return "", fmt.Errorf("salesforce login %q: want production or sandbox", s)
}

// SalesforceHosts are the login bases a deployment uses for each kind of org
// (TETHER_SALESFORCE_LOGIN_URL and TETHER_SALESFORCE_SANDBOX_LOGIN_URL). The connect flow
// starts OAuth at URL's answer and the CLI and API show the same answer, so they cannot
// disagree about where an org's users sign in.
type SalesforceHosts struct {
	// Production is the base for production orgs (and the zero login). Empty means
	// https://login.salesforce.com.
	Production string
	// Sandbox is the base for sandbox orgs. Empty means https://test.salesforce.com.
	Sandbox string
}

// URL is the login base for an org whose Salesforce login is l. The OAuth endpoints live
// under /services/oauth2/.
func (h SalesforceHosts) URL(l SalesforceLogin) string {
	if l == SalesforceSandbox {
		return cmp.Or(h.Sandbox, "https://test.salesforce.com")
	}
	return cmp.Or(h.Production, "https://login.salesforce.com")
}
