package sfdc

import (
	"fmt"
	"strings"
)

// Permission names one permission a user can lose or gain in the sandbox:
//
//   - a system permission: "ApiEnabled", "ViewSetup", "AllowViewEditConvertedLeads",
//     "EditTask", "EditEvent", "ModifyAllData", ... (PermissionSet field without "Permissions")
//   - "MarketingUser": the User.UserPermissionsMarketingUser checkbox
//   - an object permission "Object:Access", Access one of Read, Create, Edit, Delete,
//     ViewAllRecords, ModifyAllRecords ("Lead:Edit"). "Event:Create"/"Task:Create" (and
//     ":Edit") are the EditEvent/EditTask system permissions, as in Salesforce.
//   - a field permission "Object.Field:Read" or "Object.Field:Edit" ("Lead.Email:Edit").
type Permission string

// Well-known permissions.
const (
	PermAPIEnabled     Permission = "ApiEnabled"
	PermViewSetup      Permission = "ViewSetup"
	PermConvertedLeads Permission = "AllowViewEditConvertedLeads"
	PermMarketingUser  Permission = "MarketingUser"
	PermEditTask       Permission = "EditTask"
	PermEditEvent      Permission = "EditEvent"
)

// validPermissions says which names a Permission takes, for the error a person reads
// after a typo.
func validPermissions() string {
	sys := make([]string, len(userPermissionFields))
	for i, f := range userPermissionFields {
		sys[i] = strings.TrimPrefix(f, "Permissions")
	}
	return fmt.Sprintf("use %s, a system permission (%s), an object permission Object:Access (Access one of Read, Create, Edit, Delete, ViewAllRecords, ModifyAllRecords; e.g. Lead:Edit) or a field permission Object.Field:Read|Edit (e.g. Lead.Email:Edit)",
		PermMarketingUser, strings.Join(sys, ", "))
}

// ObjectPermission returns "Object:Access".
func ObjectPermission(object, access string) Permission { return Permission(object + ":" + access) }

// FieldPermission returns "Object.Field:Access" (access "Read" or "Edit").
func FieldPermission(object, field, access string) Permission {
	return Permission(object + "." + field + ":" + access)
}

// TeamLeadFields and TeamContactFields are the fields tether writes.
var (
	TeamLeadFields    = []string{"FirstName", "LastName", "Email", "Company", "Phone", "Title", "Status", "OwnerId", "LeadSource"}
	TeamContactFields = []string{"FirstName", "LastName", "Email", "Phone", "Title", "OwnerId", "LeadSource"}
)

// TeamPermissions lists every permission tether's team-level user needs, one entry per
// row of the permission audit's table test (View and Edit Converted Leads is not here:
// the audit requires it to be off; grant it with GrantPermission to test that case).
func TeamPermissions() []Permission {
	ps := []Permission{
		ObjectPermission("Lead", "Read"), ObjectPermission("Lead", "Edit"), ObjectPermission("Lead", "Create"),
		ObjectPermission("Contact", "Read"), ObjectPermission("Contact", "Edit"),
		ObjectPermission("Campaign", "Read"), ObjectPermission("Campaign", "Edit"),
		ObjectPermission("CampaignMember", "Read"), ObjectPermission("CampaignMember", "Edit"),
		ObjectPermission("Account", "Read"), ObjectPermission("Opportunity", "Read"),
		ObjectPermission("Event", "Create"), ObjectPermission("Task", "Create"),
	}
	for _, f := range TeamLeadFields {
		ps = append(ps, FieldPermission("Lead", f, "Read"), FieldPermission("Lead", f, "Edit"))
	}
	for _, f := range TeamContactFields {
		ps = append(ps, FieldPermission("Contact", f, "Read"), FieldPermission("Contact", f, "Edit"))
	}
	return append(ps, PermMarketingUser, PermAPIEnabled, PermViewSetup)
}

// TeamPermissionSet is the permission set GenerateOrg gives the team-level user: exactly
// what TeamPermissions lists (plus Create on CampaignMember and Contact), nothing more.
func TeamPermissionSet() PermissionSetSpec {
	fields := map[string][]string{}
	for _, o := range []string{"Lead", "Contact", "Campaign", "CampaignMember", "Account", "Opportunity", "Event", "Task"} {
		fields[o+".*"] = []string{"Read", "Edit"}
	}
	return PermissionSetSpec{
		Name: "Tether_Integration", Label: "Tether Integration",
		Permissions: PermissionsSpec{
			User: []string{"ApiEnabled", "ViewSetup", "EditTask", "EditEvent"},
			Objects: map[string][]string{
				"Lead": {"Read", "Create", "Edit"}, "Contact": {"Read", "Create", "Edit"},
				"Campaign": {"Read", "Edit"}, "CampaignMember": {"Read", "Create", "Edit"},
				"Account": {"Read"}, "Opportunity": {"Read"},
			},
			Fields: fields,
		},
	}
}

