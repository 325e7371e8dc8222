package permissions

import (
	"errors"
	"fmt"
	"strings"
)

// DefaultUsageWarnShare is the share of the daily API allocation above which the
// api_usage check warns, when Input.UsageWarnShare is zero.
const DefaultUsageWarnShare = 0.8

// Input is what Evaluate judges: either a Probe, or the reason there is none.
type Input struct {
	// Probe is what Salesforce answered; nil when the call failed.
	Probe *Probe
	// Failure is why Probe is nil: ErrNoTeamConnection, ErrNeedsReconnect,
	// ErrInvalidSession, ErrOrgAPIDisabled or ErrUserAPIDisabled (wrapped is fine).
	Failure error
	// UsageWarnShare is the share of the daily allocation (0..1) above which api_usage
	// warns. Zero means DefaultUsageWarnShare.
	UsageWarnShare float64
	// OrgID names the org in fix texts (tether org connect-salesforce ORG).
	OrgID string
}

// Evaluate turns an audit's input into one check per requirement, in CheckNames order.
// It is pure. A check is "missing" only when the evidence says so; when a missing
// permission hides another (no Lead edit access makes every Lead field read-only in the
// describe), the hidden check is "unknown" and names the check to fix first, so one lost
// permission shows as exactly one failed check.
func Evaluate(in Input) []Check {
	if in.Probe == nil {
		return evaluateFailure(in.Failure, in.OrgID)
	}
	p := in.Probe
	pl := placeOf(p)
	var out []Check
	add := func(c Check) { out = append(out, c) }

	add(Check{Name: CheckConnection, Required: true, Result: ResultOK,
		Evidence: "Salesforce accepted the team-level session"})
	add(Check{Name: CheckOrgAPI, Required: true, Result: ResultOK,
		Evidence: "the REST API answered (an org without API access answers API_DISABLED_FOR_ORG)"})
	add(apiEnabledCheck(p))

	for _, o := range Objects {
		d, ok := p.Objects[o.Object]
		add(objectCheck(o, d, ok, p, pl))
		if o.Check == CheckCampaign {
			add(marketingCheck(p))
		}
		for _, f := range o.Fields {
			add(fieldCheck(o, f, d, ok, pl))
		}
	}
	add(convertedLeadsCheck(p))
	add(viewSetupCheck(p, pl))
	add(usageCheck(p.Usage, in.UsageWarnShare))
	return out
}

func apiEnabledCheck(p *Probe) Check {
	c := Check{Name: CheckAPIEnabled, Required: true, Result: ResultOK,
		Evidence: "the team-level user's REST calls succeed, which needs API Enabled"}
	if p.Assignments.Err == nil {
		var from []string
		for _, a := range p.Assignments.Rows {
			if a.APIEnabled {
				from = append(from, assignmentName(a))
			}
		}
		if len(from) > 0 {
			c.Evidence += "; PermissionsApiEnabled is granted by " + strings.Join(from, ", ")
		}
	}
	return c
}

func assignmentName(a Assignment) string {
	n := a.Label
	if n == "" {
		n = a.Name
	}
	if a.OwnedByProfile {
		return fmt.Sprintf("the profile %q", n)
	}
	return fmt.Sprintf("the permission set %q", n)
}

func flags(d Describe) string {
	return fmt.Sprintf("queryable=%t createable=%t updateable=%t", d.Queryable, d.Createable, d.Updateable)
}

func has(d Describe, a Access) bool {
	switch a {
	case Read:
		return d.Queryable
	case Create:
		return d.Createable
	case Edit:
		return d.Updateable
	}
	return false
}

func objectCheck(o ObjectRequirement, d Describe, present bool, p *Probe, pl place) Check {
	c := Check{Name: o.Check, Required: true}
	want := strings.Join(o.Need.words(), "/")
	switch {
	case !present:
		c.Result, c.Evidence = ResultUnknown, fmt.Sprintf("no describe of %s was returned", o.Object)
		return c
	case d.Err != nil && d.Err.refused():
		c.Result = ResultMissing
		c.Evidence = fmt.Sprintf("sobjects/%s/describe refused: %s (the user cannot see %s)", o.Object, d.Err, o.Plural)
		c.Fix = objectFix(o, o.Need, pl)
		return c
	case d.Err != nil:
		c.Result, c.Evidence = ResultUnknown, fmt.Sprintf("sobjects/%s/describe failed: %s", o.Object, d.Err)
		return c
	}
	var missing Access
	for _, a := range []Access{Read, Create, Edit} {
		if o.Need&a != 0 && !has(d, a) {
			missing |= a
		}
	}
	ev := fmt.Sprintf("%s describe: %s (needs %s)", o.Object, flags(d), want)
	if missing == 0 {
		c.Result, c.Evidence = ResultOK, ev
		return c
	}
	// Salesforce reports Campaigns read-only to a user without Marketing User whatever
	// the object permissions say, so the object check cannot tell until that is fixed.
	if o.Object == "Campaign" && missing&Read == 0 && p.Me.Err == nil && p.Me.Found && !p.Me.MarketingUser {
		c.Result = ResultUnknown
		c.Evidence = ev + "; Campaign edit access is hidden while Marketing User is off: fix " + CheckMarketingUser + " first"
		return c
	}
	c.Result, c.Evidence, c.Fix = ResultMissing, ev, objectFix(o, missing, pl)
	return c
}

