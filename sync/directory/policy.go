package directory

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
