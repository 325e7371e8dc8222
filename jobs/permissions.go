package jobs

import (
	"errors"
	"fmt"
	"time"

	"github.com/hibiken/asynq"
)

// TypeAuditPermissions audits one org's team-level Salesforce user (sync/permissions).
const TypeAuditPermissions = "salesforce:audit_permissions"

// TypeAuditPermissionsSweep enqueues TypeAuditPermissions for every org with a team
// connection; the scheduler enqueues it once per slot (daily by default).
const TypeAuditPermissionsSweep = "salesforce:audit_permissions_sweep"

// AuditPermissions is the payload of TypeAuditPermissions: the org id and the audit run
// (a row in the store) the task carries out.
type AuditPermissions struct {
	OrgID string `json:"org_id"`
	// AuditID is the run's id; empty only in tasks queued before audits had rows.
	AuditID string `json:"audit_id,omitempty"`
	// Day is "YYYYMMDD" for the daily run, empty for an on-demand one (for logs).
	Day string `json:"day,omitempty"`
	// Since is when the run was created, Unix seconds (0 in tasks queued before it was
	// added): a give-up says how long the retries ran, counted from it.
	Since int64 `json:"since,omitempty"`
}

// Validate reports a missing org id or a malformed day.
func (p AuditPermissions) Validate() error {
	if p.OrgID == "" {
		return errors.New("org_id is required")
	}
	if p.Day != "" {
		if _, err := time.Parse("20060102", p.Day); err != nil {
			return errors.New("day must be YYYYMMDD")
		}
	}
	return nil
}

// AuditPermissionsRetention keeps a finished sweep's TaskID, refusing a second enqueue of
// the same slot from another scheduler replica.
const AuditPermissionsRetention = 48 * time.Hour

// TaskIDAuditPermissions is the TaskID of audit run auditID of orgID:
// "salesforce:audit_permissions:<org>:<audit>". One task per run, so the producer, a
// second request joining a pending run and the reconciler never queue it twice.
func TaskIDAuditPermissions(orgID, auditID string) string {
	return TypeAuditPermissions + ":" + orgID + ":" + auditID
}

// NewAuditPermissionsTask returns the task of audit run auditID of orgID (day is the
// daily run's "YYYYMMDD", or empty): default queue, TaskID TaskIDAuditPermissions kept an
// hour, 5 retries, 2-minute timeout. Enqueuing it twice fails with
// asynq.ErrTaskIDConflict. since is the run's creation time.
func NewAuditPermissionsTask(orgID, auditID, day string, since time.Time) (*asynq.Task, error) {
	if auditID == "" {
		return nil, fmt.Errorf("audit of org %s: audit id is required: %w", orgID, ErrInvalidPayload)
	}
	b, err := encode(AuditPermissions{OrgID: orgID, AuditID: auditID, Day: day, Since: unixOrZero(since)})
	if err != nil {
		return nil, err
	}
	return asynq.NewTask(TypeAuditPermissions, b,
		asynq.Queue(QueueDefault),
		asynq.TaskID(TaskIDAuditPermissions(orgID, auditID)),
		asynq.Retention(time.Hour),
		asynq.MaxRetry(5),
		asynq.Timeout(2*time.Minute),
	), nil
}

// AuditPermissionsSweep is the payload of TypeAuditPermissionsSweep.
type AuditPermissionsSweep struct {
	Slot string `json:"slot"` // FormatSlot of the scheduled time
}

// Validate reports a missing or malformed slot.
func (p AuditPermissionsSweep) Validate() error {
	if p.Slot == "" {
		return errors.New("slot is required")
	}
	_, err := parseSlot(p.Slot)
	return err
}

// NewAuditPermissionsSweepTask returns the sweep for slot: low queue, TaskID
// "salesforce:audit_permissions_sweep:<slot>" kept for AuditPermissionsRetention, 5
// retries, 10-minute timeout.
func NewAuditPermissionsSweepTask(slot time.Time) (*asynq.Task, error) {
	p := AuditPermissionsSweep{Slot: FormatSlot(slot)}
	b, err := encode(p)
	if err != nil {
		return nil, err
	}
	return asynq.NewTask(TypeAuditPermissionsSweep, b,
		asynq.Queue(QueueLow),
		asynq.TaskID(TypeAuditPermissionsSweep+":"+p.Slot),
		asynq.Retention(AuditPermissionsRetention),
		asynq.MaxRetry(5),
		asynq.Timeout(10*time.Minute),
	), nil
}

// SlotTime parses a slot written by FormatSlot.
func SlotTime(slot string) (time.Time, error) { return parseSlot(slot) }