// effective is the union of a user's profile and permission sets.
type effective struct {
	sets []*permSet
	u    *user
}

func (u *user) perms() effective {
	sets := make([]*permSet, 0, 1+len(u.assigned))
	sets = append(sets, u.profile.ps)
	for _, a := range u.assigned {
		sets = append(sets, a.ps)
	}
	return effective{sets: sets, u: u}
}

func (e effective) has(userPerm string) bool {
	for _, s := range e.sets {
		if s.user[userPerm] {
			return true
		}
	}
	return false
}

func (e effective) obj(name string) objPerm {
	if e.has("ModifyAllData") {
		return opRead | opCreate | opEdit | opDelete | opViewAll | opModifyAll
	}
	var p objPerm
	for _, s := range e.sets {
		p |= s.obj[name] | s.obj["*"]
	}
	if e.has("ViewAllData") {
		p |= opRead | opViewAll
	}
	return p
}

func (e effective) field(object string, f *fieldDef) fldPerm {
	if !f.Permissionable {
		return fpRead | fpEdit
	}
	if e.has("ModifyAllData") {
		return fpRead | fpEdit
	}
	var p fldPerm
	for _, s := range e.sets {
		p |= s.fld[object+"."+f.Name] | s.fld[object+".*"] | s.fld["*"]
	}
	if e.has("ViewAllData") {
		p |= fpRead
	}
	return p
}

// canRead reports whether the user may query/describe the object at all.
func (e effective) canRead(o *objectDef) bool {
	switch o.access {
	case accessCRM:
		return e.obj(o.Name)&opRead != 0
	case accessSetup:
		return e.has("ViewSetup") || e.has("ManageUsers") || e.has("AssignPermissionSets") || e.has("ModifyAllData")
	}
	return true
}

// objFlags returns describe's createable/updateable/deletable for the user.
func (e effective) objFlags(o *objectDef) (c, u, d bool) {
	switch o.access {
	case accessCRM:
		p := e.obj(o.Name)
		c, u, d = p&opCreate != 0, p&opEdit != 0, p&opDelete != 0
		if o.Name == "Campaign" && !e.u.MarketingUser {
			// Creating and editing campaigns needs the Marketing User checkbox.
			c, u = false, false
		}
	case accessActivity:
		perm := "EditTask"
		if o.Name == "Event" {
			perm = "EditEvent"
		}
		ok := e.has(perm)
		c, u, d = ok, ok, ok
	case accessPublic:
		ok := e.has("ManageUsers") || e.has("ModifyAllData")
		c, u, d = ok, ok, ok
		if o.Name == "Organization" || o.Name == "UserLicense" {
			c, d = false, false
		}
	case accessSetup:
		ok := e.has("ManageUsers") || e.has("AssignPermissionSets") || e.has("ModifyAllData")
		c, u, d = ok, ok, ok
	}
	return c && o.baseCreateable, u && o.baseUpdateable, d && o.baseDeletable
}

// parsedPerm is a Permission split into its kind.
type parsedPerm struct {
	userPerm  string // system permission
	marketing bool
	object    string
	field     *fieldDef
	objBit    objPerm
	fldBit    fldPerm
}

func (s *Server) parsePermission(p Permission) (parsedPerm, error) {
	str := string(p)
	if strings.EqualFold(str, string(PermMarketingUser)) || strings.EqualFold(str, "UserPermissionsMarketingUser") {
		return parsedPerm{marketing: true}, nil
	}
	target, acc, ok := strings.Cut(str, ":")
	if !ok {
		c, ok := canonicalUserPerm(str)
		if !ok {
			return parsedPerm{}, fmt.Errorf("unknown permission %q: %s", p, validPermissions())
		}
		return parsedPerm{userPerm: c}, nil
	}
	objName, fieldName, isField := strings.Cut(target, ".")
	o := s.schema.object(objName)
	if o == nil {
		return parsedPerm{}, fmt.Errorf("permission %q: unknown object %q", p, objName)
	}
	if !isField {
		if o.access == accessActivity {
			if !strings.EqualFold(acc, "Create") && !strings.EqualFold(acc, "Edit") {
				return parsedPerm{}, fmt.Errorf("permission %q: %s access is governed by Edit%s", p, o.Name, o.Name)
			}
			return parsedPerm{userPerm: "Edit" + o.Name}, nil
		}
		bit, ok := objBit(acc)
		if !ok || o.access != accessCRM {
			return parsedPerm{}, fmt.Errorf("permission %q: want Object:Read|Create|Edit|Delete|ViewAllRecords|ModifyAllRecords on a CRM object", p)
		}
		return parsedPerm{object: o.Name, objBit: bit}, nil
	}
	f := o.field(fieldName)
	if f == nil || !f.Permissionable {
		return parsedPerm{}, fmt.Errorf("permission %q: no FLS-controlled field %q on %s", p, fieldName, o.Name)
	}
	var bit fldPerm
	switch strings.ToLower(acc) {
	case "read":
		bit = fpRead
	case "edit":
		bit = fpEdit
	default:
		return parsedPerm{}, fmt.Errorf("permission %q: field access is Read or Edit", p)
	}
	return parsedPerm{object: o.Name, field: f, fldBit: bit}, nil
}

