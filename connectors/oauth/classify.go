package oauth

import (
	"bytes"
	"encoding/json"
	"fmt"
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
		Code:        scrubCode(r.Code),
		Description: scrub(shorten(r.Description)),
		Status:      status,
	}
	switch p.dialect() {
	case DialectMicrosoft:
		e.SubCode = r.aadsts()
	case DialectGoogle:
		e.SubCode = scrub(r.Subtype)
	case DialectZoom:
		e.SubCode = scrub(r.Reason)
	}
	e.RetryAfter = parseRetryAfter(header.Get("Retry-After"), now)

	switch {
	case status == http.StatusTooManyRequests:
		e.Class, e.Reason = ClassRateLimited, p.Name+" is rate limiting token requests"
		return e
	case status >= 500:
		e.Class, e.Reason = ClassTransient, fmt.Sprintf("%s answered %d; retried with backoff", p.Name, status)
		if e.Description == "" {
			e.Description = scrub(string(body))
		}
		return e
	}
	if !r.Parsed {
		// A 4xx without an OAuth body is a proxy or gateway talking, not the
		// authorization server: retry and alert, never flag the user.
		e.Class, e.Reason = ClassUnknown, unknownReason(p.Name, status)
		if e.Description == "" {
			e.Description = scrub(string(body))
		}
		return e
	}
	e.Class, e.Reason = classifyCode(p.dialect(), r, e)
	if e.Class == ClassUnknown {
		e.Reason = unknownReason(p.Name, status)
	}
	return e
}

func unknownReason(provider string, status int) string {
	return fmt.Sprintf("%s answered %d with a body tether does not recognise; retried as transient; an operator should read the detail", provider, status)
}

