package salesforce_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"tether/connectors/salesforce"
	"tether/connectors/sandbox"
	"tether/connectors/sandbox/sandboxtest"
	"tether/connectors/sandbox/sfdc"
	"tether/sync/permissions"
)

// auditBundle is one sandbox org with its team user connected.
type auditBundle struct {
	sb     *sandbox.Sandbox
	base   string
	orgID  string
	userID string
	tokens sandbox.Tokens
}

func setupAudit(t *testing.T) *auditBundle {
	t.Helper()
	return setupAuditOrg(t, sfdc.GenerateOrg(7, 3))
}

// setupAuditOrg is setupAudit over spec, whose first user is the team user.
func setupAuditOrg(t *testing.T, spec sfdc.OrgSpec) *auditBundle {
	t.Helper()
	sf := sandboxtest.NewSalesforceOrg(t, spec) // GenerateOrg puts the team user first
	return &auditBundle{sb: sf.Sandbox, base: sf.URL, orgID: sf.OrgID, userID: sf.UserID, tokens: sf.Grant}
}

// credentials refreshes over the sandbox's real token endpoint; a dead grant comes back
// as permissions.ErrNeedsReconnect, as the connections service reports it.
type credentials struct {
	b      *auditBundle
	access string
}

func (c *credentials) Token(context.Context) (string, error) { return c.access, nil }

func (c *credentials) Refresh(ctx context.Context) (string, error) {
	cfg := oauth2.Config{ClientID: sandbox.DefaultSalesforceClientID, ClientSecret: sandbox.DefaultSalesforceClientSecret,
		Endpoint: oauth2.Endpoint{TokenURL: c.b.base + "/salesforce/services/oauth2/token", AuthStyle: oauth2.AuthStyleInParams}}
	tok, err := cfg.TokenSource(ctx, &oauth2.Token{RefreshToken: c.b.tokens.RefreshToken}).Token()
	var re *oauth2.RetrieveError
	if errors.As(err, &re) && re.ErrorCode == "invalid_grant" {
		return "", fmt.Errorf("refresh team connection: %s: %w", re.ErrorCode, permissions.ErrNeedsReconnect)
	}
	if err != nil {
		return "", err
	}
	c.access = tok.AccessToken
	return tok.AccessToken, nil
}

func (b *auditBundle) session() permissions.Session {
	return permissions.Session{OrgID: "org-1", ConnectionID: "conn-1", InstanceURL: b.base + "/salesforce",
		UserID: b.userID, Credentials: &credentials{b: b, access: b.tokens.AccessToken}}
}

// audit probes and evaluates like the service does.
func (b *auditBundle) audit(t *testing.T) []permissions.Check {
	t.Helper()
	p := &salesforce.AuditProber{}
	probe, err := p.Probe(context.Background(), b.session())
	in := permissions.Input{Probe: &probe}
	if err != nil {
		in = permissions.Input{Failure: err}
		if !errors.Is(err, permissions.ErrInvalidSession) && !errors.Is(err, permissions.ErrNeedsReconnect) &&
			!errors.Is(err, permissions.ErrOrgAPIDisabled) && !errors.Is(err, permissions.ErrUserAPIDisabled) {
			t.Fatalf("probe: %v", err)
		}
	}
	return permissions.Evaluate(in)
}

func fieldChecks(object string) []string {
	var out []string
	for _, o := range permissions.Objects {
		if o.Check == object {
			for _, f := range o.Fields {
				out = append(out, permissions.FieldCheck(o.Check, f))
			}
		}
	}
	return out
}

// checkFor maps a sandbox permission onto the one check that must fail without it, and
// the checks its loss may hide (reported unknown, never missing).
func checkFor(t *testing.T, p sfdc.Permission) (failed string, hidden []string) {
	t.Helper()
	s := string(p)
	switch p {
	case sfdc.PermMarketingUser:
		return permissions.CheckMarketingUser, []string{permissions.CheckCampaign}
	case sfdc.PermAPIEnabled:
		return permissions.CheckOrgAPI, []string{"*"}
	case sfdc.PermViewSetup:
		return permissions.CheckViewSetup, []string{permissions.CheckConvertedLeads}
	}
	target, _, _ := strings.Cut(s, ":")
	object, field, isField := strings.Cut(target, ".")
	for _, o := range permissions.Objects {
		if o.Object != object {
			continue
		}
		if isField {
			return permissions.FieldCheck(o.Check, field), nil
		}
		return o.Check, fieldChecks(o.Check)
	}
	t.Fatalf("no check of the catalogue covers sandbox permission %s: add it to checkFor or permissions.Objects", s)
	return "", nil
}

