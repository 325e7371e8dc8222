package sfdc

import (
	"net/http"
	"net/url"
	"strings"
)

// describeField has every key of a real field describe, in Salesforce's order.
type describeField struct {
	Aggregatable                 bool            `json:"aggregatable"`
	AIPredictionField            bool            `json:"aiPredictionField"`
	AutoNumber                   bool            `json:"autoNumber"`
	ByteLength                   int             `json:"byteLength"`
	Calculated                   bool            `json:"calculated"`
	CalculatedFormula            *string         `json:"calculatedFormula"`
	CascadeDelete                bool            `json:"cascadeDelete"`
	CaseSensitive                bool            `json:"caseSensitive"`
	CompoundFieldName            *string         `json:"compoundFieldName"`
	ControllerName               *string         `json:"controllerName"`
	Createable                   bool            `json:"createable"`
	Custom                       bool            `json:"custom"`
	DefaultValue                 any             `json:"defaultValue"`
	DefaultValueFormula          *string         `json:"defaultValueFormula"`
	DefaultedOnCreate            bool            `json:"defaultedOnCreate"`
	DependentPicklist            bool            `json:"dependentPicklist"`
	DeprecatedAndHidden          bool            `json:"deprecatedAndHidden"`
	Digits                       int             `json:"digits"`
	DisplayLocationInDecimal     bool            `json:"displayLocationInDecimal"`
	Encrypted                    bool            `json:"encrypted"`
	ExternalID                   bool            `json:"externalId"`
	ExtraTypeInfo                *string         `json:"extraTypeInfo"`
	Filterable                   bool            `json:"filterable"`
	FilteredLookupInfo           any             `json:"filteredLookupInfo"`
	FormulaTreatNullNumberAsZero bool            `json:"formulaTreatNullNumberAsZero"`
	Groupable                    bool            `json:"groupable"`
	HighScaleNumber              bool            `json:"highScaleNumber"`
	HTMLFormatted                bool            `json:"htmlFormatted"`
	IDLookup                     bool            `json:"idLookup"`
	InlineHelpText               *string         `json:"inlineHelpText"`
	Label                        string          `json:"label"`
	Length                       int             `json:"length"`
	Mask                         *string         `json:"mask"`
	MaskType                     *string         `json:"maskType"`
	Name                         string          `json:"name"`
	NameField                    bool            `json:"nameField"`
	NamePointing                 bool            `json:"namePointing"`
	Nillable                     bool            `json:"nillable"`
	Permissionable               bool            `json:"permissionable"`
	PicklistValues               []picklistValue `json:"picklistValues"`
	PolymorphicForeignKey        bool            `json:"polymorphicForeignKey"`
	Precision                    int             `json:"precision"`
	QueryByDistance              bool            `json:"queryByDistance"`
	ReferenceTargetField         *string         `json:"referenceTargetField"`
	ReferenceTo                  []string        `json:"referenceTo"`
	RelationshipName             *string         `json:"relationshipName"`
	RelationshipOrder            *int            `json:"relationshipOrder"`
	RestrictedDelete             bool            `json:"restrictedDelete"`
	RestrictedPicklist           bool            `json:"restrictedPicklist"`
	Scale                        int             `json:"scale"`
	SearchPrefilterable          bool            `json:"searchPrefilterable"`
	SoapType                     string          `json:"soapType"`
	Sortable                     bool            `json:"sortable"`
	Type                         string          `json:"type"`
	Unique                       bool            `json:"unique"`
	Updateable                   bool            `json:"updateable"`
	WriteRequiresMasterRead      bool            `json:"writeRequiresMasterRead"`
}

type picklistValue struct {
	Active       bool    `json:"active"`
	DefaultValue bool    `json:"defaultValue"`
	Label        string  `json:"label"`
	ValidFor     *string `json:"validFor"`
	Value        string  `json:"value"`
}

type recordTypeInfo struct {
	Active                   bool              `json:"active"`
	Available                bool              `json:"available"`
	DefaultRecordTypeMapping bool              `json:"defaultRecordTypeMapping"`
	DeveloperName            string            `json:"developerName"`
	Master                   bool              `json:"master"`
	Name                     string            `json:"name"`
	RecordTypeID             string            `json:"recordTypeId"`
	URLs                     map[string]string `json:"urls"`
}

