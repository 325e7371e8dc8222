package vault

import (
	"fmt"
	"log/slog"
)

const redacted = "[redacted]"

// Token is a secret value such as an OAuth access or refresh token. Every
// printable form of it is redacted; call Reveal to use the value.
type Token struct{ v string }

// NewToken wraps a secret value.
func NewToken(s string) Token { return Token{v: s} }

// Reveal returns the secret. Call it only where the value leaves for its
// provider (an Authorization header, a token request body).
func (t Token) Reveal() string { return t.v }

// IsZero reports whether the token is empty.
func (t Token) IsZero() bool { return t.v == "" }

// Equal compares two tokens without revealing either.
func (t Token) Equal(o Token) bool { return t.v == o.v }

func (t Token) String() string   { return t.mask() }
func (t Token) GoString() string { return t.mask() }

// Format makes every verb (%v, %+v, %s, %q, %x …) print the mask.
func (t Token) Format(f fmt.State, _ rune) { _, _ = fmt.Fprint(f, t.mask()) }

func (t Token) MarshalText() ([]byte, error) { return []byte(t.mask()), nil }
func (t Token) MarshalJSON() ([]byte, error) { return []byte(`"` + t.mask() + `"`), nil }
func (t Token) LogValue() slog.Value         { return slog.StringValue(t.mask()) }

func (t Token) mask() string {
	if t.v == "" {
		return ""
	}
	return redacted
}
