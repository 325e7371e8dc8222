package sfdc

import (
	"strconv"
	"strings"
	"unicode"
)

// access says which permissions decide whether a user can see an object.
type access int

const (
	accessCRM      access = iota // object permissions (Read/Create/Edit/Delete) and FLS
	accessActivity               // Event/Task: always readable; create/edit via EditEvent/EditTask
	accessPublic                 // User, Profile, UserLicense, UserRole, Organization
	accessSetup                  // PermissionSet & co: need View Setup and Configuration
)

// fieldDef is one field of an sObject as a describe reports it.
type fieldDef struct {
	Name, Type, Label string
	Length            int
	Createable        bool // before permissions
	Updateable        bool
	Nillable          bool
	Permissionable    bool // governed by field-level security
	NameField         bool
	IDLookup          bool
	Defaulted         bool
	Unique            bool
	ReferenceTo       []string
	RelationshipName  string
	lower             string
}

// objectDef is an sObject the sandbox knows.
type objectDef struct {
	Name, Label, LabelPlural, KeyPrefix string
	access                              access
	fields                              []*fieldDef
	byLower                             map[string]*fieldDef
	rels                                map[string]*fieldDef // lower-case relationship name -> reference field
	baseCreateable, baseUpdateable      bool
	baseDeletable                       bool
}

func (o *objectDef) field(name string) *fieldDef { return o.byLower[strings.ToLower(name)] }

// rel returns the reference field behind a relationship name (Profile -> ProfileId).
func (o *objectDef) rel(name string) *fieldDef { return o.rels[strings.ToLower(name)] }

// userPermissionFields are the PermissionSet/Profile booleans the sandbox models.
var userPermissionFields = []string{
	"PermissionsApiEnabled", "PermissionsApiUserOnly", "PermissionsViewSetup",
	"PermissionsAllowViewEditConvertedLeads", "PermissionsEditTask", "PermissionsEditEvent",
	"PermissionsModifyAllData", "PermissionsViewAllData", "PermissionsManageUsers",
	"PermissionsAssignPermissionSets", "PermissionsViewAllUsers", "PermissionsConvertLeads",
	"PermissionsImportLeads", "PermissionsTransferAnyLead", "PermissionsViewRoles",
	"PermissionsRunReports", "PermissionsExportReport", "PermissionsLightningExperienceUser",
	"PermissionsChatterInternalUser",
}

