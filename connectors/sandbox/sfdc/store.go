package sfdc

import (
	"fmt"
	"strings"
	"time"
)

type org struct {
	idx               uint64
	ID, Name, Edition string
	Domain            string
	apiEnabled        bool
	dailyMax          int
	created           time.Time
	usage             usageWindow
	concurrencyFaults int // >0: that many calls fail; <0: every call fails
	licenses          []*license
	profiles          []*profile
	permsets          []*permSet
	psas              []*psa
	users             []*user
	usersByID         map[string]*user
	nextPS, nextPSA   uint64
	adminID           string // CreatedById of setup records
}

type user struct {
	ID, Username, Email, FirstName, LastName, Name string
	Title, UserType, TimeZone                      string
	ManagerID                                      string
	IsActive, MarketingUser, PhotoActive           bool
	created, lastLogin                             time.Time
	profile                                        *profile
	org                                            *org
	assigned                                       []*psa // non-profile assignments
	profilePSA                                     *psa
}

type profile struct {
	ID, Name, UserType string
	license            *license
	ps                 *permSet
	created            time.Time
}

type license struct {
	ID, Name, Key string
	total, used   int
	created       time.Time
}

type objPerm uint8

const (
	opRead objPerm = 1 << iota
	opCreate
	opEdit
	opDelete
	opViewAll
	opModifyAll
)

var objPermNames = []struct {
	name string
	bit  objPerm
}{{"Read", opRead}, {"Create", opCreate}, {"Edit", opEdit}, {"Delete", opDelete}, {"ViewAllRecords", opViewAll}, {"ModifyAllRecords", opModifyAll}}

type fldPerm uint8

const (
	fpRead fldPerm = 1 << iota
	fpEdit
)

type permSet struct {
	ID, Name, Label string
	profile         *profile // non-nil for a profile-owned set
	user            map[string]bool
	obj             map[string]objPerm // "Lead", or "*" for every CRM object
	fld             map[string]fldPerm // "Lead.Email", "Lead.*" or "*"
	created         time.Time
}

type psa struct {
	serial uint64 // the id is derived on demand: 100,000 users need no 100,000 id strings
	user   *user
	ps     *permSet
}

func (a *psa) id() string { return MakeID(PrefixPSA, a.serial) }

// canonicalUserPerm maps "apienabled"/"PermissionsApiEnabled" to "ApiEnabled".
func canonicalUserPerm(name string) (string, bool) {
	n := strings.TrimPrefix(strings.ToLower(name), "permissions")
	for _, f := range userPermissionFields {
		c := strings.TrimPrefix(f, "Permissions")
		if strings.ToLower(c) == n {
			return c, true
		}
	}
	return "", false
}

var licenseKeys = map[string]string{
	"Salesforce":             "SFDC",
	"Salesforce Platform":    "AUL",
	"Chatter Free":           "PID_Chatter",
	"Customer Community":     "PID_Customer_Community",
	"Partner Community":      "PID_Partner_Community",
	"Salesforce Integration": "PID_Salesforce_Integration",
}

// buildPermSet validates a PermissionsSpec against the schema.
func (s *Server) buildPermSet(id, name, label string, spec PermissionsSpec, created time.Time) (*permSet, error) {
	ps := &permSet{ID: id, Name: name, Label: label, user: map[string]bool{}, obj: map[string]objPerm{}, fld: map[string]fldPerm{}, created: created}
	for _, u := range spec.User {
		c, ok := canonicalUserPerm(u)
		if !ok {
			return nil, fmt.Errorf("permission set %q: unknown user permission %q", name, u)
		}
		ps.user[c] = true
	}
	for obj, accs := range spec.Objects {
		key := obj
		if obj != "*" {
			o := s.schema.object(obj)
			if o == nil || o.access != accessCRM {
				return nil, fmt.Errorf("permission set %q: %q has no object permissions (want one of Lead, Contact, Campaign, CampaignMember, Account, Opportunity)", name, obj)
			}
			key = o.Name
		}
		for _, a := range accs {
			bit, ok := objBit(a)
			if !ok {
				return nil, fmt.Errorf("permission set %q: unknown object access %q on %s", name, a, obj)
			}
			ps.obj[key] |= bit | impliedObj(bit)
		}
	}
	for fieldKey, accs := range spec.Fields {
		key, err := s.canonicalFieldKey(fieldKey)
		if err != nil {
			return nil, fmt.Errorf("permission set %q: %w", name, err)
		}
		for _, a := range accs {
			switch strings.ToLower(a) {
			case "read":
				ps.fld[key] |= fpRead
			case "edit":
				ps.fld[key] |= fpRead | fpEdit
			default:
				return nil, fmt.Errorf("permission set %q: unknown field access %q on %s", name, a, fieldKey)
			}
		}
	}
	return ps, nil
}

func objBit(name string) (objPerm, bool) {
	for _, p := range objPermNames {
		if strings.EqualFold(p.name, name) {
			return p.bit, true
		}
	}
	return 0, false
}