type scope struct {
	Label string `json:"label"`
	Name  string `json:"name"`
}

// describeSObject has every top-level key of a real sObject describe, in Salesforce's order.
type describeSObject struct {
	ActionOverrides       []any             `json:"actionOverrides"`
	Activateable          bool              `json:"activateable"`
	AssociateEntityType   *string           `json:"associateEntityType"`
	AssociateParentEntity *string           `json:"associateParentEntity"`
	ChildRelationships    []any             `json:"childRelationships"`
	CompactLayoutable     bool              `json:"compactLayoutable"`
	Createable            bool              `json:"createable"`
	Custom                bool              `json:"custom"`
	CustomSetting         bool              `json:"customSetting"`
	DeepCloneable         bool              `json:"deepCloneable"`
	DefaultImplementation *string           `json:"defaultImplementation"`
	Deletable             bool              `json:"deletable"`
	DeprecatedAndHidden   bool              `json:"deprecatedAndHidden"`
	ExtendedBy            *string           `json:"extendedBy"`
	ExtendsInterfaces     *string           `json:"extendsInterfaces"`
	FeedEnabled           bool              `json:"feedEnabled"`
	Fields                []describeField   `json:"fields"`
	HasSubtypes           bool              `json:"hasSubtypes"`
	ImplementedBy         *string           `json:"implementedBy"`
	ImplementsInterfaces  *string           `json:"implementsInterfaces"`
	IsInterface           bool              `json:"isInterface"`
	IsSubtype             bool              `json:"isSubtype"`
	KeyPrefix             string            `json:"keyPrefix"`
	Label                 string            `json:"label"`
	LabelPlural           string            `json:"labelPlural"`
	Layoutable            bool              `json:"layoutable"`
	Listviewable          *bool             `json:"listviewable"`
	LookupLayoutable      *bool             `json:"lookupLayoutable"`
	Mergeable             bool              `json:"mergeable"`
	MruEnabled            bool              `json:"mruEnabled"`
	Name                  string            `json:"name"`
	NamedLayoutInfos      []any             `json:"namedLayoutInfos"`
	NetworkScopeFieldName *string           `json:"networkScopeFieldName"`
	Queryable             bool              `json:"queryable"`
	RecordTypeInfos       []recordTypeInfo  `json:"recordTypeInfos"`
	Replicateable         bool              `json:"replicateable"`
	Retrieveable          bool              `json:"retrieveable"`
	SearchLayoutable      bool              `json:"searchLayoutable"`
	Searchable            bool              `json:"searchable"`
	SobjectDescribeOption string            `json:"sobjectDescribeOption"`
	SupportedScopes       []scope           `json:"supportedScopes"`
	Triggerable           bool              `json:"triggerable"`
	Undeletable           bool              `json:"undeletable"`
	Updateable            bool              `json:"updateable"`
	URLs                  map[string]string `json:"urls"`
}

// globalSObject is one entry of GET /sobjects (describeGlobal), keys as recorded.
type globalSObject struct {
	Name                string            `json:"name"`
	Label               string            `json:"label"`
	Custom              bool              `json:"custom"`
	KeyPrefix           string            `json:"keyPrefix"`
	LabelPlural         string            `json:"labelPlural"`
	Layoutable          bool              `json:"layoutable"`
	Activateable        bool              `json:"activateable"`
	Updateable          bool              `json:"updateable"`
	URLs                map[string]string `json:"urls"`
	Searchable          bool              `json:"searchable"`
	Createable          bool              `json:"createable"`
	CustomSetting       bool              `json:"customSetting"`
	Deletable           bool              `json:"deletable"`
	DeprecatedAndHidden bool              `json:"deprecatedAndHidden"`
	FeedEnabled         bool              `json:"feedEnabled"`
	Mergeable           bool              `json:"mergeable"`
	Queryable           bool              `json:"queryable"`
	Replicateable       bool              `json:"replicateable"`
	Retrieveable        bool              `json:"retrieveable"`
	Undeletable         bool              `json:"undeletable"`
	Triggerable         bool              `json:"triggerable"`
}

