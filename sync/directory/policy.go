package directory

import (
	"fmt"
	"slices"
	"strings"
)

// Policy says, per role, what a membership needs to not be Action Required.
type Policy map[Role]RolePolicy

// RolePolicy is what one role needs.
type RolePolicy struct {
	// Connections lists requirements; each is met by one healthy connection of any of its
	// kinds.
	Connections []Requirement `json:"connections,omitempty"`
	// Photo is true when the role needs a profile photo.
	Photo bool `json:"photo,omitempty"`
}

// Requirement is met by a healthy connection of any of AnyOf (connection kind names, such
// as "google_calendar"). A Recommended requirement is shown but not counted.
type Requirement struct {
	Name        string   `json:"name"`
	AnyOf       []string `json:"any_of"`
	Recommended bool     `json:"recommended,omitempty"`
}

// DefaultPolicy is the policy of an org that has not changed it: Chat needs Salesforce, a
// calendar and a photo; Meetings needs a calendar and a photo; Admin needs Salesforce.
// Conferencing (Zoom or Teams) is recommended for Chat and Meetings.
func DefaultPolicy() Policy {
	salesforce := Requirement{Name: "salesforce", AnyOf: []string{"salesforce"}}
	calendar := Requirement{Name: "calendar", AnyOf: []string{"google_calendar", "microsoft_calendar"}}
	conferencing := Requirement{Name: "conferencing", AnyOf: []string{"zoom", "teams"}, Recommended: true}
	return Policy{
		RoleAdmin:       {Connections: []Requirement{salesforce}},
		RoleCustomAdmin: {Connections: []Requirement{salesforce}},
		RoleChat:        {Connections: []Requirement{salesforce, calendar, conferencing}, Photo: true},
		RoleMeetings:    {Connections: []Requirement{calendar, conferencing}, Photo: true},
	}
}

// Requirement names of DefaultPolicy, also accepted by ParseRolePolicy.
const (
	RequirementSalesforce   = "salesforce"
	RequirementCalendar     = "calendar"
	RequirementConferencing = "conferencing"
	RequirementPhoto        = "photo"
)

// connectionKinds are the personal connection kinds a requirement may name.
var connectionKinds = []string{"salesforce", "google_calendar", "microsoft_calendar", "zoom", "teams"}

// namedRequirements are the requirements a role policy may name by one word.
func namedRequirements() map[string][]string {
	m := map[string][]string{
		RequirementSalesforce:   {"salesforce"},
		RequirementCalendar:     {"google_calendar", "microsoft_calendar"},
		RequirementConferencing: {"zoom", "teams"},
	}
	for _, k := range connectionKinds {
		if _, ok := m[k]; !ok {
			m[k] = []string{k}
		}
	}
	return m
}

// For returns what role r needs under p: a role p does not mention takes the default
// policy's entry, so a policy changed for one role keeps the others.
func (p Policy) For(r Role) RolePolicy {
	if rp, ok := p[r]; ok {
		return rp
	}
	return DefaultPolicy()[r]
}

// Merge returns p with the roles of change replacing p's (p itself is not changed).
func (p Policy) Merge(change Policy) Policy {
	out := Policy{}
	for r := range DefaultPolicy() {
		out[r] = p.For(r)
	}
	for r, rp := range change {
		out[r] = rp
	}
	return out
}

// Validate names the first thing wrong with p: an unknown role, a requirement without a
// name or kinds, or a kind that is not a personal connection kind.
func (p Policy) Validate() error {
	for r, rp := range p {
		if !r.Valid() {
			return fmt.Errorf("policy: unknown role %q (want admin, custom_admin, chat or meetings)", r)
		}
		seen := map[string]bool{}
		for _, q := range rp.Connections {
			if q.Name == "" || len(q.AnyOf) == 0 {
				return fmt.Errorf("policy for %s: a requirement needs a name and at least one kind", r)
			}
			if q.Name == RequirementPhoto {
				return fmt.Errorf("policy for %s: %q is the photo flag, not a connection requirement", r, q.Name)
			}
			if seen[q.Name] {
				return fmt.Errorf("policy for %s: requirement %q given twice", r, q.Name)
			}
			seen[q.Name] = true
			for _, k := range q.AnyOf {
				if !slices.Contains(connectionKinds, k) {
					return fmt.Errorf("policy for %s: requirement %q names kind %q (want one of %s)", r, q.Name, k, strings.Join(connectionKinds, ", "))
				}
			}
		}
	}
	return nil
}

