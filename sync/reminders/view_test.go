package reminders

import (
	"strings"
	"testing"

	"tether/sync/directory"
)

// The view says whether the admins were told of what only they can fix: an alert the
// policy still wants to send has not gone (an org with no active admin fails it on every
// retry, which only the worker's log showed), so "the admins are told" would be untrue.
func TestSummarizeAdminAlertNotSentYet(t *testing.T) {
	member := func(reasons ...directory.ActionReason) directory.Membership {
		return directory.Membership{ID: "m1", OrgID: "o1", Status: directory.MembershipActive, ActionRequired: reasons, ActionCheckedAt: t0}
	}
	told := Reminder{Channel: ChannelEmail, Kind: KindAdmin, Sequence: 1, Status: StatusSent, SentAt: t0, AdminKey: AdminKey([]directory.ActionReason{adminSF})}
	tests := []struct {
		name string
		m    directory.Membership
		sent []Reminder
		// want is in Why; not is not.
		want, not string
	}{
		{name: "admin-only, no alert sent", m: member(adminSF),
			want: "only an admin can fix it, and the admins are not told yet", not: "were told"},
		{name: "admin-only, alert sent", m: member(adminSF), sent: []Reminder{told},
			want: "only an admin can fix it: the admins were told", not: "not told yet"},
		{name: "rep and admin reasons, no alert sent", m: member(repCal, adminSF),
			want: "; the admins are not told yet of what only they can fix"},
		{name: "rep and admin reasons, alert sent", m: member(repCal, adminSF), sent: []Reminder{told},
			not: "not told yet"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := summarize(tt.m, Settings{}, MemberReminders{Sent: tt.sent}, t0)
			if tt.want != "" && !strings.Contains(s.Why, tt.want) {
				t.Errorf("why %q lacks %q", s.Why, tt.want)
			}
			if tt.not != "" && strings.Contains(s.Why, tt.not) {
				t.Errorf("why %q holds %q", s.Why, tt.not)
			}
			if strings.Contains(s.Why, "not told yet") && (!strings.Contains(s.Why, "tether members set o1 MEMBER --role admin") || !strings.Contains(s.Why, "makes the first one, which sends it at once")) {
				t.Errorf("why %q does not say how to add an admin", s.Why)
			}
		})
	}
}
