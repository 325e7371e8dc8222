package sandbox

import (
	"fmt"
	"time"
)

// Provider names one emulated provider; it is also its path prefix ("/google").
type Provider string

// The emulated providers.
const (
	Salesforce Provider = "salesforce"
	Google     Provider = "google"
	Microsoft  Provider = "microsoft"
	Zoom       Provider = "zoom"
)

// Providers lists every emulated provider in a stable order.
var Providers = []Provider{Salesforce, Google, Microsoft, Zoom}

func (p Provider) valid() bool {
	switch p {
	case Salesforce, Google, Microsoft, Zoom:
		return true
	}
	return false
}

// rotation is how a provider treats the refresh token it was given on a refresh.
type rotation int

const (
	rotateNone     rotation = iota // Google: the refresh token never changes
	rotateKeepsOld                 // Microsoft: new token each time, old one stays valid
	rotateKillsOld                 // Zoom, Salesforce with rotation on: old one dies at once
)

// Duration is a time.Duration that JSON-decodes from "90m"/"720h" strings or seconds.
type Duration time.Duration

// UnmarshalJSON accepts a Go duration string or a number of seconds.
func (d *Duration) UnmarshalJSON(b []byte) error {
	if len(b) > 0 && b[0] == '"' {
		var s string
		if err := jsonUnmarshal(b, &s); err != nil {
			return err
		}
		v, err := time.ParseDuration(s)
		if err != nil {
			return fmt.Errorf("duration %q: %w", s, err)
		}
		*d = Duration(v)
		return nil
	}
	var secs float64
	if err := jsonUnmarshal(b, &secs); err != nil {
		return fmt.Errorf("duration: %w", err)
	}
	*d = Duration(time.Duration(secs * float64(time.Second)))
	return nil
}

// MarshalJSON writes the Go duration string.
func (d Duration) MarshalJSON() ([]byte, error) {
	return []byte(`"` + time.Duration(d).String() + `"`), nil
}

// App is an OAuth client registered with one provider (a Salesforce connected app, a Google
// OAuth client, an Entra app registration, a Zoom user-managed app). Zero durations and
// counts take the provider's real default, stated per field.
type App struct {
	Provider     Provider `json:"provider"`
	ClientID     string   `json:"client_id"`
	ClientSecret string   `json:"client_secret"`
	// RedirectURIs must match exactly. Empty accepts any absolute http(s) URI (sandbox
	// leniency so the default apps work with any test server).
	RedirectURIs []string `json:"redirect_uris,omitempty"`
	// DefaultScopes are granted when the authorize request has no scope (Salesforce: the
	// connected app's selected scopes; Zoom: the app's scopes, which Zoom always grants).
	DefaultScopes []string `json:"default_scopes,omitempty"`
	// RotateRefreshTokens turns on Salesforce Refresh Token Rotation. Ignored elsewhere
	// (rotation is fixed per provider).
	RotateRefreshTokens bool `json:"rotate_refresh_tokens,omitempty"`
	// TestingMode is a Google app that is External + "Testing": refresh tokens die 7 days
	// after issue unless only openid/email/profile were granted.
	TestingMode bool `json:"testing_mode,omitempty"`
	// RequirePKCE makes authorize refuse requests without code_challenge.
	RequirePKCE bool `json:"require_pkce,omitempty"`
	// AccessTokenTTL: Google/Microsoft 3599 s, Zoom 3600 s, Salesforce 2 h (session timeout).
	AccessTokenTTL Duration `json:"access_token_ttl,omitempty"`
	// RefreshTokenIdleTTL: a refresh token unused this long dies. Google 183 days,
	// Microsoft 90 days, Zoom none, Salesforce none ("valid until revoked"); set 720h for
	// Salesforce's 30-day idle policy.
	RefreshTokenIdleTTL Duration `json:"refresh_token_idle_ttl,omitempty"`
	// RefreshTokenMaxTTL: a refresh token dies this long after issue whatever its use.
	// Zoom 15 years; none elsewhere (Google testing mode uses 7 days).
	RefreshTokenMaxTTL Duration `json:"refresh_token_max_ttl,omitempty"`
	// MaxGrantsPerUser: live grants per user for this app; the next approval evicts the
	// oldest. Salesforce 5, Google 100, Zoom 1, Microsoft 0 (no cap). -1 disables the cap.
	MaxGrantsPerUser int `json:"max_grants_per_user,omitempty"`
	// Name is shown on the consent page and in Microsoft error texts.
	Name string `json:"name,omitempty"`
}