// impliedObj returns the permissions a granted one depends on (Edit needs Read, ...).
func impliedObj(bit objPerm) objPerm {
	switch bit {
	case opCreate, opEdit, opViewAll:
		return opRead
	case opDelete:
		return opRead | opEdit
	case opModifyAll:
		return opRead | opEdit | opDelete | opViewAll
	}
	return 0
}

// dependentObj returns the permissions that must go when bit is removed.
func dependentObj(bit objPerm) objPerm {
	switch bit {
	case opRead:
		return opCreate | opEdit | opDelete | opViewAll | opModifyAll
	case opEdit:
		return opDelete | opModifyAll
	case opDelete, opViewAll:
		return opModifyAll
	}
	return 0
}

func (s *Server) canonicalFieldKey(key string) (string, error) {
	if key == "*" {
		return key, nil
	}
	objName, fieldName, ok := strings.Cut(key, ".")
	o := s.schema.object(objName)
	if !ok || o == nil || (o.access != accessCRM && o.access != accessActivity) {
		return "", fmt.Errorf("field permission %q: want Object.Field on a CRM object or Event/Task", key)
	}
	if fieldName == "*" {
		return o.Name + ".*", nil
	}
	f := o.field(fieldName)
	if f == nil || !f.Permissionable {
		return "", fmt.Errorf("field permission %q: no such FLS-controlled field on %s", key, o.Name)
	}
	return o.Name + "." + f.Name, nil
}

