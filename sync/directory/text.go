package directory

import (
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Length limits of the strings tether stores, in characters. The store refuses longer
// values; the import and the API check them first so a person gets the field's name.
const (
	MaxGroupName   = 100
	MaxOrgName     = 200
	MaxEmail       = 254 // RFC 5321's path limit
	MaxPersonName  = 200
	MaxProfileName = 255 // Salesforce Profile.Name
	MaxShortText   = 1000
	// MaxSalesforceID: Salesforce ids are 15 or 18 characters.
	MaxSalesforceID = 18
	// MaxSelectedProfileName bounds a profile name in an import's selection: Salesforce
	// compares a literal of at most 4,000 characters, and the import refuses longer ones
	// first (selection_too_long) so the person is told why.
	MaxSelectedProfileName = 4000
	// MaxKind bounds an enum-like word a caller names (a connect-link kind): the longest
	// valid one is far shorter, and a refusal must not echo megabytes back.
	MaxKind = 64
)

// Limits of strings that come from providers (Salesforce, OAuth servers) rather than a
// person. They are clipped with Clip before they are stored, never refused: refusing
// would lose the event or connection state they describe.
const (
	MaxProviderID   = 255  // account, org and user ids: far longer than any provider's
	MaxProviderURL  = 2048 // instance and login URLs: the common browser URL limit
	MaxProviderCode = 100  // OAuth error codes and reasons are short words
	MaxProviderText = MaxShortText
)

// Clip makes provider text storable on both backends: invalid UTF-8 becomes U+FFFD,
// control characters other than tab (NUL among them) become spaces, and it is cut to
// max characters (never inside a character).
func Clip(s string, max int) string {
	if CheckText("", s, max) == nil {
		return s
	}
	s = strings.ToValidUTF8(s, "\uFFFD")
	s = strings.Map(func(r rune) rune {
		if unicode.IsControl(r) && r != '\t' {
			return ' '
		}
		return r
	}, s)
	if utf8.RuneCountInString(s) > max {
		n := 0
		for i := range s {
			if n == max {
				return s[:i]
			}
			n++
		}
	}
	return s
}

// CheckText reports why value cannot be stored as field: not UTF-8, a NUL or other
// control character (PostgreSQL refuses NUL in text, SQLite would keep it), or longer
// than max characters. Nil when it can. The message names the field, never the value.
func CheckText(field, value string, max int) error {
	if !utf8.ValidString(value) {
		return fmt.Errorf("%s is not valid UTF-8", field)
	}
	if i := strings.IndexFunc(value, func(r rune) bool { return unicode.IsControl(r) && r != '\t' }); i >= 0 {
		return fmt.Errorf("%s contains a control character (such as NUL) at byte %d", field, i)
	}
	if n := utf8.RuneCountInString(value); n > max {
		return fmt.Errorf("%s is %d characters; at most %d are allowed", field, n, max)
	}
	return nil
}

// Plural is n and noun as a person reads them: "1 org", "2 orgs", "0 orgs". noun is
// regular (its plural adds an s); a phrase ("active member") is pluralised at its end.
func Plural(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return fmt.Sprintf("%d %ss", n, noun)
}