func classifyCode(d Dialect, r response, e *Error) (Class, string) {
	switch d {
	case DialectSalesforce:
		if c, reason, ok := salesforceCode(r, e); ok {
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
		if c, reason, ok := googleCode(r); ok {
			return c, reason
		}
	}
	switch r.Code {
	case "invalid_grant":
		return ClassNeedsReconnect, "the grant was revoked or expired; the user must reconnect"
	case "interaction_required", "consent_required", "login_required":
		return ClassNeedsReconnect, "the user must sign in again"
	case "temporarily_unavailable", "server_error":
		return ClassTransient, "the provider is temporarily unavailable"
	case "invalid_client", "unauthorized_client", "invalid_scope", "unsupported_grant_type",
		"invalid_request", "deleted_client", "unsupported_response_type":
		return ClassMisconfigured, "the provider refused tether's OAuth client (" + r.Code + "); check its client id, secret and scopes"
	}
	return ClassUnknown, ""
}

// salesforceCode implements salesforce.md §3.5/§5.5. Salesforce has no sub-codes: the
// error_description phrase decides, and becomes SubCode.
func salesforceCode(r response, e *Error) (Class, string, bool) {
	desc := strings.ToLower(r.Description)
	has := func(phrase string) bool {
		if strings.Contains(desc, phrase) {
			e.SubCode = phrase
			return true
		}
		return false
	}
	switch r.Code {
	case "invalid_grant":
		switch {
		case has("inactive user"):
			return ClassNeedsAdmin, "the Salesforce user is inactive; a Salesforce admin must reactivate the user, or the member should be deactivated in tether", true
		case has("user hasn't approved this consumer"), has("user has not approved this consumer"):
			return ClassNeedsAdmin, "the Salesforce admin must pre-authorize tether's connected app for this user (Admin approved users are pre-authorized, plus the user's profile or permission set)", true
		case has("ip restricted"), has("login hours"):
			return ClassNeedsAdmin, "the Salesforce org blocks this login (IP restrictions or login hours); a Salesforce admin must allow it", true
		case has("inactive org"), has("inactive_org"):
			return ClassNeedsAdmin, "the Salesforce org is inactive; its admin must reactivate it", true
		case has("expired access/refresh token"), has("authentication failure"):
			return ClassNeedsReconnect, "the Salesforce grant expired or was revoked; the user must reconnect", true
		}
		return ClassNeedsReconnect, "the Salesforce grant expired or was revoked; the user must reconnect", true
	case "inactive_user":
		return ClassNeedsAdmin, "the Salesforce user is inactive; a Salesforce admin must reactivate the user, or the member should be deactivated in tether", true
	case "inactive_org":
		return ClassNeedsAdmin, "the Salesforce org is inactive; its admin must reactivate it", true
	case "invalid_client":
		if has("app must be installed into org") {
			return ClassNeedsAdmin, "the Salesforce admin must install tether's connected app in the org", true
		}
		return ClassMisconfigured, "Salesforce refused tether's connected-app credentials; check TETHER_SALESFORCE_CLIENT_ID and TETHER_SALESFORCE_CLIENT_SECRET", true
	case "invalid_client_id", "invalid_client_credentials":
		return ClassMisconfigured, "Salesforce refused tether's connected-app credentials; check TETHER_SALESFORCE_CLIENT_ID and TETHER_SALESFORCE_CLIENT_SECRET", true
	case "unsupported_grant_type", "invalid_request", "invalid_scope":
		return ClassMisconfigured, "Salesforce refused tether's token request (" + r.Code + "); check the connected app's OAuth settings", true
	case "rate_limit_exceeded":
		return ClassRateLimited, "Salesforce token endpoint rate limit", true
	}
	return "", "", false
}

// googleCode: Google's sub-code is error_subtype; deleted accounts are only told apart
// by the description (GAM-team/GAM#1171).
func googleCode(r response) (Class, string, bool) {
	desc := strings.ToLower(r.Description)
	switch r.Code {
	case "invalid_grant":
		switch {
		case r.Subtype == "invalid_rapt":
			return ClassNeedsReconnect, "Google Workspace session control requires the user to sign in again; it recurs at the interval the Workspace admin set", true
		case strings.Contains(desc, "account has been deleted"), strings.Contains(desc, "account has been disabled"),
			strings.Contains(desc, "account is disabled"):
			return ClassNeedsAdmin, "the Google account was deleted or disabled; the Workspace admin must restore it, or the member should be deactivated in tether", true
		}
		return ClassNeedsReconnect, "the Google grant expired or was revoked; the user must reconnect", true
	case "admin_policy_enforced":
		return ClassNeedsAdmin, "the Google Workspace admin blocks tether's app; the admin must allow it in the Admin console (API controls)", true
	case "invalid_client", "deleted_client", "unauthorized_client", "org_internal":
		return ClassMisconfigured, "Google refused tether's OAuth client (" + r.Code + "); check TETHER_GOOGLE_CLIENT_ID and TETHER_GOOGLE_CLIENT_SECRET", true
	}
	return "", "", false
}

var (
	// AADSTS numbers the rep fixes by signing in again.
	aadNeedsReconnect = map[string]string{
		"700082":  "the Microsoft refresh token expired after 90 days of inactivity; the user must reconnect",
		"70008":   "the Microsoft refresh token expired or was revoked; the user must reconnect",
		"700084":  "the single-page-app refresh token lifetime ended; the user must reconnect",
		"50173":   "the user or an admin revoked the Microsoft tokens (or the password was reset); the user must reconnect",
		"70043":   "Conditional Access sign-in frequency requires a new sign-in; the user must reconnect (it recurs at the interval the admin set)",
		"50089":   "the Microsoft flow token expired; the user must reconnect",
		"65001":   "consent is missing; the user must reconnect and consent (an admin may have to approve the app)",
		"65004":   "the user declined consent; the user must reconnect and accept",
		"50076":   "multi-factor authentication is required; the user must reconnect",
		"50079":   "multi-factor enrollment is required; the user must enroll and reconnect",
		"50074":   "strong authentication is required; the user must reconnect",
		"50078":   "the multi-factor proof expired; the user must reconnect",
		"50133":   "the session ended because the password expired or changed; the user must reconnect",
		"50055":   "the password expired; the user must change it and reconnect",
		"53000":   "the device is not compliant; the user must reconnect from a compliant device",
		"53001":   "the device is not domain-joined; the user must reconnect from a joined device",
		"9002341": "the user must permit single sign-on; the user must reconnect",
	}
	// AADSTS numbers only a tenant admin can fix.
	aadNeedsAdmin = map[string]string{
		"50057":  "the Microsoft account is disabled; a Microsoft 365 admin must enable it, or the member should be deactivated in tether",
		"50034":  "the user no longer exists in the Microsoft directory; an admin must restore the user, or the member should be deactivated in tether",
		"50020":  "the user is not in the tenant; an admin must add the user, or the member should be deactivated in tether",
		"50105":  "the user is not assigned to tether's app; an admin must assign the user in Enterprise applications",
		"500011": "tether's app is not installed in the tenant; an admin must consent to it",
		"90094":  "the tenant requires admin consent for tether's app; an admin must grant it",
		"90095":  "the tenant requires admin consent for tether's app; an admin must approve the pending request",
		"53003":  "a Conditional Access policy blocks the sign-in; an admin must allow tether",
		"530032": "a security policy blocks the sign-in; an admin must allow tether",
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
		return ClassRateLimited, "Microsoft is throttling the tenant's sign-ins (AADSTS90055)", true
	case code == "50196":
		return ClassRateLimited, "Microsoft detected a loop: the same request was repeated too often (AADSTS50196); check for a refresh storm", true
	case code == "70000":
		e.Intermittent = true
		return ClassNeedsReconnect, "the Microsoft refresh token is not valid; the user must reconnect", true
	case aadTransient[code]:
		return ClassTransient, "Microsoft reported a transient error (AADSTS" + code + ")", true
	case aadMisconfigured[code]:
		return ClassMisconfigured, "Microsoft refused tether's app registration (AADSTS" + code + "); check TETHER_MICROSOFT_CLIENT_ID, TETHER_MICROSOFT_CLIENT_SECRET and the tenant path", true
	}
	if reason, ok := aadNeedsAdmin[code]; ok {
		return ClassNeedsAdmin, reason, true
	}
	if reason, ok := aadNeedsReconnect[code]; ok {
		return ClassNeedsReconnect, reason, true
	}
	return "", "", false
}

// zoomCode: Zoom reports a dead or superseded refresh token as reason
// "Invalid Token!" under either invalid_grant or invalid_request; the reason
// texts of its error table (oauth.md §4) tell the admin's cases apart.
func zoomCode(r response) (Class, string, bool) {
	reason := strings.ToLower(strings.TrimSpace(r.Reason))
	switch {
	case r.Code == "invalid_client" || r.Code == "unauthorized_client":
		return ClassMisconfigured, "Zoom refused tether's OAuth app credentials; check TETHER_ZOOM_CLIENT_ID and TETHER_ZOOM_CLIENT_SECRET", true
	case strings.Contains(reason, "owner of the token does not exist"):
		return ClassNeedsAdmin, "the Zoom user was removed from the Zoom account; the Zoom admin must restore the user, or the member should be deactivated in tether", true
	case strings.Contains(reason, "disabled by admin"), strings.Contains(reason, "user is disabled"), strings.Contains(reason, "user has been deactivated"):
		return ClassNeedsAdmin, "the Zoom account admin disabled the user or tether's app; the Zoom admin must enable it", true
	case r.Code == "invalid_grant":
		return ClassNeedsReconnect, "the Zoom refresh token is no longer valid (revoked, superseded or expired); the user must reconnect", true
	case r.Code == "invalid_request" && reason == "invalid token!":
		return ClassNeedsReconnect, "the Zoom refresh token is no longer valid (revoked, superseded or expired); the user must reconnect", true
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
		return min(time.Duration(min(n, int64(maxRetryAfter/time.Second)))*time.Second, maxRetryAfter)
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
		return min(d, maxRetryAfter)
	}
	return 0
}

// maxRetryAfter bounds what a provider can ask for: a garbled header must not park a
// connection for years.
const maxRetryAfter = 7 * 24 * time.Hour

func shorten(s string) string {
	s = strings.TrimSpace(s)
	// Microsoft appends trace and correlation ids after \r\n; keep the line
	// people can read.
	if i := strings.IndexAny(s, "\r\n"); i >= 0 {
		s = strings.TrimSpace(s[:i])
	}
	const max = 300
	if len(s) > max {
		s = strings.ToValidUTF8(s[:max], "") + "…"
	}
	return s
}
