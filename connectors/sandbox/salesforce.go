package sandbox

import (
	"net/http"
	"strings"
	"time"

	"tether/connectors/sandbox/sfdc"
)

// sfAuthenticator lets the sfdc data plane validate access tokens issued here.
type sfAuthenticator struct{ s *Sandbox }

// Authenticate returns the user of a live Salesforce access token and counts the call on
// its grant.
func (a sfAuthenticator) Authenticate(accessToken string) (string, bool) {
	// No sfdc lookups here: sfdc calls this while serving and checks IsActive itself.
	t := a.s.authAccess(Salesforce, accessToken)
	if t == nil {
		return "", false
	}
	return t.g.subject, true
}

// sfBearer authenticates a userinfo/identity request: a bad token is HTTP 403 with a
// plain-text Bad_OAuth_Token body, not 401 (salesforce.md §3.6).
func (s *Sandbox) sfBearer(w http.ResponseWriter, r *http.Request) (sfdc.User, bool) {
	v := bearer(r)
	if v == "" {
		_ = r.ParseForm()
		v = r.Form.Get("oauth_token")
	}
	id, ok := sfAuthenticator{s}.Authenticate(v)
	var u sfdc.User
	if ok {
		u, ok = s.sf.User(id)
		ok = ok && u.IsActive
	}
	if !ok {
		w.Header().Set("Content-Type", "text/plain;charset=UTF-8")
		w.WriteHeader(http.StatusForbidden)
		_, _ = w.Write([]byte("Bad_OAuth_Token"))
		return u, false
	}
	return u, true
}

func sfURLs(instance, orgID, userID string) []kv {
	d := instance + "/services/data/v{version}/"
	soap := instance + "/services/Soap/"
	org15 := orgID
	if len(org15) > 15 {
		org15 = org15[:15]
	}
	return []kv{
		{"enterprise", soap + "c/{version}/" + org15}, {"metadata", soap + "m/{version}/" + org15},
		{"partner", soap + "u/{version}/" + org15}, {"rest", d}, {"sobjects", d + "sobjects/"},
		{"search", d + "search/"}, {"query", d + "query/"}, {"recent", d + "recent/"},
		{"tooling_soap", soap + "T/{version}/" + org15}, {"tooling_rest", d + "tooling/"},
		{"profile", instance + "/" + userID}, {"feeds", d + "chatter/feeds"}, {"groups", d + "chatter/groups"},
		{"users", d + "chatter/users"}, {"feed_items", d + "chatter/feed-items"},
		{"feed_elements", d + "chatter/feed-elements"}, {"custom_domain", instance},
	}
}

type rawJSON []byte

func (r rawJSON) MarshalJSON() ([]byte, error) { return r, nil }

func (s *Sandbox) sfPhotos(instance, userID string) map[string]string {
	return map[string]string{"picture": instance + "/profilephoto/005/F", "thumbnail": instance + "/profilephoto/005/T"}
}

// sfUserinfo serves /services/oauth2/userinfo (GET or POST).
func (s *Sandbox) sfUserinfo(w http.ResponseWriter, r *http.Request) {
	u, ok := s.sfBearer(w, r)
	if !ok {
		return
	}
	inst := s.baseURL(r) + "/salesforce"
	writeRaw(w, 200, orderedJSON([]kv{
		{"sub", inst + "/id/" + u.OrgID + "/" + u.ID}, {"user_id", u.ID}, {"organization_id", u.OrgID},
		{"preferred_username", u.Username}, {"nickname", nickname(u)}, {"name", u.Name}, {"email", u.Email},
		{"email_verified", true}, {"given_name", u.FirstName}, {"family_name", u.LastName},
		{"zoneinfo", sfZone(u)}, {"photos", s.sfPhotos(inst, u.ID)},
		{"profile", inst + "/" + u.ID}, {"picture", inst + "/profilephoto/005/F"},
		{"address", map[string]any{}}, {"is_salesforce_integration_user", false},
		{"urls", rawJSON(orderedJSON(sfURLs(inst, u.OrgID, u.ID)))}, {"active", u.IsActive},
		{"user_type", strings.ToUpper(userType(u))}, {"language", "en_US"}, {"locale", "en_US"},
		{"utcOffset", sfUTCOffset(sfZone(u))}, {"updated_at", "2024-04-20T07:44:12Z"},
	}))
}

// sfZone is the User's TimeZoneSidKey, which Salesforce's identity answers carry as
// zoneinfo (userinfo) and timezone (the identity URL).
func sfZone(u sfdc.User) string {
	if u.TimeZone == "" {
		return "America/Los_Angeles"
	}
	return u.TimeZone
}

