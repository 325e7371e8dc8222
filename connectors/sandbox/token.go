package sandbox

import (
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"time"
)

// token serves a provider's token endpoint: authorization_code (PKCE checked) and
// refresh_token grants, with the provider's client authentication.
func (s *Sandbox) token(p Provider) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		now := s.Now()
		fail := func(k errKind, in errInfo) { writeOAuthError(w, p, oauthErrorFor(p, k, in), now) }
		if r.Method != http.MethodPost {
			fail(errMethod, errInfo{})
			return
		}
		if err := r.ParseForm(); err != nil {
			fail(errMissingParam, errInfo{param: "grant_type"})
			return
		}
		form := r.PostForm
		if p == Zoom && (r.URL.Query().Has("refresh_token") || r.URL.Query().Has("code")) {
			fail(errQueryRefused, errInfo{})
			return
		}
		app, k := s.clientAuth(p, r, form)
		if app == nil {
			fail(k, errInfo{clientID: clientIDOf(r, form)})
			return
		}
		switch gt := form.Get("grant_type"); gt {
		case "authorization_code":
			s.codeGrant(w, r, app, form, now)
		case "refresh_token":
			s.refreshGrant(w, r, app, form, now)
		case "":
			fail(errMissingParam, errInfo{param: "grant_type"})
		default:
			fail(errUnsupportedGrant, errInfo{param: gt})
		}
	}
}

func clientIDOf(r *http.Request, form url.Values) string {
	if id, _, ok := r.BasicAuth(); ok {
		if u, err := url.QueryUnescape(id); err == nil {
			return u
		}
		return id
	}
	return form.Get("client_id")
}

// clientAuth authenticates the client the way provider p does: Zoom only with HTTP Basic,
// the others with form parameters or Basic. It returns the app or the error kind.
func (s *Sandbox) clientAuth(p Provider, r *http.Request, form url.Values) (*appPolicy, errKind) {
	id, secret, basic := r.BasicAuth()
	if basic {
		// RFC 6749 §2.3.1: Basic credentials are form-urlencoded first (x/oauth2 does this).
		if u, err := url.QueryUnescape(id); err == nil {
			id = u
		}
		if u, err := url.QueryUnescape(secret); err == nil {
			secret = u
		}
	} else {
		if p == Zoom {
			return nil, errBasicRequired
		}
		id, secret = form.Get("client_id"), form.Get("client_secret")
	}
	if id == "" {
		return nil, errUnknownClient
	}
	app := s.app(p, id)
	if app == nil {
		return nil, errUnknownClient
	}
	if secret == "" {
		return nil, errMissingSecret
	}
	if subtle.ConstantTimeCompare([]byte(secret), []byte(app.ClientSecret)) != 1 {
		return nil, errBadSecret
	}
	return app, 0
}

func (s *Sandbox) codeGrant(w http.ResponseWriter, r *http.Request, app *appPolicy, form url.Values, now time.Time) {
	p := app.Provider
	fail := func(k errKind) { writeOAuthError(w, p, oauthErrorFor(p, k, errInfo{clientID: app.ClientID}), now) }
	code := form.Get("code")
	if code == "" {
		fail(errMissingParam)
		return
	}
	s.codesMu.Lock()
	c := s.codes[code]
	switch {
	case c == nil || c.app.ClientID != app.ClientID || c.app.Provider != p:
		s.codesMu.Unlock()
		fail(errBadCode)
		return
	case c.used:
		s.codesMu.Unlock()
		fail(errCodeUsed)
		return
	case !now.Before(c.expires):
		s.codesMu.Unlock()
		fail(errCodeExpired)
		return
	case c.redirectURI != "" && form.Get("redirect_uri") != c.redirectURI:
		s.codesMu.Unlock()
		fail(errRedirectMismatch)
		return
	}
	if c.challenge != "" {
		v := form.Get("code_verifier")
		if v == "" {
			s.codesMu.Unlock()
			fail(errPKCEMissing)
			return
		}
		if !pkceMatches(c.method, c.challenge, v) {
			s.codesMu.Unlock()
			fail(errPKCEMismatch)
			return
		}
	}
	c.used = true
	s.codesMu.Unlock()

	if p == Salesforce {
		if u, ok := s.sf.User(c.subject); !ok || !u.IsActive {
			fail(errInactiveUser)
			return
		}
	}
	g, at, rt := s.issue(issueParams{app: app, subject: c.subject, orgID: c.orgID, scopes: c.scopes,
		withRefresh: c.withRefresh, reuseExisting: c.reuseExisting}, now)
	s.writeTokens(w, r, g, at, rt, at.scopes, c.nonce, now)
}

