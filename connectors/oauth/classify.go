package oauth

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// response is the part of a token-endpoint error body classification reads.
// Providers disagree on extras: Microsoft adds error_codes, Google
// error_subtype, Zoom reason.
type response struct {
	Code        string
	Description string
	ErrorCodes  []int
	Subtype     string
	Reason      string
	Parsed      bool // the body was a recognisable OAuth error body
}

func parseErrorBody(body []byte) response {
	var r response
	trimmed := bytes.TrimSpace(body)
	if len(trimmed) > 0 && trimmed[0] == '{' {
		var raw struct {
			Error       json.RawMessage `json:"error"`
			Description string          `json:"error_description"`
			ErrorCodes  []int           `json:"error_codes"`
			Subtype     string          `json:"error_subtype"`
			Reason      string          `json:"reason"`
			Message     string          `json:"message"`
		}
		if json.Unmarshal(trimmed, &raw) == nil {
			var code string
			if json.Unmarshal(raw.Error, &code) != nil {
				// Graph-style {"error":{"code":..,"message":..}}.
				var obj struct{ Code, Message string }
				if json.Unmarshal(raw.Error, &obj) == nil {
					code, raw.Description = obj.Code, obj.Message
				}
			}
			r = response{Code: code, Description: raw.Description, ErrorCodes: raw.ErrorCodes,
				Subtype: raw.Subtype, Reason: raw.Reason, Parsed: code != ""}
			if r.Description == "" {
				r.Description = raw.Message
			}
			return r
		}
	}
	// Some endpoints answer application/x-www-form-urlencoded.
	if bytes.Contains(trimmed, []byte("error=")) {
		if v, err := url.ParseQuery(string(trimmed)); err == nil && v.Get("error") != "" {
			return response{Code: v.Get("error"), Description: v.Get("error_description"), Parsed: true}
		}
	}
	return r
}

var aadstsRE = regexp.MustCompile(`AADSTS(\d+)`)

func (r response) aadsts() string {
	if len(r.ErrorCodes) > 0 {
		return strconv.Itoa(r.ErrorCodes[0])
	}
	if m := aadstsRE.FindStringSubmatch(r.Description); m != nil {
		return m[1]
	}
	return ""
}

// classifyResponse turns a token-endpoint HTTP response into an *Error.
// Order matters: the status decides 429 and 5xx before any body is read,
// because Google and Microsoft put misleading codes in throttling bodies.
func classifyResponse(p Provider, op string, status int, header http.Header, body []byte, now time.Time) *Error {
	r := parseErrorBody(body)
	e := &Error{
		Provider:    p.Name,
		Op:          op,
		Code:        r.Code,
		Description: shorten(r.Description),
		Status:      status,
	}
	switch p.dialect() {
	case DialectMicrosoft:
		e.SubCode = r.aadsts()
	case DialectGoogle:
		e.SubCode = r.Subtype
	case DialectZoom:
		e.SubCode = r.Reason
	}
	e.RetryAfter = parseRetryAfter(header.Get("Retry-After"), now)

	switch {
	case status == http.StatusTooManyRequests:
		e.Class = ClassRateLimited
		return e
	case status >= 500:
		e.Class = ClassTransient
		return e
	}
	if !r.Parsed {
		// A 4xx without an OAuth body is a proxy or gateway talking, not the
		// authorization server: retry and alert, never flag the user.
		e.Class = ClassUnknown
		if e.Description == "" {
			e.Description = shorten(strings.TrimSpace(string(body)))
		}
		return e
	}
	e.Class, e.Reason = classifyCode(p.dialect(), r, e)
	return e
}

func classifyCode(d Dialect, r response, e *Error) (Class, string) {
	switch d {
	case DialectSalesforce:
		if c, reason, ok := salesforceCode(r); ok {
			return c, reason
		}
	case DialectMicrosoft:
		if c, reason, ok := microsoftCode(r, e); ok {
			return c, reason
		}
	case DialectZoom:
		if c, reason, ok := zoomCode(r); ok {
			return c, reason
		}
	case DialectGoogle:
		if r.Code == "invalid_grant" && r.Subtype == "invalid_rapt" {
			return ClassNeedsReconnect, "Google Workspace policy requires the user to sign in again; it will recur"
		}
	}
	switch r.Code {
	case "invalid_grant":
		return ClassNeedsReconnect, "the grant was revoked or expired"
	case "interaction_required", "consent_required", "login_required":
		return ClassNeedsReconnect, "the user must sign in again"
	case "temporarily_unavailable", "server_error":
		return ClassTransient, ""
	case "invalid_client", "unauthorized_client", "invalid_scope", "unsupported_grant_type",
		"invalid_request", "deleted_client", "unsupported_response_type":
		return ClassMisconfigured, "tether's OAuth client configuration was refused"
	}
	return ClassUnknown, ""
}

