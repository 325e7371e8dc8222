package reminders

import (
	"strings"
	"testing"

	"tether/sync/directory"
)

// The all-set note does not say everything is connected while a connection only an admin
// can fix is still broken: it says nothing more is needed from the rep, and what remains.
func TestAllSetNoteNamesWhatOnlyAnAdminCanFix(t *testing.T) {
	org := directory.Org{Name: "Acme"}
	u := directory.User{Email: "rep@acme.example"}
	msg := repMessage(org, u, directory.Membership{}, Decision{Rep: KindAllSet, AdminReasons: []directory.ActionReason{adminSF}}, nil, nil)
	for _, body := range []string{msg.Text, msg.HTML} {
		if strings.Contains(body, "is connected now") || !strings.Contains(body, "Nothing more is needed from you") ||
			!strings.Contains(body, "only an admin can fix it: salesforce") {
			t.Errorf("all-set note with an admin problem left:\n%s", body)
		}
	}
	msg = repMessage(org, u, directory.Membership{}, Decision{Rep: KindAllSet}, nil, nil)
	if !strings.Contains(msg.Text, "Everything Acme needs from you is connected now") {
		t.Errorf("all-set note:\n%s", msg.Text)
	}
}