// loadOrg turns an OrgSpec into an org. Callers hold s.mu.
func (s *Server) loadOrg(spec OrgSpec) (*org, error) {
	s.orgSeq++
	o := &org{idx: s.orgSeq, Name: spec.Name, Edition: spec.Edition, Domain: spec.Domain,
		apiEnabled: !spec.APIDisabled, dailyMax: spec.DailyAPIMax, usersByID: map[string]*user{}}
	base := o.idx << 34
	o.ID = MakeID(PrefixOrg, o.idx)
	if spec.ID != "" {
		id, ok := NormalizeID(spec.ID)
		if !ok || !strings.HasPrefix(id, PrefixOrg) {
			return nil, fmt.Errorf("org %q: id %q is not an 00D id", spec.Name, spec.ID)
		}
		o.ID = id
	}
	if _, dup := s.orgByID[o.ID]; dup {
		return nil, fmt.Errorf("org %s: loaded twice", o.ID)
	}
	if o.Name == "" {
		o.Name = "Sandbox Org " + o.ID[:15]
	}
	if o.Edition == "" {
		o.Edition = "Enterprise Edition"
	}
	if o.Domain == "" {
		o.Domain = slug(o.Name)
	}
	if o.dailyMax == 0 {
		o.dailyMax = 100000
	}
	o.created = time.Date(2021, 3, 1, 9, 0, 0, 0, time.UTC)

	idOr := func(given, prefix string, n uint64, what string) (string, error) {
		if given == "" {
			return MakeID(prefix, base|n), nil
		}
		id, ok := NormalizeID(given)
		if !ok || !strings.HasPrefix(id, prefix) {
			return "", fmt.Errorf("org %s: %s id %q is not a valid %s… id", o.ID, what, given, prefix)
		}
		return id, nil
	}

	profSpecs := spec.Profiles
	if len(profSpecs) == 0 {
		profSpecs = StandardProfiles()
	}
	licByName := map[string]*license{}
	profByKey := map[string]*profile{}
	for i, ps := range profSpecs {
		id, err := idOr(ps.ID, PrefixProfile, uint64(i+1), "profile")
		if err != nil {
			return nil, err
		}
		lname := ps.UserLicense
		if lname == "" {
			lname = "Salesforce"
		}
		lic := licByName[lname]
		if lic == nil {
			key := licenseKeys[lname]
			if key == "" {
				key = "PID_" + strings.ReplaceAll(lname, " ", "_")
			}
			lic = &license{ID: MakeID(PrefixLicense, base|uint64(len(licByName)+1)), Name: lname, Key: key, created: o.created}
			licByName[lname] = lic
			o.licenses = append(o.licenses, lic)
		}
		utype := ps.UserType
		if utype == "" {
			utype = "Standard"
		}
		p := &profile{ID: id, Name: ps.Name, UserType: utype, license: lic, created: o.created}
		o.nextPS++
		set, err := s.buildPermSet(MakeID(PrefixPermissionSet, base|o.nextPS), profileOwnedName(id), "", ps.Permissions, o.created)
		if err != nil {
			return nil, fmt.Errorf("org %s: profile %q: %w", o.ID, ps.Name, err)
		}
		set.profile = p
		p.ps = set
		o.profiles = append(o.profiles, p)
		o.permsets = append(o.permsets, set)
		profByKey[strings.ToLower(id)] = p
		profByKey[strings.ToLower(ps.Name)] = p
		profByKey[ps.Name] = p
	}
	psByKey := map[string]*permSet{}
	for _, pss := range spec.PermissionSets {
		o.nextPS++
		id, err := idOr(pss.ID, PrefixPermissionSet, o.nextPS, "permission set")
		if err != nil {
			return nil, err
		}
		label := pss.Label
		if label == "" {
			label = pss.Name
		}
		set, err := s.buildPermSet(id, pss.Name, label, pss.Permissions, o.created)
		if err != nil {
			return nil, fmt.Errorf("org %s: %w", o.ID, err)
		}
		o.permsets = append(o.permsets, set)
		psByKey[strings.ToLower(id)] = set
		psByKey[strings.ToLower(pss.Name)] = set
	}

	users := spec.Users
	if spec.Generate != nil {
		users = append(users[:len(users):len(users)], GenerateUsers(spec.Generate.Seed, spec.Generate.Users, o.Domain)...)
	}
	o.users = make([]*user, 0, len(users))
	o.usersByID = make(map[string]*user, len(users))
	// Usernames go straight into the server-wide index; a failed load takes them out again.
	added := 0
	defer func() {
		if added >= 0 {
			for _, u := range o.users[:added] {
				delete(s.usersByName, strings.ToLower(u.Username))
			}
		}
	}()
	for i, us := range users {
		id, err := idOr(us.ID, PrefixUser, uint64(i+1), "user")
		if err != nil {
			return nil, err
		}
		if _, dup := o.usersByID[id]; dup {
			return nil, fmt.Errorf("org %s: user id %s used twice", o.ID, id)
		}
		p := profByKey[us.Profile]
		if p == nil {
			p = profByKey[strings.ToLower(us.Profile)]
		}
		if p == nil {
			if nid, ok := NormalizeID(us.Profile); ok {
				p = profByKey[strings.ToLower(nid)]
			}
		}
		if p == nil {
			return nil, fmt.Errorf("org %s: user %q: unknown profile %q", o.ID, us.Username, us.Profile)
		}
		if us.Username == "" || us.LastName == "" {
			return nil, fmt.Errorf("org %s: user %d: username and lastName are required", o.ID, i)
		}
		lname := strings.ToLower(us.Username)
		if _, dup := s.usersByName[lname]; dup {
			return nil, fmt.Errorf("org %s: username %q already exists (usernames are unique across all orgs)", o.ID, us.Username)
		}
		u := &user{ID: id, Username: us.Username, Email: us.Email, FirstName: us.FirstName, LastName: us.LastName,
			Title: us.Title, UserType: us.UserType, TimeZone: us.TimeZoneSidKey, ManagerID: us.ManagerID,
			IsActive: us.Active(), MarketingUser: us.MarketingUser, PhotoActive: us.PhotoActive, profile: p, org: o}
		if u.UserType == "" {
			u.UserType = p.UserType
		}
		if u.TimeZone == "" {
			u.TimeZone = "America/Los_Angeles"
		}
		u.Name = strings.TrimSpace(u.FirstName + " " + u.LastName)
		u.created = o.created.Add(time.Duration(i%5000) * time.Hour)
		if u.IsActive {
			u.lastLogin = u.created.Add(time.Duration(24*30+i%720) * time.Hour)
		}
		o.nextPSA++
		u.profilePSA = &psa{serial: base | o.nextPSA, user: u, ps: p.ps}
		o.psas = append(o.psas, u.profilePSA)
		for _, name := range us.PermissionSets {
			set := psByKey[strings.ToLower(name)]
			if set == nil {
				if nid, ok := NormalizeID(name); ok {
					set = psByKey[strings.ToLower(nid)]
				}
			}
			if set == nil {
				return nil, fmt.Errorf("org %s: user %q: unknown permission set %q", o.ID, us.Username, name)
			}
			o.nextPSA++
			a := &psa{serial: base | o.nextPSA, user: u, ps: set}
			u.assigned = append(u.assigned, a)
			o.psas = append(o.psas, a)
		}
		if u.IsActive {
			p.license.used++
		}
		p.license.total++
		o.users = append(o.users, u)
		o.usersByID[id] = u
		s.usersByName[lname] = u
		added++
	}
	added = -1 // success: keep the usernames
	o.adminID = ""
	for _, u := range o.users {
		if u.profile.ps.user["ModifyAllData"] {
			o.adminID = u.ID
			break
		}
	}
	if o.adminID == "" && len(o.users) > 0 {
		o.adminID = o.users[0].ID
	}
	for _, l := range o.licenses {
		l.total += 10 + l.total/10 // spare seats, as real orgs have
	}
	return o, nil
}

func profileOwnedName(id string) string {
	// Salesforce names profile-owned sets with an opaque generated name.
	return "X00e" + strings.ToUpper(id[3:15])
}

func alias(first, last string) string {
	a := ""
	if first != "" {
		a = strings.ToLower(first[:1])
	}
	l := strings.ToLower(last)
	if len(l) > 4 {
		l = l[:4]
	}
	return a + l
}

func slug(name string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(name) {
		if r >= 'a' && r <= 'z' || r >= '0' && r <= '9' {
			b.WriteRune(r)
		}
	}
	if b.Len() == 0 {
		return "org"
	}
	return b.String()
}
