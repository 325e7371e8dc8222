package onboarding

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"time"
)

// stateRowID is the associated data the OAuth state is sealed with, so a sealed token of
// a connection row can never pass as a state (and the reverse).
const stateRowID = "oauth-state:salesforce"

// connectState is what travels, sealed, in the OAuth state parameter: which invite the
// connect is for, the PKCE verifier, and a nonce that must match the
// browser's cookie (so a callback is only honoured in the browser that started it).
type connectState struct {
	OrgID    string `json:"o"`
	InviteID string `json:"i"`
	// TokenHash is the Join token's hash: the callback accepts the invite with it.
	TokenHash string `json:"h"`
	Nonce     string `json:"n"`
	Verifier  string `json:"v"`
	Expires   int64  `json:"e"` // unix seconds
}

func (j *Joiner) sealState(s connectState) (string, error) {
	b, err := json.Marshal(s)
	if err != nil {
		return "", err
	}
	sealed, err := j.cfg.Vault.Seal(b, stateRowID)
	if err != nil {
		return "", fmt.Errorf("seal oauth state: %w", err)
	}
	return base64.RawURLEncoding.EncodeToString(sealed), nil
}

// openState returns ErrBadState for anything not sealed by us and ErrStateExpired after
// the state's expiry.
func (j *Joiner) openState(raw string, now time.Time) (connectState, error) {
	b, err := base64.RawURLEncoding.DecodeString(raw)
	if err != nil {
		return connectState{}, ErrBadState
	}
	plain, err := j.cfg.Vault.Open(b, stateRowID)
	if err != nil {
		return connectState{}, ErrBadState
	}
	var s connectState
	if err := json.Unmarshal(plain, &s); err != nil || s.OrgID == "" || s.InviteID == "" {
		return connectState{}, ErrBadState
	}
	if now.Unix() >= s.Expires {
		return connectState{}, ErrStateExpired
	}
	return s, nil
}
