package sandbox

import (
	"fmt"
	"net/http"
)

// apiErr is an API-call failure independent of provider.
type apiErr int

const (
	apiUnauthenticated apiErr = iota // no, unknown, expired or revoked access token
	apiScope                         // token lacks a scope the call needs
	apiThrottled
	apiServer
	apiUnavailable
	apiForbidden // e.g. Teams on a personal Microsoft account
)

func apiFault(k errKind) apiErr {
	switch k {
	case errThrottled:
		return apiThrottled
	case errUnavailable:
		return apiUnavailable
	}
	return apiServer
}

type (
	googleAPIErrorItem struct {
		Message      string `json:"message"`
		Domain       string `json:"domain"`
		Reason       string `json:"reason"`
		Location     string `json:"location,omitempty"`
		LocationType string `json:"locationType,omitempty"`
	}
	googleAPIErrorDetail struct {
		Type     string            `json:"@type"`
		Reason   string            `json:"reason"`
		Domain   string            `json:"domain"`
		Metadata map[string]string `json:"metadata"`
	}
	googleAPIError struct {
		Error struct {
			Code    int                    `json:"code"`
			Message string                 `json:"message"`
			Errors  []googleAPIErrorItem   `json:"errors"`
			Status  string                 `json:"status"`
			Details []googleAPIErrorDetail `json:"details,omitempty"`
		} `json:"error"`
	}
	graphError struct {
		Error struct {
			Code       string `json:"code"`
			Message    string `json:"message"`
			InnerError struct {
				Date            string `json:"date"`
				RequestID       string `json:"request-id"`
				ClientRequestID string `json:"client-request-id"`
			} `json:"innerError"`
		} `json:"error"`
	}
	zoomAPIError struct {
		Code    int    `json:"code"`
		Message string `json:"message"`
	}
	sfRESTError struct {
		Message   string `json:"message"`
		ErrorCode string `json:"errorCode"`
	}
)

// writeAPIError writes provider p's API error envelope. detail is the Google method, the
// missing Zoom scopes or the Graph code for apiScope/apiForbidden.
func (s *Sandbox) writeAPIError(w http.ResponseWriter, p Provider, status int, k apiErr, detail string) {
	switch p {
	case Google:
		var b googleAPIError
		e := &b.Error
		e.Code = status
		switch k {
		case apiUnauthenticated:
			e.Message = "Request had invalid authentication credentials. Expected OAuth 2 access token, login cookie or other valid authentication credential. See https://developers.google.com/identity/sign-in/web/devconsole-project."
			e.Errors = []googleAPIErrorItem{{Message: "Invalid Credentials", Domain: "global", Reason: "authError", Location: "Authorization", LocationType: "header"}}
			e.Status = "UNAUTHENTICATED"
			w.Header().Set("WWW-Authenticate", `Bearer realm="https://accounts.google.com/", error="invalid_token"`)
		case apiScope, apiForbidden:
			e.Message = "Request had insufficient authentication scopes."
			e.Errors = []googleAPIErrorItem{{Message: "Insufficient Permission", Domain: "global", Reason: "insufficientPermissions"}}
			e.Status = "PERMISSION_DENIED"
			e.Details = []googleAPIErrorDetail{{Type: "type.googleapis.com/google.rpc.ErrorInfo", Reason: "ACCESS_TOKEN_SCOPE_INSUFFICIENT",
				Domain: "googleapis.com", Metadata: map[string]string{"service": "calendar-json.googleapis.com", "method": detail}}}
		case apiThrottled:
			e.Message = "Rate Limit Exceeded"
			e.Errors = []googleAPIErrorItem{{Message: "Rate Limit Exceeded", Domain: "usageLimits", Reason: "rateLimitExceeded"}}
			e.Status = "RESOURCE_EXHAUSTED"
		case apiUnavailable:
			e.Message = "The service is currently unavailable."
			e.Errors = []googleAPIErrorItem{{Message: e.Message, Domain: "global", Reason: "backendError"}}
			e.Status = "UNAVAILABLE"
		default:
			e.Message = "Backend Error"
			e.Errors = []googleAPIErrorItem{{Message: "Backend Error", Domain: "global", Reason: "backendError"}}
			e.Status = "INTERNAL"
		}
		writeJSON(w, status, b)
	case Microsoft:
		var b graphError
		e := &b.Error
		switch k {
		case apiUnauthenticated:
			e.Code, e.Message = "InvalidAuthenticationToken", "Access token has expired or is not yet valid."
			w.Header().Set("WWW-Authenticate", `Bearer realm="", authorization_uri="https://login.microsoftonline.com/common/oauth2/authorize", client_id="00000003-0000-0000-c000-000000000000"`)
		case apiScope:
			if detail == "" {
				detail = "ErrorAccessDenied"
			}
			e.Code = detail
			e.Message = "Access is denied. Check credentials and try again."
			if detail == "Authorization_RequestDenied" {
				e.Message = "Insufficient privileges to complete the operation."
			}
		case apiForbidden:
			e.Code, e.Message = "Forbidden", detail
		case apiThrottled:
			e.Code, e.Message = "TooManyRequests", "Too many requests."
		case apiUnavailable:
			e.Code, e.Message = "serviceNotAvailable", "Service unavailable"
		default:
			e.Code, e.Message = "generalException", "General exception while processing."
		}
		e.InnerError.Date = s.Now().UTC().Format("2006-01-02T15:04:05")
		e.InnerError.RequestID = newUUID()
		e.InnerError.ClientRequestID = e.InnerError.RequestID
		w.Header().Set("request-id", e.InnerError.RequestID)
		writeJSON(w, status, b)
	case Zoom:
		var b zoomAPIError
		switch k {
		case apiUnauthenticated:
			b = zoomAPIError{124, "Invalid access token."}
		case apiScope:
			b = zoomAPIError{4711, fmt.Sprintf("Invalid access token, does not contain scopes:[%s].", detail)}
		case apiThrottled:
			b = zoomAPIError{429, "You have reached the maximum per-second rate limit for this API. Try again later."}
			w.Header().Set("X-RateLimit-Category", "Light")
			w.Header().Set("X-RateLimit-Type", "QPS")
		case apiUnavailable:
			b = zoomAPIError{503, "Service Unavailable"}
		default:
			b = zoomAPIError{500, "Internal Error"}
		}
		writeJSON(w, status, b)
	default:
		var b sfRESTError
		switch k {
		case apiUnauthenticated:
			b = sfRESTError{"Session expired or invalid", "INVALID_SESSION_ID"}
		case apiThrottled:
			b = sfRESTError{"ConcurrentRequests (Concurrent API Requests) Limit exceeded.", "REQUEST_LIMIT_EXCEEDED"}
		case apiUnavailable:
			b = sfRESTError{"Server temporarily unavailable", "SERVER_UNAVAILABLE"}
		default:
			b = sfRESTError{"An unexpected error occurred. Please include this ErrorId if you contact support: 1394719386-4521 (-1139207811)", "UNKNOWN_EXCEPTION"}
		}
		writeJSON(w, status, []sfRESTError{b})
	}
}
