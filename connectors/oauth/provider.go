package oauth

import (
	"errors"
	"fmt"
	"net/url"
	"strings"

	"golang.org/x/oauth2"
)

// Rotation says what a provider does with the refresh token on a refresh.
type Rotation string

const (
	// RotationNone: the refresh token never changes (Google, Salesforce
	// without Refresh Token Rotation).
	RotationNone Rotation = "none"
	// RotationKeepsOld: every refresh returns a new refresh token and the old
	// one stays valid (Microsoft). Persist the new one anyway: it carries the
	// fresh inactivity window.
	RotationKeepsOld Rotation = "keeps_old"
	// RotationKillsOld: every refresh returns a new refresh token and the old
	// one dies at once (Zoom, Salesforce with RTR). A refresh whose response
	// was lost may have consumed the only valid token.
	RotationKillsOld Rotation = "kills_old"
)

// Dialect selects the provider-specific error vocabulary used by
// classification (AADSTS codes, Zoom's reason field, Salesforce's
// error_description texts).
type Dialect string

const (
	DialectGeneric    Dialect = "generic"
	DialectSalesforce Dialect = "salesforce"
	DialectGoogle     Dialect = "google"
	DialectMicrosoft  Dialect = "microsoft"
	DialectZoom       Dialect = "zoom"
)

// Provider is one entry of the registry: where and how to refresh and revoke
// tokens of one OAuth client. URLs come from configuration so tests point
// them at the sandbox.
type Provider struct {
	// Name is the registry key and appears in errors ("salesforce", "zoom").
	Name string
	// Dialect picks the error vocabulary. Zero means DialectGeneric.
	Dialect Dialect
	// ClientID and ClientSecret identify tether's OAuth client. The secret
	// is never printed: Provider's String method redacts it.
	ClientID     string
	ClientSecret string
	// TokenURL is the token endpoint. Required.
	TokenURL string
	// RevokeURL is the RFC 7009-style revocation endpoint. Empty means the
	// provider has none (Microsoft): Revoke returns ErrRevokeUnsupported.
	RevokeURL string
	// AuthStyle must be oauth2.AuthStyleInParams or oauth2.AuthStyleInHeader.
	// AuthStyleAutoDetect (the zero value) is rejected by Validate.
	AuthStyle oauth2.AuthStyle
	// Rotation is what the provider does with refresh tokens. Zero means
	// RotationNone.
	Rotation Rotation
	// RequiredScopes are the scopes tether needs; a refresh whose response
	// lists scopes lacking one reports it in TokenSet.MissingScopes.
	RequiredScopes []string
	// ScopeSeparator lists the characters that separate scopes in a token
	// response's scope field; each one splits. Zero means " ". Zoom needs
	// " ," (space and comma).
	ScopeSeparator string
}

// Validate reports the first configuration mistake in p, in words an
// operator can act on.
func (p Provider) Validate() error {
	if p.Name == "" {
		return errors.New("oauth provider: name is empty")
	}
	if p.TokenURL == "" {
		return fmt.Errorf("oauth provider %s: token URL is empty", p.Name)
	}
	if u, err := url.Parse(p.TokenURL); err != nil || u.Scheme == "" || u.Host == "" {
		return fmt.Errorf("oauth provider %s: token URL %q is not an absolute URL", p.Name, p.TokenURL)
	}
	if p.RevokeURL != "" {
		if u, err := url.Parse(p.RevokeURL); err != nil || u.Scheme == "" || u.Host == "" {
			return fmt.Errorf("oauth provider %s: revoke URL %q is not an absolute URL", p.Name, p.RevokeURL)
		}
	}
	if p.ClientID == "" {
		return fmt.Errorf("oauth provider %s: client id is empty", p.Name)
	}
	switch p.AuthStyle {
	case oauth2.AuthStyleInParams, oauth2.AuthStyleInHeader:
	default:
		return fmt.Errorf("oauth provider %s: auth style must be set to in-params or in-header (auto-detect replays refresh tokens)", p.Name)
	}
	switch p.Rotation {
	case "", RotationNone, RotationKeepsOld, RotationKillsOld:
	default:
		return fmt.Errorf("oauth provider %s: rotation %q is not one of none, keeps_old, kills_old", p.Name, p.Rotation)
	}
	switch p.Dialect {
	case "", DialectGeneric, DialectSalesforce, DialectGoogle, DialectMicrosoft, DialectZoom:
	default:
		return fmt.Errorf("oauth provider %s: unknown dialect %q", p.Name, p.Dialect)
	}
	return nil
}

