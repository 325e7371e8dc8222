package soql

import (
	"fmt"
	"strings"
)

// SyntaxError is a query the parser cannot read. Pos is a byte offset into the query.
type SyntaxError struct {
	Query string
	Pos   int
	Msg   string // e.g. "unexpected token: 'FROM'"
}

// Error renders the message the way Salesforce's REST API does for MALFORMED_QUERY:
// the offending line, a caret under the column, "ERROR at Row:R:Column:C" and the reason.
func (e *SyntaxError) Error() string { return Format(e.Query, e.Pos, e.Msg) }

// Format builds a Salesforce-style positioned query error message; the sandbox uses it for
// INVALID_FIELD and INVALID_TYPE too, which Salesforce renders the same way.
func Format(query string, pos int, msg string) string {
	if pos < 0 {
		pos = 0
	}
	if pos > len(query) {
		pos = len(query)
	}
	row, col := 1, 1
	lineStart := 0
	for i := 0; i < pos; i++ {
		if query[i] == '\n' {
			row++
			col = 1
			lineStart = i + 1
		} else {
			col++
		}
	}
	lineEnd := strings.IndexByte(query[lineStart:], '\n')
	line := query[lineStart:]
	if lineEnd >= 0 {
		line = query[lineStart : lineStart+lineEnd]
	}
	return fmt.Sprintf("\n%s\n%s^\nERROR at Row:%d:Column:%d\n%s", line, strings.Repeat(" ", col-1), row, col, msg)
}