// RemovePermission takes one permission away from a user. It edits every permission set
// the user holds (profile-owned ones included), so other holders of those sets lose it
// too; GenerateOrg gives the team-level user its own profile and set for that reason.
// ModifyAllData/ViewAllData are stripped as well when they would still grant the
// permission. Returns an error for an unknown user or permission.
func (s *Server) RemovePermission(userID string, p Permission) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	u := s.userLocked(userID)
	if u == nil {
		return fmt.Errorf("remove permission %s from user %s: no such user", p, userID)
	}
	pp, err := s.parsePermission(p)
	if err != nil {
		return fmt.Errorf("remove permission from user %s: %w", userID, err)
	}
	if pp.marketing {
		u.MarketingUser = false
		return nil
	}
	for _, set := range u.perms().sets {
		switch {
		case pp.userPerm != "":
			delete(set.user, pp.userPerm)
		case pp.field != nil:
			delete(set.user, "ModifyAllData")
			if pp.fldBit == fpRead {
				delete(set.user, "ViewAllData")
			}
			s.expandFieldWildcards(set, pp.object)
			key := pp.object + "." + pp.field.Name
			if pp.fldBit == fpRead {
				delete(set.fld, key)
			} else if v, ok := set.fld[key]; ok {
				set.fld[key] = v &^ fpEdit
			}
		default:
			delete(set.user, "ModifyAllData")
			if pp.objBit&(opRead|opViewAll) != 0 {
				delete(set.user, "ViewAllData")
			}
			if all, ok := set.obj["*"]; ok {
				delete(set.obj, "*")
				for _, o := range s.schema.objects {
					if o.access == accessCRM {
						set.obj[o.Name] |= all
					}
				}
			}
			if v, ok := set.obj[pp.object]; ok {
				set.obj[pp.object] = v &^ (pp.objBit | dependentObj(pp.objBit))
			}
		}
	}
	return nil
}

// expandFieldWildcards rewrites "*" and "Object.*" grants into one entry per field so a
// single field can then be removed.
func (s *Server) expandFieldWildcards(set *permSet, object string) {
	all, hasAll := set.fld["*"]
	objAll, hasObj := set.fld[object+".*"]
	if hasAll {
		delete(set.fld, "*")
		for _, o := range s.schema.objects {
			if o.access == accessCRM || o.access == accessActivity {
				set.fld[o.Name+".*"] |= all
			}
		}
		objAll |= all
		hasObj = true
	}
	if !hasObj {
		return
	}
	delete(set.fld, object+".*")
	o := s.schema.object(object)
	for _, f := range o.fields {
		if f.Permissionable {
			set.fld[object+"."+f.Name] |= objAll
		}
	}
}

// GrantPermission gives a user one permission by adding it to the user's first
// non-profile permission set (or the profile's set when the user has none); granting
// Edit also grants Read. Use it for "View and Edit Converted Leads" (PermConvertedLeads).
func (s *Server) GrantPermission(userID string, p Permission) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	u := s.userLocked(userID)
	if u == nil {
		return fmt.Errorf("grant permission %s to user %s: no such user", p, userID)
	}
	pp, err := s.parsePermission(p)
	if err != nil {
		return fmt.Errorf("grant permission to user %s: %w", userID, err)
	}
	set := u.profile.ps
	if len(u.assigned) > 0 {
		set = u.assigned[0].ps
	}
	switch {
	case pp.marketing:
		u.MarketingUser = true
	case pp.userPerm != "":
		set.user[pp.userPerm] = true
	case pp.field != nil:
		bit := pp.fldBit
		if bit == fpEdit {
			bit |= fpRead
		}
		set.fld[pp.object+"."+pp.field.Name] |= bit
	default:
		set.obj[pp.object] |= pp.objBit | impliedObj(pp.objBit)
	}
	return nil
}

// HasPermission reports whether the user currently holds p (after profile, permission
// sets, ModifyAllData/ViewAllData). Useful to assert a fault took effect.
func (s *Server) HasPermission(userID string, p Permission) (bool, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	u := s.userLocked(userID)
	if u == nil {
		return false, fmt.Errorf("permission %s of user %s: no such user", p, userID)
	}
	pp, err := s.parsePermission(p)
	if err != nil {
		return false, err
	}
	e := u.perms()
	switch {
	case pp.marketing:
		return u.MarketingUser, nil
	case pp.userPerm != "":
		return e.has(pp.userPerm), nil
	case pp.field != nil:
		return e.field(pp.object, pp.field)&pp.fldBit != 0, nil
	}
	return e.obj(pp.object)&pp.objBit != 0, nil
}
