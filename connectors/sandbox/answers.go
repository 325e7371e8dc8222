package sandbox

import (
	"fmt"
	"net/http"
	"slices"
	"time"
)

// Answer is a named provider answer the sandbox can give on demand: the status and body
// the reference (shared/reference/oauth.md, salesforce.md) records for that provider, never
// an invented one. Give one with a fault of kind "answer" (POST /admin/faults), to one
// grant (POST /admin/grants/{id}/answer), or through the state that causes it (a disabled
// user, an org's spent allocation).
type Answer struct {
	Provider Provider `json:"provider"`
	Name     string   `json:"name"`
	// On is where the answer comes from: "token" (the token endpoint, refresh and code
	// exchange) or "api" (the provider's REST API).
	On     string `json:"on"`
	Status int    `json:"status"`
	// Means says what the answer tells its reader; Source where the reference records it.
	Means  string `json:"means"`
	Source string `json:"source"`
}

// Where answers come from.
const (
	OnToken = "token"
	OnAPI   = "api"
)

type answerSpec struct {
	Answer
	retryAfter func(now time.Time) string // default Retry-After; nil: none
	token      oauthError                 // On == OnToken
	google     *googleOAuthBody           // Google token bodies with error_subtype/error_uri
	api        func(s *Sandbox, w http.ResponseWriter, now time.Time)
}

// googleOAuthBody is Google's token-endpoint error with its optional fields.
type googleOAuthBody struct {
	Error            string `json:"error"`
	ErrorDescription string `json:"error_description"`
	ErrorURI         string `json:"error_uri,omitempty"`
	ErrorSubtype     string `json:"error_subtype,omitempty"`
}

func aad(status int, code string, n int, text string) oauthError {
	return oauthError{status: status, code: code, aadsts: n, desc: fmt.Sprintf("AADSTS%d: %s", n, text)}
}

func seconds(v string) func(time.Time) string { return func(time.Time) string { return v } }

// nextUTCMidnight is when Zoom's daily limits reset; Zoom sends it as an RFC 3339 date.
func nextUTCMidnight(now time.Time) string {
	return now.UTC().Truncate(24 * time.Hour).Add(24 * time.Hour).Format(time.RFC3339)
}

const graphResource = "00000003-0000-0000-c000-000000000000"

