package directory

// ImportInviteCounts counts one import's invites by status.
type ImportInviteCounts struct {
	Pending  int
	Accepted int
	Revoked  int
	Expired  int
	// EmailsDue counts the pending invites whose invitation email has not left and is
	// still to go: never attempted, or a resend asked for and not settled, not failed
	// for good, not lapsed, and no attempt in flight (that one may already be out).
	EmailsDue int
}

// RevokedPage is what one page of a bulk revoke did: Revoked invites became revoked,
// EmailsStopped of them had their invitation email still due (see
// ImportInviteCounts.EmailsDue); their send tasks then find them revoked and send nothing.
type RevokedPage struct {
	Revoked       int
	EmailsStopped int
}
