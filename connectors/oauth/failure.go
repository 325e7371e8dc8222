package oauth

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"time"

	"tether/sync/connections"
)

// Failure returns e in the connections contract's shape. e stays in its chain (Err), so
// errors.As(err, &*oauth.Error) keeps working for callers that want the raw fields.
func (e *Error) Failure() *connections.Failure {
	return &connections.Failure{
		Class: e.Class, Provider: e.Provider, Op: e.Op, Code: e.Code, SubCode: e.SubCode,
		Reason: e.Reason, Detail: e.Description, Status: e.Status, RetryAfter: e.RetryAfter,
		Intermittent: e.Intermittent, OutcomeUnknown: e.OutcomeUnknown, Err: e,
	}
}

// FailureOf classifies any error of a provider call as a *connections.Failure: the one
// already in err's chain, an *Error, a Classifier (salesforce.APIError), a transport error
// (transient) or anything else (unknown, its text shortened and scrubbed of tokens).
// It returns nil for nil.
func FailureOf(provider, op string, err error) *connections.Failure {
	if err == nil {
		return nil
	}
	if f, ok := connections.AsFailure(err); ok {
		return f
	}
	var oe *Error
	if errors.As(err, &oe) {
		return oe.Failure()
	}
	f := &connections.Failure{Provider: provider, Op: op, Err: err, RetryAfter: RetryAfter(err)}
	var c Classifier
	switch {
	case errors.As(err, &c):
		f.Class = c.OAuthClass()
		f.Detail = scrub(err.Error())
	case isTransportError(err):
		f.Class, f.Reason = ClassTransient, "could not reach "+provider+"; retried with backoff"
	default:
		f.Class, f.Detail = ClassUnknown, scrub(err.Error())
		f.Reason = "an unrecognised failure; retried as transient; an operator should read the detail"
	}
	return f
}

// Backoffs for answers that carry no Retry-After but are documented as lasting.
var (
	// SalesforceDailyLimitBackoff: REQUEST_LIMIT_EXCEEDED "TotalRequests" lasts until the
	// org's rolling 24-hour usage falls (salesforce.md §3.2): hours, not seconds.
	SalesforceDailyLimitBackoff = time.Hour
	// SalesforceConcurrentBackoff: "ConcurrentRequests" clears when long calls finish.
	SalesforceConcurrentBackoff = 5 * time.Second
	// GoogleQuotaBackoff: Calendar "quotaExceeded" / "dailyLimitExceeded" last hours
	// (oauth.md §2).
	GoogleQuotaBackoff = time.Hour
)

// APIFailure classifies a failed API call (not the token endpoint) of provider (registry
// name: salesforce, google, microsoft, zoom) from its HTTP answer, for verifiers and
// connectors. Status decides 5xx before the body; the body's own codes decide the rest.
// A 401 (Salesforce userinfo: 403 Bad_OAuth_Token) is FailNeedsReconnect with Code
// "unauthorized": callers refresh once and retry before acting on it. now dates an
// HTTP-date or RFC 3339 Retry-After.
func APIFailure(provider, op string, status int, header http.Header, body []byte, now time.Time) *connections.Failure {
	f := &connections.Failure{Provider: provider, Op: op, Status: status, Class: ClassUnknown,
		RetryAfter: parseRetryAfter(header.Get("Retry-After"), now)}
	var known bool
	switch provider {
	case "salesforce":
		known = salesforceAPI(f, body)
	case "google":
		known = googleAPI(f, body)
	case "microsoft":
		known = graphAPI(f, body)
	case "zoom":
		known = zoomAPI(f, body, header)
	}
	switch {
	case status >= 500 && f.Class != ClassRateLimited:
		// Status first: an outage whose body says anything else is still an outage.
		f.Class, f.Reason = ClassTransient, fmt.Sprintf("%s answered %d; retried with backoff", provider, status)
	case status == http.StatusTooManyRequests && f.Class != ClassRateLimited:
		f.Class, f.Reason = ClassRateLimited, provider+" is rate limiting; retried after Retry-After"
	case f.Class == ClassNeedsReconnect && f.Code == "unauthorized":
		// Decided by the body (Bad_OAuth_Token comes with 403).
	case status == http.StatusUnauthorized:
		f.Class, f.Reason = ClassNeedsReconnect, provider+" refused the access token; refresh it once and retry, then reconnect if the refresh fails"
		if f.SubCode == "" {
			f.SubCode = f.Code
		}
		f.Code = "unauthorized"
	case !known || f.Class == ClassUnknown:
		f.Class, f.Reason = ClassUnknown, unknownReason(provider, status)
	}
	if f.Detail == "" || f.Class == ClassUnknown {
		f.Detail = scrub(string(body))
	}
	f.Code, f.SubCode = scrubCode(f.Code), scrubCode(f.SubCode)
	for i, s := range f.MissingScopes {
		f.MissingScopes[i] = scrubCode(s)
	}
	return f
}

