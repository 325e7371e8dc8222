package sandbox

import (
	"html/template"
	"net/http"
	"net/url"
	"slices"
	"sort"
	"strings"
	"time"
)

// authCode is an issued authorization code; guarded by Sandbox.codesMu.
type authCode struct {
	app           *appPolicy
	subject       string
	orgID         string
	scopes        []string
	redirectURI   string
	challenge     string
	method        string
	nonce         string
	expires       time.Time
	used          bool
	withRefresh   bool
	reuseExisting bool
}

func (a *appPolicy) redirectAllowed(uri string) bool {
	if len(a.RedirectURIs) > 0 {
		return slices.Contains(a.RedirectURIs, uri)
	}
	u, err := url.Parse(uri)
	return err == nil && (u.Scheme == "http" || u.Scheme == "https") && u.Host != "" && u.Fragment == ""
}

var consentPage = template.Must(template.New("consent").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Sign in - {{.Title}} (sandbox)</title></head>
<body>
<h1>{{.AppName}} wants to access your {{.Title}} account</h1>
{{if .Error}}<p role="alert" style="color:#b00">{{.Error}}</p>{{end}}
<form method="post" action="{{.Action}}">
{{range .Hidden}}<input type="hidden" name="{{.Name}}" value="{{.Value}}">
{{end}}<p><label>Account <input name="login" value="{{.Login}}" autocomplete="username"></label></p>
{{if .Granular}}<fieldset><legend>Allow access to</legend><input type="hidden" name="consent_form" value="1">
{{range .Scopes}}<label><input type="checkbox" name="grant_scope" value="{{.}}" checked> {{.}}</label><br>
{{end}}</fieldset>{{else}}<p>Permissions requested:</p><ul>{{range .Scopes}}<li>{{.}}</li>{{end}}</ul>{{end}}
<button type="submit" name="decision" value="allow">Allow</button>
<button type="submit" name="decision" value="deny">Deny</button>
</form>
</body></html>
`))

var providerTitle = map[Provider]string{Salesforce: "Salesforce", Google: "Google", Microsoft: "Microsoft", Zoom: "Zoom"}

type hiddenField struct{ Name, Value string }

// errorPage is the provider's "cannot continue" page shown when the client or redirect URI
// is wrong (the user is not sent back to an unverified redirect URI).
func errorPage(w http.ResponseWriter, p Provider, code, text string) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(http.StatusBadRequest)
	_, _ = w.Write([]byte("<!doctype html><title>" + template.HTMLEscapeString(providerTitle[p]) + " error</title><h1>Error 400: " +
		template.HTMLEscapeString(code) + "</h1><p>" + template.HTMLEscapeString(text) + "</p>\n"))
}

// authorize serves a provider's authorize endpoint: GET renders the consent page (or
// auto-approves), POST takes the consent form's decision.
func (s *Sandbox) authorize(p Provider) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if err := r.ParseForm(); err != nil {
			errorPage(w, p, "invalid_request", err.Error())
			return
		}
		q := r.Form
		app := s.app(p, q.Get("client_id"))
		if app == nil {
			switch p {
			case Microsoft:
				errorPage(w, p, "unauthorized_client", "AADSTS700016: Application with identifier '"+q.Get("client_id")+"' was not found in the directory 'Sandbox'.")
			case Salesforce:
				errorPage(w, p, "OAUTH_EC_APP_NOT_FOUND", "error=invalid_client_id&error_description=client identifier invalid")
			default:
				errorPage(w, p, "invalid_client", "The OAuth client was not found.")
			}
			return
		}
		redirect := q.Get("redirect_uri")
		if !app.redirectAllowed(redirect) {
			errorPage(w, p, "redirect_uri_mismatch", "The redirect URI in the request, "+redirect+", does not match the ones authorized for the OAuth client.")
			return
		}
		state := q.Get("state")
		back := func(v url.Values) {
			if state != "" {
				v.Set("state", state)
			}
			http.Redirect(w, r, addQuery(redirect, v), http.StatusFound)
		}
		backErr := func(code, desc string) { back(url.Values{"error": {code}, "error_description": {desc}}) }

		if rt := q.Get("response_type"); rt != "code" {
			backErr("unsupported_response_type", "response type not supported: "+rt)
			return
		}
		challenge, method := q.Get("code_challenge"), q.Get("code_challenge_method")
		if challenge != "" {
			if method == "" {
				method = "plain"
			}
			if method != "S256" && method != "plain" {
				backErr("invalid_request", "Invalid code_challenge_method: "+method)
				return
			}
		} else if app.RequirePKCE {
			backErr("invalid_request", "missing required code challenge")
			return
		}
		scopes := splitScopes(q.Get("scope"))
		if len(scopes) == 0 {
			scopes = slices.Clone(app.DefaultScopes)
		}
		if p == Zoom {
			scopes = slices.Clone(app.DefaultScopes) // Zoom grants the app's configured scopes
		}
		if p == Microsoft {
			scopes = msScopes(scopes)
		}
		if len(scopes) == 0 && (p == Google || p == Microsoft) {
			backErr("invalid_request", "Missing required parameter: scope")
			return
		}

		decision := ""
		if r.Method == http.MethodPost {
			decision = r.PostForm.Get("decision")
		} else if a := q.Get("sandbox_auto"); a == "allow" || a == "deny" {
			decision = a
		} else if s.opts.AutoApprove {
			decision = "allow"
		}
		login := q.Get("login")
		if login == "" {
			login = q.Get("login_hint")
		}
		render := func(msg string) {
			s.renderConsent(w, r, p, app, scopes, login, msg)
		}
		if decision == "" {
			render("")
			return
		}
		if decision != "allow" {
			switch p {
			case Microsoft:
				backErr("access_denied", "AADSTS65004: User declined to consent to access the app.")
			case Salesforce:
				backErr("access_denied", "end-user denied authorization")
			default:
				back(url.Values{"error": {"access_denied"}})
			}
			return
		}
		subject, orgID, ok := s.resolveLogin(p, login)
		if !ok {
			if r.Method == http.MethodPost {
				render("Unknown account " + login)
				return
			}
			errorPage(w, p, "access_denied", "unknown account "+login)
			return
		}
		granted := scopes
		switch {
		case p == Google && r.PostForm.Get("consent_form") == "1":
			granted = grantedSubset(scopes, r.PostForm["grant_scope"])
		case q.Has("sandbox_grant_scopes"):
			want := splitScopes(q.Get("sandbox_grant_scopes"))
			if p == Microsoft {
				want = msScopes(want)
			}
			granted = grantedSubset(scopes, want)
		}
		c := &authCode{app: app, subject: subject, orgID: orgID, scopes: granted, redirectURI: redirect,
			challenge: challenge, method: method, nonce: q.Get("nonce"), expires: s.Now().Add(codeTTL)}
		switch p {
		case Google:
			c.withRefresh = q.Get("access_type") == "offline"
			c.reuseExisting = c.withRefresh && !strings.Contains(q.Get("prompt"), "consent")
		case Microsoft:
			c.withRefresh = hasScope(granted, "offline_access")
		case Salesforce:
			c.withRefresh = hasScope(granted, "refresh_token", "offline_access")
		default:
			c.withRefresh = true
		}
		code := randToken(32)
		switch p {
		case Salesforce:
			code = "aPrx" + code
		case Google:
			code = "4/0A" + code
		case Microsoft:
			code = "1.AXoA" + code
		}
		s.codesMu.Lock()
		s.pruneCodes()
		s.codes[code] = c
		s.codesMu.Unlock()
		v := url.Values{"code": {code}}
		switch p {
		case Google:
			v.Set("scope", strings.Join(granted, " "))
			v.Set("authuser", "0")
			v.Set("prompt", "consent")
		case Microsoft:
			v.Set("session_state", newUUID())
		}
		back(v)
	}
}

// grantedSubset keeps the requested scopes the user left ticked; Google always grants
// the identity scopes.
func grantedSubset(requested, ticked []string) []string {
	var out []string
	for _, sc := range requested {
		if slices.Contains(ticked, sc) || onlyIdentityScopes([]string{sc}) {
			out = append(out, sc)
		}
	}
	return out
}

// pruneCodes forgets expired codes; codesMu must be held.
func (s *Sandbox) pruneCodes() {
	if len(s.codes) < 1024 {
		return
	}
	now := s.Now()
	for k, c := range s.codes {
		if !now.Before(c.expires) {
			delete(s.codes, k)
		}
	}
}

// resolveLogin maps a consent-page login to the provider's subject (and Salesforce org).
func (s *Sandbox) resolveLogin(p Provider, login string) (subject, orgID string, ok bool) {
	if p == Salesforce {
		u, found := s.sf.UserByUsername(login)
		if !found {
			u, found = s.sf.User(login)
		}
		if !found || !u.IsActive {
			return "", "", false
		}
		return u.ID, u.OrgID, true
	}
	u, found := s.user(p, login)
	return u.ID, "", found
}

func (s *Sandbox) renderConsent(w http.ResponseWriter, r *http.Request, p Provider, app *appPolicy, scopes []string, login, msg string) {
	var hidden []hiddenField
	keys := make([]string, 0, len(r.Form))
	for k := range r.Form {
		switch k {
		case "login", "decision", "grant_scope", "consent_form":
			continue
		}
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		for _, v := range r.Form[k] {
			hidden = append(hidden, hiddenField{k, v})
		}
	}
	if login == "" && p != Salesforce {
		if u, ok := s.user(p, ""); ok {
			login = u.Email
		}
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("X-Frame-Options", "DENY")
	w.Header().Set("Cache-Control", "no-store")
	_ = consentPage.Execute(w, map[string]any{
		"Title": providerTitle[p], "AppName": app.Name, "Action": r.URL.Path, "Hidden": hidden,
		"Login": login, "Granular": p == Google, "Scopes": scopes, "Error": msg,
	})
}
