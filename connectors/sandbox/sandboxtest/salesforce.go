// Package sandboxtest starts the provider sandbox for tests. It knows nothing of tether:
// what a test stores of the grant (a sealed team connection) is the store's helper's job
// (storetest.CreateTeamConnection).
package sandboxtest

import (
	"net/http/httptest"
	"testing"

	"tether/connectors/sandbox"
	"tether/connectors/sandbox/sfdc"
)

// SalesforceOrg is a sandbox served over HTTP with one Salesforce org, and a grant of
// that org's first user: what an admin's team-level connect would have produced.
type SalesforceOrg struct {
	Sandbox *sandbox.Sandbox
	URL     string // the sandbox's base URL
	// LoginURL and InstanceURL are the Salesforce login host and instance (the same
	// emulator, under /salesforce).
	LoginURL, InstanceURL string
	OrgID, UserID         string
	Grant                 sandbox.Tokens
}

// Serve starts a sandbox with opts over HTTP on a local port and returns it with its
// base URL; both stop when the test ends.
func Serve(tb testing.TB, opts sandbox.Options) (*sandbox.Sandbox, string) {
	tb.Helper()
	sb := sandbox.New(opts)
	srv := httptest.NewServer(sb)
	tb.Cleanup(func() { sb.Close(); srv.Close() })
	return sb, srv.URL
}

// NewSalesforceOrg starts a sandbox with the org spec describes and issues a grant to
// its first user; both stop when the test ends.
func NewSalesforceOrg(tb testing.TB, spec sfdc.OrgSpec) *SalesforceOrg {
	tb.Helper()
	sb, base := Serve(tb, sandbox.Options{})
	orgID, err := sb.Salesforce().AddOrg(spec)
	if err != nil {
		tb.Fatalf("sandbox: add Salesforce org: %v", err)
	}
	user := sb.Salesforce().Users(orgID)[0]
	grant, err := sb.IssueGrant(sandbox.Salesforce, user, nil)
	if err != nil {
		tb.Fatalf("sandbox: grant %s: %v", user, err)
	}
	return &SalesforceOrg{Sandbox: sb, URL: base, LoginURL: base + "/salesforce", InstanceURL: base + "/salesforce",
		OrgID: orgID, UserID: user, Grant: grant}
}
