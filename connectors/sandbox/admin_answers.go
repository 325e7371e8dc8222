package sandbox

import (
	"errors"
	"fmt"
	"net/http"
	"strings"
)

// answerRoutes registers the admin API for the provider answers the reference records:
//
//	GET  /admin/answers                                  [Answer]
//	POST /admin/faults {"provider":…,"kind":"answer","answer":…,"count":N}
//	POST /admin/grants/{id}/answer {"answer":"mfa_required","count":1}   (a token or API answer; "" clears)
//	POST /admin/users/{provider}/{id}/active {"active":false}
//
// The Salesforce daily limit is also reachable as state: POST
// /admin/salesforce/orgs/{org}/usage {"used": max}.
func (s *Sandbox) answerRoutes(m *http.ServeMux) {
	m.HandleFunc("GET /admin/answers", func(w http.ResponseWriter, r *http.Request) { writeJSON(w, 200, Answers()) })
	m.HandleFunc("POST /admin/grants/{id}/answer", func(w http.ResponseWriter, r *http.Request) {
		var in struct {
			Answer string `json:"answer"`
			Count  int    `json:"count"`
		}
		if !decode(w, r, &in) {
			return
		}
		if err := s.SetGrantAnswer(r.PathValue("id"), in.Answer, in.Count); err != nil {
			adminErr(w, err)
			return
		}
		writeJSON(w, 200, map[string]bool{"ok": true})
	})
	m.HandleFunc("POST /admin/users/{provider}/{id}/active", func(w http.ResponseWriter, r *http.Request) {
		var in struct {
			Active *bool `json:"active"`
		}
		if !decode(w, r, &in) {
			return
		}
		if in.Active == nil {
			adminErr(w, errors.New(`body must be {"active": true|false}`))
			return
		}
		if err := s.SetUserActive(Provider(r.PathValue("provider")), r.PathValue("id"), *in.Active); err != nil {
			adminErr(w, err)
			return
		}
		writeJSON(w, 200, map[string]bool{"ok": true})
	})
}

// DisabledAnswer names the answer provider p gives a refresh of a disabled account's grant.
func DisabledAnswer(p Provider) string {
	switch p {
	case Google:
		return "deleted_account"
	case Microsoft:
		return "disabled_account"
	case Zoom:
		return "user_removed"
	}
	return "inactive_user"
}

// SetUserActive disables (active false) or re-enables a user: a Salesforce user (by id)
// is deactivated in the org data; a Google, Microsoft or Zoom account (by id or email)
// is marked Disabled.
func (s *Sandbox) SetUserActive(p Provider, id string, active bool) error {
	if p == Salesforce {
		if err := s.sf.SetUserActive(id, active); err != nil {
			return fmt.Errorf("set salesforce user %s active=%t: %w: %w", id, active, ErrNotFound, err)
		}
		return nil
	}
	if !p.valid() {
		return fmt.Errorf("set user active: unknown provider %q", p)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for i, u := range s.users[p] {
		if u.ID == id || (u.Email != "" && strings.EqualFold(u.Email, id)) {
			s.users[p][i].Disabled = !active
			return nil
		}
	}
	return fmt.Errorf("set %s user %s active=%t: %w", p, id, active, ErrNotFound)
}

// SetGrantAnswer makes the grant's next count refreshes (a token answer) or API calls
// with its access tokens (an API answer) get provider answer name (see Answers) instead
// of being served; count 0 means until cleared. Name "" clears both. With Microsoft's
// "intermittent" and count 1, a confirming retry succeeds; with Google's "quota_exceeded"
// one user's calendar is over its limits while others are not.
func (s *Sandbox) SetGrantAnswer(id, name string, count int) error {
	g, err := s.mustGrant("set answer of", id)
	if err != nil {
		return err
	}
	if count < 0 {
		return fmt.Errorf("set answer of grant %s: count must be >= 0", id)
	}
	var a *answerSpec
	if name != "" {
		if a, err = findAnswer(g.provider(), name); err != nil {
			return fmt.Errorf("set answer of grant %s: %w", id, err)
		}
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	hadAPI := g.apiAnswer != nil
	switch {
	case a == nil:
		g.answer, g.apiAnswer = nil, nil
	case a.On == OnToken:
		g.answer, g.answerLeft = a, count
	default:
		g.apiAnswer, g.apiLeft = a, count
	}
	s.countAPIAnswer(hadAPI, g.apiAnswer != nil)
	return nil
}

func (s *Sandbox) countAPIAnswer(had, has bool) {
	switch {
	case !had && has:
		s.apiAnswered.Add(1)
	case had && !has:
		s.apiAnswered.Add(-1)
	}
}

// takeAnswer returns the answer a refresh of g gets instead of tokens, if any.
func (g *grant) takeAnswer() *answerSpec {
	g.mu.Lock()
	defer g.mu.Unlock()
	a := g.answer
	if a != nil && g.answerLeft > 0 {
		g.answerLeft--
		if g.answerLeft == 0 {
			g.answer = nil
		}
	}
	return a
}

// takeAPIAnswer returns the answer an API call with r's bearer token gets, if its grant
// has one.
func (s *Sandbox) takeAPIAnswer(r *http.Request) *answerSpec {
	t := s.store.lookup(bearer(r))
	if t == nil || t.kind != kindAccess {
		return nil
	}
	g := t.g
	g.mu.Lock()
	defer g.mu.Unlock()
	a := g.apiAnswer
	if a != nil && g.apiLeft > 0 {
		g.apiLeft--
		if g.apiLeft == 0 {
			g.apiAnswer = nil
			s.countAPIAnswer(true, false)
		}
	}
	return a
}
