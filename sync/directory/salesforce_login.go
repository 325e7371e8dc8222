package directory

import "fmt"

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

// URL is the login base of the real Salesforce: https://login.salesforce.com for
// production (and the zero value), https://test.salesforce.com for a sandbox. The OAuth
// endpoints live under /services/oauth2/. A deployment pointed at an emulator
// (TETHER_SALESFORCE_LOGIN_URL) uses its own base instead.
func (l SalesforceLogin) URL() string {
	if l == SalesforceSandbox {
		return "https://test.salesforce.com"
	}
	return "https://login.salesforce.com"
}
