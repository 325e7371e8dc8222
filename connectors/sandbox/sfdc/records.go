package sfdc

import (
	"hash/fnv"
	"sort"
	"strconv"
	"strings"
	"time"
)

// date is a Salesforce date field value (no time of day).
type date time.Time

// objPermRow and fldPermRow are the ObjectPermissions / FieldPermissions rows derived
// from a permission set's grants.
type objPermRow struct {
	id     string
	ps     *permSet
	object string
	bits   objPerm
}

type fldPermRow struct {
	id     string
	ps     *permSet
	object string
	field  string
	bits   fldPerm
}

// hashID derives a stable id for derived rows.
func hashID(prefix, key string) string {
	h := fnv.New64a()
	h.Write([]byte(key))
	return MakeID(prefix, h.Sum64()%13537086546263552) // 62^9
}

// each calls fn for every row of object o in org g, in creation order. Objects without
// stored data (Lead, Contact, ...) have no rows.
func (s *Server) each(g *org, o *objectDef, fn func(row any)) {
	switch o.Name {
	case "User":
		for _, u := range g.users {
			fn(u)
		}
	case "Profile":
		for _, p := range g.profiles {
			fn(p)
		}
	case "UserLicense":
		for _, l := range g.licenses {
			fn(l)
		}
	case "PermissionSet":
		for _, p := range g.permsets {
			fn(p)
		}
	case "PermissionSetAssignment":
		for _, a := range g.psas {
			fn(a)
		}
	case "Organization":
		fn(g)
	case "ObjectPermissions":
		for _, ps := range g.permsets {
			for _, r := range s.objectPermRows(ps) {
				fn(r)
			}
		}
	case "FieldPermissions":
		for _, ps := range g.permsets {
			for _, r := range s.fieldPermRows(ps) {
				fn(r)
			}
		}
	}
}

func (s *Server) objectPermRows(ps *permSet) []*objPermRow {
	var rows []*objPermRow
	for _, o := range s.schema.objects {
		if o.access != accessCRM {
			continue
		}
		bits := ps.obj[o.Name] | ps.obj["*"]
		if ps.user["ModifyAllData"] {
			bits = opRead | opCreate | opEdit | opDelete | opViewAll | opModifyAll
		}
		if bits != 0 {
			rows = append(rows, &objPermRow{id: hashID(PrefixObjectPerm, ps.ID+o.Name), ps: ps, object: o.Name, bits: bits})
		}
	}
	return rows
}

func (s *Server) fieldPermRows(ps *permSet) []*fldPermRow {
	var rows []*fldPermRow
	for _, o := range s.schema.objects {
		if o.access != accessCRM && o.access != accessActivity {
			continue
		}
		for _, f := range o.fields {
			if !f.Permissionable {
				continue
			}
			bits := ps.fld[o.Name+"."+f.Name] | ps.fld[o.Name+".*"] | ps.fld["*"]
			if bits != 0 {
				rows = append(rows, &fldPermRow{id: hashID(PrefixFieldPerm, ps.ID+o.Name+f.Name), ps: ps, object: o.Name, field: o.Name + "." + f.Name, bits: bits})
			}
		}
	}
	return rows
}

// find returns the row with the given (18-character) id, or nil.
func (s *Server) find(g *org, o *objectDef, id string) any {
	if o.Name == "User" {
		if u := g.usersByID[id]; u != nil {
			return u
		}
		return nil
	}
	var hit any
	s.each(g, o, func(row any) {
		if hit == nil && s.value(o, o.byLower["id"], row) == id {
			hit = row
		}
	})
	return hit
}

func nilIfEmpty(s string) any {
	if s == "" {
		return nil
	}
	return s
}

func (u *user) photoURL(size string) string {
	return string(u.appendPhotoURL(nil, size))
}

// appendPhotoURL writes the photo URL: the default silhouette (/profilephoto/005/T) when
// the user has no photo, as Salesforce does.
func (u *user) appendPhotoURL(b []byte, size string) []byte {
	b = append(b, "https://"...)
	b = append(b, u.org.Domain...)
	b = append(b, "--c.na1.content.force.com/profilephoto/"...)
	if u.PhotoActive {
		b = append(b, "729"...)
		b = append(b, u.ID[3:15]...)
	} else {
		b = append(b, "005"...)
	}
	b = append(b, '/')
	return append(b, size...)
}

