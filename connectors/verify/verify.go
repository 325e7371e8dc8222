package verify

import (
	"cmp"
	"context"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"tether/connectors/google"
	"tether/connectors/microsoft"
	"tether/connectors/oauth"
	"tether/connectors/salesforce"
	"tether/connectors/zoom"
	"tether/sync/connections"
	"tether/sync/directory"
)

// DefaultTimeout bounds one Verify (all its calls) when Config.Timeout is zero.
const DefaultTimeout = 20 * time.Second

// Config configures a Verifier. The API URLs are TETHER_GOOGLE_API_URL,
// TETHER_MICROSOFT_GRAPH_URL and TETHER_ZOOM_API_URL; Salesforce URLs come with each
// connection. An empty URL leaves that provider unconfigured: its connections fail
// verification as misconfigured.
type Config struct {
	GoogleAPIURL string
	GraphURL     string
	ZoomAPIURL   string
	// HTTP sends every request. Nil means a client of its own (no client-level timeout:
	// Timeout bounds each Verify).
	HTTP *http.Client
	// Timeout bounds one Verify. Zero means DefaultTimeout.
	Timeout time.Duration
	// Now is the clock for Retry-After dates. Nil means time.Now.
	Now func() time.Time
}

// Verifier implements connections.Verifier for every kind. Safe for concurrent use;
// build one per process.
type Verifier struct {
	hc      *http.Client
	timeout time.Duration
	now     func() time.Time
	google  *google.Verifier
	graph   *microsoft.Graph
	zoom    *zoom.API
}

var _ connections.Verifier = (*Verifier)(nil)

// New validates cfg and returns a Verifier.
func New(cfg Config) (*Verifier, error) {
	for _, u := range []struct{ name, v string }{
		{"TETHER_GOOGLE_API_URL", cfg.GoogleAPIURL}, {"TETHER_MICROSOFT_GRAPH_URL", cfg.GraphURL}, {"TETHER_ZOOM_API_URL", cfg.ZoomAPIURL},
	} {
		if u.v == "" {
			continue
		}
		if p, err := url.Parse(u.v); err != nil || (p.Scheme != "http" && p.Scheme != "https") || p.Host == "" {
			return nil, fmt.Errorf("verify: %s %q is not an absolute http(s) URL", u.name, u.v)
		}
	}
	if cfg.Timeout < 0 {
		return nil, fmt.Errorf("verify: timeout %s must not be negative", cfg.Timeout)
	}
	v := &Verifier{hc: cmp.Or(cfg.HTTP, &http.Client{Transport: oauth.NewTransport()}), timeout: cmp.Or(cfg.Timeout, DefaultTimeout), now: cfg.Now}
	if v.now == nil {
		v.now = time.Now
	}
	v.google = &google.Verifier{APIURL: cfg.GoogleAPIURL, HTTP: v.hc, Now: v.now}
	v.graph = &microsoft.Graph{URL: cfg.GraphURL, HTTP: v.hc, Now: v.now}
	v.zoom = &zoom.API{URL: cfg.ZoomAPIURL, HTTP: v.hc, Now: v.now}
	return v, nil
}

// found is what one provider call learnt.
type found struct {
	account string
	zone    string   // the account's IANA zone; "" when the answer does not say
	scopes  []string // reported by the provider; nil when it does not say
	denied  []string // scopes the provider refused a call for
}

