package httpapi

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/binary"
	"html/template"
	"net/http"
	"strings"
	"time"
)

// sessionCookie holds the admin's /monitoring session. It replaces basic auth there:
// browsers resend cached basic credentials on cross-site form posts, a SameSite=Strict
// cookie they do not send at all.
const sessionCookie = "tether_admin"

// DefaultSessionTTL is Params.SessionTTL when zero.
const DefaultSessionTTL = 12 * time.Hour

// sessionKey signs sessions. It is derived from the admin credentials, so every replica
// accepts a session any of them issued, and changing the password ends every session.
func (s *Server) sessionKey() []byte {
	h := sha256.New()
	h.Write([]byte("tether monitoring session\x00" + s.p.AdminUser + "\x00" + s.p.AdminPassword))
	return h.Sum(nil)
}

// newSession returns a cookie value: expiry (8 bytes) and 16 random bytes, then their
// HMAC-SHA256, base64url.
func (s *Server) newSession(expires time.Time) string {
	payload := make([]byte, 24)
	binary.BigEndian.PutUint64(payload, uint64(expires.Unix()))
	_, _ = rand.Read(payload[8:]) // crypto/rand.Read never fails (Go 1.24+)
	mac := hmac.New(sha256.New, s.sessionKey())
	mac.Write(payload)
	return base64.RawURLEncoding.EncodeToString(mac.Sum(payload))
}

func (s *Server) sessionOK(r *http.Request) bool {
	c, err := r.Cookie(sessionCookie)
	if err != nil || s.p.AdminPassword == "" {
		return false
	}
	raw, err := base64.RawURLEncoding.DecodeString(c.Value)
	if err != nil || len(raw) != 24+sha256.Size {
		return false
	}
	mac := hmac.New(sha256.New, s.sessionKey())
	mac.Write(raw[:24])
	if !hmac.Equal(mac.Sum(nil), raw[24:]) {
		return false
	}
	return time.Now().Unix() < int64(binary.BigEndian.Uint64(raw[:8]))
}

func (s *Server) setSession(w http.ResponseWriter, r *http.Request, value string, maxAge int) {
	http.SetCookie(w, &http.Cookie{Name: sessionCookie, Value: value, Path: "/monitoring", MaxAge: maxAge,
		HttpOnly: true, Secure: s.p.SecureCookie || r.TLS != nil, SameSite: http.SameSiteStrictMode})
}

// requireAdmin lets through requests carrying a valid admin session; a browser asking for
// a page is sent to the login form, anything else gets 401.
func (s *Server) requireAdmin(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if s.p.AdminPassword == "" {
			http.Error(w, "admin access is not configured: set TETHER_ADMIN_PASSWORD", http.StatusServiceUnavailable)
			return
		}
		if s.sessionOK(r) {
			next.ServeHTTP(w, r)
			return
		}
		refuseUnread(w, r)
		if r.Method == http.MethodGet && !strings.HasPrefix(r.URL.Path, "/monitoring/api/") {
			http.Redirect(w, r, "/monitoring/login", http.StatusSeeOther)
			return
		}
		http.Error(w, "unauthorized: sign in at /monitoring/login", http.StatusUnauthorized)
	})
}

var loginTmpl = template.Must(template.New("login").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>tether: sign in</title></head>
<body style="font-family:sans-serif;max-width:24em;margin:3em auto"><h1>Sign in to tether monitoring</h1>
{{if .}}<p role="alert">{{.}}</p>{{end}}
<form method="post" action="/monitoring/login">
<p><label>User <input name="user" autocomplete="username" required></label></p>
<p><label>Password <input name="password" type="password" autocomplete="current-password" required></label></p>
<p><button type="submit">Sign in</button></p></form></body></html>
`))

func loginPage(w http.ResponseWriter, status int, msg string) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = loginTmpl.Execute(w, msg)
}

// handleLoginForm is GET /monitoring/login.
func (s *Server) handleLoginForm() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if s.p.AdminPassword == "" {
			http.Error(w, "admin access is not configured: set TETHER_ADMIN_PASSWORD", http.StatusServiceUnavailable)
			return
		}
		loginPage(w, http.StatusOK, "")
	})
}

// handleLogin is POST /monitoring/login: the admin's user and password, as a form.
func (s *Server) handleLogin() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if s.p.AdminPassword == "" {
			http.Error(w, "admin access is not configured: set TETHER_ADMIN_PASSWORD", http.StatusServiceUnavailable)
			return
		}
		r.Body = http.MaxBytesReader(w, r.Body, 4<<10)
		if err := r.ParseForm(); err != nil {
			loginPage(w, http.StatusBadRequest, "The form could not be read; try again.")
			return
		}
		userOK := subtle.ConstantTimeCompare([]byte(r.PostForm.Get("user")), []byte(s.p.AdminUser)) == 1
		passOK := subtle.ConstantTimeCompare([]byte(r.PostForm.Get("password")), []byte(s.p.AdminPassword)) == 1
		if !userOK || !passOK {
			loginPage(w, http.StatusUnauthorized, "Wrong user or password (TETHER_ADMIN_USER, TETHER_ADMIN_PASSWORD).")
			return
		}
		ttl := s.p.SessionTTL
		s.setSession(w, r, s.newSession(time.Now().Add(ttl)), int(ttl/time.Second))
		http.Redirect(w, r, "/monitoring/", http.StatusSeeOther)
	})
}

// handleLogout is POST /monitoring/logout.
func (s *Server) handleLogout() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.setSession(w, r, "", -1)
		http.Redirect(w, r, "/monitoring/login", http.StatusSeeOther)
	})
}