// Field lines: "Name type length flags [Rel>Target,Target]". Flags: c createable,
// u updateable, n nillable, p permissionable (FLS), N name field, x idLookup,
// d defaulted on create, U unique.
const (
	auditFields = `CreatedDate datetime 0 d
CreatedById reference 18 d CreatedBy>User
LastModifiedDate datetime 0 d
LastModifiedById reference 18 d LastModifiedBy>User
SystemModstamp datetime 0 d`

	leadFields = `Id id 18 xd
IsDeleted boolean 0 d
MasterRecordId reference 18 n MasterRecord>Lead
LastName string 80 cup
FirstName string 40 cunp
Salutation picklist 40 cunp
Name string 121 Nd
Title string 128 cunp
Company string 255 cup
Street textarea 255 cunp
City string 40 cunp
State string 80 cunp
PostalCode string 20 cunp
Country string 80 cunp
Address address 0 n
Phone phone 40 cunp
MobilePhone phone 40 cunp
Fax phone 40 cunp
Email email 80 cunpx
Website url 255 cunp
PhotoUrl url 255 n
Description textarea 32000 cunp
LeadSource picklist 255 cunp
Status picklist 255 cupd
Industry picklist 255 cunp
Rating picklist 255 cunp
AnnualRevenue currency 0 cunp
NumberOfEmployees int 0 cunp
OwnerId reference 18 cupd Owner>Group,User
IsConverted boolean 0 cd
ConvertedDate date 0 n
ConvertedAccountId reference 18 n ConvertedAccount>Account
ConvertedContactId reference 18 n ConvertedContact>Contact
ConvertedOpportunityId reference 18 n ConvertedOpportunity>Opportunity
IsUnreadByOwner boolean 0 cud
` + auditFields + `
LastActivityDate date 0 n
LastViewedDate datetime 0 n
LastReferencedDate datetime 0 n
EmailBouncedReason string 255 cunp
EmailBouncedDate datetime 0 cunp`

	contactFields = `Id id 18 xd
IsDeleted boolean 0 d
MasterRecordId reference 18 n MasterRecord>Contact
AccountId reference 18 cunp Account>Account
LastName string 80 cup
FirstName string 40 cunp
Salutation picklist 40 cunp
Name string 121 Nd
MailingStreet textarea 255 cunp
MailingCity string 40 cunp
MailingState string 80 cunp
MailingPostalCode string 20 cunp
MailingCountry string 80 cunp
MailingAddress address 0 n
Phone phone 40 cunp
Fax phone 40 cunp
MobilePhone phone 40 cunp
HomePhone phone 40 cunp
OtherPhone phone 40 cunp
ReportsToId reference 18 cunp ReportsTo>Contact
Email email 80 cunpx
Title string 128 cunp
Department string 80 cunp
LeadSource picklist 255 cunp
Birthdate date 0 cunp
Description textarea 32000 cunp
OwnerId reference 18 cupd Owner>User
HasOptedOutOfEmail boolean 0 cupd
DoNotCall boolean 0 cupd
` + auditFields + `
LastActivityDate date 0 n
LastViewedDate datetime 0 n
LastReferencedDate datetime 0 n
EmailBouncedReason string 255 cunp
EmailBouncedDate datetime 0 cunp
IsEmailBounced boolean 0 d
PhotoUrl url 255 n`

	campaignFields = `Id id 18 xd
IsDeleted boolean 0 d
Name string 80 cuNp
ParentId reference 18 cunp Parent>Campaign
Type picklist 255 cunp
Status picklist 255 cunp
StartDate date 0 cunp
EndDate date 0 cunp
ExpectedRevenue currency 0 cunp
BudgetedCost currency 0 cunp
ActualCost currency 0 cunp
ExpectedResponse percent 0 cunp
NumberSent double 0 cunp
IsActive boolean 0 cupd
Description textarea 32000 cunp
NumberOfLeads int 0 d
NumberOfConvertedLeads int 0 d
NumberOfContacts int 0 d
NumberOfResponses int 0 d
NumberOfOpportunities int 0 d
NumberOfWonOpportunities int 0 d
AmountAllOpportunities currency 0 d
AmountWonOpportunities currency 0 d
OwnerId reference 18 cupd Owner>User
` + auditFields + `
LastActivityDate date 0 n
LastViewedDate datetime 0 n
LastReferencedDate datetime 0 n`

	campaignMemberFields = `Id id 18 xd
IsDeleted boolean 0 d
CampaignId reference 18 c Campaign>Campaign
LeadId reference 18 cn Lead>Lead
ContactId reference 18 cn Contact>Contact
Status picklist 40 cunp
HasResponded boolean 0 d
` + auditFields + `
FirstRespondedDate date 0 n
Salutation picklist 40 n
Name string 121 n
FirstName string 40 n
LastName string 80 n
Title string 128 n
Street textarea 255 n
City string 40 n
State string 80 n
PostalCode string 20 n
Country string 80 n
Email email 80 n
Phone phone 40 n
Fax phone 40 n
MobilePhone phone 40 n
Description textarea 32000 n
DoNotCall boolean 0 d
HasOptedOutOfEmail boolean 0 d
HasOptedOutOfFax boolean 0 d
LeadSource picklist 255 n
CompanyOrAccount string 255 n
Type string 40 n
LeadOrContactId reference 18 n
LeadOrContactOwnerId reference 18 n LeadOrContactOwner>Group,User`

	accountFields = `Id id 18 xd
IsDeleted boolean 0 d
MasterRecordId reference 18 n MasterRecord>Account
Name string 255 cuNp
Type picklist 255 cunp
ParentId reference 18 cunp Parent>Account
BillingStreet textarea 255 cunp
BillingCity string 40 cunp
BillingState string 80 cunp
BillingPostalCode string 20 cunp
BillingCountry string 80 cunp
BillingLatitude double 0 cunp
BillingLongitude double 0 cunp
BillingGeocodeAccuracy picklist 40 cunp
BillingAddress address 0 n
ShippingStreet textarea 255 cunp
ShippingCity string 40 cunp
ShippingState string 80 cunp
ShippingPostalCode string 20 cunp
ShippingCountry string 80 cunp
ShippingLatitude double 0 cunp
ShippingLongitude double 0 cunp
ShippingGeocodeAccuracy picklist 40 cunp
ShippingAddress address 0 n
Phone phone 40 cunp
Fax phone 40 cunp
AccountNumber string 40 cunp
Website url 255 cunp
PhotoUrl url 255 n
Sic string 20 cunp
Industry picklist 255 cunp
AnnualRevenue currency 0 cunp
NumberOfEmployees int 0 cunp
Ownership picklist 255 cunp
TickerSymbol string 20 cunp
Description textarea 32000 cunp
Rating picklist 255 cunp
Site string 80 cunp
OwnerId reference 18 cupd Owner>User
` + auditFields + `
LastActivityDate date 0 n
LastViewedDate datetime 0 n
LastReferencedDate datetime 0 n
Jigsaw string 20 cunp
JigsawCompanyId string 20 n
AccountSource picklist 255 cunp
SicDesc string 80 cunp`

	opportunityFields = `Id id 18 xd
IsDeleted boolean 0 d
AccountId reference 18 cunp Account>Account
IsPrivate boolean 0 cupd
Name string 120 cuNp
Description textarea 32000 cunp
StageName picklist 255 cup
Amount currency 0 cunp
Probability percent 0 cunp
ExpectedRevenue currency 0 n
TotalOpportunityQuantity double 0 cunp
CloseDate date 0 cup
Type picklist 255 cunp
NextStep string 255 cunp
LeadSource picklist 255 cunp
IsClosed boolean 0 d
IsWon boolean 0 d
ForecastCategory picklist 40 d
ForecastCategoryName picklist 255 cunp
CampaignId reference 18 cunp Campaign>Campaign
HasOpportunityLineItem boolean 0 d
Pricebook2Id reference 18 cunp Pricebook2>Pricebook2
OwnerId reference 18 cupd Owner>User
` + auditFields + `
LastActivityDate date 0 n
FiscalQuarter int 0 n
FiscalYear int 0 n
Fiscal string 6 n
LastViewedDate datetime 0 n
LastReferencedDate datetime 0 n`

	eventFields = `Id id 18 xd
WhoId reference 18 cunp Who>Contact,Lead
WhatId reference 18 cunp What>Account,Campaign,Opportunity
Subject combobox 255 cunp
Location string 255 cunp
IsAllDayEvent boolean 0 cupd
ActivityDateTime datetime 0 cunp
ActivityDate date 0 cunp
DurationInMinutes int 0 cunp
StartDateTime datetime 0 cunp
EndDateTime datetime 0 cunp
Description textarea 32000 cunp
AccountId reference 18 n Account>Account
OwnerId reference 18 cupd Owner>Calendar,User
Type picklist 40 cunp
IsPrivate boolean 0 cupd
ShowAs picklist 40 cunp
IsDeleted boolean 0 d
IsChild boolean 0 d
IsGroupEvent boolean 0 d
GroupEventType picklist 40 n
` + auditFields + `
IsArchived boolean 0 d
IsRecurrence boolean 0 cd
ReminderDateTime datetime 0 cunp
IsReminderSet boolean 0 cupd
EventSubtype picklist 40 cn`

	taskFields = `Id id 18 xd
WhoId reference 18 cunp Who>Contact,Lead
WhatId reference 18 cunp What>Account,Campaign,Opportunity
Subject combobox 255 cunp
ActivityDate date 0 cunp
Status picklist 40 cupd
Priority picklist 40 cupd
IsHighPriority boolean 0 d
OwnerId reference 18 cupd Owner>Group,User
Description textarea 32000 cunp
Type picklist 40 cunp
IsDeleted boolean 0 d
AccountId reference 18 n Account>Account
IsClosed boolean 0 d
` + auditFields + `
IsArchived boolean 0 d
CallDurationInSeconds int 0 cunp
CallType picklist 40 cunp
CallDisposition string 255 cunp
CallObject string 255 cunp
ReminderDateTime datetime 0 cunp
IsReminderSet boolean 0 cupd
IsRecurrence boolean 0 cd
TaskSubtype picklist 40 cn
CompletedDateTime datetime 0 n`

	userFields = `Id id 18 xd
Username string 80 cuxU
LastName string 80 cu
FirstName string 40 cun
MiddleName string 40 cun
Suffix string 40 cun
Name string 121 Nd
CompanyName string 80 cun
Division string 80 cun
Department string 80 cun
Title string 80 cun
Street textarea 255 cun
City string 40 cun
State string 80 cun
PostalCode string 20 cun
Country string 80 cun
Address address 0 n
Email email 128 cu
EmailPreferencesAutoBcc boolean 0 cud
SenderEmail email 80 cun
SenderName string 80 cun
Signature textarea 1333 cun
Phone phone 40 cun
Fax phone 40 cun
MobilePhone phone 40 cun
Alias string 8 cu
CommunityNickname string 40 cud
IsActive boolean 0 cud
TimeZoneSidKey picklist 40 cu
UserRoleId reference 18 cun UserRole>UserRole
LocaleSidKey picklist 40 cu
ReceivesInfoEmails boolean 0 cud
ReceivesAdminInfoEmails boolean 0 cud
EmailEncodingKey picklist 40 cu
ProfileId reference 18 cu Profile>Profile
UserType picklist 40 nd
LanguageLocaleKey picklist 40 cu
EmployeeNumber string 20 cun
DelegatedApproverId reference 18 cun DelegatedApprover>Group,User
ManagerId reference 18 cun Manager>User
LastLoginDate datetime 0 n
LastPasswordChangeDate datetime 0 n
` + auditFields + `
UserPermissionsMarketingUser boolean 0 cud
UserPermissionsOfflineUser boolean 0 cud
UserPermissionsSFContentUser boolean 0 cud
UserPermissionsKnowledgeUser boolean 0 cud
UserPermissionsInteractionUser boolean 0 cud
UserPermissionsSupportUser boolean 0 cud
ForecastEnabled boolean 0 cud
ContactId reference 18 cn Contact>Contact
AccountId reference 18 n Account>Account
Extension phone 40 cun
FederationIdentifier string 512 cun
AboutMe textarea 1000 cun
FullPhotoUrl url 1024 n
SmallPhotoUrl url 1024 n
MediumPhotoUrl url 1024 n
BannerPhotoUrl url 1024 n
IsProfilePhotoActive boolean 0 d
LastViewedDate datetime 0 n
LastReferencedDate datetime 0 n`

	profileFields = `Id id 18 xd
Name string 255 cuN
` + `%PERMS%
UserLicenseId reference 18 c UserLicense>UserLicense
UserType picklist 40 nd
` + auditFields + `
Description string 255 cun
LastViewedDate datetime 0 n
LastReferencedDate datetime 0 n`

	permissionSetFields = `Id id 18 xd
Name string 80 cu
Label string 80 cu
LicenseId reference 18 cun License>UserLicense
ProfileId reference 18 n Profile>Profile
IsOwnedByProfile boolean 0 d
IsCustom boolean 0 d
Type picklist 40 nd
NamespacePrefix string 15 n
Description string 255 cun
PermissionSetGroupId reference 18 n PermissionSetGroup>PermissionSetGroup
HasActivationRequired boolean 0 cud
%PERMS%
` + auditFields

	psaFields = `Id id 18 xd
AssigneeId reference 18 c Assignee>User
PermissionSetId reference 18 c PermissionSet>PermissionSet
PermissionSetGroupId reference 18 cn PermissionSetGroup>PermissionSetGroup
ExpirationDate datetime 0 cun
IsActive boolean 0 d
IsRevoked boolean 0 d
SystemModstamp datetime 0 d`

	objectPermFields = `Id id 18 xd
ParentId reference 18 c Parent>PermissionSet
SobjectType picklist 40 c
PermissionsCreate boolean 0 cud
PermissionsRead boolean 0 cud
PermissionsEdit boolean 0 cud
PermissionsDelete boolean 0 cud
PermissionsViewAllRecords boolean 0 cud
PermissionsModifyAllRecords boolean 0 cud
PermissionsViewAllFields boolean 0 cud
` + auditFields

	fieldPermFields = `Id id 18 xd
ParentId reference 18 c Parent>PermissionSet
SobjectType picklist 40 c
Field picklist 255 c
PermissionsEdit boolean 0 cud
PermissionsRead boolean 0 cud
` + auditFields

	userLicenseFields = `Id id 18 xd
LicenseDefinitionKey string 40 d
TotalLicenses int 0 d
Status picklist 40 d
UsedLicenses int 0 d
UsedLicensesLastUpdated datetime 0 d
Name string 40 Nd
MasterLabel string 80 d
MonthlyLoginsUsed int 0 n
MonthlyLoginsEntitlement int 0 n
CreatedDate datetime 0 d
LastModifiedDate datetime 0 d
SystemModstamp datetime 0 d`

	userRoleFields = `Id id 18 xd
Name string 80 cuN
ParentRoleId reference 18 cun
RollupDescription string 80 cun
DeveloperName string 80 cun
` + auditFields

	organizationFields = `Id id 18 xd
Name string 80 uN
Division string 80 un
Country string 80 un
Phone phone 40 un
DefaultLocaleSidKey picklist 40 u
TimeZoneSidKey picklist 40 u
LanguageLocaleKey picklist 40 u
IsSandbox boolean 0 d
OrganizationType picklist 40 d
InstanceName string 5 n
NamespacePrefix string 15 n
TrialExpirationDate datetime 0 n
` + auditFields
)