func salesforceAPI(f *connections.Failure, body []byte) bool {
	b := bytes.TrimSpace(body)
	var code, msg string
	switch {
	case bytes.HasPrefix(b, []byte("Bad_OAuth_Token")):
		code, msg = "Bad_OAuth_Token", "invalid or expired access token"
	case len(b) > 0 && b[0] == '[':
		var items []struct{ Message, ErrorCode string }
		if json.Unmarshal(b, &items) != nil || len(items) == 0 {
			return false
		}
		code, msg = items[0].ErrorCode, items[0].Message
	case len(b) > 0 && b[0] == '{':
		var o struct {
			Message, ErrorCode string
			Error              string `json:"error"`
			Description        string `json:"error_description"`
		}
		if json.Unmarshal(b, &o) != nil {
			return false
		}
		code, msg = o.ErrorCode, o.Message
		if code == "" {
			code, msg = o.Error, o.Description
		}
	}
	if code == "" {
		return false
	}
	f.Code, f.Detail = code, scrub(msg)
	switch code {
	case "INVALID_SESSION_ID", "Bad_OAuth_Token":
		f.Class, f.SubCode, f.Code = ClassNeedsReconnect, code, "unauthorized"
		f.Reason = "Salesforce refused the access token; refresh it once and retry, then reconnect if the refresh fails"
	case "REQUEST_LIMIT_EXCEEDED":
		f.Class = ClassRateLimited
		switch {
		case strings.Contains(msg, "TotalRequests"):
			f.SubCode = "TotalRequests"
			f.Reason = "the Salesforce org spent its daily API allocation; calls resume when its rolling 24-hour usage falls (a Salesforce admin can raise the allocation)"
			if f.RetryAfter == 0 {
				f.RetryAfter = SalesforceDailyLimitBackoff
			}
		case strings.Contains(msg, "ConcurrentRequests"):
			f.SubCode = "ConcurrentRequests"
			f.Reason = "too many long-running Salesforce requests at once in the org; retried in seconds"
			if f.RetryAfter == 0 {
				f.RetryAfter = SalesforceConcurrentBackoff
			}
		default:
			f.Reason = "Salesforce request limit exceeded"
		}
	case "API_DISABLED_FOR_ORG", "API_CURRENTLY_DISABLED":
		f.Class, f.SubCode = ClassNeedsAdmin, code
		f.Reason = "the Salesforce org or user has no API access; a Salesforce admin must enable API Enabled (or an edition with API)"
	case "SERVER_UNAVAILABLE":
		f.Class, f.Reason = ClassTransient, "Salesforce is unavailable; retried with backoff"
	default:
		return false
	}
	return true
}

func googleAPI(f *connections.Failure, body []byte) bool {
	var v struct {
		Error struct {
			Code    int
			Message string
			Status  string
			Errors  []struct{ Reason, Domain string }
			Details []struct{ Reason string }
		}
	}
	if json.Unmarshal(body, &v) != nil || (v.Error.Status == "" && len(v.Error.Errors) == 0) {
		return false
	}
	e := v.Error
	f.Code, f.Detail = e.Status, scrub(e.Message)
	if len(e.Errors) > 0 {
		f.Code = e.Errors[0].Reason
	}
	for _, d := range e.Details {
		if d.Reason != "" {
			f.SubCode = d.Reason
		}
	}
	switch f.Code {
	case "authError":
		f.Class, f.SubCode, f.Code = ClassNeedsReconnect, "authError", "unauthorized"
		f.Reason = "Google refused the access token; refresh it once and retry, then reconnect if the refresh fails"
	case "insufficientPermissions":
		f.Class = ClassNeedsReconnect
		f.Reason = "the Google grant lacks a scope tether needs; the user must reconnect and allow Calendar access"
	case "rateLimitExceeded", "userRateLimitExceeded":
		f.Class, f.Reason = ClassRateLimited, "Google Calendar rate limit ("+f.Code+"); retried with exponential backoff"
	case "quotaExceeded":
		f.Class = ClassRateLimited
		f.Reason = "Google Calendar usage limits exceeded for this user; the calendar is read-only for hours; retried later"
		if f.RetryAfter == 0 {
			f.RetryAfter = GoogleQuotaBackoff
		}
	case "accessNotConfigured":
		f.Class = ClassMisconfigured
		f.Reason = "the Google Calendar API is not enabled in tether's Google Cloud project; an operator must enable it"
	case "dailyLimitExceeded":
		f.Class = ClassRateLimited
		f.Reason = "tether's Google Cloud project spent its daily quota; an operator must raise it"
		if f.RetryAfter == 0 {
			f.RetryAfter = GoogleQuotaBackoff
		}
	case "backendError", "internalError":
		f.Class, f.Reason = ClassTransient, "Google answered a backend error; retried with backoff"
	default:
		if f.SubCode == "ACCESS_TOKEN_SCOPE_INSUFFICIENT" {
			f.Class = ClassNeedsReconnect
			f.Reason = "the Google grant lacks a scope tether needs; the user must reconnect and allow Calendar access"
			return true
		}
		return false
	}
	return true
}

