package httpapi

import (
	"errors"
	"html/template"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/rs/zerolog"

	"tether/sync/connect"
	"tether/sync/connections"
	"tether/sync/directory"
)

// ConnectParams are the connect pages' dependencies.
type ConnectParams struct {
	Flow   *connect.Flow
	Logger zerolog.Logger
	// SecureCookie sets the Secure flag on the state cookie; true when PUBLIC_URL is https.
	SecureCookie bool
}

// NewConnect returns the handler of the connect pages: GET /connect/{token} shows what the
// link connects (a GET never spends anything: mail scanners open links), POST
// /connect/{token} starts the provider's authorization, GET /oauth/callback/{provider}
// finishes it.
func NewConnect(p ConnectParams) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /connect/{token}", func(w http.ResponseWriter, r *http.Request) {
		pv, err := p.Flow.Preview(r.Context(), r.PathValue("token"))
		if err != nil {
			connectError(w, p.Logger, "", err)
			return
		}
		renderPage(w, http.StatusOK, pageData{Title: "Connect " + pv.Provider, Preview: &pv,
			Action: "/connect/" + r.PathValue("token")})
	})
	mux.HandleFunc("POST /connect/{token}", func(w http.ResponseWriter, r *http.Request) {
		st, err := p.Flow.Start(r.Context(), r.PathValue("token"))
		if err != nil {
			connectError(w, p.Logger, "", err)
			return
		}
		http.SetCookie(w, &http.Cookie{Name: st.CookieName, Value: st.Nonce, Path: "/oauth/callback/",
			MaxAge: int(p.Flow.StateTTL() / time.Second), HttpOnly: true, Secure: p.SecureCookie,
			// Lax: the provider's redirect back is a top-level GET from another site.
			SameSite: http.SameSiteLaxMode})
		http.Redirect(w, r, st.AuthURL, http.StatusSeeOther)
	})
	mux.HandleFunc("GET /oauth/callback/{provider}", func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		provider := r.PathValue("provider")
		state := q.Get("state")
		cb := connect.Callback{State: state, Code: q.Get("code"), Error: q.Get("error")}
		if state != "" {
			if c, err := r.Cookie(connect.CookieName(state)); err == nil {
				cb.Nonce = c.Value
				// Spent whatever happens next.
				http.SetCookie(w, &http.Cookie{Name: c.Name, Path: "/oauth/callback/", MaxAge: -1, HttpOnly: true,
					Secure: p.SecureCookie, SameSite: http.SameSiteLaxMode})
			}
		}
		if cb.Error != "" {
			// The description is the provider's text: logged, never shown.
			p.Logger.Info().Str("provider", provider).Str("error", cb.Error).
				Str("error_description", q.Get("error_description")).Msg("connect: provider returned an error")
		}
		res, err := p.Flow.Finish(r.Context(), provider, cb)
		if err != nil {
			connectError(w, p.Logger, provider, err)
			return
		}
		if res.AuditError != nil {
			p.Logger.Error().Err(res.AuditError).Str("org_id", res.Link.OrgID).Msg("connect: permission audit not queued")
		}
		if res.NextError != nil {
			// The page then lists what it could; the reminders still bring links.
			p.Logger.Warn().Err(res.NextError).Str("org_id", res.Link.OrgID).Str("membership_id", res.Link.MembershipID).
				Msg("connect: the member's next steps not shown")
		}
		renderPage(w, http.StatusOK, pageData{Title: res.Provider + " connected", Result: &res, Next: res.Next, Org: res.OrgName})
	})
	return mux
}

var providerNames = map[string]string{connect.ProviderSalesforce: "Salesforce", connect.ProviderGoogle: "Google",
	connect.ProviderMicrosoft: "Microsoft", connect.ProviderZoom: "Zoom"}