type objectSpec struct {
	name, labelPlural, prefix string
	acc                       access
	fields                    string
	c, u, d                   bool
}

var objectSpecs = []objectSpec{
	{"Lead", "Leads", "00Q", accessCRM, leadFields, true, true, true},
	{"Contact", "Contacts", "003", accessCRM, contactFields, true, true, true},
	{"Campaign", "Campaigns", "701", accessCRM, campaignFields, true, true, true},
	{"CampaignMember", "Campaign Members", "00v", accessCRM, campaignMemberFields, true, true, true},
	{"Account", "Accounts", "001", accessCRM, accountFields, true, true, true},
	{"Opportunity", "Opportunities", "006", accessCRM, opportunityFields, true, true, true},
	{"Event", "Events", "00U", accessActivity, eventFields, true, true, true},
	{"Task", "Tasks", "00T", accessActivity, taskFields, true, true, true},
	{"User", "Users", PrefixUser, accessPublic, userFields, true, true, false},
	{"Profile", "Profiles", PrefixProfile, accessPublic, profileFields, true, true, true},
	{"UserLicense", "User Licenses", PrefixLicense, accessPublic, userLicenseFields, false, false, false},
	{"UserRole", "Roles", PrefixRole, accessPublic, userRoleFields, true, true, true},
	{"Organization", "Organizations", PrefixOrg, accessPublic, organizationFields, false, true, false},
	{"PermissionSet", "Permission Sets", PrefixPermissionSet, accessSetup, permissionSetFields, true, true, true},
	{"PermissionSetAssignment", "Permission Set Assignments", PrefixPSA, accessSetup, psaFields, true, false, true},
	{"ObjectPermissions", "Object Permissions", PrefixObjectPerm, accessSetup, objectPermFields, true, true, true},
	{"FieldPermissions", "Field Permissions", PrefixFieldPerm, accessSetup, fieldPermFields, true, true, true},
}

