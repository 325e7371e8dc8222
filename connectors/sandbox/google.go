package sandbox

import (
	"net/http"
	"strconv"
	"strings"
)

const googleScopePrefix = "https://www.googleapis.com/auth/"

// googleHas reports whether scopes hold one of the short Google scope names
// ("calendar.readonly"), in full URL form as Google grants them.
func googleHas(scopes []string, short ...string) bool {
	for _, s := range short {
		if hasScope(scopes, googleScopePrefix+s) {
			return true
		}
	}
	return false
}

// googleTokeninfo serves oauth2.googleapis.com/tokeninfo?access_token=…
func (s *Sandbox) googleTokeninfo(w http.ResponseWriter, r *http.Request) {
	_ = r.ParseForm()
	t := s.authAccess(Google, r.Form.Get("access_token"))
	if t == nil {
		writeJSON(w, 400, plainOAuthBody{Error: "invalid_token", ErrorDescription: "Invalid Value"})
		return
	}
	now := s.Now()
	exp := t.expires.Unix()
	b := struct {
		Azp           string `json:"azp"`
		Aud           string `json:"aud"`
		Sub           string `json:"sub"`
		Scope         string `json:"scope"`
		Exp           string `json:"exp"`
		ExpiresIn     string `json:"expires_in"`
		Email         string `json:"email,omitempty"`
		EmailVerified string `json:"email_verified,omitempty"`
		AccessType    string `json:"access_type"`
	}{Azp: t.g.app.ClientID, Aud: t.g.app.ClientID, Sub: t.g.subject, Scope: joinScopes(Google, t.scopes),
		Exp: strconv.FormatInt(exp, 10), ExpiresIn: strconv.FormatInt(int64(t.expires.Sub(now).Seconds()), 10), AccessType: "online"}
	t.g.mu.Lock()
	if t.g.refresh != nil {
		b.AccessType = "offline"
	}
	t.g.mu.Unlock()
	if hasScope(t.scopes, "email", googleScopePrefix+"userinfo.email") {
		if u, ok := s.user(Google, t.g.subject); ok {
			b.Email, b.EmailVerified = u.Email, "true"
		}
	}
	writeJSON(w, 200, b)
}

// googleUserinfo serves the OpenID Connect userinfo endpoint (openidconnect.googleapis.com/v1/userinfo,
// www.googleapis.com/oauth2/v3/userinfo): claims by granted scope.
func (s *Sandbox) googleUserinfo(w http.ResponseWriter, r *http.Request) {
	t := s.authAccess(Google, bearer(r))
	if t == nil {
		w.Header().Set("WWW-Authenticate", `Bearer realm="https://accounts.google.com/", error="invalid_token"`)
		writeJSON(w, 401, plainOAuthBody{Error: "invalid_request", ErrorDescription: "Invalid Credentials"})
		return
	}
	u, _ := s.user(Google, t.g.subject)
	b := struct {
		Sub           string `json:"sub"`
		Name          string `json:"name,omitempty"`
		GivenName     string `json:"given_name,omitempty"`
		FamilyName    string `json:"family_name,omitempty"`
		Picture       string `json:"picture,omitempty"`
		Email         string `json:"email,omitempty"`
		EmailVerified *bool  `json:"email_verified,omitempty"`
	}{Sub: t.g.subject}
	if hasScope(t.scopes, "profile", googleScopePrefix+"userinfo.profile") {
		b.Name, b.GivenName, b.FamilyName = u.name(), u.GivenName, u.FamilyName
		b.Picture = "https://lh3.googleusercontent.com/a/sandbox-" + u.ID + "=s96-c"
	}
	if hasScope(t.scopes, "email", googleScopePrefix+"userinfo.email") {
		verified := true
		b.Email, b.EmailVerified = u.Email, &verified
	}
	writeJSON(w, 200, b)
}

type googleCalendarListEntry struct {
	Kind                 string                  `json:"kind"`
	Etag                 string                  `json:"etag"`
	ID                   string                  `json:"id"`
	Summary              string                  `json:"summary"`
	TimeZone             string                  `json:"timeZone"`
	ColorID              string                  `json:"colorId"`
	BackgroundColor      string                  `json:"backgroundColor"`
	ForegroundColor      string                  `json:"foregroundColor"`
	Selected             bool                    `json:"selected,omitempty"`
	AccessRole           string                  `json:"accessRole"`
	DefaultReminders     []map[string]any        `json:"defaultReminders"`
	NotificationSettings *googleNotificationSets `json:"notificationSettings,omitempty"`
	Primary              bool                    `json:"primary,omitempty"`
	ConferenceProperties map[string][]string     `json:"conferenceProperties"`
}

type googleNotificationSets struct {
	Notifications []map[string]string `json:"notifications"`
}

