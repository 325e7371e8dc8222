package worker

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/rs/zerolog"

	"tether/jobs"
	"tether/sync/connections"
	"tether/sync/directory"
)

// ConnectionUpkeep runs connection upkeep (a *connections.Upkeep).
type ConnectionUpkeep interface {
	RefreshThen(ctx context.Context, orgID, id string, force bool, then func(connections.Result, error)) (connections.Result, error)
	Verify(ctx context.Context, orgID, id string, force bool) (connections.Result, error)
	Sweep(ctx context.Context, now time.Time) (connections.SweepResult, error)
}

// registerConnections handles connections:refresh, connections:verify and
// connections:sweep. Handlers are thin: the outcome a provider gave is recorded on the
// connection by Upkeep (a failure is not a task failure: the row says what comes next and
// the sweep or the schedule acts on it); only what kept the outcome from being recorded
// is returned, and errors.go maps it (a Retry-After not yet passed snoozes the task).
func registerConnections(w *Worker, s Services) {
	// The result is logged and written (a trip to Redis) through then: a refresh does it
	// while its lock is released.
	then := func(ctx context.Context) func(connections.Result, error) {
		return func(res connections.Result, err error) {
			if err == nil {
				logResult(ctx, res)
			}
		}
	}
	verify := func(ctx context.Context, orgID, id string, force bool, then func(connections.Result, error)) (connections.Result, error) {
		res, err := s.Connections.Verify(ctx, orgID, id, force)
		then(res, err)
		return res, err
	}
	run := func(op string, fn func(ctx context.Context, orgID, id string, force bool, then func(connections.Result, error)) (connections.Result, error)) func(ctx context.Context, p jobs.ConnectionTask) error {
		return func(ctx context.Context, p jobs.ConnectionTask) error {
			_, err := fn(ctx, p.OrgID, p.ConnectionID, p.Force, then(ctx))
			if errors.Is(err, directory.ErrNotFound) {
				return connectionGone{fmt.Errorf("%s connection %s of org %s: %w", op, p.ConnectionID, p.OrgID, err)}
			}
			if err != nil {
				return fmt.Errorf("%s connection %s of org %s: %w", op, p.ConnectionID, p.OrgID, err)
			}
			return nil
		}
	}
	Handle(w, jobs.TypeConnectionRefresh, run(connections.OpRefresh, s.Connections.RefreshThen))
	Handle(w, jobs.TypeConnectionVerify, run(connections.OpVerify, verify))
	Handle(w, jobs.TypeConnectionsSweep, func(ctx context.Context, p jobs.ConnectionsSweep) error {
		res, err := s.Connections.Sweep(ctx, time.Now())
		zerolog.Ctx(ctx).Info().Int("due", res.Due).Int("refreshes", res.Refreshes).Int("verifies", res.Verifies).
			Int("not_queued", res.Failed).Time("oldest_due", res.OldestDue).Str("slot", p.Slot).Msg("connections swept")
		writeResult(ctx, fmt.Sprintf("due=%d refreshes=%d verifies=%d not_queued=%d", res.Due, res.Refreshes, res.Verifies, res.Failed))
		if err != nil {
			return fmt.Errorf("sweep connections for slot %s: %w", p.Slot, err)
		}
		return nil
	})
}

func logResult(ctx context.Context, res connections.Result) {
	c := res.Connection
	ev := zerolog.Ctx(ctx).Info().Str("op", res.Op).Str("connection", c.ID).Str("kind", string(c.Kind)).
		Str("state", string(c.State)).Bool("provider_called", res.Called)
	result := res.Op + " " + string(c.State)
	switch {
	case res.Skipped != "":
		ev = ev.Str("skipped", res.Skipped)
		result = res.Op + " skipped: " + res.Skipped
	case res.Failure != nil:
		ev = ev.Str("class", string(res.Failure.Class)).Str("code", res.Failure.Code).Str("sub_code", res.Failure.SubCode).
			Str("cause", string(c.FailureCause))
		result += " (" + string(res.Failure.Class) + ")"
	}
	if !c.NextRefreshAt.IsZero() {
		ev = ev.Time("next", c.NextRefreshAt)
	}
	if res.TimeZoneLearnt != "" {
		ev = ev.Str("member", c.MembershipID).Str("time_zone_learnt", res.TimeZoneLearnt)
		result += "; member's time zone " + res.TimeZoneLearnt
	}
	ev.Msg("connection upkeep")
	writeResult(ctx, result)
}

// connectionGone: the connection was deleted (a member deactivated, a reconnect replaced
// it) after its task was queued; the task is dropped.
type connectionGone struct{ error }

func (e connectionGone) Obsolete() bool { return true }
func (e connectionGone) Unwrap() error  { return e.error }
