package directory

import "fmt"

// SeatsInUseError refuses a seat limit below the seats an org already uses.
type SeatsInUseError struct {
	OrgID string
	// Limit is the refused limit; Seats the usage counted under the org's lock.
	Limit int
	Seats Seats
}

func (e *SeatsInUseError) Error() string {
	return fmt.Sprintf("org %s uses %s (%s, %s): the seat limit cannot go below that, asked %d",
		e.OrgID, Plural(e.Seats.Used(), "seat"), Plural(e.Seats.Active, "active member"), Plural(e.Seats.PendingInvites, "pending invite"), e.Limit)
}

// ParentCycleError refuses a parent that is the org itself or one of its clients.
type ParentCycleError struct {
	OrgID, ParentID string
}

func (e *ParentCycleError) Error() string {
	if e.OrgID == e.ParentID {
		return fmt.Sprintf("org %s cannot be its own parent", e.OrgID)
	}
	return fmt.Sprintf("org %s is a client of org %s (directly or through other clients), so it cannot be its parent", e.ParentID, e.OrgID)
}
