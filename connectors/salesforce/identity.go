package salesforce

import (
	"fmt"
	"net/url"
	"strings"
)

// Identity is what a token response's id URL says:
// https://login.salesforce.com/id/<orgId>/<userId>.
type Identity struct {
	OrgID    string // 18-character 00D… id
	UserID   string // 18-character 005… id, the connected user ("me")
	LoginURL string // everything before /id/: the host to refresh against
}

// ParseIdentityURL splits a token response's id URL (oauth.TokenSet.ID).
// Ids come back normalised to 18 characters.
func ParseIdentityURL(id string) (Identity, error) {
	u, err := url.Parse(id)
	if err != nil || u.Scheme == "" || u.Host == "" {
		return Identity{}, fmt.Errorf("salesforce identity URL %q: not an absolute URL", id)
	}
	i := strings.LastIndex(u.Path, "/id/")
	if i < 0 {
		return Identity{}, fmt.Errorf("salesforce identity URL %q: no /id/ segment", id)
	}
	parts := strings.Split(strings.Trim(u.Path[i+len("/id/"):], "/"), "/")
	if len(parts) != 2 {
		return Identity{}, fmt.Errorf("salesforce identity URL %q: want /id/<org>/<user>", id)
	}
	org, err := NormalizeID(parts[0])
	if err != nil || !HasPrefix(org, PrefixOrganization) {
		return Identity{}, fmt.Errorf("salesforce identity URL %q: bad org id", id)
	}
	user, err := NormalizeID(parts[1])
	if err != nil || !HasPrefix(user, PrefixUser) {
		return Identity{}, fmt.Errorf("salesforce identity URL %q: bad user id", id)
	}
	return Identity{OrgID: org, UserID: user, LoginURL: u.Scheme + "://" + u.Host + u.Path[:i]}, nil
}
