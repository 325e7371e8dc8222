package sfdc

// Scenario is the Salesforce part of a sandbox scenario file (its "salesforce" key).
// Every id is optional: missing ids are generated deterministically from the org's
// position in Orgs and the entity's position in its list. Profiles and permission sets
// are referenced by id or by name.
type Scenario struct {
	Orgs []OrgSpec `json:"orgs"`
}

// OrgSpec describes one Salesforce org.
type OrgSpec struct {
	ID   string `json:"id,omitempty"`
	Name string `json:"name"`
	// Edition is Organization.OrganizationType. Empty means "Enterprise Edition".
	Edition string `json:"edition,omitempty"`
	// Domain is the My Domain prefix used in photo URLs. Empty means a slug of Name.
	Domain string `json:"domain,omitempty"`
	// DailyAPIMax is the rolling 24-hour API allocation. Zero means 100,000.
	DailyAPIMax int `json:"dailyApiMax,omitempty"`
	// APIDisabled makes every REST call answer 403 API_DISABLED_FOR_ORG.
	APIDisabled bool `json:"apiDisabled,omitempty"`
	// Profiles of the org. Empty means StandardProfiles().
	Profiles       []ProfileSpec       `json:"profiles,omitempty"`
	PermissionSets []PermissionSetSpec `json:"permissionSets,omitempty"`
	Users          []UserSpec          `json:"users,omitempty"`
	// Generate appends GenerateUsers(Generate.Seed, Generate.Users) to Users, so a JSON
	// scenario can ask for 100,000 users without listing them.
	Generate *GenerateSpec `json:"generate,omitempty"`
}

// GenerateSpec asks LoadScenario to generate users.
type GenerateSpec struct {
	Seed  int64 `json:"seed"`
	Users int   `json:"users"`
}

// ProfileSpec is a profile and the permissions of its profile-owned permission set.
type ProfileSpec struct {
	ID       string `json:"id,omitempty"`
	Name     string `json:"name"`
	UserType string `json:"userType,omitempty"` // default "Standard"
	// UserLicense is the licence name, e.g. "Salesforce", "Salesforce Platform",
	// "Chatter Free", "Customer Community", "Salesforce Integration". Default "Salesforce".
	UserLicense string          `json:"userLicense,omitempty"`
	Permissions PermissionsSpec `json:"permissions"`
}

// PermissionSetSpec is a (non-profile) permission set.
type PermissionSetSpec struct {
	ID          string          `json:"id,omitempty"`
	Name        string          `json:"name"`
	Label       string          `json:"label,omitempty"`
	Permissions PermissionsSpec `json:"permissions"`
}

// PermissionsSpec lists what a profile or permission set grants.
type PermissionsSpec struct {
	// User lists system permissions without the "Permissions" prefix:
	// "ApiEnabled", "ViewSetup", "AllowViewEditConvertedLeads", "EditTask", "EditEvent",
	// "ModifyAllData", "ViewAllData", "ManageUsers", ...
	User []string `json:"user,omitempty"`
	// Objects maps an sObject name to "Read", "Create", "Edit", "Delete", "ViewAllRecords",
	// "ModifyAllRecords". The key "*" means every CRM object.
	Objects map[string][]string `json:"objects,omitempty"`
	// Fields maps "Object.Field" to "Read"/"Edit". "Object.*" means every
	// FLS-controlled field of the object, "*" every field of every object.
	Fields map[string][]string `json:"fields,omitempty"`
}

// UserSpec is one Salesforce user.
type UserSpec struct {
	ID        string `json:"id,omitempty"`
	Username  string `json:"username"`
	Email     string `json:"email,omitempty"`
	FirstName string `json:"firstName,omitempty"`
	LastName  string `json:"lastName"`
	Title     string `json:"title,omitempty"`
	// Profile is a profile id or name.
	Profile string `json:"profile"`
	// UserType defaults to the profile's user type.
	UserType string `json:"userType,omitempty"`
	// IsActive defaults to true.
	IsActive       *bool    `json:"isActive,omitempty"`
	MarketingUser  bool     `json:"marketingUser,omitempty"`
	PhotoActive    bool     `json:"photoActive,omitempty"`
	PermissionSets []string `json:"permissionSets,omitempty"`
	ManagerID      string   `json:"managerId,omitempty"`
	TimeZoneSidKey string   `json:"timeZoneSidKey,omitempty"` // default America/Los_Angeles
}

// Active reports the effective IsActive of the spec.
func (u UserSpec) Active() bool { return u.IsActive == nil || *u.IsActive }

// User is the public view of a sandbox Salesforce user (for the OAuth side of the sandbox).
type User struct {
	ID, OrgID, Username, Email, FirstName, LastName, Name, UserType string
	// TimeZone is the User's TimeZoneSidKey (an IANA zone).
	TimeZone string
	IsActive bool
}
