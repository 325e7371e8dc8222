package connections

import "time"

// Connected returns c marked as freshly connected at now with a grant whose access token
// expires at expiry (zero: unknown, Salesforce, whose first refresh then follows session,
// the org's session timeout, 0 when not known): healthy, every failure field cleared,
// refreshed and verified now, and its first refresh scheduled like any refresh's, so the
// sweep finds it due in time. Connect flows (Join, reconnect links) call it before
// writing the row; the tokens are theirs to seal.
func Connected(c Connection, expiry time.Time, session time.Duration, now time.Time, p Policy, jitter float64) Connection {
	now = now.UTC()
	c.PendingTokenEnc = nil
	c.LastVerifiedAt = now
	ch := Transition(c, Outcome{Op: OpRefresh, Expiry: expiry, SessionTimeout: session, Jitter: jitter}, now, p)
	return ch.Conn
}
