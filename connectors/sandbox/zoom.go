package sandbox

import (
	"hash/fnv"
	"net/http"
	"strconv"
	"strings"
)

type zoomUserBody struct {
	ID                 string   `json:"id"`
	FirstName          string   `json:"first_name"`
	LastName           string   `json:"last_name"`
	DisplayName        string   `json:"display_name"`
	Email              string   `json:"email"`
	Type               int      `json:"type"`
	RoleName           string   `json:"role_name"`
	PMI                int64    `json:"pmi"`
	UsePMI             bool     `json:"use_pmi"`
	PersonalMeetingURL string   `json:"personal_meeting_url"`
	Timezone           string   `json:"timezone"`
	Verified           int      `json:"verified"`
	Dept               string   `json:"dept"`
	CreatedAt          string   `json:"created_at"`
	LastLoginTime      string   `json:"last_login_time"`
	LastClientVersion  string   `json:"last_client_version"`
	PicURL             string   `json:"pic_url"`
	Language           string   `json:"language"`
	PhoneNumber        string   `json:"phone_number"`
	Status             string   `json:"status"`
	RoleID             string   `json:"role_id"`
	AccountID          string   `json:"account_id"`
	AccountNumber      int64    `json:"account_number"`
	Cluster            string   `json:"cluster"`
	UserCreatedAt      string   `json:"user_created_at"`
	GroupIDs           []string `json:"group_ids"`
	IMGroupIDs         []string `json:"im_group_ids"`
	JID                string   `json:"jid"`
	LoginTypes         []int    `json:"login_types"`
}

// zoomMe serves GET /v2/users/me; it needs user:read:user (granular) or user:read (classic).
func (s *Sandbox) zoomMe(w http.ResponseWriter, r *http.Request) {
	t := s.authAccess(Zoom, bearer(r))
	if t == nil {
		s.writeAPIError(w, Zoom, 401, apiUnauthenticated, "")
		return
	}
	if !hasScope(t.scopes, "user:read:user", "user:read", "user:read:admin", "user:read:user:admin") {
		s.writeAPIError(w, Zoom, 400, apiScope, "user:read:user, user:read:user:admin")
		return
	}
	u, _ := s.user(Zoom, t.g.subject)
	h := fnv.New64a()
	h.Write([]byte(u.ID))
	pmi := int64(1000000000 + h.Sum64()%8999999999)
	w.Header().Set("X-RateLimit-Category", "Light")
	w.Header().Set("X-RateLimit-Type", "QPS")
	w.Header().Set("X-RateLimit-Limit", "30")
	w.Header().Set("X-RateLimit-Remaining", "29")
	writeJSON(w, 200, zoomUserBody{
		ID: u.ID, FirstName: u.GivenName, LastName: u.FamilyName, DisplayName: u.name(), Email: u.Email,
		Type: 2, RoleName: "Member", PMI: pmi, PersonalMeetingURL: "https://us05web.zoom.us/j/" + strconv.FormatInt(pmi, 10),
		Timezone: u.timeZone(), Verified: 1, CreatedAt: "2023-01-10T18:04:11Z", LastLoginTime: "2025-06-02T09:12:45Z",
		LastClientVersion: "6.0.2.33403(mac)", PicURL: "https://us05web.zoom.us/p/v2/sandbox", Language: "en-US",
		Status: "active", RoleID: "2", AccountID: u.ZoomAccountID, AccountNumber: int64(h.Sum64() % 9999999999),
		Cluster: "us05", UserCreatedAt: "2023-01-10T18:04:11Z", GroupIDs: []string{}, IMGroupIDs: []string{},
		JID: strings.ToLower(u.ID) + "@xmpp.zoom.us", LoginTypes: []int{100},
	})
}
