package directory

import (
	"fmt"
	"strings"
)

const sfSuffixAlphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ012345"

// NormalizeSalesforceID returns the 18-character form of a Salesforce record
// id. A 15-character id (case-sensitive) gets its case-insensitivity suffix
// computed; an 18-character id is accepted in any letter case, since that is
// what the suffix is for, and comes back with the case of its first 15
// characters restored from the suffix. Anything else is an error quoting the
// input. The one implementation: the import validates selections with it, the
// Join flow compares accounts with it, the Salesforce connector checks ids with
// it before they reach SOQL.
func NormalizeSalesforceID(id string) (string, error) {
	if !sfAlnum(id) || (len(id) != 15 && len(id) != 18) {
		return "", fmt.Errorf("salesforce id %q: want 15 or 18 letters and digits", id)
	}
	if len(id) == 15 {
		return id + sfSuffix(id), nil
	}
	b := []byte(id[:15])
	for chunk := 0; chunk < 3; chunk++ {
		flags := strings.IndexByte(sfSuffixAlphabet, sfUpper(id[15+chunk]))
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
				b[i] = sfUpper(c)
			default:
				b[i] = sfLower(c)
			}
		}
	}
	return string(b) + sfSuffix(string(b)), nil
}

// SameSalesforceID reports whether a and b are valid ids of the same record,
// whatever their length and (for 18-character ids) letter case.
func SameSalesforceID(a, b string) bool {
	na, errA := NormalizeSalesforceID(a)
	nb, errB := NormalizeSalesforceID(b)
	return errA == nil && errB == nil && na == nb
}

func sfSuffix(id15 string) string {
	var out [3]byte
	for chunk := 0; chunk < 3; chunk++ {
		flags := 0
		for j := 0; j < 5; j++ {
			if c := id15[chunk*5+j]; c >= 'A' && c <= 'Z' {
				flags |= 1 << j
			}
		}
		out[chunk] = sfSuffixAlphabet[flags]
	}
	return string(out[:])
}

func sfAlnum(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z') {
			return false
		}
	}
	return true
}

func sfUpper(c byte) byte {
	if c >= 'a' && c <= 'z' {
		return c - 'a' + 'A'
	}
	return c
}

func sfLower(c byte) byte {
	if c >= 'A' && c <= 'Z' {
		return c - 'A' + 'a'
	}
	return c
}
