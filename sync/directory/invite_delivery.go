package directory

import "time"

// InviteDelivery records one invitation email that the mail server accepted, together
// with the Join-link token hash that email carries, so the two change in one step: the
// previous link keeps working until a newer email is known to be on its way.
type InviteDelivery struct {
	InviteID string
	// AttemptID names the send attempt; recording the same attempt twice counts once.
	AttemptID string
	// Resend counts the email as a resend too.
	Resend bool
	// TokenHash replaces the invite's token hash; ExpiresAt its expiry.
	TokenHash string
	ExpiresAt time.Time
	At        time.Time
}

// SendAttempt names one send attempt of an invite (attempt 1 is the first email).
type SendAttempt struct {
	OrgID    string
	InviteID string
	Attempt  int
}