func graphAPI(f *connections.Failure, body []byte) bool {
	var v struct {
		Error struct{ Code, Message string }
	}
	if json.Unmarshal(body, &v) != nil || v.Error.Code == "" {
		return false
	}
	f.Code, f.Detail = v.Error.Code, scrub(v.Error.Message)
	switch f.Code {
	case "InvalidAuthenticationToken":
		f.Class, f.SubCode, f.Code = ClassNeedsReconnect, "InvalidAuthenticationToken", "unauthorized"
		f.Reason = "Microsoft Graph refused the access token; refresh it once and retry, then reconnect if the refresh fails"
	case "ErrorAccessDenied", "Authorization_RequestDenied", "accessDenied":
		f.Class = ClassNeedsReconnect
		f.Reason = "the Microsoft grant lacks a permission tether needs; the user must reconnect and consent"
	case "TooManyRequests", "ApplicationThrottled", "activityLimitReached", "ErrorTooManyObjectsOpened":
		f.Class, f.Reason = ClassRateLimited, "Microsoft Graph is throttling ("+f.Code+"); retried after Retry-After"
	case "serviceNotAvailable", "generalException", "ErrorServerBusy", "UnknownError":
		f.Class, f.Reason = ClassTransient, "Microsoft Graph is unavailable ("+f.Code+"); retried with backoff"
	default:
		return false
	}
	return true
}

var zoomScopesRE = regexp.MustCompile(`scopes:\s*\[([^\]]*)\]`)

func zoomAPI(f *connections.Failure, body []byte, header http.Header) bool {
	var v struct {
		Code    *int   `json:"code"`
		Message string `json:"message"`
	}
	if json.Unmarshal(body, &v) != nil || v.Code == nil {
		return false
	}
	f.Code, f.Detail = strconv.Itoa(*v.Code), scrub(v.Message)
	switch *v.Code {
	case 124:
		f.Class, f.SubCode, f.Code = ClassNeedsReconnect, "124", "unauthorized"
		f.Reason = "Zoom refused the access token; refresh it once and retry, then reconnect if the refresh fails"
	case 4711:
		f.Class = ClassNeedsReconnect
		f.Reason = "the Zoom grant lacks a scope tether needs; the user must reconnect"
		if m := zoomScopesRE.FindStringSubmatch(v.Message); m != nil {
			for _, s := range strings.FieldsFunc(m[1], func(r rune) bool { return r == ',' || r == ' ' }) {
				f.MissingScopes = append(f.MissingScopes, s)
			}
		}
	case 429:
		f.Class, f.SubCode = ClassRateLimited, header.Get("X-RateLimit-Type")
		f.Reason = "Zoom rate limit; retried after Retry-After"
		if f.SubCode == "Daily-limit" {
			f.Reason = "Zoom daily rate limit for this account; retried after Retry-After (a date)"
		}
	default:
		return false
	}
	return true
}

var (
	// key=value or "key":"value" pairs whose value is a credential.
	secretPairRE = regexp.MustCompile(`(?i)("?(?:access_token|refresh_token|id_token|token|client_secret|assertion|password)"?\s*[:=]\s*"?)([^"&,\s}]+)`)
	bearerRE     = regexp.MustCompile(`(?i)(bearer\s+)[^\s"',]+`)
	// Long opaque runs with a digit are token-shaped (Google ya29…, Salesforce 00D…!…, JWTs).
	opaqueRE = regexp.MustCompile(`[A-Za-z0-9._~+=!-]{32,}`)
	uuidRE   = regexp.MustCompile(`^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$`)
)

// scrub removes anything token-shaped, plus the given secrets, from s, folds its
// whitespace and cuts it to 300 bytes, so a provider body can be kept for display and logs.
func scrub(s string, secrets ...string) string {
	s = redact(s, secrets...)
	s = secretPairRE.ReplaceAllString(s, "${1}[redacted]")
	s = bearerRE.ReplaceAllString(s, "${1}[redacted]")
	s = opaqueRE.ReplaceAllStringFunc(s, func(m string) string {
		if uuidRE.MatchString(m) || !strings.ContainsAny(m, "0123456789") {
			return m
		}
		return "[redacted]"
	})
	s = strings.Join(strings.Fields(s), " ")
	const max = 300
	if len(s) > max {
		s = strings.ToValidUTF8(s[:max], "") + "…"
	}
	return s
}

// scrubCode keeps a provider's error code unless it is token-shaped or too long to be
// one: a body that put a credential in "error" must not carry it into logs.
func scrubCode(c string) string {
	if s := scrub(c); s != c || len(c) > 100 {
		return "[unrecognised code]"
	}
	return c
}