func assertOnlyFailure(t *testing.T, got []permissions.Check, failed string, result permissions.Result, hidden []string) {
	t.Helper()
	allHidden := len(hidden) == 1 && hidden[0] == "*"
	for _, c := range got {
		switch {
		case c.Name == failed:
			if c.Result != result {
				t.Errorf("%s = %s (%s), want %s", c.Name, c.Result, c.Evidence, result)
			}
			if c.Fix == "" || c.Evidence == "" {
				t.Errorf("%s: want evidence and a fix, got %+v", c.Name, c)
			}
		case allHidden && c.Name != permissions.CheckConnection || contains(hidden, c.Name):
			if c.Result != permissions.ResultUnknown && c.Result != permissions.ResultOK {
				t.Errorf("%s = %s (%s), want unknown or ok (hidden by %s)", c.Name, c.Result, c.Evidence, failed)
			}
		case c.Result != permissions.ResultOK:
			t.Errorf("%s = %s (%s), want ok", c.Name, c.Result, c.Evidence)
		}
	}
}

func contains(xs []string, x string) bool {
	for _, y := range xs {
		if y == x {
			return true
		}
	}
	return false
}

// TestAuditEachPermissionRemoved takes each permission tether needs away from the team
// user, one at a time, and expects exactly its check to fail, with a fix.
func TestAuditEachPermissionRemoved(t *testing.T) {
	t.Parallel()
	for _, perm := range sfdc.TeamPermissions() {
		t.Run(string(perm), func(t *testing.T) {
			t.Parallel()
			b := setupAudit(t)
			if err := b.sb.Salesforce().RemovePermission(b.userID, perm); err != nil {
				t.Fatalf("remove %s: %v", perm, err)
			}
			failed, hidden := checkFor(t, perm)
			assertOnlyFailure(t, b.audit(t), failed, permissions.ResultMissing, hidden)
		})
	}
}

func TestAuditAllPresent(t *testing.T) {
	t.Parallel()
	b := setupAudit(t)
	got := b.audit(t)
	if len(got) != len(permissions.CheckNames()) {
		t.Fatalf("got %d checks, want %d", len(got), len(permissions.CheckNames()))
	}
	assertOnlyFailure(t, got, "", "", nil)
}

func TestAuditConvertedLeadsGranted(t *testing.T) {
	t.Parallel()
	b := setupAudit(t)
	if err := b.sb.Salesforce().GrantPermission(b.userID, sfdc.PermConvertedLeads); err != nil {
		t.Fatal(err)
	}
	got := b.audit(t)
	assertOnlyFailure(t, got, permissions.CheckConvertedLeads, permissions.ResultMissing, nil)
	for _, c := range got {
		if c.Name == permissions.CheckConvertedLeads && !strings.Contains(c.Fix, "Tether Integration") {
			t.Errorf("fix should name the permission set that grants it: %q", c.Fix)
		}
	}
}

// "View and Edit Converted Leads" granted through the team user's profile (not a
// permission set) is found too: the profile's own permission set carries the flag, and
// the fix names the profile an admin finds in Setup.
func TestAuditConvertedLeadsGrantedThroughTheProfile(t *testing.T) {
	t.Parallel()
	spec := sfdc.GenerateOrg(7, 3)
	granted := false
	for i, p := range spec.Profiles {
		if p.Name == spec.Users[0].Profile {
			spec.Profiles[i].Permissions.User = append(spec.Profiles[i].Permissions.User, string(sfdc.PermConvertedLeads))
			granted = true
		}
	}
	if !granted {
		t.Fatalf("the team user's profile %q is not among the org's profiles", spec.Users[0].Profile)
	}
	b := setupAuditOrg(t, spec)
	got := b.audit(t)
	assertOnlyFailure(t, got, permissions.CheckConvertedLeads, permissions.ResultMissing, nil)
	for _, c := range got {
		if c.Name == permissions.CheckConvertedLeads && !strings.Contains(c.Fix, spec.Users[0].Profile) {
			t.Errorf("fix should name the profile that grants it (%s): %q", spec.Users[0].Profile, c.Fix)
		}
	}
}

