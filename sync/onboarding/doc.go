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
// # Sending each attempt once
//
// Attempt N of an invite is sent only while the invite's sent count is below N, and is
// recorded after the mail server accepts it. Crash points:
//
//   - before the SMTP transaction completes: nothing was sent; the retry sends attempt N.
//   - after the server accepted the email, before the record commits: the retry sends
//     attempt N again. This window is unavoidable at an SMTP boundary (at-least-once): the
//     two emails carry the same Message-ID (derived from invite id and attempt), so a
//     receiver can drop the copy, but their links differ and only the second one works.
//   - after the record commits: the retry sees attempt N recorded and sends nothing.
//
// The same holds when two workers run one attempt at once (a lapsed lease): the one that
// records first wins and the other's record changes nothing.
//
// Nothing in this package imports Asynq, Redis or a provider SDK: it declares the small
// interfaces it needs (Store, Mailer, Enqueuer, Connector, Vault) and the wiring supplies
// them.
package onboarding
