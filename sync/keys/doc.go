// Package keys retires encryption keys: Status counts the sealed values per key id, and
// Reseal seals every value that is not under the key ring's primary (first) key again
// with it, so an operator can drop an old key once its count is zero.
//
// Both walk every table with sealed columns (Table: the connections' tokens, the orgs'
// Slack tokens), then the pending token sets parked in the Redis stash (Stash), each
// value opened with the associated data its owner sealed it with.
//
// Reseal walks the sealed rows in id order, in batches. Each row is replaced only if its
// sealed columns are still those it read (a compare-and-swap on the ciphertexts that
// leaves the row's version alone, so a refresh running at the same time is neither
// blocked nor broken; a row a refresh rewrote meanwhile is already under the primary
// key). Re-running it is safe and resumes the work: rows already under the primary key
// are skipped. Nothing here imports the store: it declares the Store it needs.
package keys