func fieldCheck(o ObjectRequirement, field string, d Describe, present bool, pl place) Check {
	c := Check{Name: FieldCheck(o.Check, field), Required: true}
	if !present || d.Err != nil {
		c.Result = ResultUnknown
		c.Evidence = fmt.Sprintf("no %s describe to read field-level security from: see check %s", o.Object, o.Check)
		return c
	}
	f, ok := d.Fields[field]
	if !ok {
		c.Result = ResultMissing
		c.Evidence = fmt.Sprintf("%s is absent from the %s describe: no read access (field-level security)", field, o.Object)
		c.Fix = fieldFix(o, field, o.FieldNeed, pl)
		return c
	}
	ev := fmt.Sprintf("%s.%s describe: createable=%t updateable=%t", o.Object, field, f.Createable, f.Updateable)
	var lacking []string
	masked := false
	if o.FieldNeed&Create != 0 && !f.Createable {
		lacking = append(lacking, "createable")
		masked = masked || !d.Createable
	}
	if o.FieldNeed&Edit != 0 && !f.Updateable {
		lacking = append(lacking, "updateable")
		masked = masked || !d.Updateable
	}
	switch {
	case len(lacking) == 0:
		c.Result, c.Evidence = ResultOK, ev
	case masked:
		// A field is never createable/updateable on an object the user cannot
		// create/edit, so field-level security cannot be read until that is fixed.
		c.Result = ResultUnknown
		c.Evidence = fmt.Sprintf("%s; %s itself is not %s: fix %s first", ev, o.Object, strings.Join(lacking, "/"), o.Check)
	default:
		c.Result, c.Evidence, c.Fix = ResultMissing, ev, fieldFix(o, field, o.FieldNeed, pl)
	}
	return c
}

func marketingCheck(p *Probe) Check {
	c := Check{Name: CheckMarketingUser, Required: true}
	switch {
	case p.Me.Err != nil:
		c.Result, c.Evidence = ResultUnknown, "the query for the user's own User row failed: "+p.Me.Err.String()
	case !p.Me.Found:
		c.Result, c.Evidence = ResultUnknown, fmt.Sprintf("no User row with Id %s is visible to the team-level user", p.UserID)
	case p.Me.MarketingUser:
		c.Result, c.Evidence = ResultOK, "User.UserPermissionsMarketingUser = true"
	default:
		c.Result, c.Evidence, c.Fix = ResultMissing, "User.UserPermissionsMarketingUser = false", fixMarketingUser
	}
	return c
}

func convertedLeadsCheck(p *Probe) Check {
	c := Check{Name: CheckConvertedLeads, Required: true}
	if e := p.Assignments.Err; e != nil {
		c.Result = ResultUnknown
		c.Evidence = "cannot read PermissionSetAssignment (" + e.String() + "): reading permission-set tables needs View Setup and Configuration"
		c.Fix = fixConvertedLeadsUnverified
		return c
	}
	var grants []Assignment
	var names []string
	for _, a := range p.Assignments.Rows {
		if a.ConvertedLeads {
			grants = append(grants, a)
			names = append(names, assignmentName(a))
		}
	}
	if len(grants) == 0 {
		c.Result = ResultOK
		c.Evidence = fmt.Sprintf("none of the user's %d permission-set assignments has PermissionsAllowViewEditConvertedLeads = true", len(p.Assignments.Rows))
		return c
	}
	c.Result = ResultMissing
	c.Evidence = "PermissionsAllowViewEditConvertedLeads = true (must be off) in " + strings.Join(names, ", ")
	c.Fix = convertedLeadsFix(grants)
	return c
}