// schema is the set of sObjects, built once per Server from the text tables above.
type schema struct {
	objects []*objectDef
	byLower map[string]*objectDef
}

func (s *schema) object(name string) *objectDef { return s.byLower[strings.ToLower(name)] }

func buildSchema() *schema {
	var permLines []string
	for _, p := range userPermissionFields {
		permLines = append(permLines, p+" boolean 0 cud")
	}
	perms := strings.Join(permLines, "\n")
	sc := &schema{byLower: map[string]*objectDef{}}
	for _, spec := range objectSpecs {
		o := &objectDef{
			Name: spec.name, Label: labelOf(spec.name), LabelPlural: spec.labelPlural,
			KeyPrefix: spec.prefix, access: spec.acc,
			byLower: map[string]*fieldDef{}, rels: map[string]*fieldDef{},
			baseCreateable: spec.c, baseUpdateable: spec.u, baseDeletable: spec.d,
		}
		for _, line := range strings.Split(strings.ReplaceAll(spec.fields, "%PERMS%", perms), "\n") {
			f := parseFieldLine(line, o.Name)
			if f == nil {
				continue
			}
			o.fields = append(o.fields, f)
			o.byLower[f.lower] = f
			if f.RelationshipName != "" {
				o.rels[strings.ToLower(f.RelationshipName)] = f
			}
		}
		sc.objects = append(sc.objects, o)
		sc.byLower[strings.ToLower(o.Name)] = o
	}
	return sc
}

