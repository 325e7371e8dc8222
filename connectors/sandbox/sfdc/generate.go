package sfdc

import (
	"math/rand/v2"
	"strconv"
	"strings"
)

// Names of the profiles StandardProfiles returns.
const (
	ProfileSystemAdministrator = "System Administrator"
	ProfileStandardUser        = "Standard User"
	ProfileSalesUser           = "Sales User"
	ProfileMarketingUser       = "Marketing User"
	ProfileReadOnly            = "Read Only"
	ProfileContractManager     = "Contract Manager"
	ProfileChatterFree         = "Chatter Free User"
	ProfileCustomerCommunity   = "Customer Community User"
	ProfilePartnerCommunity    = "Partner Community User"
	ProfileIntegration         = "Tether Integration Profile"
)

var allFieldsRE = map[string][]string{"*": {"Read", "Edit"}}

// StandardProfiles returns a realistic set of profiles: the usual standard ones, a custom
// "Sales User", community and Chatter profiles with non-Standard user types, and a minimal
// custom profile for the team-level integration user (API Enabled only; everything else
// comes from TeamPermissionSet).
func StandardProfiles() []ProfileSpec {
	crud := []string{"Read", "Create", "Edit", "Delete"}
	std := PermissionsSpec{
		User:    []string{"ApiEnabled", "EditTask", "EditEvent", "ConvertLeads", "RunReports", "LightningExperienceUser", "ChatterInternalUser"},
		Objects: map[string][]string{"Lead": crud, "Contact": crud, "Account": crud, "Opportunity": crud, "Campaign": {"Read"}, "CampaignMember": {"Read"}},
		Fields:  allFieldsRE,
	}
	mkt := std
	mkt.Objects = map[string][]string{"Lead": crud, "Contact": crud, "Account": crud, "Opportunity": crud, "Campaign": crud, "CampaignMember": crud}
	return []ProfileSpec{
		{Name: ProfileSystemAdministrator, Permissions: PermissionsSpec{
			User:    []string{"ApiEnabled", "ViewSetup", "ModifyAllData", "ViewAllData", "ManageUsers", "AssignPermissionSets", "ViewAllUsers", "EditTask", "EditEvent", "ConvertLeads", "ImportLeads", "TransferAnyLead", "ViewRoles", "RunReports", "ExportReport", "LightningExperienceUser", "ChatterInternalUser"},
			Objects: map[string][]string{"*": {"ModifyAllRecords"}}, Fields: allFieldsRE}},
		{Name: ProfileStandardUser, Permissions: std},
		{Name: ProfileSalesUser, Permissions: std},
		{Name: ProfileMarketingUser, Permissions: mkt},
		{Name: ProfileContractManager, Permissions: std},
		{Name: ProfileReadOnly, Permissions: PermissionsSpec{User: []string{"ApiEnabled", "RunReports"},
			Objects: map[string][]string{"*": {"Read"}}, Fields: map[string][]string{"*": {"Read"}}}},
		{Name: ProfileChatterFree, UserType: "CsnOnly", UserLicense: "Chatter Free",
			Permissions: PermissionsSpec{User: []string{"ApiEnabled", "ChatterInternalUser"}}},
		{Name: ProfileCustomerCommunity, UserType: "CspLitePortal", UserLicense: "Customer Community",
			Permissions: PermissionsSpec{Objects: map[string][]string{"Account": {"Read"}, "Contact": {"Read"}}, Fields: map[string][]string{"Account.*": {"Read"}, "Contact.*": {"Read"}}}},
		{Name: ProfilePartnerCommunity, UserType: "PowerPartner", UserLicense: "Partner Community",
			Permissions: PermissionsSpec{User: []string{"ApiEnabled"}, Objects: map[string][]string{"Lead": {"Read", "Create", "Edit"}, "Account": {"Read"}, "Contact": {"Read", "Edit"}, "Opportunity": {"Read", "Edit"}}, Fields: allFieldsRE}},
		{Name: ProfileIntegration, Permissions: PermissionsSpec{User: []string{"ApiEnabled"}}},
	}
}

// TeamUsername is the username GenerateOrg gives the team-level user of an org whose
// My Domain is domain.
func TeamUsername(domain string) string { return "tether.integration@" + domain + ".example.com" }

