package worker

import (
	"context"
	"errors"
	"fmt"

	"github.com/hibiken/asynq"

	"tether/jobs"
	"tether/sync/permissions"
)

// AuditTasks queues the task of a permission audit run (permissions.AuditTasks); the one
// producer of audits is permissions.Requests.
type AuditTasks struct{ Client Enqueuer }

var _ permissions.AuditTasks = AuditTasks{}

// QueueAuditTask queues run's task under its TaskID; one already queued, running or just
// done counts as queued.
func (q AuditTasks) QueueAuditTask(ctx context.Context, run permissions.AuditRun) error {
	t, err := jobs.NewAuditPermissionsTask(run.OrgID, run.ID, run.Day, run.CreatedAt)
	if err != nil {
		return err
	}
	if _, err := enqueueBounded(ctx, q.Client, t); err != nil && !errors.Is(err, asynq.ErrTaskIDConflict) {
		return fmt.Errorf("queue permission audit %s of org %s: %w", run.ID, run.OrgID, err)
	}
	return nil
}
