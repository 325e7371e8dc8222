package httpapi

import (
	"errors"
	"html/template"
	"net/http"
	"time"

	"github.com/rs/zerolog"

	"tether/sync/onboarding"
)

// connectCookie carries the connect nonce from /join to the OAuth callback, binding the
// callback to the browser that followed the Join link.
const connectCookie = "tether_connect"

// JoinParams are the Join flow's dependencies.
type JoinParams struct {
	Joiner *onboarding.Joiner
	Logger zerolog.Logger
	// SecureCookie sets the Secure flag on the connect cookie; true when PUBLIC_URL is
	// https.
	SecureCookie bool
}

// NewJoin returns the handler of /join/{token} and GET /oauth/salesforce/callback. GET and
// HEAD of a Join link only show a page (mail scanners open links); the page's button POSTs
// back, and only that accepts the invite or starts the Salesforce sign-in. Pages never say
// which emails or orgs exist: an unknown token is a plain 404.
func NewJoin(p JoinParams) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /join/{token}", func(w http.ResponseWriter, r *http.Request) {
		inv, err := p.Joiner.Check(r.Context(), r.PathValue("token"))
		if err != nil {
			joinError(w, p.Logger, err)
			return
		}
		text := "You are invited to join " + inv.OrgName + "."
		button := "Join " + inv.OrgName
		if inv.Connect {
			text += " Joining connects your Salesforce account: sign in as the Salesforce user you were invited as."
			button += " and connect Salesforce"
		}
		formPage(w, "Join "+inv.OrgName, text, button)
	})
	mux.HandleFunc("POST /join/{token}", func(w http.ResponseWriter, r *http.Request) {
		res, err := p.Joiner.Accept(r.Context(), r.PathValue("token"))
		if err != nil {
			joinError(w, p.Logger, err)
			return
		}
		if res.ConnectURL != "" {
			// Lax, not Strict: the callback is a top-level navigation coming from Salesforce.
			http.SetCookie(w, &http.Cookie{Name: connectCookie, Value: res.Nonce, Path: "/oauth/salesforce",
				MaxAge: int(onboarding.DefaultStateTTL / time.Second), HttpOnly: true, Secure: p.SecureCookie, SameSite: http.SameSiteLaxMode})
			http.Redirect(w, r, res.ConnectURL, http.StatusSeeOther)
			return
		}
		page(w, http.StatusOK, "Welcome to "+res.OrgName, "You have joined "+res.OrgName+". You can close this page.")
	})
	mux.HandleFunc("GET /oauth/salesforce/callback", func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		if e := q.Get("error"); e != "" {
			// error_description is the provider's (or an attacker's) text: logged, never shown.
			p.Logger.Info().Str("error", e).Str("error_description", q.Get("error_description")).Msg("salesforce connect refused at the provider")
			page(w, http.StatusBadRequest, "Salesforce was not connected", OAuthErrorText(e)+" Follow the link in your invitation email to try again.")
			return
		}
		nonce := ""
		if c, err := r.Cookie(connectCookie); err == nil {
			nonce = c.Value
		}
		res, err := p.Joiner.FinishConnect(r.Context(), q.Get("state"), q.Get("code"), nonce)
		if err != nil {
			joinError(w, p.Logger, err)
			return
		}
		http.SetCookie(w, &http.Cookie{Name: connectCookie, Path: "/oauth/salesforce", MaxAge: -1})
		page(w, http.StatusOK, "Salesforce connected", "Your Salesforce account is connected to "+res.OrgName+". You can close this page.")
	})
	return mux
}

// OAuthErrorText is tether's sentence for an OAuth error code an authorization server sent
// back (RFC 6749 4.1.2.1). The server's error_description is never shown: anyone can put
// any text in a callback URL.
func OAuthErrorText(code string) string {
	switch code {
	case "access_denied":
		return "The sign-in was cancelled or access was not allowed, so nothing was connected."
	case "invalid_scope", "unauthorized_client", "unsupported_response_type", "invalid_request", "invalid_client_id":
		return "Salesforce refused tether's request; your administrator must check tether's connected app settings."
	case "server_error", "temporarily_unavailable":
		return "Salesforce could not complete the sign-in just now."
	default:
		return "Salesforce did not complete the sign-in."
	}
}

func joinError(w http.ResponseWriter, log zerolog.Logger, err error) {
	switch {
	case errors.Is(err, onboarding.ErrInvalidToken):
		page(w, http.StatusNotFound, "Invitation not found", onboarding.ErrInvalidToken.Error()+". Check that you copied the whole link, or ask your admin for a new invitation.")
	case errors.Is(err, onboarding.ErrTokenUsed), errors.Is(err, onboarding.ErrTokenExpired):
		page(w, http.StatusGone, "Invitation no longer valid", rootMessage(err)+". Ask your admin to resend the invitation.")
	case errors.Is(err, onboarding.ErrWrongAccount):
		page(w, http.StatusForbidden, "Wrong Salesforce account", onboarding.ErrWrongAccount.Error()+
			". Nothing was saved and the invitation is still open. Sign out of Salesforce, then follow the link in your invitation email and sign in as the invited user.")
	case errors.Is(err, onboarding.ErrBadState), errors.Is(err, onboarding.ErrStateExpired):
		page(w, http.StatusBadRequest, "Salesforce was not connected", rootMessage(err)+". Follow the link in your invitation email to try again.")
	case errors.Is(err, onboarding.ErrConnectFailed):
		log.Warn().Err(err).Msg("salesforce connect failed")
		page(w, http.StatusBadGateway, "Salesforce was not connected", "Salesforce could not complete the sign-in. Follow the link in your invitation email to try again.")
	default:
		log.Error().Err(err).Msg("join")
		page(w, http.StatusInternalServerError, "Something went wrong", "Please try again in a minute.")
	}
}

// rootMessage is the sentinel's text, without the wrapping that carries ids.
func rootMessage(err error) string {
	for _, s := range []error{onboarding.ErrTokenUsed, onboarding.ErrTokenExpired, onboarding.ErrBadState, onboarding.ErrStateExpired} {
		if errors.Is(err, s) {
			return s.Error()
		}
	}
	return "this link cannot be used"
}

var pageTmpl = template.Must(template.New("page").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{{.Title}}</title></head>
<body style="font-family:sans-serif;max-width:40em;margin:3em auto"><h1>{{.Title}}</h1><p>{{.Text}}</p></body></html>
`))

// formTmpl posts back to the page's own URL (empty action), which carries the token.
var formTmpl = template.Must(template.New("form").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{{.Title}}</title></head>
<body style="font-family:sans-serif;max-width:40em;margin:3em auto"><h1>{{.Title}}</h1><p>{{.Text}}</p>
<form method="post"><button type="submit">{{.Button}}</button></form></body></html>
`))

func page(w http.ResponseWriter, status int, title, text string) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = pageTmpl.Execute(w, map[string]string{"Title": title, "Text": text})
}

func formPage(w http.ResponseWriter, title, text, button string) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusOK)
	_ = formTmpl.Execute(w, map[string]string{"Title": title, "Text": text, "Button": button})
}
