package salesforce

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"tether/connectors/oauth"
)

// ErrorItem is one element of Salesforce's JSON error array.
type ErrorItem struct {
	Message   string   `json:"message"`
	ErrorCode string   `json:"errorCode"`
	Fields    []string `json:"fields,omitempty"`
}

// APIError is a non-2xx REST answer. Code, Message and Fields come from the
// first element of the error array; Errors holds all of them.
type APIError struct {
	Status int
	Code   string // e.g. INVALID_SESSION_ID; empty when the body had none
	// Message is Salesforce's text. For MALFORMED_QUERY and INVALID_FIELD it
	// echoes the SOQL (names, emails): Error() leaves that part out.
	Message string
	Fields  []string
	Errors  []ErrorItem
}

func (e *APIError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "salesforce: HTTP %d", e.Status)
	if e.Code != "" {
		fmt.Fprintf(&b, " %s", e.Code)
	}
	if m := safeMessage(e.Message); m != "" {
		fmt.Fprintf(&b, ": %s", m)
	}
	if len(e.Fields) > 0 {
		fmt.Fprintf(&b, " (fields %s)", strings.Join(e.Fields, ", "))
	}
	if len(e.Errors) > 1 {
		fmt.Fprintf(&b, " (+%d more)", len(e.Errors)-1)
	}
	return b.String()
}

// Provider and HTTPStatus let the worker say who answered what without importing
// this package.
func (e *APIError) Provider() string { return "Salesforce" }
func (e *APIError) HTTPStatus() int  { return e.Status }

// OAuthClass implements oauth.Classifier: what the connection state
// machine does about this answer, assuming the Client already refreshed
// once (a 401 here means the fresh token was refused too).
func (e *APIError) OAuthClass() oauth.Class {
	switch {
	case e.Status == http.StatusUnauthorized, e.Code == "INVALID_SESSION_ID", e.Code == badOAuthToken:
		return oauth.ClassNeedsReconnect
	case e.Code == "REQUEST_LIMIT_EXCEEDED", e.Status == http.StatusTooManyRequests:
		return oauth.ClassRateLimited
	case e.Code == "API_DISABLED_FOR_ORG", e.Code == "API_CURRENTLY_DISABLED":
		return oauth.ClassOrgProblem
	case e.Status >= 500, e.Code == "SERVER_UNAVAILABLE":
		return oauth.ClassTransient
	}
	return oauth.ClassUnknown
}

const badOAuthToken = "Bad_OAuth_Token"

// decodeAPIError tolerates every body Salesforce and the proxies in front
// of it send: the JSON array, an empty array, an OAuth-style object, the
// plain text "Bad_OAuth_Token", HTML.
func decodeAPIError(status int, body []byte) *APIError {
	e := &APIError{Status: status}
	b := bytes.TrimSpace(body)
	parsed := false
	switch {
	case len(b) > 0 && b[0] == '[':
		var items []ErrorItem
		if json.Unmarshal(b, &items) == nil {
			e.Errors, parsed = items, true
		}
	case len(b) > 0 && b[0] == '{':
		var o struct {
			ErrorItem
			Error       string `json:"error"`
			Description string `json:"error_description"`
		}
		if json.Unmarshal(b, &o) == nil {
			switch {
			case o.ErrorCode != "":
				e.Errors = []ErrorItem{o.ErrorItem}
			case o.Error != "":
				e.Errors = []ErrorItem{{ErrorCode: o.Error, Message: o.Description}}
			}
		}
	case bytes.HasPrefix(b, []byte(badOAuthToken)):
		e.Errors = []ErrorItem{{ErrorCode: badOAuthToken, Message: "invalid or expired access token"}}
	}
	if len(e.Errors) > 0 {
		e.Code, e.Message, e.Fields = e.Errors[0].ErrorCode, e.Errors[0].Message, e.Errors[0].Fields
	} else if !parsed && len(b) > 0 && b[0] != '<' {
		e.Message = snippet(b)
	}
	return e
}