// Default client credentials of the apps every sandbox starts with.
const (
	DefaultSalesforceClientID     = "3MVG9sandbox.tether.salesforce"
	DefaultSalesforceClientSecret = "sandbox-salesforce-secret"
	DefaultGoogleClientID         = "tether-sandbox.apps.googleusercontent.com"
	DefaultGoogleClientSecret     = "GOCSPX-sandbox-google-secret"
	DefaultMicrosoftClientID      = "00000000-0000-4000-8000-00000000c1d0"
	DefaultMicrosoftClientSecret  = "sandbox~microsoft~secret"
	DefaultZoomClientID           = "sandboxZoomClient"
	DefaultZoomClientSecret       = "sandbox-zoom-secret"
)

// DefaultApps returns the apps New registers before Options.Apps.
func DefaultApps() []App {
	return []App{
		{Provider: Salesforce, ClientID: DefaultSalesforceClientID, ClientSecret: DefaultSalesforceClientSecret,
			Name: "tether (sandbox)", DefaultScopes: []string{"api", "refresh_token", "id"}},
		{Provider: Google, ClientID: DefaultGoogleClientID, ClientSecret: DefaultGoogleClientSecret, Name: "tether (sandbox)"},
		{Provider: Microsoft, ClientID: DefaultMicrosoftClientID, ClientSecret: DefaultMicrosoftClientSecret, Name: "tether (sandbox)"},
		{Provider: Zoom, ClientID: DefaultZoomClientID, ClientSecret: DefaultZoomClientSecret, Name: "tether (sandbox)",
			DefaultScopes: []string{"user:read:user", "meeting:write:meeting", "meeting:read:meeting"}},
	}
}

// appPolicy is an App with every default resolved; immutable once built.
type appPolicy struct {
	App
	accessTTL   time.Duration
	idleTTL     time.Duration // 0: none
	maxTTL      time.Duration // 0: none
	maxGrants   int           // 0: none
	rotation    rotation
	sendExpires bool
}

const (
	day          = 24 * time.Hour
	googleIdle   = 183 * day
	googleTestRT = 7 * day
	msIdle       = 90 * day
	zoomMaxTTL   = 15 * 365 * day
	sfAccessTTL  = 2 * time.Hour
	codeTTL      = 10 * time.Minute
)

func resolveApp(a App) (*appPolicy, error) {
	if !a.Provider.valid() {
		return nil, fmt.Errorf("app %q: unknown provider %q", a.ClientID, a.Provider)
	}
	if a.ClientID == "" || a.ClientSecret == "" {
		return nil, fmt.Errorf("%s app: client_id and client_secret are required", a.Provider)
	}
	p := &appPolicy{App: a, sendExpires: true}
	switch a.Provider {
	case Google:
		p.accessTTL, p.idleTTL, p.maxGrants, p.rotation = 3599*time.Second, googleIdle, 100, rotateNone
	case Microsoft:
		p.accessTTL, p.idleTTL, p.rotation = 3599*time.Second, msIdle, rotateKeepsOld
	case Zoom:
		p.accessTTL, p.maxTTL, p.maxGrants, p.rotation = 3600*time.Second, zoomMaxTTL, 1, rotateKillsOld
	case Salesforce:
		p.accessTTL, p.maxGrants, p.sendExpires = sfAccessTTL, 5, false
		if a.RotateRefreshTokens {
			p.rotation = rotateKillsOld
		}
	}
	if a.AccessTokenTTL > 0 {
		p.accessTTL = time.Duration(a.AccessTokenTTL)
	}
	if a.RefreshTokenIdleTTL > 0 {
		p.idleTTL = time.Duration(a.RefreshTokenIdleTTL)
	}
	if a.RefreshTokenMaxTTL > 0 {
		p.maxTTL = time.Duration(a.RefreshTokenMaxTTL)
	}
	switch {
	case a.MaxGrantsPerUser > 0:
		p.maxGrants = a.MaxGrantsPerUser
	case a.MaxGrantsPerUser < 0:
		p.maxGrants = 0
	}
	if p.Name == "" {
		p.Name = a.ClientID
	}
	return p, nil
}