// sfUTCOffset is the zone's standard offset from UTC in milliseconds, as utcOffset
// gives it (-28800000 for America/Los_Angeles whatever the date).
func sfUTCOffset(zone string) int64 {
	loc, err := time.LoadLocation(zone)
	if err != nil {
		return 0
	}
	y := time.Now().Year()
	_, jan := time.Date(y, 1, 1, 0, 0, 0, 0, loc).Zone()
	_, jul := time.Date(y, 7, 1, 0, 0, 0, 0, loc).Zone()
	return int64(min(jan, jul)) * 1000
}

func nickname(u sfdc.User) string {
	n, _, _ := strings.Cut(u.Username, "@")
	return n
}

func userType(u sfdc.User) string {
	if u.UserType == "" {
		return "Standard"
	}
	return u.UserType
}

// sfIdentity serves the identity URL <base>/salesforce/id/{orgId}/{userId}. A token may
// read only its own user's identity.
func (s *Sandbox) sfIdentity(w http.ResponseWriter, r *http.Request) {
	u, ok := s.sfBearer(w, r)
	if !ok {
		return
	}
	if r.PathValue("org") != u.OrgID || r.PathValue("user") != u.ID {
		w.Header().Set("Content-Type", "text/plain;charset=UTF-8")
		w.WriteHeader(http.StatusForbidden)
		_, _ = w.Write([]byte("Bad_Id"))
		return
	}
	inst := s.baseURL(r) + "/salesforce"
	writeRaw(w, 200, orderedJSON([]kv{
		{"id", inst + "/id/" + u.OrgID + "/" + u.ID}, {"asserted_user", true}, {"user_id", u.ID},
		{"organization_id", u.OrgID}, {"username", u.Username}, {"nick_name", nickname(u)},
		{"display_name", u.Name}, {"email", u.Email}, {"email_verified", true},
		{"first_name", u.FirstName}, {"last_name", u.LastName}, {"timezone", sfZone(u)},
		{"photos", s.sfPhotos(inst, u.ID)}, {"addr_street", ""}, {"addr_city", ""}, {"addr_state", ""},
		{"addr_country", "US"}, {"addr_zip", nil}, {"mobile_phone", nil}, {"mobile_phone_verified", false},
		{"is_lightning_login_user", false}, {"status", map[string]any{"created_date": nil, "body": nil}},
		{"urls", rawJSON(orderedJSON(sfURLs(inst, u.OrgID, u.ID)))}, {"active", u.IsActive},
		{"user_type", strings.ToUpper(userType(u))}, {"language", "en_US"}, {"locale", "en_US"},
		{"utcOffset", sfUTCOffset(sfZone(u))}, {"last_modified_date", "2024-02-15T23:21:10Z"}, {"is_app_installed", true},
	}))
}

// sfIntrospect serves /services/oauth2/introspect (RFC 7662, client-authenticated).
func (s *Sandbox) sfIntrospect(w http.ResponseWriter, r *http.Request) {
	now := s.Now()
	if r.Method != http.MethodPost {
		writeOAuthError(w, Salesforce, oauthErrorFor(Salesforce, errMethod, errInfo{}), now)
		return
	}
	_ = r.ParseForm()
	app, k := s.clientAuth(Salesforce, r, r.PostForm)
	if app == nil {
		e := oauthErrorFor(Salesforce, k, errInfo{})
		e.status = http.StatusUnauthorized
		writeOAuthError(w, Salesforce, e, now)
		return
	}
	t := s.store.lookup(r.PostForm.Get("token"))
	active := false
	if t != nil && t.g.app == app {
		g := t.g
		g.mu.Lock()
		active = g.dead == alive && t.dead == alive
		if t.kind == kindAccess && !now.Before(t.expires) {
			active = false
		}
		if t.kind == kindRefresh && ((!t.expires.IsZero() && !now.Before(t.expires)) ||
			(app.idleTTL > 0 && now.Sub(t.lastUsed) >= app.idleTTL)) {
			active = false
		}
		g.mu.Unlock()
	}
	if !active {
		writeJSON(w, 200, map[string]bool{"active": false})
		return
	}
	u, _ := s.sf.User(t.g.subject)
	tt := "access_token"
	members := []kv{{"active", true}, {"scope", joinScopes(Salesforce, t.g.scopes)}, {"client_id", app.ClientID},
		{"username", u.Username}, {"sub", s.baseURL(r) + "/salesforce/id/" + t.g.orgID + "/" + t.g.subject}}
	if t.kind == kindRefresh {
		tt = "refresh_token"
	}
	members = append(members, kv{"token_type", tt})
	if t.kind == kindAccess {
		members = append(members, kv{"exp", t.expires.Unix()})
	}
	members = append(members, kv{"iat", t.issued.Unix()}, kv{"nbf", t.issued.Unix()})
	w.Header().Set("Cache-Control", "no-store")
	writeRaw(w, 200, orderedJSON(members))
}
