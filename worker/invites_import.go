package worker

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"
	"github.com/rs/zerolog"
	"golang.org/x/sync/errgroup"

	"tether/jobs"
	"tether/sync/directory"
	"tether/sync/invites"
)

// ImportRunner runs an invite import (invites.Service).
type ImportRunner interface {
	Run(ctx context.Context, orgID, importID string) (directory.Import, error)
	// Fail marks the import failed with reason unless it already finished.
	Fail(ctx context.Context, orgID, importID, reason string) (directory.Import, error)
}

// ImportSummary is the JSON an import task writes as its result (Asynq ResultWriter):
// the import's status, counters, progress and errors.
type ImportSummary struct {
	ImportID string                   `json:"import_id"`
	Status   directory.ImportStatus   `json:"status"`
	DryRun   bool                     `json:"dry_run"`
	Counts   directory.ImportCounts   `json:"counts"`
	Progress directory.ImportProgress `json:"progress"`
	Errors   []string                 `json:"errors,omitempty"`
}

// SummaryOf returns imp's summary.
func SummaryOf(imp directory.Import) ImportSummary {
	return ImportSummary{ImportID: imp.ID, Status: imp.Status, DryRun: imp.DryRun, Counts: imp.Counts,
		Progress: imp.Progress, Errors: imp.Errors}
}

// registerInvitesImport handles invites:import and invites:import_emails. A request that
// cannot succeed (unknown profile, no team connection) is archived with its message; a
// pause for the API budget is retried after the pause without spending a retry (the
// invites errors carry Permanent and RetryAfter); anything else is retried and resumes
// from the import's checkpoint.
func registerInvitesImport(w *Worker, s Services) {
	if s.Imports == nil {
		return
	}
	run := func(ctx context.Context, p jobs.InvitesImport) error {
		imp, err := s.Imports.Run(ctx, p.OrgID, p.ImportID)
		if imp.ID != "" {
			b, _ := json.Marshal(SummaryOf(imp))
			writeResult(ctx, string(b))
		}
		if err != nil {
			return err
		}
		zerolog.Ctx(ctx).Info().Str("import_id", p.ImportID).Int("invited", imp.Counts.Invited).
			Int("found", imp.Counts.Found).Msg("invite import done")
		return nil
	}
	Handle(w, jobs.TypeInvitesImport, run)
	Handle(w, jobs.TypeInvitesImportEmails, run)
	for _, typ := range []string{jobs.TypeInvitesImport, jobs.TypeInvitesImportEmails} {
		Describe(w, typ, func(p jobs.InvitesImport) Subject { return importSubject(typ, p.OrgID, unixTime(p.Since)) })
		OnGiveUp(w, typ, func(ctx context.Context, p jobs.InvitesImport, reason error) error {
			_, err := s.Imports.Fail(ctx, p.OrgID, p.ImportID, explain(reason, importSubject(typ, p.OrgID, unixTime(p.Since))))
			return err
		})
	}
}

// importSubject is what an import's give-up sentence says. There is no verb resuming a
// failed import; a new one with the same selection counts those already invited as such.
func importSubject(typ, orgID string, since time.Time) Subject {
	verb := "import"
	if typ == jobs.TypeInvitesImportEmails {
		verb = "emails"
	}
	return Subject{What: "the import", OrgID: orgID, Since: since,
		Again: fmt.Sprintf("start the import again with `tether invite %s --org %s` and the same selection (whoever it already invited counts as already_invited)", verb, orgOr(orgID))}
}

// InviteSendQueue implements invites.Sender on Asynq: attempt 1 of each invite's
// invites:send task, whose TaskID makes a second enqueue of the same invite a no-op.
type InviteSendQueue struct {
	Client Enqueuer // required
	// Redis, if set (the Redis Asynq uses), queues a page's sends in one pipeline
	// instead of one round trip each (see enqueueBatch).
	Redis redis.UniversalClient
	// Concurrency bounds enqueues in flight without Redis (one round trip each). Zero
	// means 32.
	Concurrency int
}

var _ invites.Sender = InviteSendQueue{}

// QueueSends implements invites.Sender. A conflict (already queued, running or kept as
// completed) counts as success.
func (q InviteSendQueue) QueueSends(ctx context.Context, orgID string, ids []string) error {
	if q.Redis != nil {
		return q.queueBatch(ctx, orgID, ids)
	}
	n := q.Concurrency
	if n <= 0 {
		n = 32
	}
	g, ctx := errgroup.WithContext(ctx)
	g.SetLimit(n)
	for _, id := range ids {
		g.Go(func() error {
			t, err := jobs.NewInviteSendTask(orgID, id, 1)
			if err != nil {
				return err
			}
			if _, err := q.Client.EnqueueContext(ctx, t); err != nil && !errors.Is(err, asynq.ErrTaskIDConflict) {
				return fmt.Errorf("queue invitation of invite %s: %w", id, err)
			}
			return nil
		})
	}
	return g.Wait()
}

// sendBatch bounds one pipeline (about 300 bytes a task).
const sendBatch = 1000

func (q InviteSendQueue) queueBatch(ctx context.Context, orgID string, ids []string) error {
	specs := make([]jobs.Spec, 0, min(len(ids), sendBatch))
	for start := 0; start < len(ids); start += sendBatch {
		specs = specs[:0]
		for _, id := range ids[start:min(start+sendBatch, len(ids))] {
			s, err := jobs.InviteSendSpec(orgID, id, 1)
			if err != nil {
				return err
			}
			specs = append(specs, s)
		}
		// A TaskID that exists (already queued, running or kept) is left alone.
		if _, err := enqueueBatch(ctx, q.Redis, specs); err != nil {
			return fmt.Errorf("queue invitations of org %s: %w", orgID, err)
		}
	}
	return nil
}
