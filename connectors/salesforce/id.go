package salesforce

import (
	"fmt"
	"strings"
)

const suffixAlphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ012345"

// Key prefixes of the ids tether handles.
const (
	PrefixUser          = "005"
	PrefixProfile       = "00e"
	PrefixUserRole      = "00E"
	PrefixPermissionSet = "0PS"
	PrefixOrganization  = "00D"
)

// ValidID reports whether s is a Salesforce record id: 15 case-sensitive
// alphanumerics, or 18 whose last three characters are the
// case-insensitivity suffix consistent with the first 15.
func ValidID(s string) bool {
	_, err := NormalizeID(s)
	return err == nil
}

// NormalizeID returns the 18-character form of id. A 15-character id gets
// its suffix computed; an 18-character id is accepted in any letter case
// (that is what the suffix is for) and returned with the case of its first
// 15 characters restored from the suffix. Ids that are neither are an error
// that quotes the input.
func NormalizeID(id string) (string, error) {
	if !alnum(id) || (len(id) != 15 && len(id) != 18) {
		return "", fmt.Errorf("salesforce id %q: want 15 or 18 letters and digits", id)
	}
	if len(id) == 15 {
		return id + suffix(id), nil
	}
	b := []byte(id[:15])
	for chunk := 0; chunk < 3; chunk++ {
		flags := strings.IndexByte(suffixAlphabet, upper(id[15+chunk]))
		if flags < 0 {
			return "", fmt.Errorf("salesforce id %q: invalid checksum character %q", id, id[15+chunk])
		}
		for j := 0; j < 5; j++ {
			i := chunk*5 + j
			isUpper := flags&(1<<j) != 0
			switch c := b[i]; {
			case c >= '0' && c <= '9':
				if isUpper {
					return "", fmt.Errorf("salesforce id %q: checksum does not match", id)
				}
			case isUpper:
				b[i] = upper(c)
			default:
				b[i] = lower(c)
			}
		}
	}
	return string(b) + suffix(string(b)), nil
}

// HasPrefix reports whether id has the key prefix p (case-sensitive, as
// key prefixes are: 00e is Profile, 00E UserRole).
func HasPrefix(id, p string) bool { return strings.HasPrefix(id, p) }

func suffix(id15 string) string {
	var out [3]byte
	for chunk := 0; chunk < 3; chunk++ {
		flags := 0
		for j := 0; j < 5; j++ {
			if c := id15[chunk*5+j]; c >= 'A' && c <= 'Z' {
				flags |= 1 << j
			}
		}
		out[chunk] = suffixAlphabet[flags]
	}
	return string(out[:])
}

func alnum(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z') {
			return false
		}
	}
	return true
}

func upper(c byte) byte {
	if c >= 'a' && c <= 'z' {
		return c - 'a' + 'A'
	}
	return c
}

func lower(c byte) byte {
	if c >= 'A' && c <= 'Z' {
		return c - 'A' + 'a'
	}
	return c
}
