package oauth

import (
	"fmt"
	"net/url"
	"strings"
	"time"
)

// TokenSet is the result of a successful refresh: everything the caller
// persists. Its String method redacts the tokens.
type TokenSet struct {
	AccessToken string
	// RefreshToken is the token to use next time: the new one when the
	// response carried one, otherwise the one that was sent.
	RefreshToken string
	// Rotated is true when the response carried a refresh token different
	// from the one sent. For RotationKillsOld providers the old one is now
	// dead: persist this set before anything else.
	Rotated   bool
	TokenType string
	IDToken   string
	// Expiry is when the access token expires, from expires_in and the
	// client's clock. Zero means the provider did not say (Salesforce):
	// detect expiry reactively (401) or use the org's session timeout.
	Expiry time.Time
	// IssuedAt is Salesforce's issued_at, or the client's clock at receipt.
	IssuedAt time.Time
	// Scope is the raw granted-scope string; empty when the response had
	// none (the grant then keeps its previous scopes).
	Scope string
	// Scopes is Scope split and normalised (see Provider.ScopeSeparator).
	Scopes []string
	// MissingScopes lists the provider's RequiredScopes absent from Scopes;
	// nil when the response listed no scopes. A non-empty list means the
	// user must reconnect, but the set must still be persisted first.
	MissingScopes []string
	// InstanceURL is Salesforce's instance_url; it can change between
	// refreshes (org migration, My Domain), so overwrite the stored one.
	InstanceURL string
	// ID is Salesforce's identity URL .../id/<orgId>/<userId>.
	ID string
	// APIURL is Zoom's api_url.
	APIURL string
}

// String describes t without its tokens.
func (t TokenSet) String() string {
	return fmt.Sprintf("oauth.TokenSet{AccessToken:[redacted] RefreshToken:[redacted] Rotated:%t Expiry:%s IssuedAt:%s Scope:%q InstanceURL:%s ID:%s}",
		t.Rotated, t.Expiry.Format(time.RFC3339), t.IssuedAt.Format(time.RFC3339), t.Scope, t.InstanceURL, t.ID)
}

// GoString keeps %#v from printing the tokens.
func (t TokenSet) GoString() string { return t.String() }

// SplitScopes splits a scope string on any character of sep (" " when sep
// is empty) and normalises each scope with NormalizeScope.
func SplitScopes(scope, sep string) []string {
	if sep == "" {
		sep = " "
	}
	// Microsoft sometimes URL-encodes the whole scope field.
	if strings.Contains(scope, "%") {
		if u, err := url.QueryUnescape(scope); err == nil {
			scope = u
		}
	}
	f := strings.FieldsFunc(scope, func(r rune) bool { return strings.ContainsRune(sep, r) })
	out := make([]string, 0, len(f))
	for _, s := range f {
		if s = NormalizeScope(s); s != "" {
			out = append(out, s)
		}
	}
	return out
}

// NormalizeScope makes scopes from different responses comparable:
// trimmed, lower-cased, and without Microsoft Graph's resource prefix.
func NormalizeScope(s string) string {
	s = strings.ToLower(strings.TrimSpace(s))
	s = strings.TrimPrefix(s, "https://graph.microsoft.com/")
	return s
}

// missingScopes returns the required scopes not granted. Salesforce's
// "full" covers every scope except refresh_token/offline_access.
func missingScopes(d Dialect, required, granted []string) []string {
	have := make(map[string]bool, len(granted))
	for _, g := range granted {
		have[g] = true
	}
	var missing []string
	for _, r := range required {
		n := NormalizeScope(r)
		if have[n] {
			continue
		}
		if d == DialectSalesforce && have["full"] && n != "refresh_token" && n != "offline_access" {
			continue
		}
		if d == DialectSalesforce && (n == "refresh_token" && have["offline_access"] || n == "offline_access" && have["refresh_token"]) {
			continue
		}
		missing = append(missing, r)
	}
	return missing
}
