package httpapi

import (
	"errors"
	"net/http"
	"time"

	"github.com/rs/zerolog"

	"tether/sync/connect"
	"tether/sync/onboarding"
)

// JoinParams are the Join flow's dependencies.
type JoinParams struct {
	Joiner *onboarding.Joiner
	// Connect runs a Salesforce-sourced invite's connect (the one connect flow; its
	// callback is /oauth/callback/salesforce). Required when the Joiner connects Salesforce.
	Connect *connect.Flow
	Logger  zerolog.Logger
	// SecureCookie sets the Secure flag on the connect cookie; true when PUBLIC_URL is
	// https.
	SecureCookie bool
}

// NewJoin returns the handler of /join/{token}. GET and HEAD of a Join link only show a
// page (mail scanners open links); the page's button POSTs back, and only that accepts the
// invite or, for a Salesforce-sourced invite, starts the connect flow's Salesforce sign-in
// bound to the invite: the invite is accepted only once the account is the invited one.
// Pages never say which emails or orgs exist: an unknown token is a plain 404.
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
		renderPage(w, http.StatusOK, pageData{Title: "Join " + inv.OrgName, Text: []string{text}, Button: button})
	})
	mux.HandleFunc("POST /join/{token}", func(w http.ResponseWriter, r *http.Request) {
		res, err := p.Joiner.Accept(r.Context(), r.PathValue("token"))
		if err != nil {
			joinError(w, p.Logger, err)
			return
		}
		if res.Connect != nil {
			if p.Connect == nil {
				joinError(w, p.Logger, errors.New("join: a Salesforce connect is needed but no connect flow is configured"))
				return
			}
			st, err := p.Connect.StartInvite(r.Context(), *res.Connect)
			if err != nil {
				joinError(w, p.Logger, err)
				return
			}
			// Lax, not Strict: the callback is a top-level navigation coming from Salesforce.
			http.SetCookie(w, &http.Cookie{Name: st.CookieName, Value: st.Nonce, Path: "/oauth/callback/",
				MaxAge: int(p.Connect.StateTTL() / time.Second), HttpOnly: true, Secure: p.SecureCookie, SameSite: http.SameSiteLaxMode})
			http.Redirect(w, r, st.AuthURL, http.StatusSeeOther)
			return
		}
		d := pageData{Title: "Welcome to " + res.OrgName, Text: []string{"You have joined " + res.OrgName + "."}, Done: true, Org: res.OrgName}
		if p.Connect != nil {
			if d.Next, err = p.Connect.NextSteps(r.Context(), res.OrgID, res.MembershipID); err != nil {
				// The Join stands; the page lists what it could and the reminders bring links.
				p.Logger.Warn().Err(err).Str("org_id", res.OrgID).Str("membership_id", res.MembershipID).
					Msg("join: the member's next steps not shown")
			}
		}
		renderPage(w, http.StatusOK, d)
	})
	return mux
}

func joinError(w http.ResponseWriter, log zerolog.Logger, err error) {
	switch {
	case errors.Is(err, onboarding.ErrInvalidToken):
		page(w, http.StatusNotFound, "Invitation not found", onboarding.ErrInvalidToken.Error()+". Check that you copied the whole link, or ask your admin for a new invitation.")
	case errors.Is(err, onboarding.ErrTokenUsed), errors.Is(err, onboarding.ErrTokenExpired):
		page(w, http.StatusGone, "Invitation no longer valid", rootMessage(err)+". Ask your admin to resend the invitation.")
	default:
		log.Error().Err(err).Msg("join")
		page(w, http.StatusInternalServerError, "Something went wrong", "Please try again in a minute.")
	}
}

// rootMessage is the sentinel's text, without the wrapping that carries ids.
func rootMessage(err error) string {
	for _, s := range []error{onboarding.ErrTokenUsed, onboarding.ErrTokenExpired} {
		if errors.Is(err, s) {
			return s.Error()
		}
	}
	return "this link cannot be used"
}

// page is a failure's page: what happened and what to do.
func page(w http.ResponseWriter, status int, title, text string) {
	renderPage(w, status, pageData{Title: title, Text: []string{text}, Failure: true})
}