// String describes p without its client secret.
func (p Provider) String() string {
	return fmt.Sprintf("oauth.Provider{Name:%s Dialect:%s ClientID:%s TokenURL:%s Rotation:%s ClientSecret:[redacted]}",
		p.Name, p.dialect(), p.ClientID, p.TokenURL, p.rotation())
}

// GoString keeps %#v from printing the secret.
func (p Provider) GoString() string { return p.String() }

func (p Provider) dialect() Dialect {
	if p.Dialect == "" {
		return DialectGeneric
	}
	return p.Dialect
}

func (p Provider) rotation() Rotation {
	if p.Rotation == "" {
		return RotationNone
	}
	return p.Rotation
}

// Salesforce returns a provider entry for a Salesforce login host
// ("https://login.salesforce.com", "https://test.salesforce.com", a My Domain,
// or the sandbox's "/salesforce" base). Rotation defaults to kills_old because
// Refresh Token Rotation is mandatory for partner apps since 2026 and the
// customer's admin can switch it on at any time; treating a non-rotating org
// as rotating costs nothing. Set Name, ClientID, ClientSecret and
// RequiredScopes on the result.
func Salesforce(loginURL string) Provider {
	base := strings.TrimRight(loginURL, "/")
	return Provider{
		Name:      "salesforce",
		Dialect:   DialectSalesforce,
		TokenURL:  base + "/services/oauth2/token",
		RevokeURL: base + "/services/oauth2/revoke",
		AuthStyle: oauth2.AuthStyleInParams,
		Rotation:  RotationKillsOld,
	}
}

// Google returns a provider entry for Google's token service at baseURL
// ("https://oauth2.googleapis.com" in production).
func Google(baseURL string) Provider {
	base := strings.TrimRight(baseURL, "/")
	return Provider{
		Name:      "google",
		Dialect:   DialectGoogle,
		TokenURL:  base + "/token",
		RevokeURL: base + "/revoke",
		AuthStyle: oauth2.AuthStyleInParams,
		Rotation:  RotationNone,
	}
}

// Microsoft returns a provider entry for the Microsoft identity platform v2
// at authorityURL, which includes the tenant segment
// ("https://login.microsoftonline.com/organizations"). Microsoft has no
// per-grant revocation endpoint, so RevokeURL is empty.
func Microsoft(authorityURL string) Provider {
	base := strings.TrimRight(authorityURL, "/")
	return Provider{
		Name:      "microsoft",
		Dialect:   DialectMicrosoft,
		TokenURL:  base + "/oauth2/v2.0/token",
		AuthStyle: oauth2.AuthStyleInParams,
		Rotation:  RotationKeepsOld,
	}
}

// Zoom returns a provider entry for Zoom's OAuth service at baseURL
// ("https://zoom.us" in production). Zoom wants client credentials in a Basic
// header and separates scopes with spaces or commas.
func Zoom(baseURL string) Provider {
	base := strings.TrimRight(baseURL, "/")
	return Provider{
		Name:           "zoom",
		Dialect:        DialectZoom,
		TokenURL:       base + "/oauth/token",
		RevokeURL:      base + "/oauth/revoke",
		AuthStyle:      oauth2.AuthStyleInHeader,
		Rotation:       RotationKillsOld,
		ScopeSeparator: " ,",
	}
}
