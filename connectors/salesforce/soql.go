package salesforce

import "strings"

// EscapeString escapes s for use inside a single-quoted SOQL string
// literal: backslash, both quotes, and the control characters SOQL has
// escapes for (\n \r \t \b \f). The result is safe between quotes: no input
// can end the literal early. Use Quote to add the quotes.
func EscapeString(s string) string { return escape(s, false) }

// EscapeLike is EscapeString plus the LIKE wildcards _ and %, so the value
// matches literally inside a LIKE pattern. Add your own wildcards around it:
// "Name LIKE '" + EscapeLike(v) + "%'".
func EscapeLike(s string) string { return escape(s, true) }

// Quote returns s as a complete SOQL string literal: '...' with s escaped.
func Quote(s string) string { return "'" + EscapeString(s) + "'" }

func escape(s string, like bool) string {
	var b strings.Builder
	b.Grow(len(s) + 8)
	// Byte by byte: every escaped character is ASCII, so multi-byte UTF-8
	// (and even invalid bytes) pass through unchanged.
	for i := 0; i < len(s); i++ {
		switch c := s[i]; c {
		case '\\':
			b.WriteString(`\\`)
		case '\'':
			b.WriteString(`\'`)
		case '"':
			b.WriteString(`\"`)
		case '\n':
			b.WriteString(`\n`)
		case '\r':
			b.WriteString(`\r`)
		case '\t':
			b.WriteString(`\t`)
		case '\b':
			b.WriteString(`\b`)
		case '\f':
			b.WriteString(`\f`)
		case '_', '%':
			if like {
				b.WriteByte('\\')
			}
			b.WriteByte(c)
		default:
			b.WriteByte(c)
		}
	}
	return b.String()
}
