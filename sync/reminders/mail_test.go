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

// TestDigestMessageAgrees: the digest's count words agree with their numbers.
func TestDigestMessageAgrees(t *testing.T) {
	org := directory.Org{ID: "org1", Name: "Acme"}
	rep := func(email string) directory.Member {
		return directory.Member{Email: email, Membership: directory.Membership{Role: directory.RoleChat,
			ActionRequired: []directory.ActionReason{{Message: "connect Salesforce"}}}}
	}
	one := digestMessage(org, []directory.Member{rep("a@acme.example")}, 1)
	if one.Subject != "1 rep in Acme still needs to reconnect" || !strings.HasPrefix(one.Text, "1 rep in Acme still needs action after 1 reminder or more:") {
		t.Errorf("one rep:\n%s\n%s", one.Subject, one.Text)
	}
	two := digestMessage(org, []directory.Member{rep("a@acme.example"), rep("b@acme.example")}, 3)
	if two.Subject != "2 reps in Acme still need to reconnect" || !strings.HasPrefix(two.Text, "2 reps in Acme still need action after 3 reminders or more:") ||
		!strings.Contains(two.HTML, "<p>2 reps in Acme still need action after 3 reminders or more:</p>") {
		t.Errorf("two reps:\n%s\n%s\n%s", two.Subject, two.Text, two.HTML)
	}
}
