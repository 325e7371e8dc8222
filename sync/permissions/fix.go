package permissions

import (
	"fmt"
	"strings"
)

// place says where an admin should grant a permission. A permission set assigned only
// to the integration user is the better place: the profile is usually shared with other
// users, who would gain the permission too.
type place struct {
	set     string // label of the user's own (non-profile) permission set, if known
	profile string // profile name, if known
}

func placeOf(p *Probe) place {
	var pl place
	if p == nil {
		return pl
	}
	pl.profile = p.Me.ProfileName
	for _, a := range p.Assignments.Rows {
		if !a.OwnedByProfile {
			pl.set = a.Label
			if pl.set == "" {
				pl.set = a.Name
			}
			break
		}
	}
	return pl
}

// setPath is the Setup path to the permission set to edit, plus the advice on where.
func (pl place) setPath() string {
	if pl.set != "" {
		return fmt.Sprintf("Setup > Users > Permission Sets > %s", pl.set)
	}
	s := "Setup > Users > Permission Sets > (the integration user's permission set; create one with New and add the user with Manage Assignments if it has none)"
	if pl.profile != "" {
		s += fmt.Sprintf(". Prefer a permission set to the profile %q, which other users may share", pl.profile)
	}
	return s
}

func (pl place) where() string {
	if pl.set != "" {
		return fmt.Sprintf("in the permission set %q assigned to the integration user", pl.set)
	}
	return "in a permission set assigned to the integration user (better than its profile, which other users may share)"
}

func objectFix(o ObjectRequirement, missing Access, pl place) string {
	if o.SystemPermission != "" {
		return fmt.Sprintf("Grant the system permission %q %s: %s > System Permissions > Edit, tick %q, Save.",
			o.SystemPermission, pl.where(), pl.setPath(), o.SystemPermission)
	}
	return fmt.Sprintf("Grant %s on %s %s: %s > Object Settings > %s > Edit, under Object Permissions tick %s, Save.",
		strings.Join(missing.words(), ", "), o.Plural, pl.where(), pl.setPath(), o.Plural, strings.Join(missing.words(), " and "))
}

func fieldFix(o ObjectRequirement, field string, need Access, pl place) string {
	boxes := "Read Access"
	if need&(Create|Edit) != 0 {
		boxes = "Read Access and Edit Access"
	}
	return fmt.Sprintf("Grant field-level security on %s.%s %s: %s > Object Settings > %s > Edit, under Field Permissions tick %s for %s, Save.",
		o.Object, field, pl.where(), pl.setPath(), o.Plural, boxes, field)
}

const (
	fixMarketingUser = "Tick Marketing User on the integration user: Setup > Users > Users > (the integration user) > Edit, tick Marketing User, Save. It is a checkbox on the user record, not a profile or permission-set permission; without it the user cannot create or edit Campaigns."
)

// APIDisabledFix is what a Salesforce admin must change when Salesforce answers
// API_DISABLED_FOR_ORG (userOnly false) or API_CURRENTLY_DISABLED (userOnly true) to every
// call of the integration user. The invite import shows the same fix as the audit.
func APIDisabledFix(userOnly bool) string {
	if userOnly {
		return apiEnabledFix(place{})
	}
	return orgAPIFix(place{})
}

// orgAPIFix covers both causes of API_DISABLED_FOR_ORG, the user's first: it is the
// common one in an edition that includes the API, and the admin can fix it alone.
func orgAPIFix(pl place) string {
	return "Salesforce refuses every API call of the integration user. First check the user: " + apiEnabledFix(pl) +
		" If it already has API Enabled, the org itself has no API access: editions without it (Professional without the API add-on, Essentials, Group) must buy the add-on or upgrade (ask your Salesforce account executive); Enterprise, Unlimited, Performance and Developer editions include it."
}

func apiEnabledFix(pl place) string {
	return fmt.Sprintf("Grant the system permission \"API Enabled\" %s: %s > System Permissions > Edit, tick API Enabled, Save.", pl.where(), pl.setPath())
}

func viewSetupFix(pl place) string {
	return fmt.Sprintf("Grant \"View Setup and Configuration\" %s (%s > System Permissions > Edit, tick View Setup and Configuration, Save), so tether can read permission-set assignments; or check \"View and Edit Converted Leads\" by hand.", pl.where(), pl.setPath())
}

func convertedLeadsFix(grants []Assignment) string {
	var steps []string
	for _, a := range grants {
		if a.OwnedByProfile {
			name := a.Label
			if name == "" {
				name = a.Name
			}
			steps = append(steps, fmt.Sprintf("Setup > Users > Profiles > %s > System Permissions > Edit, clear \"View and Edit Converted Leads\", Save", name))
			continue
		}
		name := a.Label
		if name == "" {
			name = a.Name
		}
		steps = append(steps, fmt.Sprintf("Setup > Users > Permission Sets > %s > System Permissions > Edit, clear \"View and Edit Converted Leads\", Save", name))
	}
	return "Turn off \"View and Edit Converted Leads\" for the integration user, so tether never edits a converted Lead: " + strings.Join(steps, "; ") + "."
}

const fixConvertedLeadsUnverified = "Confirm by hand that no permission set or profile of the integration user grants \"View and Edit Converted Leads\" (Setup > Users > Users > (the integration user) > Permission Set Assignments), or grant View Setup and Configuration so tether can check."

func usageFix(share float64) string {
	return fmt.Sprintf("The org has used %.0f%% of its daily API allocation. Find the heaviest integrations in Setup > Company Settings > Company Information (API Requests, Last 24 Hours) or the \"API Usage Last 7 Days\" report, or buy more API calls; tether defers non-urgent Salesforce work above the threshold.", share*100)
}

// connectFix and reconnectFix send the admin to the one connect flow: a link from
// `tether org connect-salesforce` (or POST /v1/orgs/{org}/connect-links), opened by an org
// admin who signs in to Salesforce as the integration user.
func connectFix(orgID string) string {
	return fmt.Sprintf("Connect the team-level account: run `tether org connect-salesforce %s` (or POST /v1/orgs/%s/connect-links), open the link it prints and sign in to Salesforce as the integration user.",
		orgOr(orgID), orgOr(orgID))
}

func reconnectFix(orgID string) string {
	return fmt.Sprintf("Reconnect the team-level account (the session was revoked or expired, or the user was deactivated or frozen): run `tether org connect-salesforce %s` (or POST /v1/orgs/%s/connect-links), open the link it prints and sign in to Salesforce as the integration user; the old grant is revoked once the new one works.",
		orgOr(orgID), orgOr(orgID))
}

func orgOr(orgID string) string {
	if orgID == "" {
		return "ORG"
	}
	return orgID
}
