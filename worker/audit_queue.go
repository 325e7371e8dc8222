package worker

import (
	"context"
	"errors"
	"fmt"

	"github.com/hibiken/asynq"

	"tether/jobs"
)

// AuditQueue is the one producer of on-demand permission audits: the CLI
// (permissions check), the HTTP API (POST /v1/orgs/{org}/permission-audits), the
// connect flow and the demo all queue through it.
type AuditQueue struct{ Client Enqueuer }

// Queue queues an audit of orgID. An audit already queued or running for the org is
// refused with an error wrapping asynq.ErrDuplicateTask (its report will answer).
func (q AuditQueue) Queue(ctx context.Context, orgID string) (*asynq.TaskInfo, error) {
	t, err := jobs.NewAuditPermissionsTask(orgID)
	if err != nil {
		return nil, err
	}
	info, err := q.Client.EnqueueContext(ctx, t)
	if err != nil {
		return nil, fmt.Errorf("queue permission audit of org %s: %w", orgID, err)
	}
	return info, nil
}

// QueueAudit queues an audit unless one is already pending, which is enough (the
// connect flow's audit after a team connect).
func (q AuditQueue) QueueAudit(ctx context.Context, orgID string) error {
	_, err := q.Queue(ctx, orgID)
	if errors.Is(err, asynq.ErrDuplicateTask) {
		return nil
	}
	return err
}
