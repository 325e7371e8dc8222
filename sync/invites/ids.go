package invites

import "strings"

// Key prefixes of the ids a selection may hold.
const (
	prefixUser    = "005"
	prefixProfile = "00e"
)

const idSuffixAlphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ012345"

// normalizeID returns the 18-character form of a 15- or 18-character Salesforce id, or
// ok false if s is not one (wrong length, a non-alphanumeric character, or an 18-character
// id whose suffix does not match). Validating here, not in the connector, lets Create
// refuse bad ids before anything is queued; the connector validates again before SOQL.
func normalizeID(s string) (string, bool) {
	if len(s) != 15 && len(s) != 18 {
		return "", false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z') {
			return "", false
		}
	}
	if len(s) == 15 {
		return s + idSuffix(s), true
	}
	// An 18-character id is case-insensitive: restore the case of the first 15 from the
	// suffix, then check the suffix agrees.
	b := []byte(s[:15])
	for chunk := 0; chunk < 3; chunk++ {
		flags := strings.IndexByte(idSuffixAlphabet, upperByte(s[15+chunk]))
		if flags < 0 {
			return "", false
		}
		for j := 0; j < 5; j++ {
			i := chunk*5 + j
			up := flags&(1<<j) != 0
			switch c := b[i]; {
			case c >= '0' && c <= '9':
				if up {
					return "", false
				}
			case up:
				b[i] = upperByte(c)
			default:
				b[i] = c | 0x20
			}
		}
	}
	return string(b) + idSuffix(string(b)), true
}

func idSuffix(id15 string) string {
	var out [3]byte
	for chunk := 0; chunk < 3; chunk++ {
		flags := 0
		for j := 0; j < 5; j++ {
			if c := id15[chunk*5+j]; c >= 'A' && c <= 'Z' {
				flags |= 1 << j
			}
		}
		out[chunk] = idSuffixAlphabet[flags]
	}
	return string(out[:])
}

func upperByte(c byte) byte {
	if c >= 'a' && c <= 'z' {
		return c - 'a' + 'A'
	}
	return c
}
