package sandbox

import "strings"

// User is an account at Google, Microsoft or Zoom. Salesforce users live in the org data
// of package sfdc and are not described here.
type User struct {
	Provider Provider `json:"provider"`
	// ID is the provider's subject: Google's numeric sub, Microsoft's object id (GUID),
	// Zoom's user id. Consent-page logins match ID or Email.
	ID         string `json:"id"`
	Email      string `json:"email"`
	GivenName  string `json:"given_name,omitempty"`
	FamilyName string `json:"family_name,omitempty"`
	TimeZone   string `json:"time_zone,omitempty"` // default America/Los_Angeles
	// Personal marks a Microsoft personal account: no Teams meetings (onlineMeetings answers
	// 403, calendars offer no teamsForBusiness).
	Personal bool `json:"personal,omitempty"`
	// Calendars listed by Google calendarList and Graph /me/calendars. Empty gives one
	// primary calendar named after the user.
	Calendars []Calendar `json:"calendars,omitempty"`
	// ZoomAccountID is the Zoom account the user belongs to.
	ZoomAccountID string `json:"zoom_account_id,omitempty"`
	// Disabled: an admin disabled (Microsoft), deleted (Google) or removed (Zoom) the
	// account. Refreshes answer the provider's answer for it (DisabledAnswer); Google and
	// Zoom access tokens stop working, Microsoft's JWTs live until they expire.
	Disabled bool `json:"disabled,omitempty"`
}

// Calendar is one calendar of a user.
type Calendar struct {
	ID         string `json:"id"`
	Summary    string `json:"summary"`
	Primary    bool   `json:"primary,omitempty"`
	AccessRole string `json:"access_role,omitempty"` // Google accessRole; default "owner"
}

func (u User) name() string {
	return strings.TrimSpace(u.GivenName + " " + u.FamilyName)
}

func (u User) timeZone() string {
	if u.TimeZone == "" {
		return "America/Los_Angeles"
	}
	return u.TimeZone
}

func (u User) calendars() []Calendar {
	if len(u.Calendars) > 0 {
		return u.Calendars
	}
	id := u.Email
	if u.Provider == Microsoft {
		id = "AAMkAGI2TG93AAA=" + u.ID
	}
	return []Calendar{{ID: id, Summary: u.Email, Primary: true, AccessRole: "owner"}}
}

// DefaultUsers returns the user New creates at each of Google, Microsoft and Zoom when
// Options.Users has none for that provider.
func DefaultUsers() []User {
	return []User{
		{Provider: Google, ID: "109876543210987654321", Email: "ada@example.com", GivenName: "Ada", FamilyName: "Lovelace",
			Calendars: []Calendar{
				{ID: "ada@example.com", Summary: "ada@example.com", Primary: true, AccessRole: "owner"},
				{ID: "en.usa#holiday@group.v.calendar.google.com", Summary: "Holidays in United States", AccessRole: "reader"},
			}},
		{Provider: Microsoft, ID: "6e8f1a2b-3c4d-4e5f-8a9b-0c1d2e3f4a5b", Email: "ada@example.com", GivenName: "Ada", FamilyName: "Lovelace"},
		{Provider: Zoom, ID: "KDcuGIm1QgePTO8WbOqwIQ", Email: "ada@example.com", GivenName: "Ada", FamilyName: "Lovelace",
			ZoomAccountID: "Cx3wERazSgup7ZWRHQM8-w"},
	}
}
