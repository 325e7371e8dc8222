package salesforce

import (
	"context"
	"fmt"
	"net/http"
)

// UserInfo is the OpenID Connect userinfo of the connected user.
type UserInfo struct {
	Sub               string `json:"sub"` // the identity URL
	UserID            string `json:"user_id"`
	OrganizationID    string `json:"organization_id"`
	PreferredUsername string `json:"preferred_username"`
	Name              string `json:"name"`
	Email             string `json:"email"`
	EmailVerified     bool   `json:"email_verified"`
	GivenName         string `json:"given_name"`
	FamilyName        string `json:"family_name"`
	ZoneInfo          string `json:"zoneinfo"`
	Active            bool   `json:"active"`
	UserType          string `json:"user_type"`
	IntegrationUser   bool   `json:"is_salesforce_integration_user"`
	Photos            struct {
		Picture   string `json:"picture"`
		Thumbnail string `json:"thumbnail"`
	} `json:"photos"`
}

// UserInfo calls /services/oauth2/userinfo on the instance. That endpoint
// answers a dead token with 403 Bad_OAuth_Token rather than 401; the Client
// treats that like a 401 (one refresh, one replay). Errors: *APIError
// (IsInvalidSession after the replay).
func (c *Client) UserInfo(ctx context.Context) (UserInfo, error) {
	var u UserInfo
	r := request{method: http.MethodGet, path: "/services/oauth2/userinfo", authFailed: func(e *APIError) bool {
		return e.Status == http.StatusUnauthorized || e.Code == badOAuthToken
	}}
	if err := c.send(ctx, r, &u); err != nil {
		return UserInfo{}, fmt.Errorf("userinfo: %w", err)
	}
	return u, nil
}
