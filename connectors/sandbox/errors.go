package sandbox

import (
	"fmt"
	"net/http"
	"strconv"
	"time"
)

// errKind is a token-endpoint failure independent of provider; oauthErrorFor renders it
// with the provider's real code, text and status (reference oauth.md §2-§5, salesforce.md §3.5).
type errKind int

const (
	errUnknownClient errKind = iota
	errBadSecret
	errMissingSecret
	errBasicRequired // Zoom: credentials were not in an Authorization: Basic header
	errBadCode
	errCodeUsed
	errCodeExpired
	errPKCEMismatch
	errPKCEMissing
	errRedirectMismatch
	errUnsupportedGrant
	errMissingParam
	errUnknownRefresh
	errDeadRefresh
	errInactiveUser
	errScopeNotConsented
	errThrottled    // fault: 429
	errServer       // fault: 500
	errUnavailable  // fault: 503
	errMethod       // not POST
	errQueryRefused // Zoom: token passed in the URL query
)

// errInfo carries the details some texts quote.
type errInfo struct {
	param    string     // missing parameter name, unsupported grant type
	clientID string     // Microsoft texts name the app
	appName  string     // Microsoft texts name the app
	issued   time.Time  // Microsoft: when the dead token was issued
	revoked  time.Time  // Microsoft: TokensValidFrom
	reason   deadReason // why the refresh token is dead
}

type oauthError struct {
	status   int
	code     string
	desc     string
	aadsts   int    // Microsoft
	suberror string // Microsoft
	reason   string // Zoom "reason"
}

func oauthErrorFor(p Provider, k errKind, in errInfo) oauthError {
	switch p {
	case Google:
		return googleError(k, in)
	case Microsoft:
		return microsoftError(k, in)
	case Zoom:
		return zoomError(k, in)
	default:
		return salesforceError(k, in)
	}
}

func googleError(k errKind, in errInfo) oauthError {
	switch k {
	case errUnknownClient:
		return oauthError{status: 401, code: "invalid_client", desc: "The OAuth client was not found."}
	case errBadSecret, errMissingSecret, errBasicRequired:
		return oauthError{status: 401, code: "invalid_client", desc: "Unauthorized"}
	case errBadCode, errCodeUsed, errCodeExpired, errUnknownRefresh:
		return oauthError{status: 400, code: "invalid_grant", desc: "Bad Request"}
	case errPKCEMismatch:
		return oauthError{status: 400, code: "invalid_grant", desc: "Invalid code verifier."}
	case errPKCEMissing:
		return oauthError{status: 400, code: "invalid_grant", desc: "Missing code verifier."}
	case errRedirectMismatch:
		return oauthError{status: 400, code: "redirect_uri_mismatch", desc: "Bad Request"}
	case errUnsupportedGrant:
		return oauthError{status: 400, code: "unsupported_grant_type", desc: "Invalid grant_type: " + in.param}
	case errMissingParam, errQueryRefused:
		return oauthError{status: 400, code: "invalid_request", desc: "Missing required parameter: " + in.param}
	case errDeadRefresh, errInactiveUser:
		return oauthError{status: 400, code: "invalid_grant", desc: "Token has been expired or revoked."}
	case errScopeNotConsented:
		return oauthError{status: 400, code: "invalid_scope", desc: "Bad Request"}
	case errThrottled:
		return oauthError{status: 429, code: "rate_limit_exceeded", desc: "Rate Limit Exceeded"}
	case errUnavailable:
		return oauthError{status: 503, code: "temporarily_unavailable", desc: "The service is currently unavailable."}
	case errMethod:
		return oauthError{status: 405, code: "invalid_request", desc: "Method Not Allowed"}
	default:
		return oauthError{status: 500, code: "internal_failure", desc: "Backend Error"}
	}
}