// value returns field f of row (nil for null). Fields the sandbox does not model are
// null, or false for checkboxes, as on a freshly created record.
func (s *Server) value(o *objectDef, f *fieldDef, row any) any {
	switch r := row.(type) {
	case *user:
		switch f.Name {
		case "Id":
			return r.ID
		case "Username":
			return r.Username
		case "LastName":
			return r.LastName
		case "FirstName":
			return nilIfEmpty(r.FirstName)
		case "Name":
			return r.Name
		case "Email":
			return nilIfEmpty(r.Email)
		case "Title":
			return nilIfEmpty(r.Title)
		case "CompanyName":
			return r.org.Name
		case "Alias":
			return alias(r.FirstName, r.LastName)
		case "CommunityNickname":
			nick, _, _ := strings.Cut(r.Username, "@")
			return nick
		case "IsActive":
			return r.IsActive
		case "TimeZoneSidKey":
			return r.TimeZone
		case "LocaleSidKey", "LanguageLocaleKey":
			return "en_US"
		case "EmailEncodingKey":
			return "UTF-8"
		case "ProfileId":
			return r.profile.ID
		case "UserType":
			return r.UserType
		case "ManagerId":
			return nilIfEmpty(r.ManagerID)
		case "LastLoginDate":
			if r.lastLogin.IsZero() {
				return nil
			}
			return r.lastLogin
		case "CreatedDate", "LastModifiedDate", "SystemModstamp":
			return r.created
		case "CreatedById", "LastModifiedById":
			return r.org.adminID
		case "UserPermissionsMarketingUser":
			return r.MarketingUser
		case "FullPhotoUrl":
			return r.photoURL("F")
		case "SmallPhotoUrl":
			return r.photoURL("T")
		case "MediumPhotoUrl":
			return r.photoURL("M")
		case "IsProfilePhotoActive":
			return r.PhotoActive
		}
	case *profile:
		switch f.Name {
		case "Id":
			return r.ID
		case "Name":
			return r.Name
		case "UserLicenseId":
			return r.license.ID
		case "UserType":
			return r.UserType
		case "CreatedDate", "LastModifiedDate", "SystemModstamp":
			return r.created
		}
		if p, ok := strings.CutPrefix(f.Name, "Permissions"); ok {
			return r.ps.user[p]
		}
	case *license:
		switch f.Name {
		case "Id":
			return r.ID
		case "Name", "MasterLabel":
			return r.Name
		case "LicenseDefinitionKey":
			return r.Key
		case "Status":
			return "Active"
		case "TotalLicenses":
			return r.total
		case "UsedLicenses":
			return r.used
		case "CreatedDate", "LastModifiedDate", "SystemModstamp", "UsedLicensesLastUpdated":
			return r.created
		}
	case *permSet:
		switch f.Name {
		case "Id":
			return r.ID
		case "Name":
			return r.Name
		case "Label":
			if r.Label == "" {
				return r.Name
			}
			return r.Label
		case "LicenseId":
			if r.profile != nil {
				return r.profile.license.ID
			}
			return nil
		case "ProfileId":
			if r.profile != nil {
				return r.profile.ID
			}
			return nil
		case "IsOwnedByProfile":
			return r.profile != nil
		case "IsCustom":
			return r.profile == nil
		case "Type":
			if r.profile != nil {
				return "Profile"
			}
			return "Regular"
		case "CreatedDate", "LastModifiedDate", "SystemModstamp":
			return r.created
		}
		if p, ok := strings.CutPrefix(f.Name, "Permissions"); ok {
			return r.user[p]
		}
	case *psa:
		switch f.Name {
		case "Id":
			return r.id()
		case "AssigneeId":
			return r.user.ID
		case "PermissionSetId":
			return r.ps.ID
		case "IsActive":
			return true
		case "SystemModstamp":
			return r.ps.created
		}
	case *objPermRow:
		switch f.Name {
		case "Id":
			return r.id
		case "ParentId":
			return r.ps.ID
		case "SobjectType":
			return r.object
		case "PermissionsRead":
			return r.bits&opRead != 0
		case "PermissionsCreate":
			return r.bits&opCreate != 0
		case "PermissionsEdit":
			return r.bits&opEdit != 0
		case "PermissionsDelete":
			return r.bits&opDelete != 0
		case "PermissionsViewAllRecords", "PermissionsViewAllFields":
			return r.bits&opViewAll != 0
		case "PermissionsModifyAllRecords":
			return r.bits&opModifyAll != 0
		case "CreatedDate", "LastModifiedDate", "SystemModstamp":
			return r.ps.created
		}
	case *fldPermRow:
		switch f.Name {
		case "Id":
			return r.id
		case "ParentId":
			return r.ps.ID
		case "SobjectType":
			return r.object
		case "Field":
			return r.field
		case "PermissionsRead":
			return r.bits&fpRead != 0
		case "PermissionsEdit":
			return r.bits&fpEdit != 0
		case "CreatedDate", "LastModifiedDate", "SystemModstamp":
			return r.ps.created
		}
	case *org:
		switch f.Name {
		case "Id":
			return r.ID
		case "Name":
			return r.Name
		case "OrganizationType":
			return r.Edition
		case "InstanceName":
			return "NA1"
		case "IsSandbox":
			return false
		case "DefaultLocaleSidKey", "LanguageLocaleKey":
			return "en_US"
		case "TimeZoneSidKey":
			return "America/Los_Angeles"
		case "CreatedDate", "LastModifiedDate", "SystemModstamp":
			return r.created
		case "CreatedById", "LastModifiedById":
			return nilIfEmpty(r.adminID)
		}
	}
	if f.Type == "boolean" {
		return false
	}
	return nil
}

