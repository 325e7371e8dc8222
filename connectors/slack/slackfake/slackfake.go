// Package slackfake is a local HTTP server speaking the three Slack Web API methods the
// reminders use, with the shapes of Slack's reference (docs.slack.dev/reference/methods):
// users.lookupByEmail, conversations.open and chat.postMessage. Every answer is HTTP 200
// with "ok": true or "ok": false and an "error" string, except a rate limit: HTTP 429,
// a Retry-After header and {"ok":false,"error":"ratelimited"}. The token is read from the
// Authorization header (Bearer) or the "token" form field, as Slack accepts both.
//
// Faults are set per token or per method: a token answered with invalid_auth,
// account_inactive or token_revoked; the next n calls of a method rate-limited or failing
// with a given error. Point slack-go at URL() with slack.OptionAPIURL.
package slackfake

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Message is one chat.postMessage the server accepted.
type Message struct {
	// Token is the bot token that posted it.
	Token   string
	Channel string // the DM's id, "D..."
	User    string // the user the DM is with, "U..."
	Email   string
	Text    string
	TS      string
}

// Server is a fake Slack workspace. Safe for concurrent use.
type Server struct {
	srv *httptest.Server

	mu       sync.Mutex
	tokens   map[string]string // token -> "" (valid) or the error it is answered with
	users    map[string]string // lower-cased email -> user id
	dms      map[string]string // channel id -> user id
	faults   map[string][]fault
	messages []Message
	calls    map[string]int
	seq      int
}

type fault struct {
	code       string
	retryAfter time.Duration
}

// Start starts a server on 127.0.0.1; Close stops it.
func Start() *Server {
	s := &Server{tokens: map[string]string{}, users: map[string]string{}, dms: map[string]string{},
		faults: map[string][]fault{}, calls: map[string]int{}}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /users.lookupByEmail", s.method("users.lookupByEmail", s.lookupByEmail))
	mux.HandleFunc("POST /conversations.open", s.method("conversations.open", s.open))
	mux.HandleFunc("POST /chat.postMessage", s.method("chat.postMessage", s.postMessage))
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		answer(w, map[string]any{"ok": false, "error": "unknown_method"})
	})
	s.srv = httptest.NewServer(mux)
	return s
}

// URL is the API's base URL, ending in "/", for slack.OptionAPIURL.
func (s *Server) URL() string { return s.srv.URL + "/" }

// Close stops the server.
func (s *Server) Close() { s.srv.Close() }

// AddToken makes token a valid bot token of the workspace.
func (s *Server) AddToken(token string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.tokens[token] = ""
}

// RefuseToken makes every call with token answer code: invalid_auth, account_inactive,
// token_revoked, ...
func (s *Server) RefuseToken(token, code string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.tokens[token] = code
}

// AddUser adds a workspace member with email; returns the user id.
func (s *Server) AddUser(email string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.seq++
	id := fmt.Sprintf("U%08d", s.seq)
	s.users[strings.ToLower(email)] = id
	return id
}

// RateLimit answers the next n calls of method with 429 and Retry-After.
func (s *Server) RateLimit(method string, n int, retryAfter time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for range n {
		s.faults[method] = append(s.faults[method], fault{code: "ratelimited", retryAfter: retryAfter})
	}
}

// Fail answers the next n calls of method with {"ok":false,"error":code}.
func (s *Server) Fail(method, code string, n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for range n {
		s.faults[method] = append(s.faults[method], fault{code: code})
	}
}

// DropAnswer makes the next n calls of method do their work (a message is posted) and
// then close the connection instead of answering: the caller cannot tell whether the
// call took effect.
func (s *Server) DropAnswer(method string, n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for range n {
		s.faults[method] = append(s.faults[method], fault{code: dropAnswer})
	}
}

// dropAnswer is the fault code of DropAnswer (not a Slack error string).
const dropAnswer = "tether-test-drop-answer"

// Messages returns the messages posted so far.
func (s *Server) Messages() []Message {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Message(nil), s.messages...)
}

// Calls returns how many times method was called (faults included).
func (s *Server) Calls(method string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.calls[method]
}