// salesforceCode implements salesforce.md §5.5.
func salesforceCode(r response) (Class, string, bool) {
	desc := strings.ToLower(r.Description)
	switch r.Code {
	case "invalid_grant":
		switch {
		case strings.Contains(desc, "inactive user"):
			return ClassNeedsReconnect, "Salesforce user is inactive", true
		case strings.Contains(desc, "ip restricted"), strings.Contains(desc, "login hours"):
			return ClassOrgProblem, "Salesforce org blocks this login (IP restrictions or login hours)", true
		case strings.Contains(desc, "inactive org"), strings.Contains(desc, "inactive_org"):
			return ClassOrgProblem, "Salesforce org is inactive", true
		}
		return ClassNeedsReconnect, "Salesforce grant expired or was revoked", true
	case "inactive_user":
		return ClassNeedsReconnect, "Salesforce user is inactive", true
	case "inactive_org":
		return ClassOrgProblem, "Salesforce org is inactive", true
	case "invalid_client_id", "invalid_client", "invalid_client_credentials", "unsupported_grant_type", "invalid_request":
		return ClassMisconfigured, "Salesforce refused tether's connected-app credentials", true
	case "rate_limit_exceeded":
		return ClassRateLimited, "Salesforce token endpoint rate limit", true
	}
	return "", "", false
}

var (
	aadNeedsReconnect = map[string]string{
		"700082":  "refresh token expired after 90 days of inactivity",
		"70008":   "refresh token expired or was revoked",
		"700084":  "single-page-app refresh token lifetime ended",
		"50173":   "the user or an admin revoked the tokens",
		"70043":   "Conditional Access sign-in frequency requires a new sign-in",
		"50089":   "flow token expired",
		"65001":   "consent is missing",
		"50076":   "multi-factor authentication is required",
		"50079":   "multi-factor enrollment is required",
		"50074":   "strong authentication is required",
		"53003":   "blocked by Conditional Access; the admin may have to allow it",
		"53000":   "device not compliant; the admin may have to allow it",
		"53001":   "device not domain-joined; the admin may have to allow it",
		"530032":  "blocked by security policy; the admin may have to allow it",
		"50057":   "Microsoft account is disabled",
		"50034":   "user not found in the directory",
		"50020":   "user not in the tenant",
		"500011":  "resource not found in the tenant",
		"9002341": "the user must permit single sign-on",
	}
	aadMisconfigured = map[string]bool{
		"7000215": true, "7000222": true, "70002": true, "7000218": true,
		"700016": true, "70001": true, "7000112": true,
		"70011": true, "28002": true, "700022": true,
		"9001023": true, "90124": true, "90130": true, "50194": true,
	}
	aadTransient = map[string]bool{
		"90033": true, "50033": true, "90024": true, "50087": true, "90006": true, "90090": true, "70012": true,
	}
)

// microsoftCode decides on the AADSTS number first: Microsoft documents
// error_description as not for programs, and the same "error" value covers
// both dead grants and our own misconfiguration.
func microsoftCode(r response, e *Error) (Class, string, bool) {
	code := r.aadsts()
	switch {
	case code == "":
		return "", "", false
	case code == "90055":
		return ClassRateLimited, "tenant throttling", true
	case code == "50196":
		return ClassRateLimited, "loop detected: the same request was repeated too often", true
	case code == "70000":
		e.ConfirmFirst = true
		return ClassNeedsReconnect, "refresh token is not valid", true
	case aadTransient[code]:
		return ClassTransient, "", true
	case aadMisconfigured[code]:
		return ClassMisconfigured, "Microsoft refused tether's app registration (AADSTS" + code + ")", true
	}
	if reason, ok := aadNeedsReconnect[code]; ok {
		return ClassNeedsReconnect, reason, true
	}
	return "", "", false
}

// zoomCode: Zoom reports a dead or superseded refresh token as reason
// "Invalid Token!" under either invalid_grant or invalid_request.
func zoomCode(r response) (Class, string, bool) {
	switch {
	case r.Code == "invalid_grant":
		return ClassNeedsReconnect, "Zoom refresh token is no longer valid", true
	case r.Code == "invalid_request" && strings.EqualFold(strings.TrimSpace(r.Reason), "Invalid Token!"):
		return ClassNeedsReconnect, "Zoom refresh token is no longer valid", true
	case r.Code == "invalid_request":
		return ClassUnknown, "", true
	}
	return "", "", false
}

// parseRetryAfter accepts delta-seconds, an HTTP-date, or an RFC 3339 time
// (Zoom's daily limits). Times in the past give 0.
func parseRetryAfter(v string, now time.Time) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0
	}
	if n, err := strconv.ParseInt(v, 10, 64); err == nil {
		if n <= 0 {
			return 0
		}
		return time.Duration(n) * time.Second
	}
	var t time.Time
	if ht, err := http.ParseTime(v); err == nil {
		t = ht
	} else if rt, err := time.Parse(time.RFC3339, v); err == nil {
		t = rt
	} else {
		return 0
	}
	if d := t.Sub(now); d > 0 {
		return d
	}
	return 0
}

func shorten(s string) string {
	s = strings.TrimSpace(s)
	// Microsoft appends trace and correlation ids after \r\n; keep the line
	// people can read.
	if i := strings.IndexAny(s, "\r\n"); i >= 0 {
		s = strings.TrimSpace(s[:i])
	}
	const max = 300
	if len(s) > max {
		s = s[:max] + "…"
	}
	return s
}
