package store

import (
	"fmt"

	"tether/sync/directory"
)

// text is one stored string and its limit.
type text struct {
	field, value string
	max          int
}

// checkTexts refuses, on both backends alike, a string PostgreSQL would reject (NUL) or
// SQLite would keep although the other cannot, and one past its length limit. The error
// wraps directory.ErrInvalid and names the field, not the value.
func checkTexts(texts ...text) error {
	for _, t := range texts {
		if err := directory.CheckText(t.field, t.value, t.max); err != nil {
			return fmt.Errorf("%w: %s", directory.ErrInvalid, err.Error())
		}
	}
	return nil
}
