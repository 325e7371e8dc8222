package worker

import (
	"context"
	"errors"
	"fmt"

	"github.com/hibiken/asynq"

	"tether/jobs"
	"tether/sync/directory"
	"tether/sync/invites"
)

// ImportTasks queues import tasks for invites.Service.Start (invites.Tasks); the one
// producer of imports is invites.Service.
type ImportTasks struct{ Client Enqueuer }

var _ invites.Tasks = ImportTasks{}

// QueueImport queues imp's task (invites:import, or invites:import_emails for an email
// list) under its TaskID; one already queued counts as queued.
func (q ImportTasks) QueueImport(ctx context.Context, imp directory.Import) error {
	newTask := jobs.NewImportTask
	if len(imp.Selection.Emails) > 0 {
		newTask = jobs.NewImportEmailsTask
	}
	t, err := newTask(imp.OrgID, imp.ID, imp.CreatedAt)
	if err != nil {
		return err
	}
	if _, err := enqueueBounded(ctx, q.Client, t); err != nil && !errors.Is(err, asynq.ErrTaskIDConflict) {
		return fmt.Errorf("queue import %s of org %s: %w", imp.ID, imp.OrgID, err)
	}
	return nil
}