func pkceMatches(method, challenge, verifier string) bool {
	if method == "plain" {
		return subtle.ConstantTimeCompare([]byte(challenge), []byte(verifier)) == 1
	}
	sum := sha256.Sum256([]byte(verifier))
	return subtle.ConstantTimeCompare([]byte(base64.RawURLEncoding.EncodeToString(sum[:])), []byte(challenge)) == 1
}

type issueParams struct {
	app            *appPolicy
	subject, orgID string
	scopes         []string
	withRefresh    bool
	reuseExisting  bool   // Google: re-consent without prompt=consent keeps the old grant
	fixedAccess    string // scenario seeding
	fixedRefresh   string
}

// issue creates a grant (or reuses one) and mints its first tokens.
func (s *Sandbox) issue(ip issueParams, now time.Time) (*grant, *token, *token) {
	if ip.reuseExisting {
		if g := s.store.latestLive(ip.app, ip.subject); g != nil {
			g.mu.Lock()
			g.scopes = unionScopes(g.scopes, ip.scopes)
			g.lastScope = joinScopes(g.provider(), g.scopes)
			at := s.store.issueAccess(g, now, g.scopes)
			g.mu.Unlock()
			return g, at, nil // Google sends no refresh_token on a repeat consent
		}
	}
	g := s.store.newGrant(ip.app, ip.subject, ip.orgID, slices.Clone(ip.scopes), now)
	g.mu.Lock()
	defer g.mu.Unlock()
	at := s.store.issueAccess(g, now, g.scopes)
	if ip.fixedAccess != "" {
		s.store.forget(at)
		at.value = ip.fixedAccess
		s.store.put(at)
	}
	var rt *token
	if ip.withRefresh {
		rt = s.store.issueRefresh(g, now)
		if ip.fixedRefresh != "" {
			s.store.forget(rt)
			rt.value = ip.fixedRefresh
			s.store.put(rt)
		}
	}
	return g, at, rt
}

func unionScopes(a, b []string) []string {
	out := slices.Clone(a)
	for _, x := range b {
		if !slices.Contains(out, x) {
			out = append(out, x)
		}
	}
	return out
}

func (s *Sandbox) refreshGrant(w http.ResponseWriter, r *http.Request, app *appPolicy, form url.Values, now time.Time) {
	p := app.Provider
	info := errInfo{clientID: app.ClientID, appName: app.Name}
	fail := func(k errKind) { writeOAuthError(w, p, oauthErrorFor(p, k, info), now) }
	v := form.Get("refresh_token")
	if v == "" {
		info.param = "refresh_token"
		fail(errMissingParam)
		return
	}
	t := s.store.lookup(v)
	if t == nil || t.kind != kindRefresh || t.g.app != app {
		if ep := s.stats.get(p, "token"); ep != nil {
			ep.unknown.Add(1)
		}
		fail(errUnknownRefresh)
		return
	}
	g := t.g
	var requested []string
	if p == Microsoft && form.Get("scope") != "" {
		requested = msScopes(splitScopes(form.Get("scope")))
	}
	if a := g.takeAnswer(); a != nil {
		a.write(s, w, "", now)
		return
	}
	if p == Salesforce {
		if u, ok := s.sf.User(g.subject); !ok || !u.IsActive {
			fail(errInactiveUser)
			return
		}
	} else if u, ok := s.user(p, g.subject); ok && u.Disabled {
		a, _ := findAnswer(p, DisabledAnswer(p))
		a.write(s, w, "", now)
		return
	}

	g.mu.Lock()
	reason := g.dead
	switch {
	case reason != alive:
	case t.dead != alive:
		reason = t.dead
		if t.dead == deadRotated && p == Salesforce {
			// Salesforce RTR: reuse of a rotated-out token revokes the whole grant.
			g.dead, g.deadAt = deadFamily, now
		}
	case !t.expires.IsZero() && !now.Before(t.expires):
		t.dead, reason = deadExpired, deadExpired
	case app.idleTTL > 0 && now.Sub(t.lastUsed) >= app.idleTTL:
		t.dead, reason = deadExpired, deadExpired
	}
	if reason != alive {
		g.replays.Add(1)
		info.reason, info.issued, info.revoked = reason, t.issued, g.deadAt
		g.mu.Unlock()
		fail(errDeadRefresh)
		return
	}
	scopes := g.scopes
	if requested != nil {
		for _, sc := range requested {
			if !hasScope(g.scopes, sc) {
				g.mu.Unlock()
				fail(errScopeNotConsented)
				return
			}
		}
		scopes = requested
	}
	t.lastUsed = now
	at := s.store.issueAccess(g, now, scopes)
	var rt *token
	if app.rotation != rotateNone {
		rt = s.store.issueRefresh(g, now)
		if app.rotation == rotateKillsOld {
			t.dead = deadRotated
		}
		g.rotations.Add(1)
	}
	g.refreshes.Add(1)
	g.mu.Unlock()
	s.writeTokens(w, r, g, at, rt, scopes, "", now)
}

