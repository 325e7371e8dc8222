package permissions

import (
	"errors"
	"fmt"
	"regexp"
	"strings"
	"testing"
)

// fullProbe is what a team user with every permission looks like.
func fullProbe() *Probe {
	p := &Probe{
		UserID:  "005000000000001AAA",
		Objects: map[string]Describe{},
		Me:      UserRow{Found: true, IsActive: true, MarketingUser: true, ProfileName: "Tether Integration Profile"},
		Assignments: AssignmentRows{Rows: []Assignment{
			{Name: "X00e000000000001", Label: "Tether Integration Profile", OwnedByProfile: true},
			{Name: "Tether_Integration", Label: "Tether Integration", APIEnabled: true},
		}},
		Usage: &Usage{Used: 10, Max: 100000, Source: "Sforce-Limit-Info"},
		Calls: 1,
	}
	for _, o := range Objects {
		d := Describe{Queryable: true, Createable: true, Updateable: true, Fields: map[string]Field{}}
		for _, f := range o.Fields {
			d.Fields[f] = Field{Createable: true, Updateable: true}
		}
		d.Fields["Id"] = Field{}
		p.Objects[o.Object] = d
	}
	return p
}

func byName(cs []Check) map[string]Check {
	m := make(map[string]Check, len(cs))
	for _, c := range cs {
		m[c.Name] = c
	}
	return m
}

func TestEvaluate(t *testing.T) {
	t.Parallel()
	setDescribe := func(object string, f func(*Describe)) func(*Probe) {
		return func(p *Probe) {
			d := p.Objects[object]
			fs := make(map[string]Field, len(d.Fields))
			for k, v := range d.Fields {
				fs[k] = v
			}
			d.Fields = fs
			f(&d)
			p.Objects[object] = d
		}
	}
	tests := []struct {
		name   string
		mutate func(*Probe) // applied to fullProbe; nil = unchanged
		// want maps the checks expected not to be ok to their result; every other check
		// must be ok.
		want map[string]Result
		// fixHas is a phrase the first non-ok check's fix must contain.
		fixHas map[string]string
	}{
		{name: "all present", want: map[string]Result{}},
		{
			name:   "lead not createable",
			mutate: setDescribe("Lead", func(d *Describe) { d.Createable = false; clearFields(d, true, false) }),
			want:   withFields(map[string]Result{CheckLead: ResultMissing}, CheckLead, ResultUnknown),
			fixHas: map[string]string{CheckLead: "Object Settings > Leads > Edit, under Object Permissions tick Create"},
		},
		{
			name:   "lead email not visible",
			mutate: setDescribe("Lead", func(d *Describe) { delete(d.Fields, "Email") }),
			want:   map[string]Result{"lead.Email": ResultMissing},
			fixHas: map[string]string{"lead.Email": "tick Read Access and Edit Access for Email"},
		},
		{
			name:   "contact phone read-only",
			mutate: setDescribe("Contact", func(d *Describe) { d.Fields["Phone"] = Field{Createable: true} }),
			want:   map[string]Result{"contact.Phone": ResultMissing},
			fixHas: map[string]string{"contact.Phone": `permission set "Tether Integration"`},
		},
		{
			name: "account describe refused",
			mutate: setDescribe("Account", func(d *Describe) {
				*d = Describe{Err: &SubError{Status: 404, Code: "NOT_FOUND", Message: "The requested resource does not exist"}}
			}),
			want:   map[string]Result{CheckAccount: ResultMissing},
			fixHas: map[string]string{CheckAccount: "tick Read"},
		},
		{
			name:   "opportunity describe 5xx is unknown, not missing",
			mutate: setDescribe("Opportunity", func(d *Describe) { *d = Describe{Err: &SubError{Status: 503, Code: "SERVER_UNAVAILABLE"}} }),
			want:   map[string]Result{CheckOpportunity: ResultUnknown},
		},
		{
			name:   "task not createable",
			mutate: setDescribe("Task", func(d *Describe) { d.Createable, d.Updateable = false, false }),
			want:   map[string]Result{CheckTask: ResultMissing},
			fixHas: map[string]string{CheckTask: `tick "Edit Tasks"`},
		},
		{
			name: "marketing user off hides campaign edit",
			mutate: func(p *Probe) {
				p.Me.MarketingUser = false
				setDescribe("Campaign", func(d *Describe) { d.Createable, d.Updateable = false, false })(p)
			},
			want:   map[string]Result{CheckMarketingUser: ResultMissing, CheckCampaign: ResultUnknown},
			fixHas: map[string]string{CheckMarketingUser: "Setup > Users > Users > (the integration user) > Edit, tick Marketing User"},
		},
		{
			name:   "campaign edit missing with marketing user on",
			mutate: setDescribe("Campaign", func(d *Describe) { d.Updateable = false }),
			want:   map[string]Result{CheckCampaign: ResultMissing},
			fixHas: map[string]string{CheckCampaign: "tick Edit"},
		},
		{
			name: "converted leads granted by the profile",
			mutate: func(p *Probe) {
				p.Assignments.Rows = append([]Assignment(nil), p.Assignments.Rows...)
				p.Assignments.Rows[0].ConvertedLeads = true
			},
			want:   map[string]Result{CheckConvertedLeads: ResultMissing},
			fixHas: map[string]string{CheckConvertedLeads: `Profiles > Tether Integration Profile > System Permissions > Edit, clear "View and Edit Converted Leads"`},
		},
		{
			name: "no view setup: converted leads unknown, never ok",
			mutate: func(p *Probe) {
				p.Assignments = AssignmentRows{Err: &SubError{Status: 400, Code: "INSUFFICIENT_ACCESS_OR_READONLY", Message: "no access"}}
			},
			want:   map[string]Result{CheckConvertedLeads: ResultUnknown, CheckViewSetup: ResultMissing},
			fixHas: map[string]string{CheckViewSetup: "View Setup and Configuration", CheckConvertedLeads: "Confirm by hand"},
		},
		{
			name:   "usage over the threshold warns",
			mutate: func(p *Probe) { p.Usage = &Usage{Used: 85000, Max: 100000, Source: "Sforce-Limit-Info"} },
			want:   map[string]Result{CheckAPIUsage: ResultWarning},
			fixHas: map[string]string{CheckAPIUsage: "85%"},
		},
		{
			name:   "usage unknown",
			mutate: func(p *Probe) { p.Usage = nil },
			want:   map[string]Result{CheckAPIUsage: ResultUnknown},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			p := fullProbe()
			if tt.mutate != nil {
				tt.mutate(p)
			}
			got := Evaluate(Input{Probe: p})
			assertChecks(t, got, tt.want, tt.fixHas)
		})
	}
}

