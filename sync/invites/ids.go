package invites

import "tether/sync/directory"

// Key prefixes of the ids a selection may hold.
const (
	prefixUser    = "005"
	prefixProfile = "00e"
)

// normalizeID returns the 18-character form of a 15- or 18-character Salesforce id, or
// ok false if s is not one. Validating here, not in the connector, lets Create refuse bad
// ids before anything is queued; the connector validates again before SOQL.
func normalizeID(s string) (string, bool) {
	id, err := directory.NormalizeSalesforceID(s)
	return id, err == nil
}
