package sfdc

import "strings"

// Key prefixes of the objects the sandbox stores.
const (
	PrefixUser          = "005"
	PrefixProfile       = "00e"
	PrefixOrg           = "00D"
	PrefixRole          = "00E"
	PrefixPermissionSet = "0PS"
	PrefixPSA           = "0Pa"
	PrefixLicense       = "100"
	PrefixObjectPerm    = "110"
	PrefixFieldPerm     = "01k"
	prefixLocator       = "01g"
)

const base62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"

// MakeID builds a valid 18-character Salesforce id from a 3-character key prefix and a
// serial number; the same inputs always give the same id. The pod part is fixed ("5g0").
func MakeID(prefix string, n uint64) string {
	var b [15]byte
	copy(b[:], prefix)
	b[3], b[4], b[5] = '5', 'g', '0'
	for i := 14; i >= 6; i-- {
		b[i] = base62[n%62]
		n /= 62
	}
	return To18(string(b[:]))
}

// To18 converts a 15-character case-sensitive id to its 18-character case-insensitive form
// (Salesforce's checksum suffix: one character per 5-character chunk encoding which of its
// characters are upper case). An 18-character input is returned with its suffix recomputed
// from the first 15 characters; anything that is not an id is returned unchanged.
func To18(id string) string {
	s, _ := NormalizeID(id)
	if s == "" {
		return id
	}
	return s
}

// NormalizeID returns the 18-character form of a 15- or 18-character id and whether the
// input was a well-formed id ([A-Za-z0-9], length 15 or 18, matching checksum for 18).
func NormalizeID(id string) (string, bool) {
	if len(id) != 15 && len(id) != 18 {
		return "", false
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z') {
			return "", false
		}
	}
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ012345"
	var suffix [3]byte
	for chunk := 0; chunk < 3; chunk++ {
		bits := 0
		for i := 0; i < 5; i++ {
			c := id[chunk*5+i]
			if c >= 'A' && c <= 'Z' {
				bits |= 1 << i
			}
		}
		suffix[chunk] = alphabet[bits]
	}
	if len(id) == 18 {
		// An 18-character id is case-insensitive: recover the case from the suffix.
		if !strings.EqualFold(id[15:], string(suffix[:])) {
			return fixCase(id)
		}
		return id[:15] + string(suffix[:]), true
	}
	return id + string(suffix[:]), true
}

// fixCase restores the case of an 18-character id whose letters were case-folded,
// using its (case-insensitive) suffix.
func fixCase(id string) (string, bool) {
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ012345"
	b := []byte(id[:15])
	for chunk := 0; chunk < 3; chunk++ {
		bits := strings.IndexByte(alphabet, upper(id[15+chunk]))
		if bits < 0 {
			return "", false
		}
		for i := 0; i < 5; i++ {
			c := b[chunk*5+i]
			if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' {
				if bits&(1<<i) != 0 {
					b[chunk*5+i] = upper(c)
				} else {
					b[chunk*5+i] = lower(c)
				}
			} else if bits&(1<<i) != 0 {
				return "", false // a digit cannot be upper case
			}
		}
	}
	return string(b) + strings.ToUpper(id[15:]), true
}

func upper(c byte) byte {
	if c >= 'a' && c <= 'z' {
		return c - 32
	}
	return c
}

func lower(c byte) byte {
	if c >= 'A' && c <= 'Z' {
		return c + 32
	}
	return c
}