// withFields adds every field check of objectCheck with result r.
func withFields(m map[string]Result, objectCheck string, r Result) map[string]Result {
	for _, o := range Objects {
		if o.Check == objectCheck {
			for _, f := range o.Fields {
				m[FieldCheck(o.Check, f)] = r
			}
		}
	}
	return m
}

// clearFields mimics Salesforce: a field is not createable/updateable on an object the
// user cannot create/edit.
func clearFields(d *Describe, create, update bool) {
	for k, f := range d.Fields {
		if create {
			f.Createable = false
		}
		if update {
			f.Updateable = false
		}
		d.Fields[k] = f
	}
}

// unknownReason matches evidence that says why a check could not be decided: what
// failed, was refused or hidden, or which other check to fix first.
var unknownReason = regexp.MustCompile(`(?i)\b(failed|refuse[sd]?|cannot|could not|no|not|hidden|disabled|invalid|expired|revoked|see \w+)\b`)

func assertChecks(t *testing.T, got []Check, want map[string]Result, fixHas map[string]string) {
	t.Helper()
	if names := CheckNames(); len(got) != len(names) {
		t.Fatalf("got %d checks, want %d", len(got), len(names))
	}
	for i, c := range got {
		if c.Name != CheckNames()[i] {
			t.Fatalf("check %d is %q, want %q", i, c.Name, CheckNames()[i])
		}
		w, ok := want[c.Name]
		if !ok {
			w = ResultOK
		}
		if c.Result != w {
			t.Errorf("%s = %s (%s), want %s", c.Name, c.Result, c.Evidence, w)
		}
		if c.Evidence == "" {
			t.Errorf("%s has no evidence", c.Name)
		}
		if (c.Result == ResultMissing || c.Result == ResultWarning) && c.Fix == "" {
			t.Errorf("%s is %s without a fix", c.Name, c.Result)
		}
		if c.Result == ResultUnknown && !unknownReason.MatchString(c.Evidence) {
			t.Errorf("%s is unknown without saying why: %q", c.Name, c.Evidence)
		}
		if phrase, ok := fixHas[c.Name]; ok && !strings.Contains(c.Fix, phrase) {
			t.Errorf("%s fix = %q, want it to contain %q", c.Name, c.Fix, phrase)
		}
	}
}

