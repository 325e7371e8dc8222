package worker

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"tether/jobs"
)

// Services are the sync services tether's handlers call, declared as the small interfaces
// the handlers need. cmd/tether fills it with the real ones. Every field is required:
// the worker handles every task type of the catalogue (jobs.Types), or it does not start.
type Services struct {
	Events EventsPruner
	// EventRetention is the age past which events:prune deletes audit events.
	EventRetention time.Duration
	// Invites sends invitation emails (invites:send).
	Invites InviteSender
	// Imports runs invite imports (invites:import, invites:import_emails).
	Imports ImportRunner
	// Permissions runs permission audits and their daily sweep.
	Permissions PermissionAudits
	// InviteExpiry runs invites:expire (the store).
	InviteExpiry InviteExpirer
	// Reconciler runs tasks:reconcile.
	Reconciler Reconciling
	// Connections runs connections:refresh, connections:verify and connections:sweep.
	Connections ConnectionUpkeep
	// Deactivator runs members:deactivate.
	Deactivator Deactivating
	// Reminders runs reminders:notify and reminders:digest.
	Reminders ReminderSender
}

// Reconciling runs one reconciliation (a *Reconciler).
type Reconciling interface {
	Reconcile(ctx context.Context) (ReconcileResult, error)
}

// Validate names each missing service.
func (s Services) Validate() error {
	var errs []error
	missing := func(name, types string) {
		errs = append(errs, fmt.Errorf("worker: Services.%s is required (it runs %s)", name, types))
	}
	if s.Events == nil {
		missing("Events", jobs.TypeEventsPrune)
	}
	if s.EventRetention <= 0 {
		errs = append(errs, errors.New("worker: Services.EventRetention must be positive"))
	}
	if s.Invites == nil {
		missing("Invites", jobs.TypeInvitesSend)
	}
	if s.Imports == nil {
		missing("Imports", jobs.TypeInvitesImport+" and "+jobs.TypeInvitesImportEmails)
	}
	if s.Permissions.Auditor == nil {
		missing("Permissions.Auditor", jobs.TypeAuditPermissions)
	}
	if s.Permissions.Orgs == nil || s.Permissions.Daily == nil {
		missing("Permissions.Orgs and .Daily", jobs.TypeAuditPermissionsSweep)
	}
	if s.InviteExpiry == nil {
		missing("InviteExpiry", jobs.TypeInvitesExpire)
	}
	if s.Reconciler == nil {
		missing("Reconciler", jobs.TypeReconcile)
	}
	if s.Connections == nil {
		missing("Connections", jobs.TypeConnectionRefresh+", "+jobs.TypeConnectionVerify+" and "+jobs.TypeConnectionsSweep)
	}
	if s.Deactivator == nil {
		missing("Deactivator", jobs.TypeMembersDeactivate)
	}
	if s.Reminders == nil {
		missing("Reminders", jobs.TypeRemindersNotify+" and "+jobs.TypeRemindersDigest)
	}
	return errors.Join(errs...)
}

// Register registers every tether task handler on w, one line per task family, each
// defined in its own file. It returns an error naming what is missing when a service is
// nil or a catalogue type would be left without a handler: a task of that type would
// otherwise be archived as "no handler" while the row it belongs to says it is on its way.
func Register(w *Worker, s Services) error {
	if err := s.Validate(); err != nil {
		return err
	}
	registerEvents(w, s)
	registerInvitesSend(w, s)
	registerInvitesImport(w, s)
	registerPermissions(w, s)
	registerInvitesExpire(w, s)
	registerReconcile(w, s)
	registerConnections(w, s)
	registerMembers(w, s)
	registerReminders(w, s)
	have := w.Types()
	var errs []error
	for _, typ := range jobs.Types() {
		if !slices.Contains(have, typ) {
			errs = append(errs, fmt.Errorf("worker: no handler for task type %s of the catalogue", typ))
		}
	}
	return errors.Join(errs...)
}