func microsoftError(k errKind, in errInfo) oauthError {
	e := func(status int, code string, n int, text string) oauthError {
		return oauthError{status: status, code: code, aadsts: n, desc: fmt.Sprintf("AADSTS%d: %s", n, text)}
	}
	switch k {
	case errUnknownClient:
		return e(400, "unauthorized_client", 700016, fmt.Sprintf("Application with identifier '%s' was not found in the directory 'Sandbox'. This can happen if the application has not been installed by the administrator of the tenant or consented to by any user in the tenant. You may have sent your authentication request to the wrong tenant.", in.clientID))
	case errBadSecret, errBasicRequired:
		return e(401, "invalid_client", 7000215, fmt.Sprintf("Invalid client secret provided. Ensure the secret being sent in the request is the client secret value, not the client secret ID, for a secret added to app '%s'.", in.clientID))
	case errMissingSecret:
		return e(401, "invalid_client", 7000218, "The request body must contain the following parameter: 'client_assertion' or 'client_secret'.")
	case errBadCode, errUnknownRefresh:
		return e(400, "invalid_grant", 9002313, "Invalid request. Request is malformed or invalid.")
	case errCodeUsed:
		return e(400, "invalid_grant", 54005, "OAuth2 Authorization code was already redeemed, please retry with a new valid code or use an existing refresh token.")
	case errCodeExpired:
		return e(400, "invalid_grant", 70008, "The provided authorization code or refresh token has expired due to inactivity. Send a new interactive authorization request for this user and resource.")
	case errPKCEMismatch, errPKCEMissing:
		return e(400, "invalid_grant", 501481, "The Code_Verifier does not match the code_challenge supplied in the authorization request.")
	case errRedirectMismatch:
		return e(400, "invalid_grant", 70000, "The request was denied because one or more scopes requested are unauthorized or expired. The user must first sign in and grant the client application access to the requested scope.")
	case errUnsupportedGrant:
		return e(400, "unsupported_grant_type", 70003, fmt.Sprintf("The app requested an unsupported grant type '%s'.", in.param))
	case errMissingParam, errQueryRefused:
		return e(400, "invalid_request", 900144, fmt.Sprintf("The request body must contain the following parameter: '%s'.", in.param))
	case errDeadRefresh:
		switch in.reason {
		case deadRevoked, deadFamily, deadEvicted:
			return e(400, "invalid_grant", 50173, fmt.Sprintf("The provided grant has expired due to it being revoked, a fresh auth token is needed. The user might have changed or reset their password. The grant was issued on '%s' and the TokensValidFrom date (before which tokens are not valid) for this user is '%s'.", msTime(in.issued), msTime(in.revoked)))
		default:
			return e(400, "invalid_grant", 700082, fmt.Sprintf("The refresh token has expired due to inactivity. The token was issued on %s and was inactive for 90.00:00:00.", msTime(in.issued)))
		}
	case errInactiveUser:
		return e(400, "invalid_grant", 50057, "The user account is disabled.")
	case errScopeNotConsented:
		o := e(400, "invalid_grant", 65001, fmt.Sprintf("The user or administrator has not consented to use the application with ID '%s' named '%s'. Send an interactive authorization request for this user and resource.", in.clientID, in.appName))
		o.suberror = "consent_required"
		return o
	case errThrottled:
		return e(429, "temporarily_unavailable", 90055, "TenantThrottlingError - There are too many incoming requests. This exception is thrown for blocked tenants.")
	case errUnavailable:
		return e(503, "temporarily_unavailable", 90033, "A transient error has occurred. Please try again.")
	case errMethod:
		return e(405, "invalid_request", 900561, "The endpoint only accepts POST requests. Received a GET request.")
	default:
		return e(500, "server_error", 90024, "RequestTimeout - The requested has timed out.")
	}
}

