package permissions

// ResultWarning is a check that passed but is close to trouble (API usage above the
// configured share of the daily allocation). It never counts as lost.
const ResultWarning Result = "warning"

// Check names. Field checks are "<object check>.<Field>", e.g. "lead.Email".
const (
	CheckConnection     = "connection"
	CheckOrgAPI         = "api_org"
	CheckAPIEnabled     = "api_enabled"
	CheckLead           = "lead"
	CheckContact        = "contact"
	CheckCampaign       = "campaign"
	CheckCampaignMember = "campaign_member"
	CheckMarketingUser  = "marketing_user"
	CheckAccount        = "account"
	CheckOpportunity    = "opportunity"
	CheckEvent          = "event"
	CheckTask           = "task"
	CheckConvertedLeads = "converted_leads"
	CheckViewSetup      = "view_setup"
	CheckAPIUsage       = "api_usage"
)

// Access is an object-level access tether needs.
type Access int

// Accesses, as describe reports them for the running user.
const (
	Read   Access = 1 << iota // describe "queryable"
	Create                    // "createable"
	Edit                      // "updateable"
)

func (a Access) words() []string {
	var w []string
	for _, x := range []struct {
		a Access
		s string
	}{{Read, "Read"}, {Create, "Create"}, {Edit, "Edit"}} {
		if a&x.a != 0 {
			w = append(w, x.s)
		}
	}
	return w
}

// ObjectRequirement is what tether needs on one sObject.
type ObjectRequirement struct {
	Check  string // check name
	Object string // sObject API name
	Plural string // label in Setup's Object Settings
	Need   Access
	// Fields are the fields tether writes; each gets its own check needing FieldNeed.
	Fields    []string
	FieldNeed Access
	// SystemPermission, when set, is the user permission that governs Create/Edit on the
	// object instead of object settings (Events and Tasks).
	SystemPermission string
}

// Objects are the sObjects the audit describes, in report order. The Lead and Contact
// fields are those tether writes: name, email, company, phone, title, status, owner and
// lead source (Company and Status exist on Lead only).
var Objects = []ObjectRequirement{
	{Check: CheckLead, Object: "Lead", Plural: "Leads", Need: Read | Create | Edit,
		Fields:    []string{"FirstName", "LastName", "Email", "Company", "Phone", "Title", "Status", "OwnerId", "LeadSource"},
		FieldNeed: Read | Create | Edit},
	{Check: CheckContact, Object: "Contact", Plural: "Contacts", Need: Read | Edit,
		Fields:    []string{"FirstName", "LastName", "Email", "Phone", "Title", "OwnerId", "LeadSource"},
		FieldNeed: Read | Edit},
	{Check: CheckCampaign, Object: "Campaign", Plural: "Campaigns", Need: Read | Edit},
	{Check: CheckCampaignMember, Object: "CampaignMember", Plural: "Campaign Members", Need: Read | Edit},
	{Check: CheckAccount, Object: "Account", Plural: "Accounts", Need: Read},
	{Check: CheckOpportunity, Object: "Opportunity", Plural: "Opportunities", Need: Read},
	{Check: CheckEvent, Object: "Event", Plural: "Events", Need: Create, SystemPermission: "Edit Events"},
	{Check: CheckTask, Object: "Task", Plural: "Tasks", Need: Create, SystemPermission: "Edit Tasks"},
}

// FieldCheck returns the check name of a field requirement ("lead.Email").
func FieldCheck(objectCheck, field string) string { return objectCheck + "." + field }

// CheckNames lists every check Evaluate reports, in report order.
func CheckNames() []string {
	names := []string{CheckConnection, CheckOrgAPI, CheckAPIEnabled}
	for _, o := range Objects {
		names = append(names, o.Check)
		if o.Check == CheckCampaign {
			names = append(names, CheckMarketingUser)
		}
		for _, f := range o.Fields {
			names = append(names, FieldCheck(o.Check, f))
		}
	}
	return append(names, CheckConvertedLeads, CheckViewSetup, CheckAPIUsage)
}
