package soql

import (
	"errors"
	"testing"
)

// FuzzParse checks that no input panics the parser and that every failure is a
// *SyntaxError (which the sandbox turns into MALFORMED_QUERY).
// Run: go test ./connectors/sandbox/sfdc/soql -run '^$' -fuzz FuzzParse -fuzztime 60s
func FuzzParse(f *testing.F) {
	seeds := []string{
		`SELECT Id, Username, Email, FirstName, LastName, Name, IsActive, UserType, ProfileId, Profile.Name FROM User WHERE IsActive = true AND UserType = 'Standard' AND ProfileId IN ('00e000000000001AAA') ORDER BY Id`,
		`SELECT Id, Name, UserLicense.Name, UserType FROM Profile WHERE UserType = 'Standard' ORDER BY Name`,
		`SELECT Id, PermissionSet.Name, PermissionSet.IsOwnedByProfile FROM PermissionSetAssignment WHERE AssigneeId = '005xx000001SwiUAAS' AND PermissionSet.PermissionsAllowViewEditConvertedLeads = true`,
		`SELECT ProfileId, COUNT(Id) n FROM User WHERE IsActive = true GROUP BY ProfileId`,
		`SELECT COUNT() FROM User`,
		`SELECT Id FROM User WHERE (Name LIKE 'a\_%' OR Email != null) AND NOT Id = '1' LIMIT 5 OFFSET 2`,
		`SELECT Id FROM User WHERE CreatedDate > 2024-01-01T00:00:00Z AND LastLoginDate < LAST_N_DAYS:3`,
		`SELECT Id FROM User WHERE Name = 'O\'Brien \\ \n'`,
		`SELECT Id FROM User ORDER BY Name DESC NULLS LAST, Id ASC NULLS FIRST`,
		`SELECT Id FROM User WHERE Amount >= -1.5e`,
		`SELECT`, `'`, `SELECT Id FROM User WHERE Name = '\`, "SELECT Id FROM User WHERE Name = '\xff\\\xff'",
	}
	for _, s := range seeds {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, src string) {
		q, err := Parse(src)
		if err != nil {
			var se *SyntaxError
			if !errors.As(err, &se) {
				t.Fatalf("Parse(%q) returned %T, want *SyntaxError", src, err)
			}
			_ = se.Error() // must not panic either
			if q != nil {
				t.Fatalf("Parse(%q) returned a query and an error", src)
			}
			return
		}
		if q == nil || q.From == "" || len(q.Fields) == 0 {
			t.Fatalf("Parse(%q) = %+v without error", src, q)
		}
	})
}