func msTime(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05.0000000Z") }

func zoomError(k errKind, in errInfo) oauthError {
	switch k {
	case errUnknownClient, errBadSecret, errMissingSecret, errBasicRequired:
		return oauthError{status: 401, code: "invalid_client", reason: "Invalid client_id or client_secret"}
	case errBadCode, errCodeUsed, errCodeExpired:
		return oauthError{status: 400, code: "invalid_request", reason: "Invalid authorization code"}
	case errPKCEMismatch, errPKCEMissing:
		return oauthError{status: 400, code: "invalid_request", reason: "Invalid code_verifier"}
	case errRedirectMismatch:
		return oauthError{status: 400, code: "invalid_request", reason: "Redirect URI mismatch."}
	case errUnsupportedGrant:
		return oauthError{status: 400, code: "unsupported_grant_type", reason: "Unsupported grant type"}
	case errMissingParam:
		return oauthError{status: 400, code: "invalid_request", reason: "Missing parameter: " + in.param}
	case errQueryRefused:
		return oauthError{status: 400, code: "invalid_request", reason: "Token in query is not supported"}
	case errUnknownRefresh, errDeadRefresh, errInactiveUser:
		return oauthError{status: 400, code: "invalid_grant", reason: "Invalid Token!"}
	case errScopeNotConsented:
		return oauthError{status: 400, code: "invalid_scope", reason: "Invalid scope"}
	case errThrottled:
		return oauthError{status: 429, code: "too_many_requests", reason: "You have reached the maximum per-second rate limit for this API. Try again later."}
	case errUnavailable:
		return oauthError{status: 503, code: "server_error", reason: "Service Unavailable"}
	case errMethod:
		return oauthError{status: 405, code: "invalid_request", reason: "Method Not Allowed"}
	default:
		return oauthError{status: 500, code: "server_error", reason: "Internal Error"}
	}
}

func salesforceError(k errKind, in errInfo) oauthError {
	switch k {
	case errUnknownClient:
		return oauthError{status: 400, code: "invalid_client_id", desc: "client identifier invalid"}
	case errBadSecret, errMissingSecret, errBasicRequired:
		return oauthError{status: 400, code: "invalid_client", desc: "invalid client credentials"}
	case errBadCode, errCodeUsed:
		return oauthError{status: 400, code: "invalid_grant", desc: "invalid authorization code"}
	case errCodeExpired:
		return oauthError{status: 400, code: "invalid_grant", desc: "expired authorization code"}
	case errPKCEMismatch, errPKCEMissing:
		return oauthError{status: 400, code: "invalid_grant", desc: "invalid code verifier"}
	case errRedirectMismatch:
		return oauthError{status: 400, code: "invalid_grant", desc: "redirect_uri must match configuration"}
	case errUnsupportedGrant:
		return oauthError{status: 400, code: "unsupported_grant_type", desc: "grant type not supported"}
	case errMissingParam, errQueryRefused:
		return oauthError{status: 400, code: "invalid_request", desc: "missing required parameter: " + in.param}
	case errUnknownRefresh, errDeadRefresh:
		return oauthError{status: 400, code: "invalid_grant", desc: "expired access/refresh token"}
	case errInactiveUser:
		return oauthError{status: 400, code: "invalid_grant", desc: "inactive user"}
	case errScopeNotConsented:
		return oauthError{status: 400, code: "invalid_scope", desc: "the requested scope is not allowed"}
	case errThrottled:
		return oauthError{status: 429, code: "rate_limit_exceeded", desc: "rate limit exceeded"}
	case errUnavailable:
		return oauthError{status: 503, code: "temporarily_unavailable", desc: "service temporarily unavailable"}
	case errMethod:
		return oauthError{status: 405, code: "invalid_request", desc: "must use HTTP POST"}
	default:
		return oauthError{status: 500, code: "server_error", desc: "internal server error"}
	}
}

// Wire bodies. Field order follows the recorded samples.
type (
	plainOAuthBody struct {
		Error            string `json:"error"`
		ErrorDescription string `json:"error_description"`
	}
	msOAuthBody struct {
		Error            string `json:"error"`
		ErrorDescription string `json:"error_description"`
		ErrorCodes       []int  `json:"error_codes"`
		Timestamp        string `json:"timestamp"`
		TraceID          string `json:"trace_id"`
		CorrelationID    string `json:"correlation_id"`
		ErrorURI         string `json:"error_uri"`
		Suberror         string `json:"suberror,omitempty"`
	}
	zoomOAuthBody struct {
		Reason string `json:"reason"`
		Error  string `json:"error"`
	}
)

// writeOAuthError writes e as provider p's token-endpoint error body.
func writeOAuthError(w http.ResponseWriter, p Provider, e oauthError, now time.Time) {
	switch p {
	case Microsoft:
		ts := now.UTC().Format("2006-01-02 15:04:05Z")
		trace, corr := newUUID(), newUUID()
		writeJSON(w, e.status, msOAuthBody{
			Error:            e.code,
			ErrorDescription: e.desc + "\r\nTrace ID: " + trace + "\r\nCorrelation ID: " + corr + "\r\nTimestamp: " + ts,
			ErrorCodes:       []int{e.aadsts},
			Timestamp:        ts,
			TraceID:          trace,
			CorrelationID:    corr,
			ErrorURI:         "https://login.microsoftonline.com/error?code=" + strconv.Itoa(e.aadsts),
			Suberror:         e.suberror,
		})
	case Zoom:
		writeJSON(w, e.status, zoomOAuthBody{Reason: e.reason, Error: e.code})
	default:
		writeJSON(w, e.status, plainOAuthBody{Error: e.code, ErrorDescription: e.desc})
	}
}

func newUUID() string {
	var b [16]byte
	copy(b[:], randBytes(16))
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	const hx = "0123456789abcdef"
	out := make([]byte, 0, 36)
	for i, c := range b {
		if i == 4 || i == 6 || i == 8 || i == 10 {
			out = append(out, '-')
		}
		out = append(out, hx[c>>4], hx[c&15])
	}
	return string(out)
}
