package salesforce

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"time"

	"tether/connectors/oauth"
	"tether/sync/connections"
)

// Verify proves a Salesforce access token works: one userinfo call at instanceURL (the
// connection's instance, or its login host when no instance is known), without the
// refresh-and-replay of a Client (the caller refreshed first). hc nil means a client with
// DefaultTimeout. Errors are *connections.Failure: 401 or 403 Bad_OAuth_Token → Code
// "unauthorized", REQUEST_LIMIT_EXCEEDED → rate_limited, the API disabled for the org or
// an inactive user → needs_admin, 5xx and no answer → transient.
func Verify(ctx context.Context, hc *http.Client, instanceURL, accessToken string, now time.Time) (UserInfo, error) {
	c, err := New(Config{InstanceURL: instanceURL, HTTPClient: hc,
		Token: func(context.Context) (string, error) { return accessToken, nil }})
	if err != nil {
		return UserInfo{}, &connections.Failure{Class: connections.FailNeedsReconnect, Provider: "salesforce", Op: "verify",
			Code: "no_instance", Reason: "the connection has no usable Salesforce instance URL; reconnect Salesforce", Err: err}
	}
	u, err := c.UserInfo(ctx)
	if err != nil {
		return UserInfo{}, verifyFailure(err, now)
	}
	if !u.Active {
		return UserInfo{}, &connections.Failure{Class: connections.FailNeedsAdmin, Provider: "salesforce", Op: "verify",
			Code: "inactive_user", Status: http.StatusOK,
			Reason: "the Salesforce user is inactive; a Salesforce admin must reactivate the user (reconnecting cannot help)"}
	}
	return u, nil
}

func verifyFailure(err error, now time.Time) *connections.Failure {
	var ae *APIError
	if !errors.As(err, &ae) {
		return oauth.NoAnswerFailure("salesforce", "verify", err)
	}
	f := oauth.StatusFailure("salesforce", "verify", ae.Status, http.Header{}, []byte(safeMessage(ae.Message)), now)
	f.SubCode, f.Err = ae.Code, err
	switch {
	case ae.Status == http.StatusUnauthorized, ae.Code == badOAuthToken, ae.Code == "INVALID_SESSION_ID":
		f.Class, f.Code = connections.FailNeedsReconnect, "unauthorized"
		f.Reason = "Salesforce refused the access token (" + ae.Code + ")"
	case ae.Code == "REQUEST_LIMIT_EXCEEDED":
		f.Class, f.Code = connections.FailRateLimited, "rate_limited"
		f.Reason = "the Salesforce org's API request limit is reached: " + safeMessage(ae.Message)
		// Salesforce sends no Retry-After; the daily allocation frees over hours, the
		// concurrent limit in seconds (salesforce.md §3.2).
		if strings.Contains(ae.Message, "TotalRequests") {
			f.RetryAfter = oauth.SalesforceDailyLimitBackoff
		} else {
			f.RetryAfter = oauth.SalesforceConcurrentBackoff
		}
	case ae.Code == "API_DISABLED_FOR_ORG", ae.Code == "API_CURRENTLY_DISABLED":
		f.Class, f.Code = connections.FailNeedsAdmin, strings.ToLower(ae.Code)
		f.Reason = "the Salesforce org does not allow API access for this user; a Salesforce admin must enable \"API Enabled\" (reconnecting cannot help)"
	}
	return f
}
