// Package soql parses the subset of Salesforce's SOQL that the sandbox emulator serves:
// SELECT with field paths (Profile.Name), COUNT() and COUNT(field) with aliases, FROM one
// object, WHERE with = != <> < > <= >= LIKE IN NOT IN INCLUDES EXCLUDES, AND/OR/NOT and
// parentheses, GROUP BY, ORDER BY (ASC/DESC, NULLS FIRST/LAST), LIMIT and OFFSET.
//
// Parsing is purely syntactic: names are not resolved here (the sandbox binds them against
// its schema, so an unknown field is INVALID_FIELD there, not a syntax error here). Anything
// the parser cannot read is a *SyntaxError, which the sandbox answers as MALFORMED_QUERY
// with Salesforce's "ERROR at Row:R:Column:C" message. Like Salesforce, mixing AND and OR
// at one level without parentheses is a syntax error.
//
// Parse never panics, whatever the input (see FuzzParse).
package soql
