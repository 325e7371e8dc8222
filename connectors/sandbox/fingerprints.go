package sandbox

import (
	"crypto/sha256"
	"encoding/hex"
	"io"
	"sync"
)

// Fingerprint is a grant's state for fault checks: whether it lives and a digest of its
// current refresh token, so a checker can compare what a client holds without any token
// crossing the admin API.
type Fingerprint struct {
	ID       string   `json:"id"`
	Provider Provider `json:"provider"`
	Subject  string   `json:"subject"`
	Live     bool     `json:"live"`
	Ended    string   `json:"ended,omitempty"`
	// RefreshSHA256 is hex(sha256(current refresh token)); empty when the grant has none.
	RefreshSHA256 string `json:"refresh_sha256,omitempty"`
	// DeadTokenReplays counts refreshes presenting a token of this grant that no longer
	// works: a refresh token presented twice after rotation shows up here.
	DeadTokenReplays int64 `json:"dead_token_replays"`
	Refreshes        int64 `json:"refreshes"`
	Rotations        int64 `json:"rotations"`
	Calls            int64 `json:"calls"`
	// Requests counts every provider request naming one of the grant's tokens, whatever
	// the answer (GrantCounters.Requests).
	Requests int64 `json:"requests"`
}

// TokenSHA256 is the digest Fingerprints reports for a token value.
func TokenSHA256(v string) string {
	h := sha256.Sum256([]byte(v))
	return hex.EncodeToString(h[:])
}

// Fingerprints lists every grant's Fingerprint, oldest first.
func (s *Sandbox) Fingerprints() []Fingerprint {
	gs := s.store.allGrants()
	out := make([]Fingerprint, len(gs))
	for i, g := range gs {
		g.mu.Lock()
		f := Fingerprint{ID: g.id, Provider: g.provider(), Subject: g.subject, Live: g.dead == alive,
			DeadTokenReplays: g.replays.Load(), Refreshes: g.refreshes.Load(), Rotations: g.rotations.Load(), Calls: g.calls.Load(), Requests: g.requests.Load()}
		if g.dead != alive {
			f.Ended = g.dead.String()
		}
		if g.refresh != nil {
			f.RefreshSHA256 = TokenSHA256(g.refresh.value)
		}
		g.mu.Unlock()
		out[i] = f
	}
	return out
}

// lockedWriter writes whole lines from many goroutines.
type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) line(v string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	_, _ = io.WriteString(l.w, v+"\n")
}
