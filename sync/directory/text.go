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
)

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
