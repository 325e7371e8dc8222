package jobs

import (
	"errors"
	"time"

	"github.com/hibiken/asynq"
)

// TypeAuditPermissions audits one org's team-level Salesforce user (sync/permissions).
const TypeAuditPermissions = "salesforce:audit_permissions"

// TypeAuditPermissionsSweep enqueues TypeAuditPermissions for every org with a team
// connection; the scheduler enqueues it once per slot (daily by default).
const TypeAuditPermissionsSweep = "salesforce:audit_permissions_sweep"

// AuditPermissions is the payload of TypeAuditPermissions: the org id, and for a
// scheduled run the UTC day it belongs to.
type AuditPermissions struct {
	OrgID string `json:"org_id"`
	// Day is "YYYYMMDD" for the daily run, empty for an on-demand one.
	Day string `json:"day,omitempty"`
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

// AuditPermissionsRetention keeps a finished daily audit's TaskID, refusing a second
// enqueue for the same org and day from another scheduler replica or a sweep re-run.
const AuditPermissionsRetention = 48 * time.Hour

// AuditPermissionsUnique is how long an on-demand audit of an org refuses a duplicate
// while it is queued or running. Asynq releases the lock when the task succeeds, so a
// re-run after completion is accepted at once.
const AuditPermissionsUnique = 10 * time.Minute

// TaskIDAuditPermissions is the daily run's TaskID: "salesforce:audit_permissions:<org>:<day>".
func TaskIDAuditPermissions(orgID string, day time.Time) string {
	return TypeAuditPermissions + ":" + orgID + ":" + day.UTC().Format("20060102")
}

// NewAuditPermissionsTask returns an on-demand audit of orgID: default queue, Unique for
// AuditPermissionsUnique, 5 retries, 2-minute timeout. A duplicate while one is pending
// fails with asynq.ErrDuplicateTask.
func NewAuditPermissionsTask(orgID string) (*asynq.Task, error) {
	b, err := encode(AuditPermissions{OrgID: orgID})
	if err != nil {
		return nil, err
	}
	return asynq.NewTask(TypeAuditPermissions, b,
		asynq.Queue(QueueDefault),
		asynq.Unique(AuditPermissionsUnique),
		asynq.Retention(time.Hour), // so --wait can read the task's state and result
		asynq.MaxRetry(5),
		asynq.Timeout(2*time.Minute),
	), nil
}

// NewDailyAuditPermissionsTask returns the scheduled audit of orgID for day: default
// queue, TaskID TaskIDAuditPermissions kept for AuditPermissionsRetention, 5 retries,
// 2-minute timeout. Enqueuing the same org and day twice fails with
// asynq.ErrTaskIDConflict.
func NewDailyAuditPermissionsTask(orgID string, day time.Time) (*asynq.Task, error) {
	b, err := encode(AuditPermissions{OrgID: orgID, Day: day.UTC().Format("20060102")})
	if err != nil {
		return nil, err
	}
	return asynq.NewTask(TypeAuditPermissions, b,
		asynq.Queue(QueueDefault),
		asynq.TaskID(TaskIDAuditPermissions(orgID, day)),
		asynq.Retention(AuditPermissionsRetention),
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