var answerSpecs = []answerSpec{
	// Salesforce token endpoint (salesforce.md §3.5, §5.5).
	{Answer: Answer{Salesforce, "inactive_user", OnToken, 400, "the Salesforce user was deactivated", "salesforce.md §3.5 (restforce#303)"},
		token: oauthError{status: 400, code: "invalid_grant", desc: "inactive user"}},
	{Answer: Answer{Salesforce, "not_approved", OnToken, 400, "the user is not pre-authorized for the connected app (Admin approved users are pre-authorized)", "salesforce.md §3.5, §5.6"},
		token: oauthError{status: 400, code: "invalid_grant", desc: "user hasn't approved this consumer"}},
	{Answer: Answer{Salesforce, "ip_restricted", OnToken, 400, "the org's IP restrictions or login hours block the login", "salesforce.md §3.5 (spring-social-salesforce ErrorHandler)"},
		token: oauthError{status: 400, code: "invalid_grant", desc: "IP restricted or invalid login hours"}},
	{Answer: Answer{Salesforce, "expired", OnToken, 400, "the grant expired, was revoked, rotated out or evicted", "salesforce.md §3.5 (restforce fixture)"},
		token: oauthError{status: 400, code: "invalid_grant", desc: "expired access/refresh token"}},
	{Answer: Answer{Salesforce, "deleted_client", OnToken, 400, "the connected app's consumer key is unknown (app deleted)", "salesforce.md §3.5"},
		token: oauthError{status: 400, code: "invalid_client_id", desc: "client identifier invalid"}},

	// Google token endpoint (oauth.md §2).
	{Answer: Answer{Google, "deleted_account", OnToken, 400, "the Google account was deleted", "oauth.md §2 (GAM-team/GAM#1171)"},
		google: &googleOAuthBody{Error: "invalid_grant", ErrorDescription: "The account has been deleted"}},
	{Answer: Answer{Google, "reauth_required", OnToken, 400, "Workspace session control requires the user to sign in again (invalid_rapt)", "oauth.md §2"},
		google: &googleOAuthBody{Error: "invalid_grant", ErrorDescription: "reauth related error (invalid_rapt)",
			ErrorURI: "https://support.google.com/a/answer/9368756", ErrorSubtype: "invalid_rapt"}},
	{Answer: Answer{Google, "expired", OnToken, 400, "the grant expired or consent was withdrawn", "oauth.md §2"},
		google: &googleOAuthBody{Error: "invalid_grant", ErrorDescription: "Token has been expired or revoked."}},
	{Answer: Answer{Google, "deleted_client", OnToken, 401, "tether's OAuth client was deleted", "oauth.md §2"},
		google: &googleOAuthBody{Error: "deleted_client", ErrorDescription: "The OAuth client was deleted."}},
	{Answer: Answer{Google, "invalid_client", OnToken, 401, "tether's OAuth client is unknown", "oauth.md §2"},
		google: &googleOAuthBody{Error: "invalid_client", ErrorDescription: "The OAuth client was not found."}},

	// Microsoft token endpoint (oauth.md §3; texts from Entra's reference-error-codes.md).
	{Answer: Answer{Microsoft, "disabled_account", OnToken, 400, "the user account is disabled (AADSTS50057)", "oauth.md §3"},
		token: aad(400, "invalid_grant", 50057, "The user account is disabled.")},
	{Answer: Answer{Microsoft, "user_not_found", OnToken, 400, "the user no longer exists in the tenant (AADSTS50034)", "oauth.md §3"},
		token: aad(400, "invalid_grant", 50034, "The user account {EmailHidden} does not exist in the Sandbox directory. To sign into this application, the account must be added to the directory.")},
	{Answer: Answer{Microsoft, "mfa_required", OnToken, 400, "multi-factor authentication is required (AADSTS50076)", "oauth.md §3"},
		token: withSuberror(aad(400, "interaction_required", 50076, "Due to a configuration change made by your administrator, or because you moved to a new location, you must use multi-factor authentication to access '"+graphResource+"'."), "basic_action")},
	{Answer: Answer{Microsoft, "mfa_enrollment", OnToken, 400, "multi-factor enrollment is required (AADSTS50079)", "oauth.md §3"},
		token: withSuberror(aad(400, "interaction_required", 50079, "Due to a configuration change made by your administrator, or because you moved to a new location, you must enroll in multi-factor authentication to access '"+graphResource+"'."), "basic_action")},
	{Answer: Answer{Microsoft, "signin_frequency", OnToken, 400, "Conditional Access sign-in frequency requires a new sign-in (AADSTS70043)", "oauth.md §3"},
		token: aad(400, "invalid_grant", 70043, "The refresh token has expired or is invalid due to sign-in frequency checks by conditional access. The token was issued on 2026-01-01T00:00:00.0000000Z and the maximum allowed lifetime for this request is 3600.")},
	{Answer: Answer{Microsoft, "consent_required", OnToken, 400, "the user's consent is missing (AADSTS65001)", "oauth.md §3"},
		token: withSuberror(aad(400, "invalid_grant", 65001, "The user or administrator has not consented to use the application with ID '"+DefaultMicrosoftClientID+"' named 'tether'. Send an interactive authorization request for this user and resource."), "consent_required")},
	{Answer: Answer{Microsoft, "admin_consent_required", OnToken, 400, "the tenant requires an admin to grant the app's permissions (AADSTS90094)", "Entra reference-error-codes.md (AdminConsentRequired)"},
		token: aad(400, "invalid_grant", 90094, "An administrator of Sandbox has set a policy that prevents you from granting tether the permissions it is requesting. Contact an administrator of Sandbox, who can grant permissions to this app on your behalf.")},
	{Answer: Answer{Microsoft, "intermittent", OnToken, 400, "the refresh token is reported invalid, possibly intermittently (AADSTS70000)", "oauth.md §3 (BingAds/BingAds-Python-SDK#279)"},
		token: aad(400, "invalid_grant", 70000, "Provided grant is invalid or malformed.")},
	{Answer: Answer{Microsoft, "deleted_client", OnToken, 400, "tether's app registration is not in the directory (AADSTS700016)", "oauth.md §3"},
		token: aad(400, "unauthorized_client", 700016, "Application with identifier '"+DefaultMicrosoftClientID+"' was not found in the directory 'Sandbox'. This can happen if the application has not been installed by the administrator of the tenant or consented to by any user in the tenant. You may have sent your authentication request to the wrong tenant.")},
	{Answer: Answer{Microsoft, "expired_secret", OnToken, 401, "tether's client secret expired (AADSTS7000222)", "oauth.md §3"},
		token: aad(401, "invalid_client", 7000222, "The provided client secret keys for app '"+DefaultMicrosoftClientID+"' are expired. Visit the Azure portal to create new keys for your app: https://aka.ms/NewClientSecret, or consider using certificate credentials for added security: https://aka.ms/certCreds.")},

	// Zoom token endpoint (oauth.md §4: reasons from Zoom's OAuth error table).
	{Answer: Answer{Zoom, "user_removed", OnToken, 400, "the token's owner was removed from the Zoom account (4735)", "oauth.md §4"},
		token: oauthError{status: 400, code: "invalid_grant", reason: "The owner of the token does not exist"}},
	{Answer: Answer{Zoom, "disabled_by_admin", OnToken, 400, "the Zoom admin disabled the token (pre-approval turned off, 4738)", "oauth.md §4"},
		token: oauthError{status: 400, code: "invalid_grant", reason: "The token is disabled by admin"}},
	{Answer: Answer{Zoom, "revoked", OnToken, 400, "the token was revoked, e.g. by a newer authorization (4741)", "oauth.md §4"},
		token: oauthError{status: 400, code: "invalid_grant", reason: "The token has been revoked"}},
	{Answer: Answer{Zoom, "scopes_changed", OnToken, 400, "the app's scopes changed; the user must consent again (4711)", "oauth.md §4"},
		token: oauthError{status: 400, code: "invalid_grant", reason: "Refresh token invalid"}},
	{Answer: Answer{Zoom, "invalid_token", OnToken, 400, "a dead or superseded refresh token", "oauth.md §4 (raycast/extensions#10896)"},
		token: oauthError{status: 400, code: "invalid_grant", reason: "Invalid Token!"}},
	{Answer: Answer{Zoom, "deleted_client", OnToken, 401, "tether's OAuth app credentials are refused", "oauth.md §4"},
		token: oauthError{status: 401, code: "invalid_client", reason: "Invalid client_id or client_secret"}},

	// Salesforce REST API (salesforce.md §3.2).
	{Answer: Answer{Salesforce, "daily_limit", OnAPI, 403, "the org spent its rolling 24-hour API allocation", "salesforce.md §3.2 (OrgCheck#181)"},
		api: sfAPI("TotalRequests Limit exceeded.", "REQUEST_LIMIT_EXCEEDED", 403)},
	{Answer: Answer{Salesforce, "concurrent_limit", OnAPI, 403, "too many long-running requests in the org at once", "salesforce.md §3.2 (OrgCheck#432)"},
		api: sfAPI("ConcurrentRequests (Concurrent API Requests) Limit exceeded.", "REQUEST_LIMIT_EXCEEDED", 403)},
	{Answer: Answer{Salesforce, "api_disabled", OnAPI, 403, "the org or user has no API access", "salesforce.md §3.2 (restforce#219)"},
		api: sfAPI("The REST API is not enabled for this Organization.", "API_DISABLED_FOR_ORG", 403)},
	{Answer: Answer{Salesforce, "session_expired", OnAPI, 401, "the access token expired or was revoked", "salesforce.md §3.2"},
		api: sfAPI("Session expired or invalid", "INVALID_SESSION_ID", 401)},

	// Google Calendar API (oauth.md §2).
	{Answer: Answer{Google, "rate_limit", OnAPI, 403, "per-project rate limit (403 usageLimits rateLimitExceeded)", "oauth.md §2"},
		api: googleAPI(403, "Rate Limit Exceeded", "rateLimitExceeded", "PERMISSION_DENIED")},
	{Answer: Answer{Google, "user_rate_limit", OnAPI, 403, "per-user rate limit (403 usageLimits userRateLimitExceeded)", "oauth.md §2"},
		api: googleAPI(403, "User Rate Limit Exceeded", "userRateLimitExceeded", "PERMISSION_DENIED")},
	{Answer: Answer{Google, "quota_exceeded", OnAPI, 403, "the user's calendar usage limits are exceeded; read-only for hours", "oauth.md §2"},
		api: googleAPI(403, "Calendar usage limits exceeded.", "quotaExceeded", "PERMISSION_DENIED")},
	{Answer: Answer{Google, "rate_limit_429", OnAPI, 429, "rate limit answered as 429 usageLimits", "oauth.md §2 (quota guide)"},
		api: googleAPI(429, "Rate Limit Exceeded", "rateLimitExceeded", "RESOURCE_EXHAUSTED")},

	// Microsoft Graph (oauth.md §3).
	{Answer: Answer{Microsoft, "throttled", OnAPI, 429, "Graph throttling (TooManyRequests) with Retry-After", "oauth.md §3 (throttling-limits.md)"},
		retryAfter: seconds("1"), api: graphAPI(429, "TooManyRequests", "Too many requests.")},
	{Answer: Answer{Microsoft, "mailbox_concurrency", OnAPI, 429, "more than 4 concurrent requests to one mailbox (ApplicationThrottled)", "oauth.md §3 (calcom/cal.diy#343)"},
		retryAfter: seconds("1"), api: graphAPI(429, "ApplicationThrottled", "Application is over its MailboxConcurrency limit.")},

	// Zoom API (oauth.md §4).
	{Answer: Answer{Zoom, "rate_limit", OnAPI, 429, "per-second rate limit of the account (X-RateLimit-Type: QPS)", "oauth.md §4"},
		retryAfter: seconds("1"), api: zoomAPI(429, "You have reached the maximum per-second rate limit for this API. Try again later.", "QPS")},
	{Answer: Answer{Zoom, "daily_limit", OnAPI, 429, "daily limit of the account; Retry-After is the reset time as an RFC 3339 date", "oauth.md §4"},
		retryAfter: nextUTCMidnight, api: zoomAPI(429, "You have reached the maximum daily rate limit for this API. Refer to the response header for details on when you can make another request.", "Daily-limit")},
	{Answer: Answer{Zoom, "concurrent_requests", OnAPI, 429, "too many concurrent requests for one resource", "fixtures/oauth/zoom_api_429_concurrent_requests.docs.json"},
		api: zoomAPI(429, "Too many concurrent requests. A request to disassociate this user has already been made.", "")},
}

