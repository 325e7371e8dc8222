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
	Reasons []string
	Channel Channel
	// Sequence numbers a membership's messages 1, 2, 3, ... across streaks and kinds;
	// (membership, channel, sequence) is the idempotency key of a send.
	Sequence int
	// SentAt is when the send was attempted (then confirmed, when Status is sent).
	SentAt time.Time
	// Kind is a reminder, the all-set note or an admin alert; empty is stored as reminder.
	Kind Kind
	// Status is attempting (written before the send), sent (the server accepted it) or
	// unconfirmed (a crash or a lost answer left the outcome unknown: never re-sent).
	Status Status
	// MessageID is the email's Message-ID; empty for Slack (see SlackTS).
	MessageID string
	// SlackChannel and SlackTS locate a sent Slack message: the DM channel and the
	// message's ts (its id in Slack). Empty for email, and until the message is sent.
	SlackChannel, SlackTS string
	// LinksAt is when the message's connect links were issued (zero: it has none, or it
	// predates migration 00015). The links' ids derive from (membership, sequence, kind),
	// so a retried Slack twin issued at LinksAt carries the very links of its email.
	LinksAt time.Time
	// AdminKey identifies the admin-only problems of a KindAdmin message.
	AdminKey string
	// Recipients are the addresses the message went to.
	Recipients []string
}

// Status is where a send is.
type Status string

// Statuses of a send.
const (
	StatusAttempting  Status = "attempting"
	StatusSent        Status = "sent"
	StatusUnconfirmed Status = "unconfirmed"
)

// MemberReminders is what the policy needs of one membership, read for a page of them at
// once: the rep's own time zone ("" when unknown), every message, newest first, and the
// reminder queued for it.
type MemberReminders struct {
	TimeZone string
	Sent     []Reminder
	Queued   Queued
	// SlackFailure is the member's last failed Slack message; zero when none failed.
	SlackFailure SlackFailure
}

// SlackFailure is a Slack message that failed and was left to the task's retry: Reason is
// Slack's own error word (channel_not_found, not_in_channel, ratelimited, an HTTP status),
// so the admin can look it up in Slack's documentation.
type SlackFailure struct {
	Reason string
	At     time.Time
}

// Queued is the reminder a notify queued for a membership: its sequence and when the
// task runs. The zero value means none is recorded.
type Queued struct {
	Sequence int
	At       time.Time
	// Noticed is when the break behind a first reminder was seen (its time is that plus
	// the grace, out of quiet hours); zero for a later reminder or when unknown.
	Noticed time.Time
}

// QueuedReminder is an active membership's queued reminder, as the reconciler reads it to
// give a task Redis lost back.
type QueuedReminder struct {
	OrgID, MembershipID string
	Queued
}