// GenerateOrg builds a realistic org with n generated users plus, first in Users, the
// team-level integration user (profile ProfileIntegration, permission set
// TeamPermissionSet, Marketing User on): the user tether's team connection logs in as.
// The same seed gives the same org; ids are filled in by LoadScenario (the team user is
// always the org's first user). 100,000 users take well under a second.
func GenerateOrg(seed int64, n int) OrgSpec {
	domain := "acme" + strconv.FormatInt(seed, 36)
	return OrgSpec{
		Name:           "Acme " + strconv.FormatInt(seed, 10),
		Domain:         domain,
		Profiles:       StandardProfiles(),
		PermissionSets: []PermissionSetSpec{TeamPermissionSet()},
		Users: append([]UserSpec{{
			Username: TeamUsername(domain), Email: "integration@" + domain + ".example.com",
			FirstName: "Tether", LastName: "Integration", Title: "Integration User",
			Profile: ProfileIntegration, MarketingUser: true,
			PermissionSets: []string{"Tether_Integration"},
		}}, GenerateUsers(seed, n, domain)...),
	}
}

var firstNames = strings.Fields(`James Mary Robert Patricia John Jennifer Michael Linda David Elizabeth
William Barbara Richard Susan Joseph Jessica Thomas Sarah Charles Karen Christopher Lisa Daniel Nancy
Matthew Betty Anthony Sandra Mark Margaret Donald Ashley Steven Kimberly Andrew Emily Paul Donna Joshua
Michelle Kenneth Carol Kevin Amanda Brian Melissa George Deborah Timothy Stephanie Ronald Rebecca Jason
Sharon Edward Laura Jeffrey Cynthia Ryan Dorothy Jacob Amy Gary Kathleen Nicholas Angela Eric Shirley
Jonathan Emma Stephen Brenda Larry Pamela Justin Nicole Scott Anna Brandon Samantha Benjamin Katherine
Samuel Christine Gregory Debra Alexander Rachel Patrick Carolyn Frank Janet Raymond Maria Jack Olivia
Dennis Heather Jerry Helen Tyler Catherine Aaron Diane José Zoë Renée François Siobhan Nguyễn Ana-María
Wei Priya Mohammed Aisha Hiroshi Yuki Olga Sven Ingrid Mateo Lucía Chloé Björn Åsa Dmitri Fatima`)

var lastNames = strings.Fields(`Smith Johnson Williams Brown Jones Garcia Miller Davis Rodriguez Martinez
Hernandez Lopez Gonzalez Wilson Anderson Thomas Taylor Moore Jackson Martin Lee Perez Thompson White Harris
Sanchez Clark Ramirez Lewis Robinson Walker Young Allen King Wright Scott Torres Nguyen Hill Flores Green
Adams Nelson Baker Hall Rivera Campbell Mitchell Carter Roberts Gomez Phillips Evans Turner Diaz Parker Cruz
Edwards Collins Reyes Stewart Morris Morales Murphy Cook Rogers Gutierrez Ortiz Morgan Cooper Peterson Bailey
Reed Kelly Howard Ramos Kim Cox Ward Richardson Watson Brooks Chavez Wood James Bennett Gray Mendoza Ruiz
Hughes Price Alvarez Castillo Sanders Patel Myers Long Ross Foster O'Brien O'Neil McDonald MacLeod Van-der-Berg
Müller Schäfer Öztürk Søndergaard Kowalski Dubois Rossi Tanaka Suzuki Yamamoto Ivanov Chen Wang Li Zhang
Singh Kumar Haddad Costa Silva`)

var titles = []string{"Account Executive", "Sales Development Representative", "Business Development Representative",
	"Sales Manager", "Regional Sales Director", "VP Sales", "Marketing Manager", "Customer Success Manager",
	"Solutions Engineer", "Inside Sales Rep", "Sales Operations Analyst", "", ""}

var emailDomains = []string{"", "", "", "", "", "", "gmail.com", "outlook.com", "example.org"}