// connectError renders the page of one failure. Each says what happened, that nothing
// changed, and what to do next.
func connectError(w http.ResponseWriter, log zerolog.Logger, provider string, err error) {
	name := providerNames[provider]
	if name == "" {
		name = "the provider"
	}
	fail := func(status int, title string, text ...string) {
		renderPage(w, status, pageData{Title: title, Failure: true, Text: text})
	}
	var scopes *connect.ScopesError
	var wrong *connect.WrongAccountError
	switch {
	case errors.Is(err, connect.ErrLinkInvalid):
		fail(http.StatusNotFound, "This link is not valid",
			"The link may have been cut short or changed. Copy the whole link from the message you received, or ask your admin for a new one.")
	case errors.Is(err, connect.ErrLinkExpired):
		fail(http.StatusGone, "This link has expired",
			"Connect links work for a limited time. Ask your admin for a new link.")
	case errors.Is(err, connect.ErrLinkUsed):
		fail(http.StatusGone, "This link was already used",
			"Each connect link connects one account once. If you need to connect again, ask your admin for a new link.")
	case errors.Is(err, connect.ErrBadState):
		fail(http.StatusBadRequest, "This sign-in could not be matched",
			"It was not started from a connect link in this browser, or it took too long. Nothing was changed.",
			"Open your connect link again in this browser and press the button.")
	case errors.Is(err, connect.ErrConsentDenied):
		fail(http.StatusForbidden, "Access was not allowed",
			"You did not allow access at "+name+", so nothing was connected.",
			"To connect, open your link again and choose Allow.")
	case errors.As(err, &scopes):
		fail(http.StatusForbidden, "Some permissions were not allowed",
			"tether needs every permission it asked for. Not allowed: "+strings.Join(scopes.Missing, ", ")+".",
			"Nothing was saved and the access you gave was handed back. Open your link again and leave every permission ticked.")
	case errors.As(err, &wrong) && wrong.Org:
		fail(http.StatusForbidden, "A different Salesforce org",
			"This tether org is connected to Salesforce org "+wrong.Expected+", but you signed in to "+wrong.Got+".",
			"Nothing was saved and the access you gave was handed back. Sign out of Salesforce, then open the link again and sign in to the right org.")
	case errors.Is(err, connect.ErrWrongAccount):
		fail(http.StatusForbidden, "Wrong "+name+" account",
			"You signed in to "+name+" as someone other than the person this link (or invitation) is for.",
			"Nothing was saved, an invitation stays open, and the access you gave was handed back. Sign out of "+name+", then open the link again and sign in with your own account.")
	case errors.Is(err, connect.ErrProviderDown):
		log.Warn().Err(err).Str("provider", provider).Msg("connect: provider unavailable")
		fail(http.StatusServiceUnavailable, name+" could not be reached",
			"Nothing was changed. Try again in a few minutes: open your link again and press the button.")
	case errors.Is(err, connect.ErrProviderRefused):
		log.Warn().Err(err).Str("provider", provider).Msg("connect: provider refused")
		fail(http.StatusBadGateway, name+" did not complete the sign-in",
			"Nothing was changed. Open your link again and press the button; if this keeps happening, tell your admin.")
	default:
		log.Error().Err(err).Str("provider", provider).Msg("connect")
		fail(http.StatusInternalServerError, "Something went wrong",
			"Nothing was connected. Please try again in a minute.")
	}
}

type pageData struct {
	Title   string
	Text    []string
	Failure bool
	Preview *connect.Preview
	Action  string
	Result  *connect.Result
	// Button, when set, is a form posting back to the page's own URL (the Join page).
	Button string
	// Done marks a finished Join or connect: Next lists what the member still has to do
	// in Org, or the page says it can be closed.
	Done bool
	Next []connect.NextStep
	Org  string
}