func withSuberror(e oauthError, sub string) oauthError { e.suberror = sub; return e }

func sfAPI(message, code string, status int) func(*Sandbox, http.ResponseWriter, time.Time) {
	return func(_ *Sandbox, w http.ResponseWriter, _ time.Time) {
		writeJSON(w, status, []sfRESTError{{Message: message, ErrorCode: code}})
	}
}

func googleAPI(status int, message, reason, st string) func(*Sandbox, http.ResponseWriter, time.Time) {
	return func(_ *Sandbox, w http.ResponseWriter, _ time.Time) {
		var b googleAPIError
		b.Error.Code, b.Error.Message, b.Error.Status = status, message, st
		b.Error.Errors = []googleAPIErrorItem{{Message: message, Domain: "usageLimits", Reason: reason}}
		writeJSON(w, status, b)
	}
}

func graphAPI(status int, code, message string) func(*Sandbox, http.ResponseWriter, time.Time) {
	return func(_ *Sandbox, w http.ResponseWriter, now time.Time) {
		var b graphError
		b.Error.Code, b.Error.Message = code, message
		b.Error.InnerError.Date = now.UTC().Format("2006-01-02T15:04:05")
		b.Error.InnerError.RequestID = newUUID()
		b.Error.InnerError.ClientRequestID = b.Error.InnerError.RequestID
		w.Header().Set("request-id", b.Error.InnerError.RequestID)
		writeJSON(w, status, b)
	}
}

