package onboarding

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"io"
)

// tokenBytes is the entropy of a Join token.
const tokenBytes = 32

// Token is a fresh Join token: Plain goes into the link, Hash into the store.
type Token struct {
	Plain string
	Hash  string
}

// String keeps the plain token out of logs.
func (t Token) String() string { return "onboarding.Token{Plain:[redacted] Hash:" + t.Hash + "}" }

// NewToken reads 32 bytes from r (crypto/rand.Reader in production) and returns the token
// and its hash. The import uses it to give a new invite a hash nobody holds the token of;
// the first send replaces it.
func NewToken(r io.Reader) (Token, error) {
	b := make([]byte, tokenBytes)
	if _, err := io.ReadFull(r, b); err != nil {
		return Token{}, fmt.Errorf("make join token: %w", err)
	}
	return Token{Plain: base64.RawURLEncoding.EncodeToString(b), Hash: hashBytes(b)}, nil
}

// HashToken returns the stored form of a token taken from a link, and false if it is not
// a well-formed token (then no lookup is needed: nothing can match).
func HashToken(plain string) (string, bool) {
	b, err := base64.RawURLEncoding.DecodeString(plain)
	if err != nil || len(b) != tokenBytes {
		return "", false
	}
	return hashBytes(b), true
}

func hashBytes(b []byte) string {
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}
