package worker

import (
	"errors"
	"time"
)

// Services are the sync services tether's handlers call, declared as the small interfaces
// the handlers need. cmd/tether fills it with the real ones.
type Services struct {
	Events EventsPruner
	// EventRetention is the age past which events:prune deletes audit events.
	EventRetention time.Duration
	// Invites sends invitation emails (invites:send); nil leaves the task unregistered.
	Invites InviteSender
	// Imports runs invite imports (invites:import, invites:import_emails); nil leaves them
	// unregistered.
	Imports ImportRunner
	// Permissions runs permission audits; a nil Auditor leaves them unregistered.
	Permissions PermissionAudits
	// InviteExpiry runs invites:expire (the store); nil leaves it unregistered.
	InviteExpiry InviteExpirer
}

// Validate reports a missing service.
func (s Services) Validate() error {
	var errs []error
	if s.Events == nil {
		errs = append(errs, errors.New("worker: Services.Events is required"))
	}
	if s.EventRetention <= 0 {
		errs = append(errs, errors.New("worker: Services.EventRetention must be positive"))
	}
	return errors.Join(errs...)
}

// Register registers every tether task handler on w: one line per task family, each
// defined in its own file.
func Register(w *Worker, s Services) error {
	if err := s.Validate(); err != nil {
		return err
	}
	registerEvents(w, s)
	registerInvitesSend(w, s)
	registerInvitesImport(w, s)
	registerPermissions(w, s)
	registerInvitesExpire(w, s)
	return nil
}