// safeMessage drops the query Salesforce echoes in MALFORMED_QUERY and
// INVALID_FIELD messages ("\nSELECT …\n ^\nERROR at Row:1:Column:8\nNo such
// column …"): it may hold names and emails, and error strings end up in
// logs. APIError.Message keeps the full text.
func safeMessage(m string) string {
	if i := strings.Index(m, "ERROR at Row"); i >= 0 {
		m = m[i:]
	}
	return strings.Join(strings.Fields(m), " ")
}

func snippet(b []byte) string {
	s := strings.Join(strings.Fields(string(b)), " ")
	if len(s) > 200 {
		s = s[:200] + "…"
	}
	return s
}

func asAPIError(err error) (*APIError, bool) {
	var e *APIError
	ok := errors.As(err, &e)
	return e, ok
}

func hasCode(err error, code string) bool {
	e, ok := asAPIError(err)
	return ok && e.Code == code
}

// IsInvalidSession reports an expired or revoked access token: 401
// INVALID_SESSION_ID from REST, or 403 Bad_OAuth_Token from userinfo.
func IsInvalidSession(err error) bool {
	e, ok := asAPIError(err)
	return ok && (e.Status == http.StatusUnauthorized || e.Code == "INVALID_SESSION_ID" || e.Code == badOAuthToken)
}

// IsRequestLimit reports REQUEST_LIMIT_EXCEEDED of either kind; see
// IsDailyLimit and IsConcurrencyLimit for which.
func IsRequestLimit(err error) bool { return hasCode(err, "REQUEST_LIMIT_EXCEEDED") }

// IsDailyLimit reports that the org's rolling 24-hour API allocation is
// spent ("TotalRequests Limit exceeded."): back off for hours.
func IsDailyLimit(err error) bool {
	e, ok := asAPIError(err)
	return ok && e.Code == "REQUEST_LIMIT_EXCEEDED" && strings.Contains(e.Message, "TotalRequests")
}

// IsConcurrencyLimit reports too many long-running concurrent requests
// ("ConcurrentRequests (Concurrent API Requests) Limit exceeded."): retry
// in seconds.
func IsConcurrencyLimit(err error) bool {
	e, ok := asAPIError(err)
	return ok && e.Code == "REQUEST_LIMIT_EXCEEDED" && strings.Contains(e.Message, "ConcurrentRequests")
}

// IsAPIDisabled reports an org or user without API access.
func IsAPIDisabled(err error) bool {
	return hasCode(err, "API_DISABLED_FOR_ORG") || hasCode(err, "API_CURRENTLY_DISABLED")
}

// IsMalformedQuery reports a SOQL syntax error.
func IsMalformedQuery(err error) bool { return hasCode(err, "MALFORMED_QUERY") }

// IsInvalidField reports a field that does not exist or that the user
// cannot see (field-level security).
func IsInvalidField(err error) bool { return hasCode(err, "INVALID_FIELD") }

// IsInvalidType reports an sObject type that does not exist or that the
// user cannot see.
func IsInvalidType(err error) bool { return hasCode(err, "INVALID_TYPE") }

// IsNotFound reports 404 NOT_FOUND.
func IsNotFound(err error) bool {
	e, ok := asAPIError(err)
	return ok && (e.Status == http.StatusNotFound || e.Code == "NOT_FOUND")
}

// IsQueryLocatorInvalid reports an expired query cursor: restart the query.
func IsQueryLocatorInvalid(err error) bool { return hasCode(err, "INVALID_QUERY_LOCATOR") }

// IsURITooLong reports 414 or 431: split the IN list (see INQueries).
func IsURITooLong(err error) bool {
	e, ok := asAPIError(err)
	return ok && (e.Status == http.StatusRequestURITooLong || e.Status == http.StatusRequestHeaderFieldsTooLarge)
}