type googleCalendarList struct {
	Kind          string                    `json:"kind"`
	Etag          string                    `json:"etag"`
	NextPageToken string                    `json:"nextPageToken,omitempty"`
	NextSyncToken string                    `json:"nextSyncToken,omitempty"`
	Items         []googleCalendarListEntry `json:"items"`
}

// googleCalendarList serves calendar/v3/users/me/calendarList with maxResults/pageToken
// paging; it needs a calendar, calendar.readonly or calendar.calendarlist[.readonly] scope.
func (s *Sandbox) googleCalendarList(w http.ResponseWriter, r *http.Request) {
	u, ok := s.calendarListUser(w, r, "calendar.v3.CalendarList.List")
	if !ok {
		return
	}
	cals := u.calendars()
	max := 100
	if v, err := strconv.Atoi(r.URL.Query().Get("maxResults")); err == nil && v > 0 {
		max = min(v, 250)
	}
	start := 0
	if pt := r.URL.Query().Get("pageToken"); pt != "" {
		v, err := strconv.Atoi(strings.TrimPrefix(pt, "p"))
		if err != nil || v < 0 || v > len(cals) {
			var b googleAPIError
			b.Error.Code, b.Error.Message, b.Error.Status = 400, "Invalid page token value.", "INVALID_ARGUMENT"
			b.Error.Errors = []googleAPIErrorItem{{Message: "Invalid page token value.", Domain: "global", Reason: "invalid", Location: "pageToken", LocationType: "parameter"}}
			writeJSON(w, 400, b)
			return
		}
		start = v
	}
	end := min(start+max, len(cals))
	out := googleCalendarList{Kind: "calendar#calendarList", Etag: `"p33c9nq5lrmbu80o"`, Items: []googleCalendarListEntry{}}
	if end < len(cals) {
		out.NextPageToken = "p" + strconv.Itoa(end)
	} else {
		out.NextSyncToken = "CPjE8Yv3soADEPjE8Yv3soADGAUgkP2hxQI="
	}
	for i, c := range cals[start:end] {
		out.Items = append(out.Items, calendarListEntry(u, c, start+i))
	}
	writeJSON(w, 200, out)
}

// googleCalendarListGet serves calendar/v3/users/me/calendarList/{calendarId}: one entry,
// by id or by the alias "primary", with the list's scopes; an id the user does not have is
// Calendar's 404 notFound.
func (s *Sandbox) googleCalendarListGet(w http.ResponseWriter, r *http.Request) {
	u, ok := s.calendarListUser(w, r, "calendar.v3.CalendarList.Get")
	if !ok {
		return
	}
	id := r.PathValue("calendarId")
	for i, c := range u.calendars() {
		if c.ID == id || (id == "primary" && c.Primary) {
			writeJSON(w, 200, calendarListEntry(u, c, i))
			return
		}
	}
	var b googleAPIError
	b.Error.Code, b.Error.Message = 404, "Not Found"
	b.Error.Errors = []googleAPIErrorItem{{Message: "Not Found", Domain: "global", Reason: "notFound"}}
	writeJSON(w, 404, b)
}

// calendarListUser is the user behind r's access token when it may read the calendar
// list; otherwise it writes Google's 401, or the 403 naming method, and is false.
func (s *Sandbox) calendarListUser(w http.ResponseWriter, r *http.Request, method string) (User, bool) {
	t := s.authAccess(Google, bearer(r))
	if t == nil {
		s.writeAPIError(w, Google, 401, apiUnauthenticated, "")
		return User{}, false
	}
	if !googleHas(t.scopes, "calendar", "calendar.readonly", "calendar.calendarlist", "calendar.calendarlist.readonly") {
		s.writeAPIError(w, Google, 403, apiScope, method)
		return User{}, false
	}
	u, _ := s.user(Google, t.g.subject)
	return u, true
}

// calendarListEntry is user u's calendar c as calendarList answers it; i varies the etag.
func calendarListEntry(u User, c Calendar, i int) googleCalendarListEntry {
	role := c.AccessRole
	if role == "" {
		role = "owner"
	}
	e := googleCalendarListEntry{Kind: "calendar#calendarListEntry", Etag: `"16641848069940000` + strconv.Itoa(i) + `"`,
		ID: c.ID, Summary: c.Summary, TimeZone: u.timeZone(), ColorID: "14", BackgroundColor: "#9fe1e7",
		ForegroundColor: "#000000", Selected: true, AccessRole: role, DefaultReminders: []map[string]any{},
		Primary: c.Primary, ConferenceProperties: map[string][]string{"allowedConferenceSolutionTypes": {"hangoutsMeet"}}}
	if c.Primary {
		e.DefaultReminders = []map[string]any{{"method": "popup", "minutes": 10}}
		e.NotificationSettings = &googleNotificationSets{Notifications: []map[string]string{
			{"type": "eventCreation", "method": "email"}, {"type": "eventChange", "method": "email"},
			{"type": "eventCancellation", "method": "email"}, {"type": "eventResponse", "method": "email"}}}
	}
	return e
}
