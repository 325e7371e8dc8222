package invites

import (
	"errors"
	"fmt"
	"testing"
)

// BenchmarkValidateSelection validates an import of 60,000 distinct profile names (the
// case that took 6 s of CPU when de-duplication was quadratic). Such a selection is then
// refused as too long for one Salesforce query; the benchmark times getting there.
//
//	go test -run '^$' -bench ValidateSelection -benchtime 5x ./sync/invites
func BenchmarkValidateSelection(b *testing.B) {
	names := make([]string, 60000)
	for i := range names {
		names[i] = fmt.Sprintf("Profile %05d", i)
	}
	s := &Service{maxEmails: 10000}
	req := Request{OrgID: "org", Role: "chat", Profiles: names}
	b.ReportAllocs()
	for b.Loop() {
		sel, err := s.validate(req)
		var ie *Error
		if len(sel.ProfileNames) != len(names) || (err != nil && !(errors.As(err, &ie) && ie.Code == CodeSelectionTooLong)) {
			b.Fatalf("validate: %d names, %v", len(sel.ProfileNames), err)
		}
	}
}
