// Package onboarding delivers invitations and lets invited people join.
//
// Sender emails one invitation (one attempt of one invite) with a Join link
// PUBLIC_URL/join/{token}; Resend queues a new attempt. Joiner accepts a Join link (the
// membership becomes active, the user is created if new) and, for an invite that came from
// Salesforce, runs the Salesforce OAuth connect and links the person's own Salesforce
// connection, refusing an account whose user id is not the invited one.
//
// # Join tokens
//
// A token is 32 bytes from the random source, base64url in the link. The store keeps only
// its SHA-256 hash, so the token exists nowhere but in the email. The send task therefore
// makes a new token each time it builds an email, and the hash replaces the stored one in
// the same transaction that records the attempt as sent (Store.RecordInviteDelivery): the
// previous link keeps working until a newer email is known to be on its way, then stops.
//
// # Sending each attempt at most once
//
// Attempt N of an invite is sent only while the invite's last settled attempt is below N.
// Before the email is handed to the mail server, the attempt is recorded attempting
// (Store.BeginInviteAttempt), with the hash of the link it carries. Crash points:
//
//   - before that record: nothing was sent; the retry sends attempt N.
//   - after the record, with a failure that certainly sent nothing (the Mailer's error
//     does not wrap delivery.ErrMaybeSent: refused, no connection, the body not complete): the
//     record is deleted and the retry sends attempt N.
//   - after the record, with the server's verdict unknown (an error wrapping
//     delivery.ErrMaybeSent) or the process killed before the delivery is recorded: the run that
//     finds the record attempting (the retry, a second worker, or the reconciler after
//     StaleAttempt) settles it unknown and sends nothing. The invite's delivery shows
//     unknown until an operator resends; an invite never emailed before takes the
//     attempt's link, so the email works if it arrived.
//   - after the delivery is recorded: the retry sees attempt N settled and sends nothing.
//
// Two workers running one attempt at once (a lapsed lease): the second finds the record
// and settles it unknown; if the first then records the delivery, sent wins.
//
// Nothing in this package imports Asynq, Redis or a provider SDK: it declares the small
// interfaces it needs (Store, Mailer, Enqueuer, Connector, Vault) and the wiring supplies
// them.
package onboarding