// Token bodies, field order as the recorded samples.
type (
	googleTokenBody struct {
		AccessToken           string `json:"access_token"`
		ExpiresIn             int64  `json:"expires_in"`
		RefreshToken          string `json:"refresh_token,omitempty"`
		RefreshTokenExpiresIn int64  `json:"refresh_token_expires_in,omitempty"`
		Scope                 string `json:"scope"`
		TokenType             string `json:"token_type"`
		IDToken               string `json:"id_token,omitempty"`
	}
	msTokenBody struct {
		TokenType    string `json:"token_type"`
		Scope        string `json:"scope"`
		ExpiresIn    int64  `json:"expires_in"`
		ExtExpiresIn int64  `json:"ext_expires_in"`
		AccessToken  string `json:"access_token"`
		RefreshToken string `json:"refresh_token,omitempty"`
		IDToken      string `json:"id_token,omitempty"`
	}
	zoomTokenBody struct {
		AccessToken  string `json:"access_token"`
		TokenType    string `json:"token_type"`
		RefreshToken string `json:"refresh_token"`
		ExpiresIn    int64  `json:"expires_in"`
		Scope        string `json:"scope"`
		APIURL       string `json:"api_url"`
	}
	sfTokenBody struct {
		AccessToken  string `json:"access_token"`
		RefreshToken string `json:"refresh_token,omitempty"`
		Signature    string `json:"signature"`
		Scope        string `json:"scope"`
		IDToken      string `json:"id_token,omitempty"`
		InstanceURL  string `json:"instance_url"`
		ID           string `json:"id"`
		TokenType    string `json:"token_type"`
		IssuedAt     string `json:"issued_at"`
	}
)

func (s *Sandbox) writeTokens(w http.ResponseWriter, r *http.Request, g *grant, at, rt *token, scopes []string, nonce string, now time.Time) {
	base := s.baseURL(r)
	rtv := ""
	if rt != nil {
		rtv = rt.value
	}
	ttl := int64(g.app.accessTTL / time.Second)
	scope := joinScopes(g.provider(), scopes)
	openid := hasScope(scopes, "openid")
	switch g.provider() {
	case Google:
		b := googleTokenBody{AccessToken: at.value, ExpiresIn: ttl, RefreshToken: rtv, Scope: scope, TokenType: "Bearer"}
		g.mu.Lock()
		if cur := g.refresh; cur != nil && !cur.expires.IsZero() {
			b.RefreshTokenExpiresIn = int64(cur.expires.Sub(now) / time.Second)
		}
		g.mu.Unlock()
		if openid {
			b.IDToken = s.idToken(g, base+"/google", nonce, now)
		}
		writeJSON(w, 200, b)
	case Microsoft:
		b := msTokenBody{TokenType: "Bearer", Scope: msResponseScope(scopes), ExpiresIn: ttl, ExtExpiresIn: ttl, AccessToken: at.value, RefreshToken: rtv}
		if openid {
			b.IDToken = s.idToken(g, base+"/microsoft/9188040d-6c67-4c5b-b112-36a304b66dad/v2.0", nonce, now)
		}
		writeJSON(w, 200, b)
	case Zoom:
		writeJSON(w, 200, zoomTokenBody{AccessToken: at.value, TokenType: "bearer", RefreshToken: rtv, ExpiresIn: ttl, Scope: scope, APIURL: base + "/zoom"})
	default:
		id := base + "/salesforce/id/" + g.orgID + "/" + g.subject
		issued := strconv.FormatInt(now.UnixMilli(), 10)
		mac := hmac.New(sha256.New, []byte(g.app.ClientSecret))
		mac.Write([]byte(id + issued))
		b := sfTokenBody{AccessToken: at.value, RefreshToken: rtv, Signature: base64.StdEncoding.EncodeToString(mac.Sum(nil)),
			Scope: scope, InstanceURL: base + "/salesforce", ID: id, TokenType: "Bearer", IssuedAt: issued}
		if openid && rt != nil {
			b.IDToken = s.idToken(g, base+"/salesforce", nonce, now)
		}
		writeJSON(w, 200, b)
	}
}

