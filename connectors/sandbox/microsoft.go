package sandbox

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"
)

const graphPrefix = "https://graph.microsoft.com/"

// msScopes normalises requested Microsoft scopes: OpenID scopes stay short, Graph scopes
// get the resource prefix (as the docs' token responses show them), ".default" expands to
// the permissions tether's app registration holds.
func msScopes(in []string) []string {
	var out []string
	add := func(s string) {
		if !hasScope(out, s) {
			out = append(out, s)
		}
	}
	for _, s := range in {
		l := strings.ToLower(s)
		switch {
		case l == "openid" || l == "profile" || l == "email" || l == "offline_access":
			add(l)
		case l == ".default" || l == graphPrefix+".default":
			for _, d := range []string{"User.Read", "Calendars.ReadWrite", "OnlineMeetings.ReadWrite"} {
				add(graphPrefix + d)
			}
		case strings.HasPrefix(l, graphPrefix):
			add(graphPrefix + s[len(graphPrefix):])
		default:
			add(graphPrefix + s)
		}
	}
	return out
}

// msResponseScope is the token response's scope: granted scopes without offline_access.
func msResponseScope(scopes []string) string {
	out := make([]string, 0, len(scopes))
	for _, s := range scopes {
		if s != "offline_access" {
			out = append(out, s)
		}
	}
	return strings.Join(out, " ")
}

func graphHas(scopes []string, names ...string) bool {
	for _, n := range names {
		if hasScope(scopes, graphPrefix+n) {
			return true
		}
	}
	return false
}

// kv is one member of a JSON object written in order.
type kv struct {
	k string
	v any
}

func orderedJSON(members []kv) []byte {
	var b bytes.Buffer
	b.WriteByte('{')
	for i, m := range members {
		if i > 0 {
			b.WriteByte(',')
		}
		k, _ := json.Marshal(m.k)
		v, _ := json.Marshal(m.v)
		b.Write(k)
		b.WriteByte(':')
		b.Write(v)
	}
	b.WriteByte('}')
	return b.Bytes()
}

func writeGraph(w http.ResponseWriter, status int, body []byte) {
	w.Header().Set("Content-Type", "application/json;odata.metadata=minimal;odata.streaming=true;IEEE754Compatible=false;charset=utf-8")
	w.WriteHeader(status)
	_, _ = w.Write(body)
}

func (s *Sandbox) graphAuth(w http.ResponseWriter, r *http.Request) (*token, User, bool) {
	t := s.authAccess(Microsoft, bearer(r))
	if t == nil {
		s.writeAPIError(w, Microsoft, 401, apiUnauthenticated, "")
		return nil, User{}, false
	}
	u, _ := s.user(Microsoft, t.g.subject)
	w.Header().Set("request-id", newUUID())
	if c := r.Header.Get("client-request-id"); c != "" {
		w.Header().Set("client-request-id", c)
	}
	return t, u, true
}

// graphMe serves GET /v1.0/me (User.Read) with $select.
func (s *Sandbox) graphMe(w http.ResponseWriter, r *http.Request) {
	t, u, ok := s.graphAuth(w, r)
	if !ok {
		return
	}
	if !graphHas(t.scopes, "User.Read", "User.ReadWrite", "User.ReadBasic.All", "User.Read.All", "Directory.Read.All") {
		s.writeAPIError(w, Microsoft, 403, apiScope, "Authorization_RequestDenied")
		return
	}
	all := []kv{
		{"businessPhones", []string{}}, {"displayName", u.name()}, {"givenName", u.GivenName}, {"jobTitle", nil},
		{"mail", u.Email}, {"mobilePhone", nil}, {"officeLocation", nil}, {"preferredLanguage", "en-US"},
		{"surname", u.FamilyName}, {"userPrincipalName", u.Email}, {"id", u.ID},
	}
	ctx := s.baseURL(r) + "/microsoft/v1.0/$metadata#users/$entity"
	out := all
	if sel := r.URL.Query().Get("$select"); sel != "" {
		fields := strings.Split(sel, ",")
		out = nil
		for _, m := range all {
			for _, f := range fields {
				if strings.EqualFold(strings.TrimSpace(f), m.k) {
					out = append(out, m)
				}
			}
		}
		ctx = s.baseURL(r) + "/microsoft/v1.0/$metadata#users(" + sel + ")/$entity"
	}
	writeGraph(w, 200, orderedJSON(append([]kv{{"@odata.context", ctx}}, out...)))
}