func viewSetupCheck(p *Probe, pl place) Check {
	// Not required: tether works without it, but cannot verify converted_leads.
	c := Check{Name: CheckViewSetup, Required: false}
	e := p.Assignments.Err
	switch {
	case e == nil:
		c.Result, c.Evidence = ResultOK, "the PermissionSetAssignment query succeeded"
	case e.refused():
		c.Result = ResultMissing
		c.Evidence = "the PermissionSetAssignment query was refused (" + e.String() + "): it needs View Setup and Configuration"
		c.Fix = viewSetupFix(pl)
	default:
		c.Result, c.Evidence = ResultUnknown, "the PermissionSetAssignment query failed: "+e.String()
	}
	return c
}

func usageCheck(u *Usage, warn float64) Check {
	if warn <= 0 {
		warn = DefaultUsageWarnShare
	}
	c := Check{Name: CheckAPIUsage, Required: false}
	if u == nil || u.Max <= 0 {
		c.Result, c.Evidence = ResultUnknown, "Salesforce reported no API usage (no Sforce-Limit-Info header)"
		return c
	}
	share := float64(u.Used) / float64(u.Max)
	c.Evidence = fmt.Sprintf("api-usage=%d/%d (%.1f%%, warning above %.0f%%) from %s", u.Used, u.Max, share*100, warn*100, u.Source)
	if share >= warn {
		c.Result, c.Fix = ResultWarning, usageFix(share)
	} else {
		c.Result = ResultOK
	}
	return c
}

// evaluateFailure reports a run in which Salesforce answered nothing usable: the failing
// check says why and every other check is unknown with that reason. Evidence is read by
// admins in the CLI, the API and alert emails, so it is a sentence with the fix, never
// err's chain (Params.OnFailure gets that, for the log).
func evaluateFailure(err error, orgID string) []Check {
	failed, res, evidence, fix := CheckConnection, ResultMissing, "", ""
	reason := "Salesforce could not be asked"
	connOK := false
	switch {
	case errors.Is(err, ErrNoTeamConnection):
		evidence, fix = fmt.Sprintf("the org has no team-level Salesforce connection: run `tether org connect-salesforce %s`", orgOr(orgID)), connectFix(orgID)
		reason = "no team-level connection to audit with"
	case errors.Is(err, ErrNeedsReconnect), errors.Is(err, ErrInvalidSession):
		// One sentence naming the command, the same in the CLI, the API and the alert
		// email; the provider's error chain says nothing more an admin can act on.
		evidence, fix = fmt.Sprintf("the team connection needs reconnecting: run `tether org connect-salesforce %s`", orgOr(orgID)), reconnectFix(orgID)
		reason = "the team-level session is invalid (see connection)"
	case errors.Is(err, ErrOrgAPIDisabled):
		// Salesforce gives this answer for the org and for the user alike, so the
		// user's own check cannot be told apart.
		failed, connOK = CheckOrgAPI, true
		evidence, fix = "Salesforce refuses every API call of the team-level user (API_DISABLED_FOR_ORG): the user lacks the API Enabled permission or the org has no API access; grant API Enabled to the user's profile or a permission set in Salesforce Setup, or enable API access for the org", orgAPIFix(place{})
		reason = "Salesforce refuses every API call of the user (see api_org)"
	case errors.Is(err, ErrUserAPIDisabled):
		failed, connOK = CheckAPIEnabled, true
		evidence, fix = "Salesforce refuses every API call of the team-level user (API_CURRENTLY_DISABLED): grant it the API Enabled permission in Salesforce Setup", ""
		reason = "the team-level user may not use the API (see api_enabled)"
	default:
		res, evidence = ResultUnknown, "the audit could not read the org from Salesforce (the worker log, component permissions, has the cause); once it is fixed, run `tether permissions check --org "+orgOr(orgID)+"` again"
		reason = evidence
	}
	out := make([]Check, 0, len(CheckNames()))
	for _, n := range CheckNames() {
		c := Check{Name: n, Required: n != CheckViewSetup && n != CheckAPIUsage}
		switch {
		case n == failed:
			c.Result, c.Evidence, c.Fix = res, evidence, fix
			if n == CheckAPIEnabled {
				c.Fix = apiEnabledFix(place{})
			}
		case n == CheckConnection && connOK:
			c.Result, c.Evidence = ResultOK, "Salesforce accepted the team-level session"
		default:
			c.Result, c.Evidence = ResultUnknown, reason
		}
		out = append(out, c)
	}
	return out
}