func parseFieldLine(line, object string) *fieldDef {
	parts := strings.Fields(line)
	if len(parts) < 4 {
		return nil
	}
	n, _ := strconv.Atoi(parts[2])
	f := &fieldDef{Name: parts[0], Type: parts[1], Length: n, lower: strings.ToLower(parts[0])}
	for _, c := range parts[3] {
		switch c {
		case 'c':
			f.Createable = true
		case 'u':
			f.Updateable = true
		case 'n':
			f.Nillable = true
		case 'p':
			f.Permissionable = true
		case 'N':
			f.NameField = true
		case 'x':
			f.IDLookup = true
		case 'd':
			f.Defaulted = true
		case 'U':
			f.Unique = true
		}
	}
	if len(parts) > 4 {
		rel, targets, _ := strings.Cut(parts[4], ">")
		f.RelationshipName = rel
		f.ReferenceTo = strings.Split(targets, ",")
	}
	f.Label = labelOf(f.Name)
	if f.Name == "Id" {
		f.Label = labelOf(object) + " ID"
	}
	return f
}

// labelOf turns an API name into a label: "LeadSource" -> "Lead Source", "OwnerId" -> "Owner ID".
func labelOf(name string) string {
	name = strings.TrimPrefix(name, "Permissions")
	if strings.HasSuffix(name, "Id") && len(name) > 2 {
		name = name[:len(name)-2] + "ID"
	}
	var b strings.Builder
	rs := []rune(name)
	for i, r := range rs {
		if i > 0 && unicode.IsUpper(r) && (unicode.IsLower(rs[i-1]) || (i+1 < len(rs) && unicode.IsLower(rs[i+1]) && unicode.IsUpper(rs[i-1]))) {
			b.WriteByte(' ')
		}
		b.WriteRune(r)
	}
	return b.String()
}