// GenerateUsers returns n deterministic, realistic users for an org whose My Domain is
// domain: about 10% inactive, about 5% with a non-Standard user type (Chatter Free,
// community), about 1% without email, about 0.5% with a malformed email, about 1% whose
// email repeats an earlier user's email in different letter case, mixed-case emails,
// accented and hyphenated names. Usernames are unique.
func GenerateUsers(seed int64, n int, domain string) []UserSpec {
	r := rand.New(rand.NewPCG(uint64(seed), 0x5eed))
	users := make([]UserSpec, n)
	firstLocal, lastLocal := localParts(firstNames), localParts(lastNames)
	seen := make(map[string]bool, n)
	for i := range users {
		fi, li := r.IntN(len(firstNames)), r.IntN(len(lastNames))
		first, last := firstNames[fi], lastNames[li]
		local := firstLocal[fi] + "." + lastLocal[li]
		if r.IntN(50) == 0 {
			first, local = "", lastLocal[li] // FirstName is optional in Salesforce
		}
		company := domain + ".example.com"
		username := local + "." + strconv.Itoa(i) + "@" + company
		dom := emailDomains[r.IntN(len(emailDomains))]
		if dom == "" {
			dom = company
		}
		email := local + "@" + dom
		if r.IntN(4) == 0 {
			email = strings.ToLower(local) + strconv.Itoa(r.IntN(100)) + "@" + dom
		}
		// Real orgs rarely share an address: make accidental collisions unique so the
		// only duplicates are the deliberate case-variants below.
		if seen[strings.ToLower(email)] {
			email = local + "." + strconv.Itoa(i) + "@" + dom
		}
		switch x := r.IntN(1000); {
		case x < 10:
			email = ""
		case x < 15:
			email = malformedEmail(r, local, dom)
		case x < 25 && i > 0:
			email = flipCase(r, users[r.IntN(i)].Email)
		case x < 150:
			email = strings.ToUpper(email[:1]) + email[1:]
		case x < 180:
			email = strings.ToUpper(email)
		}
		if email != "" {
			seen[strings.ToLower(email)] = true
		}
		profile := pickProfile(r)
		active := r.IntN(10) != 0
		users[i] = UserSpec{
			Username: username, Email: email, FirstName: first, LastName: last,
			Title: titles[r.IntN(len(titles))], Profile: profile,
			IsActive: &active, MarketingUser: profile == ProfileMarketingUser || r.IntN(20) == 0,
			PhotoActive: r.IntN(10) < 6,
		}
		users[i].TimeZoneSidKey = timeZones[r.IntN(len(timeZones))]
	}
	return users
}

var timeZones = []string{"America/Los_Angeles", "America/New_York", "America/Chicago", "Europe/London", "Europe/Berlin", "Asia/Tokyo", "Australia/Sydney"}

func pickProfile(r *rand.Rand) string {
	switch x := r.IntN(100); {
	case x < 2:
		return ProfileChatterFree
	case x < 4:
		return ProfileCustomerCommunity
	case x < 5:
		return ProfilePartnerCommunity
	case x < 8:
		return ProfileSystemAdministrator
	case x < 28:
		return ProfileSalesUser
	case x < 40:
		return ProfileMarketingUser
	case x < 43:
		return ProfileReadOnly
	case x < 45:
		return ProfileContractManager
	}
	return ProfileStandardUser
}

func malformedEmail(r *rand.Rand, local, dom string) string {
	switch r.IntN(5) {
	case 0:
		return local + "@"
	case 1:
		return local + "." + dom
	case 2:
		return local + "@@" + dom
	case 3:
		return strings.ReplaceAll(local, ".", " ") + "@" + dom
	}
	return "@" + dom
}

func flipCase(r *rand.Rand, s string) string {
	b := []byte(s)
	for i := range b {
		if r.IntN(2) == 0 {
			b[i] = upper(b[i])
		} else {
			b[i] = lower(b[i])
		}
	}
	return string(b)
}

func localParts(names []string) []string {
	out := make([]string, len(names))
	for i, n := range names {
		out[i] = strings.ToLower(asciiOnly(n))
	}
	return out
}

// asciiOnly keeps usernames and emails ASCII, as most orgs' are.
func asciiOnly(s string) string {
	var b strings.Builder
	for _, c := range s {
		switch {
		case c < 128 && c != '\'' && c != ' ':
			b.WriteRune(c)
		case strings.ContainsRune("éèêëÉ", c):
			b.WriteByte('e')
		case strings.ContainsRune("áàâäåÅ", c):
			b.WriteByte('a')
		case strings.ContainsRune("öøóÖ", c):
			b.WriteByte('o')
		case strings.ContainsRune("üúÜ", c):
			b.WriteByte('u')
		case c == 'ç':
			b.WriteByte('c')
		case c == 'ễ':
			b.WriteByte('e')
		}
	}
	return b.String()
}