var picklists = map[string][]string{
	"Lead.Status":                   {"Open - Not Contacted", "Working - Contacted", "Closed - Converted", "Closed - Not Converted"},
	"Lead.LeadSource":               {"Web", "Phone Inquiry", "Partner Referral", "Purchased List", "Other"},
	"Contact.LeadSource":            {"Web", "Phone Inquiry", "Partner Referral", "Purchased List", "Other"},
	"Lead.Salutation":               {"Mr.", "Ms.", "Mrs.", "Dr.", "Prof."},
	"Contact.Salutation":            {"Mr.", "Ms.", "Mrs.", "Dr.", "Prof."},
	"Campaign.Status":               {"Planned", "In Progress", "Completed", "Aborted"},
	"Campaign.Type":                 {"Conference", "Webinar", "Trade Show", "Public Relations", "Partners", "Referral Program", "Advertisement", "Banner Ads", "Direct Mail", "Email", "Telemarketing", "Other"},
	"CampaignMember.Status":         {"Planned", "Received", "Responded", "Sent"},
	"Account.Type":                  {"Prospect", "Customer - Direct", "Customer - Channel", "Channel Partner / Reseller", "Installation Partner", "Technology Partner", "Other"},
	"Opportunity.StageName":         {"Prospecting", "Qualification", "Needs Analysis", "Value Proposition", "Id. Decision Makers", "Perception Analysis", "Proposal/Price Quote", "Negotiation/Review", "Closed Won", "Closed Lost"},
	"Task.Status":                   {"Not Started", "In Progress", "Completed", "Waiting on someone else", "Deferred"},
	"Task.Priority":                 {"High", "Normal", "Low"},
	"Event.ShowAs":                  {"Busy", "OutOfOffice", "Free"},
	"User.UserType":                 {"Standard", "PowerPartner", "PowerCustomerSuccess", "CustomerSuccess", "Guest", "CspLitePortal", "CsnOnly", "SelfService"},
	"Profile.UserType":              {"Standard", "PowerPartner", "PowerCustomerSuccess", "CustomerSuccess", "Guest", "CspLitePortal", "CsnOnly", "SelfService"},
	"PermissionSet.Type":            {"Regular", "Profile", "Group", "Session", "Standard"},
	"ObjectPermissions.SobjectType": {"Account", "Campaign", "CampaignMember", "Contact", "Lead", "Opportunity"},
}

func soapType(t string) string {
	switch t {
	case "id", "reference":
		return "tns:ID"
	case "boolean":
		return "xsd:boolean"
	case "int":
		return "xsd:int"
	case "double", "currency", "percent":
		return "xsd:double"
	case "datetime":
		return "xsd:dateTime"
	case "date":
		return "xsd:date"
	case "address":
		return "urn:address"
	}
	return "xsd:string"
}

