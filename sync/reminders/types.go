package reminders

import "time"

// Channel is how a reminder is delivered.
type Channel string

// Channels.
const (
	ChannelEmail Channel = "email"
	ChannelSlack Channel = "slack"
)

// Reminder is one reminder sent to a membership. (MembershipID, Channel, Sequence) is
// unique, so a re-run of the same send records nothing twice.
type Reminder struct {
	ID           string
	OrgID        string
	MembershipID string
	// Reasons are the action-required reasons the reminder was about.
	Reasons  []string
	Channel  Channel
	Sequence int // 1 for the first reminder of a streak, then 2, 3, ...
	SentAt   time.Time
}
