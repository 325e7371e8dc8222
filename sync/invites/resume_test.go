package invites_test

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"tether/connectors/sandbox/sfdc"
	"tether/sync/directory"
	"tether/sync/invites"
	"tether/sync/store"
	"tether/sync/store/storetest"
)

func manyUsers(n int, p string) []sfdc.UserSpec {
	us := make([]sfdc.UserSpec, n)
	for i := range us {
		name := fmt.Sprintf("u%04d", i)
		us[i] = user(name, name+"@acme.com", p)
	}
	return us
}

// Past the budget share the import pauses after the page in hand (status paused, a
// retry-after delay, not a failure) and the next run resumes from the checkpoint.
func TestImportPausesOnAPIBudgetAndResumes(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, st *store.Store) {
		snd := &recSender{}
		b := setup(t, st, opts{users: manyUsers(500, sfdc.ProfileSalesUser), batch: 200, share: 0.8, sender: snd})
		// Another integration eats the budget while the first page is being written; the
		// second page's response reports it, so the import pauses after that page.
		snd.onQueue = func(call int) {
			if call == 1 {
				_, max := b.sb.Salesforce().Usage(b.sfOrg)
				if err := b.sb.Salesforce().SetUsage(b.sfOrg, max*85/100); err != nil {
					t.Error(err)
				}
			}
		}
		imp := b.create(invites.Request{Profiles: []string{sfdc.ProfileSalesUser}})
		got, err := b.svc.Run(b.ctx, b.org.ID, imp.ID)
		var pe *invites.PausedError
		if !errors.As(err, &pe) || pe.RetryAfter() != 10*time.Minute {
			t.Fatalf("run: %v, want a pause of 10m", err)
		}
		if got.Status != directory.ImportPaused || got.PausedReason == "" || got.Progress.Done != 400 {
			t.Fatalf("paused import: %s %q progress %+v", got.Status, got.PausedReason, got.Progress)
		}
		stored, _ := st.GetImport(b.ctx, b.org.ID, imp.ID)
		if stored.Status != directory.ImportPaused || stored.PausedUntil.IsZero() {
			t.Errorf("stored %s until %v", stored.Status, stored.PausedUntil)
		}
		calls := b.queries.Load()

		if err := b.sb.Salesforce().ResetUsage(b.sfOrg); err != nil {
			t.Fatal(err)
		}
		done, err := b.svc.Run(b.ctx, b.org.ID, imp.ID)
		if err != nil {
			t.Fatal(err)
		}
		if done.Status != directory.ImportDone || done.Counts.Invited != 500 || done.Counts.Found != 500 || done.Progress.Done != 500 {
			t.Errorf("resumed: %s %+v %+v", done.Status, done.Counts, done.Progress)
		}
		if n := len(b.pendingInvites(b.org)); n != 500 || len(b.sender.distinct()) != 500 {
			t.Errorf("%d invites, %d sends", n, len(b.sender.distinct()))
		}
		// Resuming from the checkpoint re-reads nothing written: 3 pages of 200 in all, +1
		// name resolution per run, +1 for the page prefetched while the last page before
		// the pause was written (dropped by the pause, read again by the resume).
		if total := b.queries.Load(); total > 3+2+1 {
			t.Errorf("%d query calls (%d before the pause), want at most 6", total, calls)
		}
	})
}

// A run that stops after a page committed but before its sends were queued (the worker
// died) is resumed by the next run: no duplicate invite, every invite queued.
func TestRerunAfterFailureDuplicatesNothing(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, st *store.Store) {
		b := setup(t, st, opts{users: manyUsers(450, sfdc.ProfileSalesUser), batch: 200, sender: &recSender{fail: 2}})
		imp := b.create(invites.Request{Profiles: []string{sfdc.ProfileSalesUser}})
		if _, err := b.svc.Run(b.ctx, b.org.ID, imp.ID); !errors.Is(err, errTransient) {
			t.Fatalf("first run: %v", err)
		}
		mid, _ := st.GetImport(b.ctx, b.org.ID, imp.ID)
		if mid.Status != directory.ImportRunning || mid.Progress.Done != 400 {
			t.Fatalf("after the failure: %s %+v", mid.Status, mid.Progress)
		}
		done, err := b.svc.Run(b.ctx, b.org.ID, imp.ID)
		if err != nil {
			t.Fatal(err)
		}
		if done.Counts.Invited != 450 || done.Counts.AlreadyInvited != 0 || done.Counts.Found != 450 {
			t.Errorf("counts %+v", done.Counts)
		}
		if n := len(b.pendingInvites(b.org)); n != 450 {
			t.Errorf("%d invites", n)
		}
		if n := len(b.sender.distinct()); n != 450 {
			t.Errorf("%d distinct invites queued, want 450", n)
		}
		// A finished import is a no-op when its task runs again.
		again, err := b.svc.Run(b.ctx, b.org.ID, imp.ID)
		if err != nil || again.Counts != done.Counts || len(b.sender.distinct()) != 450 {
			t.Errorf("re-run of a finished import: %v %+v", err, again.Counts)
		}
	})
}