// idToken is an OpenID Connect ID token signed HS256 with the client secret (real providers
// sign RS256 with published keys; tether does not verify ID tokens).
func (s *Sandbox) idToken(g *grant, issuer, nonce string, now time.Time) string {
	c := idClaims{Iss: issuer, Sub: g.subject, Aud: g.app.ClientID, Iat: now.Unix(), Exp: now.Add(time.Hour).Unix(), Nonce: nonce}
	if g.provider() != Salesforce {
		if u, ok := s.user(g.provider(), g.subject); ok {
			c.Email, c.Name = u.Email, u.name()
			if g.provider() == Microsoft {
				c.PreferredUsername, c.OID = u.Email, u.ID
			}
		}
	}
	enc := base64.RawURLEncoding
	body, _ := json.Marshal(c)
	signing := idTokenHeader + "." + enc.EncodeToString(body)
	mac := hmac.New(sha256.New, []byte(g.app.ClientSecret))
	mac.Write([]byte(signing))
	return signing + "." + enc.EncodeToString(mac.Sum(nil))
}

var idTokenHeader = base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"HS256","typ":"JWT"}`))

type idClaims struct {
	Iss               string `json:"iss"`
	Sub               string `json:"sub"`
	Aud               string `json:"aud"`
	Iat               int64  `json:"iat"`
	Exp               int64  `json:"exp"`
	Nonce             string `json:"nonce,omitempty"`
	Email             string `json:"email,omitempty"`
	Name              string `json:"name,omitempty"`
	PreferredUsername string `json:"preferred_username,omitempty"`
	OID               string `json:"oid,omitempty"`
}

// revoke serves Google's, Salesforce's and Zoom's revoke endpoints (Microsoft has none).
func (s *Sandbox) revoke(p Provider) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		now := s.Now()
		if p != Salesforce && r.Method != http.MethodPost {
			writeOAuthError(w, p, oauthErrorFor(p, errMethod, errInfo{}), now)
			return
		}
		_ = r.ParseForm()
		if p == Zoom {
			if app, k := s.clientAuth(p, r, r.PostForm); app == nil {
				writeOAuthError(w, p, oauthErrorFor(p, k, errInfo{}), now)
				return
			}
		}
		v := r.Form.Get("token")
		t := s.store.lookup(v)
		ok := t != nil && t.g.provider() == p
		if ok {
			g := t.g
			g.mu.Lock()
			ok = g.dead == alive && t.dead == alive
			switch {
			case !ok:
			case p == Salesforce && t.kind == kindAccess:
				t.dead = deadRevoked // Salesforce: revoking an access token ends that session only
			default:
				g.dead, g.deadAt = deadRevoked, now
			}
			g.mu.Unlock()
		} else if ep := s.stats.get(p, "revoke"); ep != nil {
			ep.unknown.Add(1)
		}
		switch p {
		case Google:
			if !ok {
				writeJSON(w, 400, plainOAuthBody{Error: "invalid_token", ErrorDescription: "Token expired or revoked"})
				return
			}
			writeJSON(w, 200, struct{}{})
		case Zoom:
			if !ok {
				writeJSON(w, 400, zoomOAuthBody{Reason: "Invalid Token!", Error: "invalid_request"})
				return
			}
			writeJSON(w, 200, map[string]string{"status": "success"})
		default:
			if !ok {
				writeJSON(w, 400, plainOAuthBody{Error: "invalid_token", ErrorDescription: "invalid token"})
				return
			}
			w.WriteHeader(200)
		}
	}
}

// authAccess validates a bearer access token of provider p for an API call and counts the
// call on its grant. It returns nil if the token does not authorise calls.
func (s *Sandbox) authAccess(p Provider, v string) *token {
	t := s.store.lookup(v)
	if t == nil || t.g.provider() != p || !t.accessValid(s.Now()) {
		return nil
	}
	if p != Microsoft && p != Salesforce {
		if u, ok := s.user(p, t.g.subject); ok && u.Disabled {
			return nil // Microsoft's JWTs outlive the account; Google's and Zoom's tokens do not
		}
	}
	t.g.calls.Add(1)
	return t
}
