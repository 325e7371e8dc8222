// Package reminders tells reps what to reconnect: throttled, batched into one digest,
// escalated to admins, stopped once fixed.
//
// types.go holds the reminder record as stored; persistence lives in tether/sync/store.
package reminders