// ParseRolePolicy reads one role's policy in the CLI's form, "ROLE=REQ,REQ,...": each REQ
// is salesforce, calendar (Google or Microsoft), conferencing (Zoom or Teams), photo, or
// one connection kind (google_calendar, ...); a leading "~" makes it recommended (shown,
// not counted). "ROLE=" (nothing after =) means the role needs nothing.
func ParseRolePolicy(s string) (Role, RolePolicy, error) {
	role, reqs, ok := strings.Cut(strings.TrimSpace(s), "=")
	r := Role(strings.TrimSpace(role))
	if !ok || !r.Valid() {
		return "", RolePolicy{}, fmt.Errorf("policy %q: want ROLE=REQ,REQ,... with ROLE admin, custom_admin, chat or meetings, e.g. chat=salesforce,calendar,photo,~conferencing", s)
	}
	var rp RolePolicy
	named := namedRequirements()
	for _, f := range strings.Split(reqs, ",") {
		f = strings.TrimSpace(f)
		if f == "" {
			continue
		}
		rec := strings.HasPrefix(f, "~")
		f = strings.TrimPrefix(f, "~")
		if f == RequirementPhoto {
			if rec {
				return "", RolePolicy{}, fmt.Errorf("policy %q: a photo is required or not; drop the ~", s)
			}
			rp.Photo = true
			continue
		}
		kinds, ok := named[f]
		if !ok {
			return "", RolePolicy{}, fmt.Errorf("policy %q: unknown requirement %q (want salesforce, calendar, conferencing, photo or a kind: %s)", s, f, strings.Join(connectionKinds, ", "))
		}
		rp.Connections = append(rp.Connections, Requirement{Name: f, AnyOf: kinds, Recommended: rec})
	}
	if err := (Policy{r: rp}).Validate(); err != nil {
		return "", RolePolicy{}, err
	}
	return r, rp, nil
}

// String is rp in ParseRolePolicy's form (without the role): "salesforce,calendar,photo,~conferencing".
func (rp RolePolicy) String() string {
	var parts []string
	for _, q := range rp.Connections {
		name := q.Name
		if q.Recommended {
			name = "~" + name
		}
		parts = append(parts, name)
	}
	if rp.Photo {
		parts = append(parts, RequirementPhoto)
	}
	if len(parts) == 0 {
		return "nothing"
	}
	return strings.Join(parts, ",")
}

// Actors of an ActionReason (the same words as connections.Actor).
const (
	ActorRep      = "rep"
	ActorAdmin    = "admin"
	ActorOperator = "operator"
)

// ActionReason is one reason a membership needs action: a requirement of its role's
// policy not met, what is wrong and who must act. Never holds a token.
type ActionReason struct {
	// Requirement is the policy's requirement name (salesforce, calendar, conferencing,
	// ...) or "photo".
	Requirement string `json:"requirement"`
	// AnyOf are the connection kinds that would meet it (empty for the photo).
	AnyOf []string `json:"any_of,omitempty"`
	// Kind and ConnectionID name the member's connection that fails it; empty when the
	// member has none of AnyOf.
	Kind         string `json:"kind,omitempty"`
	ConnectionID string `json:"connection_id,omitempty"`
	// State is the connection's state (missing when there is none).
	State string `json:"state"`
	// Actor is who must act: rep (connect, reconnect, add a photo), admin (reconnecting
	// cannot help) or operator (tether's OAuth client).
	Actor string `json:"actor"`
	// Code is the provider's error code, when one is stored; SubCode refines it (an
	// AADSTS number, Google's error_subtype, ...); Cause separates causes of one class
	// (lost_during_refresh, scopes_missing, ...).
	Code    string `json:"code,omitempty"`
	SubCode string `json:"sub_code,omitempty"`
	Cause   string `json:"cause,omitempty"`
	// Message is the sentence shown to the person who must act.
	Message string `json:"message"`
	// Recommended: shown, not counted.
	Recommended bool `json:"recommended,omitempty"`
}

// Counted reports whether any of rs is not merely recommended.
func Counted(rs []ActionReason) bool {
	for _, r := range rs {
		if !r.Recommended {
			return true
		}
	}
	return false
}

// AdminActs reports whether any counted reason of rs waits on an admin or the operator.
func AdminActs(rs []ActionReason) bool {
	for _, r := range rs {
		if !r.Recommended && (r.Actor == ActorAdmin || r.Actor == ActorOperator) {
			return true
		}
	}
	return false
}
