package salesforce

import (
	"fmt"
	"strings"

	"tether/sync/directory"
)

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

// NormalizeID returns the 18-character form of id (see
// directory.NormalizeSalesforceID, the one implementation).
func NormalizeID(id string) (string, error) { return directory.NormalizeSalesforceID(id) }

// HasPrefix reports whether id has the key prefix p (case-sensitive, as
// key prefixes are: 00e is Profile, 00E UserRole).
func HasPrefix(id, p string) bool { return strings.HasPrefix(id, p) }

// normalizeIDs normalises every id, or names all the malformed ones in an
// ErrBadFilter.
func normalizeIDs(ids []string) ([]string, error) {
	norm := make([]string, 0, len(ids))
	var bad []string
	for _, id := range ids {
		n, err := NormalizeID(id)
		if err != nil {
			bad = append(bad, id)
			continue
		}
		norm = append(norm, n)
	}
	if len(bad) > 0 {
		return nil, fmt.Errorf("%w: malformed ids %q", ErrBadFilter, bad)
	}
	return norm, nil
}
