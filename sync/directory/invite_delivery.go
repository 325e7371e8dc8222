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

// InviteAttempt is a send attempt about to be made: recorded as attempting before the
// email leaves, with the link that email carries.
type InviteAttempt struct {
	InviteID string
	Attempt  int
	// TokenHash and ExpiresAt are the link the attempt's email carries.
	TokenHash string
	ExpiresAt time.Time
	At        time.Time
}

// AttemptStatus is the recorded outcome of one send attempt.
type AttemptStatus string

// Attempt statuses. An attempting record whose run ended without a verdict (a worker
// killed after the mail server may have accepted the email) becomes unknown, never sent
// again: invitation emails are sent at most once per attempt.
const (
	AttemptAttempting AttemptStatus = "attempting"
	AttemptSent       AttemptStatus = "sent"
	AttemptUnknown    AttemptStatus = "unknown"
)

// Delivery is where an invite's invitation email is, as operators see it.
type Delivery string

// Deliveries: unsent (queued or never attempted), sent (accepted by the mail server),
// failed (refused for good or retries spent), unknown (the worker died after the mail
// server may have accepted it; resend by hand if the person did not get it).
const (
	DeliveryUnsent  Delivery = "unsent"
	DeliverySent    Delivery = "sent"
	DeliveryFailed  Delivery = "failed"
	DeliveryUnknown Delivery = "unknown"
)

// Deliveries lists every Delivery, for validation and help texts.
var Deliveries = []Delivery{DeliveryUnsent, DeliverySent, DeliveryFailed, DeliveryUnknown}

// Delivery says where the invite's latest invitation email is.
func (i Invite) Delivery() Delivery {
	switch {
	case !i.SendFailedAt.IsZero():
		return DeliveryFailed
	case !i.SendUnknownAt.IsZero():
		return DeliveryUnknown
	case i.SentCount > 0:
		return DeliverySent
	}
	return DeliveryUnsent
}

// DeliveryCounts counts an import's invites by Delivery.
type DeliveryCounts struct {
	Unsent  int `json:"unsent"`
	Sent    int `json:"sent"`
	Failed  int `json:"failed"`
	Unknown int `json:"unknown"`
}