func (s *Server) describeFieldFor(e effective, o *objectDef, f *fieldDef, objC, objU bool) (describeField, bool) {
	fp := e.field(o.Name, f)
	if (o.access == accessCRM || o.access == accessActivity) && fp&fpRead == 0 {
		return describeField{}, false // no FLS read: the field is absent, as in Salesforce
	}
	edit := fp&fpEdit != 0 || o.access == accessPublic || o.access == accessSetup
	d := describeField{
		Label: f.Label, Name: f.Name, Type: f.Type, SoapType: soapType(f.Type), Length: f.Length,
		Createable: f.Createable && objC && edit, Updateable: f.Updateable && objU && edit,
		Nillable: f.Nillable, Permissionable: f.Permissionable, NameField: f.NameField,
		IDLookup: f.IDLookup, DefaultedOnCreate: f.Defaulted, Unique: f.Unique,
		Filterable: true, Sortable: true, Groupable: true, Aggregatable: true,
		PicklistValues: []picklistValue{}, ReferenceTo: []string{},
	}
	switch classOf(f.Type) {
	case classString:
		d.ByteLength = f.Length * 3
		if f.Type == "textarea" && f.Length > 255 {
			d.Filterable, d.Sortable, d.Groupable, d.Aggregatable = false, false, false, false
		}
	case classID:
		d.ByteLength = 18
		d.Length = 18
	case classNumber:
		if f.Type == "int" {
			d.Digits = 9
		} else {
			d.Precision, d.Scale = 18, 2
		}
		d.Groupable = f.Type == "int"
	case classBool:
		d.Aggregatable = false
		d.DefaultValue = false
		d.DefaultedOnCreate = true
	case classOther:
		d.Filterable, d.Sortable, d.Groupable, d.Aggregatable = false, false, false, false
	}
	if f.Type == "datetime" {
		d.Groupable = false
	}
	if f.Type == "email" || f.Type == "phone" || f.Type == "url" {
		d.Aggregatable = true
	}
	if vals, ok := picklists[o.Name+"."+f.Name]; ok {
		for i, v := range vals {
			d.PicklistValues = append(d.PicklistValues, picklistValue{Active: true, DefaultValue: i == 0 && f.Defaulted, Label: v, Value: v})
		}
	}
	if len(f.ReferenceTo) > 0 {
		d.ReferenceTo = append([]string(nil), f.ReferenceTo...)
		rn := f.RelationshipName
		d.RelationshipName = &rn
		d.PolymorphicForeignKey = len(f.ReferenceTo) > 1
		d.NamePointing = len(f.ReferenceTo) > 1
		d.CascadeDelete = false
	}
	if f.Name == "Address" || strings.HasSuffix(f.Name, "Street") || strings.HasSuffix(f.Name, "City") {
		if cf := compoundOf(o, f); cf != "" {
			d.CompoundFieldName = &cf
		}
	}
	return d, true
}

// compoundOf names the address field a component belongs to (BillingCity -> BillingAddress).
func compoundOf(o *objectDef, f *fieldDef) string {
	for _, suffix := range []string{"Street", "City"} {
		if p, ok := strings.CutSuffix(f.Name, suffix); ok {
			if o.field(p+"Address") != nil {
				return p + "Address"
			}
			if p == "" && o.field("Address") != nil {
				return "Address"
			}
		}
	}
	return ""
}

func (s *Server) describe(c *call, o *objectDef) []byte {
	e := c.eff
	cr, up, del := e.objFlags(o)
	base := "/services/data/v" + c.version + "/sobjects/" + o.Name
	d := describeSObject{
		ActionOverrides: []any{}, ChildRelationships: []any{}, NamedLayoutInfos: []any{},
		CompactLayoutable: o.access == accessCRM || o.access == accessActivity, Createable: cr, Updateable: up, Deletable: del,
		FeedEnabled: o.access == accessCRM || o.Name == "User", KeyPrefix: o.KeyPrefix, Label: o.Label, LabelPlural: o.LabelPlural,
		Layoutable: o.access != accessSetup, Mergeable: o.Name == "Lead" || o.Name == "Contact" || o.Name == "Account",
		MruEnabled: o.access != accessSetup, Name: o.Name, Queryable: true, Replicateable: true, Retrieveable: true,
		SearchLayoutable: o.access != accessSetup, Searchable: o.access == accessCRM || o.access == accessActivity || o.Name == "User",
		SobjectDescribeOption: "FULL", Triggerable: o.access == accessCRM || o.access == accessActivity || o.Name == "User",
		Undeletable: o.access == accessCRM || o.access == accessActivity,
		RecordTypeInfos: []recordTypeInfo{{Active: true, Available: true, DefaultRecordTypeMapping: true, DeveloperName: "Master",
			Master: true, Name: "Master", RecordTypeID: "012000000000000AAA", URLs: map[string]string{"layout": base + "/describe/layouts/012000000000000AAA"}}},
		SupportedScopes: []scope{{Label: "All " + strings.ToLower(o.LabelPlural), Name: "everything"}},
		URLs: map[string]string{
			"compactLayouts": base + "/describe/compactLayouts", "rowTemplate": base + "/{ID}",
			"approvalLayouts": base + "/describe/approvalLayouts", "listviews": base + "/listviews",
			"describe": base + "/describe", "quickActions": base + "/quickActions",
			"layouts": base + "/describe/layouts", "sobject": base,
		},
	}
	if o.access == accessCRM {
		d.SupportedScopes = append(d.SupportedScopes, scope{Label: "My " + strings.ToLower(o.LabelPlural), Name: "mine"})
	}
	d.Fields = make([]describeField, 0, len(o.fields))
	for _, f := range o.fields {
		if df, ok := s.describeFieldFor(e, o, f, cr, up); ok {
			d.Fields = append(d.Fields, df)
		}
	}
	return mustJSON(d)
}

