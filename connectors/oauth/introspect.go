package oauth

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"tether/sync/connections"
	"tether/sync/vault"
)

// SalesforceSessions learns a Salesforce org's session timeout by introspecting an access
// token it issued (POST {instance}/services/oauth2/introspect, RFC 7662, authenticated
// with the registered Salesforce app): exp − iat. Salesforce token answers carry no
// expires_in, so this is how tether knows when the org's sessions end.
type SalesforceSessions struct {
	Client *Client
	// Provider is the registry name of the Salesforce app ("salesforce" when empty).
	Provider string
}

var _ connections.SessionIntrospector = SalesforceSessions{}

// SessionTimeout implements connections.SessionIntrospector: one HTTP request. An
// inactive token, a refused client or an answer without exp and iat is an error; no
// error holds the token or the client secret.
func (s SalesforceSessions) SessionTimeout(ctx context.Context, instanceURL string, access vault.Token) (time.Duration, error) {
	name := s.Provider
	if name == "" {
		name = "salesforce"
	}
	p, err := s.Client.provider("introspect", name)
	if err != nil {
		return 0, err
	}
	if instanceURL == "" || access.IsZero() {
		return 0, fmt.Errorf("introspect a Salesforce token: the connection has no instance URL or access token")
	}
	ctx, cancel := context.WithTimeout(ctx, s.Client.timeout)
	defer cancel()
	form := url.Values{"token": {access.Reveal()}, "token_type_hint": {"access_token"},
		"client_id": {p.ClientID}, "client_secret": {p.ClientSecret}}
	endpoint := strings.TrimRight(instanceURL, "/") + "/services/oauth2/introspect"
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, endpoint, strings.NewReader(form.Encode()))
	if err != nil {
		return 0, fmt.Errorf("introspect a Salesforce token at %s: %v", instanceURL, redactErr(err, access.Reveal(), p.ClientSecret))
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "application/json")
	resp, err := s.Client.hc.Do(req)
	if err != nil {
		return 0, fmt.Errorf("introspect a Salesforce token at %s: %w", endpoint, redactErr(err, access.Reveal(), p.ClientSecret))
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<16))
	if resp.StatusCode != http.StatusOK {
		return 0, fmt.Errorf("introspect a Salesforce token at %s: HTTP %d: %s", endpoint, resp.StatusCode,
			scrub(truncateBody(body), access.Reveal(), p.ClientSecret))
	}
	var in struct {
		Active bool  `json:"active"`
		Exp    int64 `json:"exp"`
		Iat    int64 `json:"iat"`
	}
	if err := json.Unmarshal(body, &in); err != nil {
		return 0, fmt.Errorf("introspect a Salesforce token at %s: the answer is not JSON: %s", endpoint,
			scrub(truncateBody(body), access.Reveal(), p.ClientSecret))
	}
	if !in.Active {
		return 0, fmt.Errorf("introspect a Salesforce token at %s: Salesforce says the fresh token is not active", endpoint)
	}
	if in.Exp <= 0 || in.Iat <= 0 || in.Exp <= in.Iat {
		return 0, fmt.Errorf("introspect a Salesforce token at %s: the answer has no usable exp and iat (exp %d, iat %d)", endpoint, in.Exp, in.Iat)
	}
	return time.Duration(in.Exp-in.Iat) * time.Second, nil
}

func truncateBody(b []byte) string {
	s := strings.ToValidUTF8(string(b), "")
	if len(s) > 300 {
		s = strings.ToValidUTF8(s[:300], "") + "…"
	}
	return s
}