// graphCalendars serves GET /v1.0/me/calendars (Calendars.Read*) with $top/$skip paging.
// allowedOnlineMeetingProviders tells whether Teams meetings are possible for the account.
func (s *Sandbox) graphCalendars(w http.ResponseWriter, r *http.Request) {
	t, u, ok := s.graphAuth(w, r)
	if !ok {
		return
	}
	if !graphHas(t.scopes, "Calendars.Read", "Calendars.ReadWrite", "Calendars.ReadBasic", "Calendars.Read.Shared", "Calendars.ReadWrite.Shared") {
		s.writeAPIError(w, Microsoft, 403, apiScope, "ErrorAccessDenied")
		return
	}
	cals := u.calendars()
	top, skip := 10, 0
	if v, err := strconv.Atoi(r.URL.Query().Get("$top")); err == nil && v > 0 {
		top = min(v, 1000)
	}
	if v, err := strconv.Atoi(r.URL.Query().Get("$skip")); err == nil && v > 0 {
		skip = min(v, len(cals))
	}
	end := min(skip+top, len(cals))
	providers, def := []string{"teamsForBusiness"}, "teamsForBusiness"
	if u.Personal {
		providers, def = []string{"skypeForConsumer"}, "skypeForConsumer"
	}
	values := make([]json.RawMessage, 0, end-skip)
	for i, c := range cals[skip:end] {
		values = append(values, orderedJSON([]kv{
			{"id", c.ID}, {"name", c.Summary}, {"color", "auto"}, {"hexColor", ""}, {"isDefaultCalendar", c.Primary},
			{"changeKey", "nfZyf7VcrEKLNoU37KWlkQAAA" + strconv.Itoa(skip+i)}, {"canShare", c.Primary}, {"canViewPrivateItems", c.Primary},
			{"canEdit", c.AccessRole == "" || c.AccessRole == "owner" || c.AccessRole == "writer"},
			{"allowedOnlineMeetingProviders", providers}, {"defaultOnlineMeetingProvider", def},
			{"isTallyingResponses", c.Primary}, {"isRemovable", !c.Primary},
			{"owner", map[string]string{"name": u.name(), "address": u.Email}},
		}))
	}
	base := s.baseURL(r) + "/microsoft/v1.0"
	body := []kv{{"@odata.context", base + "/$metadata#users('" + u.ID + "')/calendars"}}
	if end < len(cals) {
		body = append(body, kv{"@odata.nextLink", base + "/me/calendars?$top=" + strconv.Itoa(top) + "&$skip=" + strconv.Itoa(end)})
	}
	writeGraph(w, 200, orderedJSON(append(body, kv{"value", values})))
}

// graphOnlineMeetings serves POST /v1.0/me/onlineMeetings: the one call that proves Teams
// meeting permission (OnlineMeetings.ReadWrite on a work or school account).
func (s *Sandbox) graphOnlineMeetings(w http.ResponseWriter, r *http.Request) {
	t, u, ok := s.graphAuth(w, r)
	if !ok {
		return
	}
	if u.Personal {
		s.writeAPIError(w, Microsoft, 403, apiForbidden, "OnlineMeetings are not supported for personal Microsoft accounts.")
		return
	}
	if !graphHas(t.scopes, "OnlineMeetings.ReadWrite") {
		s.writeAPIError(w, Microsoft, 403, apiScope, "Forbidden")
		return
	}
	var in struct {
		StartDateTime string `json:"startDateTime"`
		EndDateTime   string `json:"endDateTime"`
		Subject       string `json:"subject"`
	}
	body, _ := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	if err := json.Unmarshal(body, &in); err != nil {
		var b graphError
		b.Error.Code, b.Error.Message = "BadRequest", "Unable to read JSON request payload. Please ensure Content-Type header is set and payload is of valid JSON format."
		b.Error.InnerError.Date = s.Now().UTC().Format("2006-01-02T15:04:05")
		b.Error.InnerError.RequestID = newUUID()
		b.Error.InnerError.ClientRequestID = b.Error.InnerError.RequestID
		writeJSON(w, 400, b)
		return
	}
	now := s.Now().UTC()
	if in.StartDateTime == "" {
		in.StartDateTime = now.Format(time.RFC3339)
	}
	if in.EndDateTime == "" {
		in.EndDateTime = now.Add(time.Hour).Format(time.RFC3339)
	}
	id := "MSo" + randToken(24)
	join := "https://teams.microsoft.com/l/meetup-join/19%3ameeting_" + randToken(18) + "%40thread.v2/0"
	w.Header().Set("Location", s.baseURL(r)+"/microsoft/v1.0/me/onlineMeetings/"+id)
	writeGraph(w, 201, orderedJSON([]kv{
		{"@odata.context", s.baseURL(r) + "/microsoft/v1.0/$metadata#users('" + u.ID + "')/onlineMeetings/$entity"},
		{"id", id}, {"creationDateTime", now.Format("2006-01-02T15:04:05.0000000Z")},
		{"startDateTime", in.StartDateTime}, {"endDateTime", in.EndDateTime},
		{"joinWebUrl", join}, {"subject", in.Subject}, {"isBroadcast", false},
		{"participants", map[string]any{"organizer": map[string]any{"upn": u.Email, "role": "presenter",
			"identity": map[string]any{"user": map[string]any{"id": u.ID, "displayName": u.name()}}}, "attendees": []any{}}},
	}))
}

func writeRaw(w http.ResponseWriter, status int, body []byte) {
	w.Header().Set("Content-Type", "application/json;charset=UTF-8")
	w.WriteHeader(status)
	_, _ = w.Write(body)
}