func (s *Server) globalEntry(c *call, o *objectDef) globalSObject {
	cr, up, del := c.eff.objFlags(o)
	base := "/services/data/v" + c.version + "/sobjects/" + o.Name
	return globalSObject{
		Name: o.Name, Label: o.Label, KeyPrefix: o.KeyPrefix, LabelPlural: o.LabelPlural,
		Layoutable: o.access != accessSetup, Updateable: up, Createable: cr, Deletable: del,
		URLs:        map[string]string{"sobject": base, "describe": base + "/describe", "rowTemplate": base + "/{ID}"},
		Searchable:  o.access == accessCRM || o.access == accessActivity || o.Name == "User",
		FeedEnabled: o.access == accessCRM, Mergeable: o.Name == "Lead" || o.Name == "Contact" || o.Name == "Account",
		Queryable: true, Replicateable: true, Retrieveable: true,
		Undeletable: o.access == accessCRM || o.access == accessActivity, Triggerable: o.access != accessSetup,
	}
}

// sobjects serves /sobjects, /sobjects/{X}, /sobjects/{X}/describe and /sobjects/{X}/{id}.
func (s *Server) sobjects(c *call, parts []string, rawQuery string) result {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if len(parts) == 0 || parts[0] == "" {
		var list []globalSObject
		for _, o := range sortedNames(s.schema.objects) {
			if c.eff.canRead(o) {
				list = append(list, s.globalEntry(c, o))
			}
		}
		return result{status: http.StatusOK, body: mustJSON(map[string]any{"encoding": "UTF-8", "maxBatchSize": 200, "sobjects": list})}
	}
	o := s.schema.object(parts[0])
	if o == nil || !c.eff.canRead(o) {
		return errResult(errNotFound())
	}
	switch {
	case len(parts) == 1 || len(parts) == 2 && parts[1] == "":
		return result{status: http.StatusOK, body: mustJSON(map[string]any{"objectDescribe": s.globalEntry(c, o), "recentItems": []any{}})}
	case parts[1] == "describe" && (len(parts) == 2 || len(parts) == 3 && parts[2] == ""):
		return result{status: http.StatusOK, body: s.describe(c, o)}
	case len(parts) == 2:
		return s.retrieve(c, o, parts[1], rawQuery)
	}
	return errResult(errNotFound())
}

// retrieve serves GET /sobjects/{X}/{id}[?fields=a,b].
func (s *Server) retrieve(c *call, o *objectDef, rawID, rawQuery string) result {
	id, ok := NormalizeID(rawID)
	if !ok {
		return errResult(&apiError{status: http.StatusNotFound, code: "NOT_FOUND", message: "Provided external ID field does not exist or is not accessible: " + rawID})
	}
	row := s.find(c.org, o, id)
	if row == nil {
		return errResult(errNotFound())
	}
	q, _ := url.ParseQuery(rawQuery)
	var nodes []*projNode
	if fl := q.Get("fields"); fl != "" {
		for _, name := range strings.Split(fl, ",") {
			f := o.field(strings.TrimSpace(name))
			if f == nil || (o.access == accessCRM || o.access == accessActivity) && c.eff.field(o.Name, f)&fpRead == 0 {
				return errResult(&apiError{status: http.StatusBadRequest, code: "INVALID_FIELD", message: "No such column '" + strings.TrimSpace(name) + "' on sobject of type " + o.Name})
			}
			nodes = append(nodes, &projNode{key: f.Name, field: f, owner: o})
		}
	} else {
		for _, f := range o.fields {
			if (o.access == accessCRM || o.access == accessActivity) && c.eff.field(o.Name, f)&fpRead == 0 {
				continue
			}
			if classOf(f.Type) == classOther {
				continue
			}
			nodes = append(nodes, &projNode{key: f.Name, field: f, owner: o})
		}
	}
	return result{status: http.StatusOK, body: s.appendRecord(nil, c.version, o, nodes, row)}
}
