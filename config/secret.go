package config

// Secret holds a credential (a password, a client secret, a key ring, a URL that may carry a
// password). Its String, GoString and JSON forms are redacted so that logging a Config, or
// printing it with %v/%+v, never leaks one; call Reveal where the clear value is needed.
type Secret string

const redacted = "[redacted]"

// Reveal returns the clear value.
func (s Secret) Reveal() string { return string(s) }

// IsSet reports whether the secret is non-empty.
func (s Secret) IsSet() bool { return s != "" }

func (s Secret) String() string {
	if s == "" {
		return ""
	}
	return redacted
}

// GoString keeps %#v from printing the value.
func (s Secret) GoString() string { return s.String() }

// MarshalJSON redacts the value.
func (s Secret) MarshalJSON() ([]byte, error) {
	return []byte(`"` + s.String() + `"`), nil
}

// MarshalText redacts the value (zerolog and encoding/* use it).
func (s Secret) MarshalText() ([]byte, error) { return []byte(s.String()), nil }