func TestEvaluateFailures(t *testing.T) {
	t.Parallel()
	tests := []struct {
		err    error
		failed string
		result Result
		fixHas string
		connOK bool
	}{
		{fmt.Errorf("audit org 1: %w", ErrInvalidSession), CheckConnection, ResultMissing, "run `tether org connect-salesforce org-1` (or POST /v1/orgs/org-1/connect-links)", false},
		{ErrNeedsReconnect, CheckConnection, ResultMissing, "Reconnect the team-level account", false},
		{ErrNoTeamConnection, CheckConnection, ResultMissing, "Connect the team-level account: run `tether org connect-salesforce org-1`", false},
		{fmt.Errorf("%w: The REST API is not enabled for this Organization.", ErrOrgAPIDisabled), CheckOrgAPI, ResultMissing, "tick API Enabled", true},
		{ErrUserAPIDisabled, CheckAPIEnabled, ResultMissing, "tick API Enabled", true},
		{errors.New("dial tcp: connection refused"), CheckConnection, ResultUnknown, "", false},
	}
	for _, tt := range tests {
		t.Run(tt.failed+"/"+tt.err.Error(), func(t *testing.T) {
			t.Parallel()
			want := map[string]Result{}
			for _, n := range CheckNames() {
				want[n] = ResultUnknown
			}
			want[tt.failed] = tt.result
			if tt.connOK {
				delete(want, CheckConnection)
			}
			// Evidence is read by people: the driver's chain around the cause stays out.
			err := fmt.Errorf("audit org org-1: %w: composite: salesforce: HTTP 403 RAW-CHAIN", tt.err)
			got := Evaluate(Input{Failure: err, OrgID: "org-1"})
			fixHas := map[string]string{}
			if tt.fixHas != "" {
				fixHas[tt.failed] = tt.fixHas
			}
			assertChecks(t, got, want, fixHas)
			for _, c := range got {
				if strings.Contains(c.Evidence, "RAW-CHAIN") || strings.Contains(c.Evidence, "connection refused") {
					t.Errorf("%s evidence shows the error chain: %q", c.Name, c.Evidence)
				}
			}
		})
	}
}

func TestDiff(t *testing.T) {
	t.Parallel()
	ok := Evaluate(Input{Probe: fullProbe()})
	noMkt := fullProbe()
	noMkt.Me.MarketingUser = false
	lost := Evaluate(Input{Probe: noMkt})
	broken := Evaluate(Input{Failure: ErrInvalidSession})

	tests := []struct {
		name      string
		prev, cur []Check
		want      []Change
	}{
		{"first report", nil, lost, nil},
		{"lost", ok, lost, []Change{{Check: CheckMarketingUser, Lost: true, Required: true}}},
		{"gained", lost, ok, []Change{{Check: CheckMarketingUser, Lost: false, Required: true}}},
		{"stays lost", lost, lost, nil},
		{"session broke: unknown is not a loss", ok, broken, []Change{{Check: CheckConnection, Lost: true, Required: true}}},
		{"back from unknown is not a change", broken, lost, []Change{{Check: CheckConnection, Lost: false, Required: true}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got := Diff(tt.prev, tt.cur)
			if fmt.Sprint(got) != fmt.Sprint(tt.want) {
				t.Fatalf("Diff = %v, want %v", got, tt.want)
			}
		})
	}
}

// The evidence of a broken or missing team connection is one sentence naming the
// command, whatever chain of provider errors led there; the CLI, the API and the alert
// email all show this Evidence.
func TestConnectionFailureEvidenceIsOneSentence(t *testing.T) {
	t.Parallel()
	for err, want := range map[error]string{
		fmt.Errorf("refresh: oauth salesforce: invalid_grant: expired access/refresh token: %w", ErrNeedsReconnect): "the team connection needs reconnecting: run `tether org connect-salesforce org-1`",
		fmt.Errorf("INVALID_SESSION_ID: Session expired or invalid: %w", ErrInvalidSession):                         "the team connection needs reconnecting: run `tether org connect-salesforce org-1`",
		ErrNoTeamConnection: "the org has no team-level Salesforce connection: run `tether org connect-salesforce org-1`",
	} {
		for _, c := range evaluateFailure(err, "org-1") {
			if c.Name == CheckConnection && c.Evidence != want {
				t.Errorf("%v: evidence %q, want %q", err, c.Evidence, want)
			}
		}
	}
}
