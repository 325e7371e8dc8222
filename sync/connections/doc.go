// Package connections keeps OAuth connections alive: the token vault, refresh, verify, the
// health state machine and the action-required flags.
//
// types.go holds the connection record as tether stores it (tokens encrypted, a version for
// compare-and-swap) and the Salesforce API usage record; persistence lives in
// tether/sync/store.
package connections