// userWriters append hot User fields without boxing them in an interface; the import
// query's pages are made of these. Fields not listed go through value.
var userWriters = map[string]func(b []byte, u *user) []byte{
	"Id":                   func(b []byte, u *user) []byte { return appendString(b, u.ID) },
	"Username":             func(b []byte, u *user) []byte { return appendString(b, u.Username) },
	"Email":                func(b []byte, u *user) []byte { return appendStringOrNull(b, u.Email) },
	"FirstName":            func(b []byte, u *user) []byte { return appendStringOrNull(b, u.FirstName) },
	"LastName":             func(b []byte, u *user) []byte { return appendString(b, u.LastName) },
	"Name":                 func(b []byte, u *user) []byte { return appendString(b, u.Name) },
	"Title":                func(b []byte, u *user) []byte { return appendStringOrNull(b, u.Title) },
	"IsActive":             func(b []byte, u *user) []byte { return strconv.AppendBool(b, u.IsActive) },
	"UserType":             func(b []byte, u *user) []byte { return appendString(b, u.UserType) },
	"ProfileId":            func(b []byte, u *user) []byte { return appendString(b, u.profile.ID) },
	"TimeZoneSidKey":       func(b []byte, u *user) []byte { return appendString(b, u.TimeZone) },
	"ManagerId":            func(b []byte, u *user) []byte { return appendStringOrNull(b, u.ManagerID) },
	"UserRoleId":           func(b []byte, u *user) []byte { return append(b, "null"...) },
	"IsProfilePhotoActive": func(b []byte, u *user) []byte { return strconv.AppendBool(b, u.PhotoActive) },
	"UserPermissionsMarketingUser": func(b []byte, u *user) []byte {
		return strconv.AppendBool(b, u.MarketingUser)
	},
	"SmallPhotoUrl": func(b []byte, u *user) []byte {
		return append(u.appendPhotoURL(append(b, '"'), "T"), '"')
	},
	"FullPhotoUrl": func(b []byte, u *user) []byte {
		return append(u.appendPhotoURL(append(b, '"'), "F"), '"')
	},
	"MediumPhotoUrl": func(b []byte, u *user) []byte {
		return append(u.appendPhotoURL(append(b, '"'), "M"), '"')
	},
}

// userStrings read User string fields without boxing; ok is false for null. The import
// query filters and sorts 100,000 users on these.
var userStrings = map[string]func(u *user) (string, bool){
	"Id":             func(u *user) (string, bool) { return u.ID, true },
	"Username":       func(u *user) (string, bool) { return u.Username, true },
	"Email":          func(u *user) (string, bool) { return u.Email, u.Email != "" },
	"FirstName":      func(u *user) (string, bool) { return u.FirstName, u.FirstName != "" },
	"LastName":       func(u *user) (string, bool) { return u.LastName, true },
	"Name":           func(u *user) (string, bool) { return u.Name, true },
	"Title":          func(u *user) (string, bool) { return u.Title, u.Title != "" },
	"UserType":       func(u *user) (string, bool) { return u.UserType, true },
	"ProfileId":      func(u *user) (string, bool) { return u.profile.ID, true },
	"ManagerId":      func(u *user) (string, bool) { return u.ManagerID, u.ManagerID != "" },
	"TimeZoneSidKey": func(u *user) (string, bool) { return u.TimeZone, true },
}

// userStringGetter returns the unboxed getter for a path that is a plain User string field.
func userStringGetter(bp *boundPath) func(*user) (string, bool) {
	if len(bp.rels) != 0 || bp.owner.Name != "User" {
		return nil
	}
	return userStrings[bp.field.Name]
}

// follow returns the parent row a relationship field points at, or nil.
func (s *Server) follow(rel *fieldDef, row any) any {
	switch r := row.(type) {
	case *user:
		switch rel.Name {
		case "ProfileId":
			return r.profile
		case "ManagerId":
			return userOrNil(r.org.usersByID[r.ManagerID])
		case "CreatedById", "LastModifiedById":
			return userOrNil(r.org.usersByID[r.org.adminID])
		}
	case *profile:
		if rel.Name == "UserLicenseId" {
			return r.license
		}
	case *permSet:
		switch rel.Name {
		case "ProfileId":
			if r.profile != nil {
				return r.profile
			}
		case "LicenseId":
			if r.profile != nil {
				return r.profile.license
			}
		}
	case *psa:
		switch rel.Name {
		case "AssigneeId":
			return r.user
		case "PermissionSetId":
			return r.ps
		}
	case *objPermRow:
		if rel.Name == "ParentId" {
			return r.ps
		}
	case *fldPermRow:
		if rel.Name == "ParentId" {
			return r.ps
		}
	}
	return nil
}

func userOrNil(u *user) any {
	if u == nil {
		return nil
	}
	return u
}

// sortedNames is used to give describeGlobal a stable order.
func sortedNames(objs []*objectDef) []*objectDef {
	out := append([]*objectDef(nil), objs...)
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}
