// Package vault keeps OAuth tokens sealed at rest.
//
// A Keyring holds AES-256-GCM keys under short ids; the first key of the ring
// seals, every key opens. A sealed value names its key, so retiring a key is:
// put a new key first, keep the old one until Keyring.NeedsReseal reports no
// row left under it, then drop it. The id of the row a token belongs to is
// bound as associated data, so a ciphertext copied into another row does not
// open.
//
// Token is the in-memory form of a secret: its String, Format, JSON and text
// forms are redacted, so a token that reaches a log line or an error message
// shows as "[redacted]". Reveal is the one way to the value.
package vault
