// Package events is tether's append-only audit log of what it did and why.
//
// Event is the record; Service prunes old events (the events:prune task). Appending goes
// through the store directly (store.AppendEvent), since every capability writes events.
package events
