package oauth

import (
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"

	"tether/sync/connections"
)

// What the provider packages' API calls (verification) share with the token side: the
// scopes each kind needs, Retry-After parsing and the failure of an answer that no
// provider-specific rule explained.

// RequiredScopes returns the scopes a connection of kind cannot work without (the set the
// connect flow and Refresh check); nil for an unknown kind.
func RequiredScopes(kind connections.Kind) []string {
	return slices.Clone(requiredScopes[kind])
}

// MissingScopes returns the scopes of RequiredScopes(kind) that granted lacks. granted is
// normalised here, so raw provider scope names may be passed. Salesforce's "full" covers
// every scope but refresh_token.
func MissingScopes(kind connections.Kind, granted []string) []string {
	d := DialectGeneric
	if kind == connections.KindSalesforce || kind == connections.KindSalesforceTeam {
		d = DialectSalesforce
	}
	norm := make([]string, 0, len(granted))
	for _, g := range granted {
		norm = append(norm, NormalizeScope(g))
	}
	return missingScopes(d, requiredScopes[kind], norm)
}

// ParseRetryAfter reads a Retry-After value: delta-seconds, an HTTP-date, or an RFC 3339
// time (Zoom's daily limits). A missing, unreadable or past value gives 0.
func ParseRetryAfter(v string, now time.Time) time.Duration { return parseRetryAfter(v, now) }

// NoAnswerFailure is the failure of an API call that got no answer (refused, reset,
// timed out): transient. err must not hold a token (API calls carry theirs in a header).
func NoAnswerFailure(provider, op string, err error) *connections.Failure {
	return &connections.Failure{Class: connections.FailTransient, Provider: provider, Op: op, Code: "no_answer",
		Reason: fmt.Sprintf("%s did not answer; tether retries", provider), Detail: scrub(err.Error()), Err: err}
}

// StatusFailure is the failure of an API answer that the provider's own rules did not
// explain, by status: 401 unauthorized (refresh, then needs_reconnect), 429 rate limited,
// 5xx transient (both honour Retry-After), anything else unknown with the body kept,
// shortened, for people to read.
func StatusFailure(provider, op string, status int, h http.Header, body []byte, now time.Time) *connections.Failure {
	f := &connections.Failure{Provider: provider, Op: op, Status: status, Detail: scrub(string(body)),
		RetryAfter: ParseRetryAfter(h.Get("Retry-After"), now)}
	switch {
	case status == http.StatusUnauthorized:
		f.Class, f.Code = connections.FailNeedsReconnect, "unauthorized"
		f.Reason = fmt.Sprintf("%s refused the access token; reconnect %s", provider, providerTitle(provider))
	case status == http.StatusTooManyRequests:
		f.Class, f.Code = connections.FailRateLimited, "rate_limited"
		f.Reason = fmt.Sprintf("%s asked tether to slow down", provider)
	case status >= 500:
		f.Class, f.Code = connections.FailTransient, "server_error"
		f.Reason = fmt.Sprintf("%s had a server error (%d); tether retries", provider, status)
	default:
		f.Class, f.Code = connections.FailUnknown, "unexpected_status"
		f.Reason = fmt.Sprintf("%s answered %d, which tether does not recognise; tether retries", provider, status)
	}
	return f
}

func providerTitle(p string) string {
	switch p {
	case "microsoft":
		return "Microsoft"
	case "salesforce":
		return "Salesforce"
	case "google":
		return "Google"
	case "zoom":
		return "Zoom"
	}
	return strings.ToUpper(p[:min(1, len(p))]) + p[min(1, len(p)):]
}