func zoomAPI(status int, message, rateType string) func(*Sandbox, http.ResponseWriter, time.Time) {
	return func(_ *Sandbox, w http.ResponseWriter, _ time.Time) {
		if rateType != "" {
			w.Header().Set("X-RateLimit-Category", "Light")
			w.Header().Set("X-RateLimit-Type", rateType)
		}
		writeJSON(w, status, zoomAPIError{Code: status, Message: message})
	}
}

// Answers lists every named answer, by provider then name.
func Answers() []Answer {
	out := make([]Answer, len(answerSpecs))
	for i, a := range answerSpecs {
		out[i] = a.Answer
	}
	slices.SortFunc(out, func(a, b Answer) int {
		if a.Provider != b.Provider {
			if a.Provider < b.Provider {
				return -1
			}
			return 1
		}
		if a.Name < b.Name {
			return -1
		}
		if a.Name > b.Name {
			return 1
		}
		return 0
	})
	return out
}

func findAnswer(p Provider, name string) (*answerSpec, error) {
	for i := range answerSpecs {
		if answerSpecs[i].Provider == p && answerSpecs[i].Name == name {
			return &answerSpecs[i], nil
		}
	}
	var names []string
	for _, a := range answerSpecs {
		if a.Provider == p {
			names = append(names, a.Name+" ("+a.On+")")
		}
	}
	return nil, fmt.Errorf("%s has no answer %q; it has: %v (GET /admin/answers lists them)", p, name, names)
}

// fits reports whether the answer can come from endpoint ep: token answers from the token
// endpoint, API answers from API endpoints.
func (a *answerSpec) fits(ep *endpointStats) bool {
	if a.On == OnToken {
		return ep.name == "token"
	}
	return ep.class == classAPI
}

// write sends the answer; retryAfter overrides its default Retry-After.
func (a *answerSpec) write(s *Sandbox, w http.ResponseWriter, retryAfter string, now time.Time) {
	if retryAfter == "" && a.retryAfter != nil {
		retryAfter = a.retryAfter(now)
	}
	if retryAfter != "" {
		w.Header().Set("Retry-After", retryAfter)
	}
	switch {
	case a.google != nil:
		writeJSON(w, a.Status, a.google)
	case a.api != nil:
		a.api(s, w, now)
	default:
		writeOAuthError(w, a.Provider, a.token, now)
	}
}
