package worker

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/rs/zerolog"

	"tether/jobs"
)

// InviteExpirer marks lapsed pending invites expired (the store's ExpireInvites).
type InviteExpirer interface {
	ExpireInvites(ctx context.Context, before time.Time) (int64, error)
}

// registerInvitesExpire handles invites:expire: every pending invite whose expiry has
// passed (at the time the task runs, not its slot) becomes expired.
func registerInvitesExpire(w *Worker, s Services) {
	Handle(w, jobs.TypeInvitesExpire, func(ctx context.Context, p jobs.InvitesExpire) error {
		n, err := s.InviteExpiry.ExpireInvites(ctx, time.Now())
		if err != nil {
			return fmt.Errorf("expire invites for slot %s: %w", p.Slot, err)
		}
		zerolog.Ctx(ctx).Info().Int64("expired", n).Msg("lapsed invites expired")
		writeResult(ctx, "expired="+strconv.FormatInt(n, 10))
		return nil
	})
}