func (s *Server) method(name string, h func(token string, r *http.Request) map[string]any) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if err := r.ParseForm(); err != nil {
			answer(w, map[string]any{"ok": false, "error": "invalid_form_data"})
			return
		}
		token := strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer ")
		if token == "" {
			token = r.PostForm.Get("token")
		}
		s.mu.Lock()
		s.calls[name]++
		var f *fault
		if q := s.faults[name]; len(q) > 0 {
			f, s.faults[name] = &q[0], q[1:]
		}
		code, known := s.tokens[token]
		s.mu.Unlock()
		switch {
		case f != nil && f.code == "ratelimited":
			w.Header().Set("Retry-After", strconv.Itoa(int(f.retryAfter.Seconds())))
			w.Header().Set("Content-Type", "application/json; charset=utf-8")
			w.WriteHeader(http.StatusTooManyRequests)
			_ = json.NewEncoder(w).Encode(map[string]any{"ok": false, "error": "ratelimited"})
		case token == "":
			answer(w, map[string]any{"ok": false, "error": "not_authed"})
		case !known:
			answer(w, map[string]any{"ok": false, "error": "invalid_auth"})
		case code != "":
			answer(w, map[string]any{"ok": false, "error": code})
		case f != nil && f.code == dropAnswer:
			h(token, r)
			if conn, _, err := http.NewResponseController(w).Hijack(); err == nil {
				_ = conn.Close()
			}
		case f != nil:
			answer(w, map[string]any{"ok": false, "error": f.code})
		default:
			answer(w, h(token, r))
		}
	}
}

func (s *Server) lookupByEmail(_ string, r *http.Request) map[string]any {
	email := r.PostForm.Get("email")
	s.mu.Lock()
	id, ok := s.users[strings.ToLower(email)]
	s.mu.Unlock()
	if !ok {
		return map[string]any{"ok": false, "error": "users_not_found"}
	}
	name, _, _ := strings.Cut(email, "@")
	return map[string]any{"ok": true, "user": map[string]any{
		"id": id, "team_id": "T012AB3C4", "name": name, "deleted": false, "real_name": name,
		"tz": "America/Los_Angeles", "tz_label": "Pacific Standard Time", "tz_offset": -28800,
		"is_bot": false, "is_admin": false, "updated": 1502138686,
		"profile": map[string]any{"real_name": name, "display_name": name, "email": email},
	}}
}

func (s *Server) open(_ string, r *http.Request) map[string]any {
	users := r.PostForm.Get("users")
	if users == "" || strings.Contains(users, ",") {
		return map[string]any{"ok": false, "error": "users_list_not_supplied"}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	found := false
	for _, id := range s.users {
		found = found || id == users
	}
	if !found {
		return map[string]any{"ok": false, "error": "user_not_found"}
	}
	ch := "D" + users[1:]
	_, already := s.dms[ch]
	s.dms[ch] = users
	if already {
		return map[string]any{"ok": true, "no_op": true, "already_open": true, "channel": map[string]any{"id": ch}}
	}
	return map[string]any{"ok": true, "channel": map[string]any{"id": ch}}
}

func (s *Server) postMessage(token string, r *http.Request) map[string]any {
	ch, text := r.PostForm.Get("channel"), r.PostForm.Get("text")
	s.mu.Lock()
	defer s.mu.Unlock()
	user, ok := s.dms[ch]
	if !ok {
		return map[string]any{"ok": false, "error": "channel_not_found"}
	}
	if strings.TrimSpace(text) == "" {
		return map[string]any{"ok": false, "error": "no_text"}
	}
	s.seq++
	ts := fmt.Sprintf("%d.%06d", time.Now().Unix(), s.seq)
	email := ""
	for e, id := range s.users {
		if id == user {
			email = e
		}
	}
	s.messages = append(s.messages, Message{Token: token, Channel: ch, User: user, Email: email, Text: text, TS: ts})
	return map[string]any{"ok": true, "channel": ch, "ts": ts, "message": map[string]any{
		"type": "message", "subtype": "bot_message", "text": text, "ts": ts, "username": "tether", "bot_id": "B19LU7CSY"}}
}

func answer(w http.ResponseWriter, v map[string]any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	_ = json.NewEncoder(w).Encode(v)
}