// Verify implements connections.Verifier.
func (v *Verifier) Verify(ctx context.Context, req connections.VerifyRequest) (connections.Verification, error) {
	if req.AccessToken.IsZero() {
		return connections.Verification{}, &connections.Failure{Class: connections.FailNeedsReconnect, Provider: providerOf(req.Kind),
			Op: "verify", Code: "no_access_token", Reason: "the connection holds no access token; reconnect it"}
	}
	ctx, cancel := context.WithTimeout(ctx, v.timeout)
	defer cancel()
	tok := req.AccessToken.Reveal()
	var f found
	switch req.Kind {
	case connections.KindSalesforce, connections.KindSalesforceTeam:
		u, err := salesforce.Verify(ctx, v.hc, cmp.Or(req.InstanceURL, req.LoginURL), tok, v.now())
		if err != nil {
			return connections.Verification{}, err
		}
		f.account, f.zone = u.UserID, u.ZoneInfo
	case connections.KindGoogleCalendar:
		r, err := v.google.Verify(ctx, tok)
		if err != nil {
			return connections.Verification{}, err
		}
		f.account, f.scopes, f.zone = r.AccountID, r.Scopes, r.TimeZone
		if r.Denied {
			f.denied = oauth.RequiredScopes(req.Kind)
		}
	case connections.KindMicrosoftCalendar, connections.KindTeams:
		r, err := v.graph.Verify(ctx, tok, req.Kind == connections.KindMicrosoftCalendar)
		if err != nil {
			return connections.Verification{}, err
		}
		f.account, f.denied = r.AccountID, r.Denied
	case connections.KindZoom:
		r, err := v.zoom.Verify(ctx, tok)
		if err != nil {
			return connections.Verification{}, err
		}
		f.account, f.denied, f.zone = r.AccountID, r.Denied, r.TimeZone
	default:
		return connections.Verification{}, &connections.Failure{Class: connections.FailMisconfigured, Op: "verify",
			Code: "unknown_kind", Reason: fmt.Sprintf("tether cannot verify %q connections", req.Kind)}
	}
	if req.AccountID != "" && f.account != "" && !sameAccount(req.Kind, req.AccountID, f.account) {
		return connections.Verification{}, &connections.Failure{Class: connections.FailNeedsReconnect, Provider: providerOf(req.Kind),
			Op: "verify", Code: "other_account",
			Reason: fmt.Sprintf("the token belongs to %s account %s, not %s, the one connected; reconnect with the right account",
				providerOf(req.Kind), f.account, req.AccountID)}
	}
	return connections.Verification{AccountID: f.account, Scopes: f.scopes, MissingScopes: missing(req, f), TimeZone: f.zone}, nil
}

// missing merges what the granted scopes lack with what the provider refused. A refusal
// naming alternatives (Zoom lists every scope that would do) reports those tether asks for.
func missing(req connections.VerifyRequest, f found) []string {
	granted := f.scopes
	if granted == nil {
		granted = req.Scopes
	}
	var out []string
	if granted != nil {
		out = oauth.MissingScopes(req.Kind, granted)
	}
	if len(f.denied) == 0 {
		return out
	}
	required := oauth.RequiredScopes(req.Kind)
	var named []string
	for _, d := range f.denied {
		for _, r := range required {
			if strings.EqualFold(oauth.NormalizeScope(d), oauth.NormalizeScope(r)) {
				named = append(named, r)
			}
		}
	}
	if len(named) == 0 {
		named = f.denied[:1]
	}
	for _, n := range named {
		if !slices.ContainsFunc(out, func(s string) bool { return strings.EqualFold(s, n) }) {
			out = append(out, n)
		}
	}
	return out
}

// sameAccount compares account ids; Salesforce ids in 15- and 18-character form match.
func sameAccount(kind connections.Kind, want, got string) bool {
	if kind == connections.KindSalesforce || kind == connections.KindSalesforceTeam {
		w, err1 := directory.NormalizeSalesforceID(want)
		g, err2 := directory.NormalizeSalesforceID(got)
		if err1 == nil && err2 == nil {
			return w == g
		}
	}
	return want == got
}

func providerOf(k connections.Kind) string {
	switch k {
	case connections.KindSalesforce, connections.KindSalesforceTeam:
		return "salesforce"
	case connections.KindGoogleCalendar:
		return "google"
	case connections.KindMicrosoftCalendar, connections.KindTeams:
		return "microsoft"
	case connections.KindZoom:
		return "zoom"
	}
	return string(k)
}