// connectPage is phone-readable, self-contained (no external assets) and works without
// JavaScript.
var connectPage = template.Must(template.New("connect").Funcs(template.FuncMap{
	"kinds": func(ks []connections.Kind) string {
		out := make([]string, len(ks))
		for i, k := range ks {
			out[i] = k.Title()
		}
		return strings.Join(out, " and ")
	},
	// path is a link's path: the page's forms post to this origin, however the person
	// reached it.
	"path": func(raw string) string {
		if u, err := url.Parse(raw); err == nil && u.Path != "" {
			return u.Path
		}
		return raw
	},
	"anyLinks": func(steps []connect.NextStep) bool {
		for _, st := range steps {
			if len(st.Links) > 0 {
				return true
			}
		}
		return false
	},
	"sentence": func(s string) string {
		r, n := utf8.DecodeRuneInString(s)
		return string(unicode.ToUpper(r)) + s[n:]
	},
}).Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>{{.Title}} - tether</title>
<style>
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:0;padding:1.25rem;background:#f6f7f9;color:#1d2330;line-height:1.5}
main{max-width:34rem;margin:2rem auto;background:#fff;border-radius:12px;padding:1.5rem;box-shadow:0 1px 4px rgba(0,0,0,.08)}
h1{font-size:1.4rem;margin:0 0 1rem}
.fail h1{color:#a11}
.ok h1{color:#176b2c}
button{font-size:1.1rem;width:100%;padding:.9rem;border:0;border-radius:8px;background:#2457d6;color:#fff;cursor:pointer}
h2{font-size:1.1rem;margin:1.5rem 0 .5rem}
.step{border-top:1px solid #e3e6eb;padding:.75rem 0}.step p{margin:0 0 .5rem}.step form{margin:0 0 .5rem}
.step .alt{background:#fff;color:#2457d6;border:1px solid #2457d6}
dl{margin:0 0 1.25rem}dt{font-weight:600}dd{margin:0 0 .6rem}
small{color:#555}
</style></head>
<body><main class="{{if .Failure}}fail{{else if or .Result .Done}}ok{{else}}ask{{end}}">
<h1>{{.Title}}</h1>
{{range .Text}}<p>{{.}}</p>
{{end}}{{with .Preview}}<dl>
<dt>What</dt><dd>{{.What}}</dd>
<dt>For</dt><dd>{{.OrgName}}{{if .MemberEmail}} ({{.MemberEmail}}){{end}}</dd>
<dt>Why</dt><dd>{{.Why}}</dd>
{{if .Reconnect}}<dt>Already connected</dt><dd>The connection you have now is replaced, and its old access handed back, once the new one works.</dd>
{{end}}</dl>
<form method="post" action="{{$.Action}}"><button type="submit">Continue to {{.Provider}}</button></form>
<p><small>You will sign in at {{.Provider}} and choose what to allow. This link works until {{.Link.ExpiresAt.Format "2 Jan 2006 15:04 MST"}} and connects one account once.</small></p>
{{end}}{{with .Result}}{{if .Link.InviteID}}<p>You have joined {{.OrgName}}.</p>
{{end}}<p>{{.Provider}} is connected to {{.OrgName}}{{if .Account.Email}} as {{.Account.Email}}{{end}}.</p>
{{if gt (len .Serves) 1}}<p>This one consent serves {{kinds .Serves}}.</p>
{{end}}{{if .AuditQueued}}<p>A permission check of this Salesforce user has started; its report appears in tether within a minute (tether permissions show --org {{.Link.OrgID}}).</p>
{{end}}{{end}}{{if .Button}}<form method="post"><button type="submit">{{.Button}}</button></form>
{{end}}{{if or .Done .Result}}{{with .Next}}<h2>Still to do for {{$.Org}}</h2>
{{range .}}<div class="step"><p>{{sentence .Reason.Message}}{{if .Reason.Recommended}} (recommended){{end}}.</p>
{{range $i, $l := .Links}}<form method="post" action="{{path $l.URL}}"><button type="submit"{{if $i}} class="alt"{{end}}>Connect {{$l.Kind.Title}}</button></form>
{{else}}<p><small>Add it in your profile in the app.</small></p>
{{end}}</div>
{{end}}{{if anyLinks .}}<p><small>Each button connects one account and works for an hour; reminders bring new links until everything is connected.</small></p>
{{end}}
{{else}}<p>You can close this page.</p>
{{end}}{{end}}</main></body></html>
`))

func renderPage(w http.ResponseWriter, status int, d pageData) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Referrer-Policy", "no-referrer") // the link is a credential
	w.Header().Set("X-Frame-Options", "DENY")
	w.Header().Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; form-action 'self' https: http:; frame-ancestors 'none'")
	w.WriteHeader(status)
	_ = connectPage.Execute(w, d)
}

// ConnectLinkJSON is the answer of the connect-link routes.
type ConnectLinkJSON struct {
	URL          string    `json:"url"`
	Kind         string    `json:"kind"`
	OrgID        string    `json:"org_id"`
	MembershipID string    `json:"membership_id,omitempty"`
	ExpiresAt    time.Time `json:"expires_at"`
}

// handleConnectLink is POST /v1/orgs/{org}/connect-links (team Salesforce) and POST
// /v1/orgs/{org}/members/{member}/connect-links ({"kind": ...}): 201 with the link.
func (s *Server) handleConnectLink(member bool) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		req := connect.IssueRequest{OrgID: r.PathValue("org"), Kind: connections.KindSalesforceTeam}
		var body struct {
			Kind string `json:"kind"`
			// TTL is the CLI's --ttl: a Go duration ("1h"); empty means the kind's default.
			TTL string `json:"ttl"`
		}
		shape := `{"ttl"?: "1h"}`
		if member {
			shape = `{"kind": "salesforce|google_calendar|microsoft_calendar|zoom|teams", "ttl"?: "72h"}`
		}
		// The team link's body is optional; a field it does not take is refused, never
		// ignored (a ttl dropped silently would make a link that lapses early or late).
		var dst any = &body
		if !member {
			dst = &struct {
				TTL *string `json:"ttl"`
			}{&body.TTL}
		}
		if err := decodeJSON(w, r, 4<<10, dst); err != nil && (member || !errors.Is(err, io.EOF)) {
			writeError(w, http.StatusBadRequest, APIError{Code: "invalid_json",
				Message: "the body must be " + shape + ": " + err.Error()})
			return
		}
		if member {
			if err := directory.CheckText("kind", body.Kind, directory.MaxKind); err != nil {
				writeError(w, http.StatusBadRequest, APIError{Code: "invalid_text", Message: err.Error()})
				return
			}
			req.MembershipID, req.Kind = r.PathValue("member"), connections.Kind(body.Kind)
		}
		if body.TTL != "" {
			ttl, err := time.ParseDuration(body.TTL)
			if err != nil {
				writeError(w, http.StatusUnprocessableEntity, APIError{Code: "invalid_connect_link",
					Message: "ttl " + strconv.Quote(body.TTL) + ": give a duration with its unit, such as 30m or 72h, or leave it out for the default"})
				return
			}
			req.TTL = ttl
		}
		l, err := s.p.ConnectLinks.Issue(r.Context(), req)
		switch {
		case errors.Is(err, connect.ErrBadRequest):
			writeError(w, http.StatusUnprocessableEntity, APIError{Code: "invalid_connect_link", Message: err.Error()})
			return
		case errors.Is(err, connect.ErrAlreadyConnected):
			writeError(w, http.StatusConflict, APIError{Code: "already_connected", Message: err.Error()})
			return
		case errors.Is(err, connect.ErrUnknownMember):
			writeError(w, http.StatusNotFound, APIError{Code: "member_not_found", Message: err.Error()})
			return
		case errors.Is(err, connect.ErrUnknownOrg):
			writeError(w, http.StatusNotFound, APIError{Code: "org_not_found", Message: "no org with id " + req.OrgID + ": tether org list (GET /v1/orgs) lists the orgs"})
			return
		case err != nil:
			s.log.Error().Err(err).Str("org_id", req.OrgID).Msg("connect link")
			writeError(w, http.StatusInternalServerError, APIError{Code: "internal", Message: "could not make the link; see tether's log"})
			return
		}
		writeJSON(w, http.StatusCreated, ConnectLinkJSON{URL: l.URL, Kind: string(l.Kind), OrgID: l.OrgID,
			MembershipID: l.MembershipID, ExpiresAt: l.ExpiresAt})
	})
}
