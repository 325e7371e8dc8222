package httpapi

import (
	"encoding/json"
	"errors"
	"io"
	"mime"
	"net/http"
	"strings"
)

// DefaultMaxUnauthenticated is Params.MaxUnauthenticated when zero.
const DefaultMaxUnauthenticated = 64

// secure wraps every route, so a route added later gets the same protection without
// asking for it:
//
//   - security headers on every response (no framing, no sniffing, no Referer: Join and
//     connect pages carry secrets in their URLs);
//   - unsafe methods (POST, PUT, PATCH, DELETE) refused when a browser says they come from
//     another site (Sec-Fetch-Site, else Origin against Host or a trusted origin);
//     requests without either header are not from a browser and pass;
//   - /v1 bodies must be application/json: a cross-site form can only send
//     text/plain, form or multipart bodies without a CORS preflight, which tether never
//     grants.
func (s *Server) secure(next http.Handler) http.Handler {
	cop := http.NewCrossOriginProtection()
	for _, o := range s.p.TrustedOrigins {
		// Validated by config (PUBLIC_URL); a bad one here is a programming error.
		if err := cop.AddTrustedOrigin(o); err != nil {
			s.log.Error().Err(err).Str("origin", o).Msg("trusted origin ignored")
		}
	}
	cop.SetDenyHandler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if isAPI(r) {
			writeError(w, http.StatusForbidden, APIError{Code: "cross_origin",
				Message: "cross-site requests are refused: call the API from a program, or from a page served by tether itself"})
			return
		}
		http.Error(w, "cross-site request refused", http.StatusForbidden)
	}))
	protected := cop.Handler(requireJSONBody(next))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("X-Frame-Options", "DENY")
		h.Set("Content-Security-Policy", "frame-ancestors 'none'")
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "no-referrer")
		protected.ServeHTTP(w, r)
	})
}

func isAPI(r *http.Request) bool { return strings.HasPrefix(r.URL.Path, "/v1/") }

func unsafeMethod(m string) bool {
	switch m {
	case http.MethodGet, http.MethodHead, http.MethodOptions:
		return false
	}
	return true
}

// requireJSONBody answers 415 to a /v1 request with a body that is not application/json.
func requireJSONBody(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if isAPI(r) && unsafeMethod(r.Method) && r.ContentLength != 0 {
			mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
			if err != nil || mt != "application/json" {
				w.Header().Set("Connection", "close") // the body is not read
				writeError(w, http.StatusUnsupportedMediaType, APIError{Code: "unsupported_media_type",
					Message: "send the body as JSON with Content-Type: application/json"})
				return
			}
		}
		next.ServeHTTP(w, r)
	})
}

// public caps how many requests that carry no credentials (Join links, OAuth callbacks,
// the login form) run at once; past the cap they get 503 at once rather than queueing.
func (s *Server) public(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case s.unauth <- struct{}{}:
			defer func() { <-s.unauth }()
			next.ServeHTTP(w, r)
		default:
			w.Header().Set("Retry-After", "1")
			w.Header().Set("Connection", "close")
			http.Error(w, "too many requests at once; try again in a moment", http.StatusServiceUnavailable)
		}
	})
}

// refuseUnread is called before answering a failed authentication: the body is never
// read, and closing the connection keeps net/http from waiting to drain it (a client
// announcing a body and sending none would otherwise hold the answer until the read
// timeout).
func refuseUnread(w http.ResponseWriter, r *http.Request) {
	if r.ContentLength != 0 {
		w.Header().Set("Connection", "close")
	}
}

// decodeJSON reads one JSON value of at most max bytes from r's body into v, refusing
// unknown fields and anything after the value (a second object, stray text): a body
// means exactly one request.
func decodeJSON(w http.ResponseWriter, r *http.Request, max int64, v any) error {
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, max))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return err
	}
	if _, err := dec.Token(); err != io.EOF {
		return errors.New("data after the JSON object")
	}
	return nil
}