func TestAuditOrgAPIDisabled(t *testing.T) {
	t.Parallel()
	b := setupAudit(t)
	if err := b.sb.Salesforce().SetAPIEnabled(b.orgID, false); err != nil {
		t.Fatal(err)
	}
	assertOnlyFailure(t, b.audit(t), permissions.CheckOrgAPI, permissions.ResultMissing, []string{"*"})
}

func TestAuditInvalidSession(t *testing.T) {
	t.Parallel()
	b := setupAudit(t)
	if err := b.sb.RevokeGrant(b.tokens.GrantID); err != nil {
		t.Fatal(err)
	}
	got := b.audit(t)
	assertOnlyFailure(t, got, permissions.CheckConnection, permissions.ResultMissing, []string{"*"})
	for _, c := range got {
		if c.Name == permissions.CheckConnection && !strings.Contains(c.Fix, "Reconnect the team-level account") {
			t.Errorf("connection fix = %q", c.Fix)
		}
		if strings.Contains(c.Evidence, b.tokens.AccessToken) || strings.Contains(c.Evidence, b.tokens.RefreshToken) {
			t.Fatalf("%s evidence leaks a token", c.Name)
		}
	}
}

func TestAuditExpiredAccessTokenRefreshesOnce(t *testing.T) {
	t.Parallel()
	b := setupAudit(t)
	if err := b.sb.ExpireAccessTokens(b.tokens.GrantID); err != nil {
		t.Fatal(err)
	}
	assertOnlyFailure(t, b.audit(t), "", "", nil)
}

func TestAuditUsageOverThreshold(t *testing.T) {
	t.Parallel()
	b := setupAudit(t)
	_, max := b.sb.Salesforce().Usage(b.orgID)
	if err := b.sb.Salesforce().SetUsage(b.orgID, max*85/100); err != nil {
		t.Fatal(err)
	}
	assertOnlyFailure(t, b.audit(t), permissions.CheckAPIUsage, permissions.ResultWarning, nil)
}

func TestAuditRequestLimitIsRetryable(t *testing.T) {
	t.Parallel()
	b := setupAudit(t)
	if err := b.sb.Salesforce().ExhaustDailyLimit(b.orgID); err != nil {
		t.Fatal(err)
	}
	_, err := (&salesforce.AuditProber{}).Probe(context.Background(), b.session())
	var rl *permissions.RateLimitError
	if !errors.Is(err, permissions.ErrRequestLimit) || !errors.As(err, &rl) || !rl.Daily || rl.Delay < time.Minute {
		t.Fatalf("probe error = %v, want a daily RateLimitError", err)
	}
}

// TestAuditCallBudget measures the audit's cost in Salesforce API calls from the
// sandbox's own counters and its rolling usage: one /composite, nothing else.
func TestAuditCallBudget(t *testing.T) {
	t.Parallel()
	b := setupAudit(t)
	before, _ := b.sb.Salesforce().Usage(b.orgID)
	b.sb.ResetCounters()
	b.audit(t)
	after, _ := b.sb.Salesforce().Usage(b.orgID)
	c := b.sb.Counters()
	var rest int64
	for _, ep := range []string{"query", "composite", "sobjects", "limits", "data"} {
		rest += c.Endpoint(sandbox.Salesforce, ep).Calls
	}
	t.Logf("audit cost: %d REST requests, %d API calls counted by the org", rest, after-before)
	if rest != 1 || after-before != 1 {
		t.Fatalf("audit made %d REST requests costing %d API calls, budget is 1 of each", rest, after-before)
	}
	if got := c.Endpoint(sandbox.Salesforce, "composite").Calls; got != 1 {
		t.Fatalf("composite calls = %d, want 1", got)
	}
}
