package invites_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"tether/connectors/sandbox/sfdc"
	"tether/sync/directory"
	"tether/sync/invites"
	"tether/sync/store"
	"tether/sync/store/storetest"
)

// A run that stops after two pages and resumes still knows the emails of those pages: a
// duplicate on page 3 of an email from page 1 counts duplicate_in_import, as it does
// without the interruption, not already_invited. Every row not invited is listed.
func TestResumedImportCountsDuplicatesWithinImport(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, st *store.Store) {
		users := manyUsers(450, sfdc.ProfileSalesUser)
		users[430].Email = users[5].Email // page 3 repeats page 1
		users[431].Email = "not-an-email"
		b := setup(t, st, opts{users: users, batch: 200, sender: &recSender{fail: 2}})
		imp := b.create(invites.Request{Profiles: []string{sfdc.ProfileSalesUser}})
		if _, err := b.svc.Run(b.ctx, b.org.ID, imp.ID); !errors.Is(err, errTransient) {
			t.Fatalf("first run: %v", err)
		}
		done, err := b.svc.Run(b.ctx, b.org.ID, imp.ID)
		if err != nil {
			t.Fatal(err)
		}
		c := done.Counts
		if c.Invited != 448 || c.DuplicateInImport != 1 || c.AlreadyInvited != 0 || c.SkippedInvalidEmail != 1 {
			t.Fatalf("resumed counts %+v; want 448 invited, 1 duplicate, 0 already invited, 1 invalid", c)
		}
		rows, err := st.ListSkipped(b.ctx, b.org.ID, imp.ID, -1, 0)
		if err != nil {
			t.Fatal(err)
		}
		if len(rows) != 2 || rows[0].Reason != "duplicate_in_import" || rows[0].Email != users[5].Email ||
			rows[1].Reason != "skipped_invalid_email" || rows[1].Email != "not-an-email" || rows[0].SalesforceUserID == "" {
			t.Fatalf("skipped rows %+v", rows)
		}
	})
}

// An invite past its expiry that no sweep has marked yet holds neither a seat nor the
// email's slot: a new import invites the person again (and sends the email), and the old
// invite ends expired.
func TestImportTreatsLapsedInviteAsAbsent(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, st *store.Store) {
		b := setup(t, st, opts{users: []sfdc.UserSpec{user("ann", "ann@acme.com", sfdc.ProfileSalesUser)}, seats: 1})
		old, err := st.CreateInvite(b.ctx, b.org.ID, directory.Invite{Email: "ann@acme.com", Role: directory.RoleChat,
			TokenHash: "old-ann", ExpiresAt: time.Now().Add(-time.Minute)})
		if err != nil {
			t.Fatal(err)
		}
		got := b.run(invites.Request{Profiles: []string{sfdc.ProfileSalesUser}})
		if got.Counts.Invited != 1 || got.Counts.AlreadyInvited != 0 || got.Counts.OverSeatLimit != 0 {
			t.Fatalf("counts %+v; want ann invited in the seat her lapsed invite left", got.Counts)
		}
		inv := b.pendingInvites(b.org)["ann@acme.com"]
		if inv.ID == old.ID || inv.ImportID != got.ID || len(b.sender.distinct()) != 1 {
			t.Fatalf("pending invite %+v, %d sends", inv, len(b.sender.distinct()))
		}
		if o, _ := st.GetInvite(b.ctx, b.org.ID, old.ID); o.Status != directory.InviteExpired {
			t.Fatalf("old invite is %s", o.Status)
		}
	})
}

// An admin cancels a running import: the run notices at its next page, writes nothing
// more and ends without error (the task is not retried).
func TestCancelStopsRunningImport(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, st *store.Store) {
		snd := &recSender{}
		b := setup(t, st, opts{users: manyUsers(500, sfdc.ProfileSalesUser), batch: 200, sender: snd})
		imp := b.create(invites.Request{Profiles: []string{sfdc.ProfileSalesUser}})
		snd.onQueue = func(call int) {
			if call == 1 {
				if _, err := st.CancelImport(b.ctx, b.org.ID, imp.ID, time.Now()); err != nil {
					t.Error(err)
				}
			}
		}
		got, err := b.svc.Run(b.ctx, b.org.ID, imp.ID)
		if err != nil {
			t.Fatalf("run of a cancelled import: %v", err)
		}
		if got.Status != directory.ImportCancelled || got.Progress.Done != 200 {
			t.Fatalf("cancelled import: %s, %d done", got.Status, got.Progress.Done)
		}
		if n := len(b.pendingInvites(b.org)); n != 200 {
			t.Fatalf("%d invites after cancelling at page 2, want page 1's 200", n)
		}
		// Running the task again is a no-op.
		again, err := b.svc.Run(b.ctx, b.org.ID, imp.ID)
		if err != nil || again.Status != directory.ImportCancelled || len(b.pendingInvites(b.org)) != 200 {
			t.Fatalf("re-run: %s %v", again.Status, err)
		}
	})
}

// Prefetching reads at most one page ahead: while page k is written, Salesforce has been
// asked for at most k+1 pages (plus the profile resolution).
func TestPrefetchStaysOnePageAhead(t *testing.T) {
	t.Parallel()
	st := storetest.SQLite(t)
	snd := &recSender{}
	b := setup(t, st, opts{users: manyUsers(1000, sfdc.ProfileSalesUser), batch: 200, sender: snd})
	snd.onQueue = func(call int) {
		if q := b.queries.Load(); q > int64(1+call+1) {
			t.Errorf("page %d written with %d queries made", call, q)
		}
	}
	got := b.run(invites.Request{Profiles: []string{sfdc.ProfileSalesUser}})
	if got.Counts.Invited != 1000 || snd.calls != 5 {
		t.Fatalf("counts %+v after %d pages", got.Counts, snd.calls)
	}
}

// A run whose selection holds a profile id Salesforce does not know fails with the
// unknown-profile message (the producer could not check it), instead of finding nobody.
func TestRunRefusesUnknownProfileID(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, st *store.Store) {
		b := setup(t, st, opts{users: manyUsers(3, sfdc.ProfileSalesUser)})
		imp := b.create(invites.Request{Profiles: []string{"00e000000000000"}})
		got, err := b.svc.Run(b.ctx, b.org.ID, imp.ID)
		var up *invites.UnknownProfilesError
		if !errors.As(err, &up) || got.Status != directory.ImportFailed || len(got.Errors) != 1 {
			t.Fatalf("run: %v, import %s %v", err, got.Status, got.Errors)
		}
	})
}

// A profile list past Salesforce's SOQL size, or one name past its literal size, is refused
// when the import is created.
func TestCreateRefusesSelectionTooLong(t *testing.T) {
	t.Parallel()
	svc, err := invites.New(invites.Config{Store: store.Invites{Store: storetest.SQLite(t)}, Sender: &recSender{}})
	if err != nil {
		t.Fatal(err)
	}
	many := make([]string, 3000)
	for i := range many {
		many[i] = fmt.Sprintf("A rather long profile name %012d", i)
	}
	for name, profiles := range map[string][]string{
		"many names": many,
		"long name":  {strings.Repeat("x", 4001)},
	} {
		_, err := svc.Create(t.Context(), invites.Request{OrgID: "org", Role: directory.RoleChat, Profiles: profiles})
		var e *invites.Error
		if !errors.As(err, &e) || e.Code != invites.CodeSelectionTooLong {
			t.Errorf("%s: %v, want selection_too_long", name, err)
		}
	}
}

// noTeam is the Directories of an org whose team connection is missing.
type noTeam struct{}

func (noTeam) Open(ctx context.Context, orgID string) (invites.Directory, error) {
	return nil, fmt.Errorf("%w: org %s: org has no team-level Salesforce connection", invites.ErrNoConnection, orgID)
}

type noTasks struct{}

func (noTasks) QueueImport(context.Context, directory.Import) error { return nil }

// An import of an org without a usable team connection is refused in one sentence that
// names the verb and route connecting it, not the chain that repeats the org.
func TestStartWithoutTeamConnectionSaysHowToConnect(t *testing.T) {
	t.Parallel()
	st := storetest.SQLite(t)
	org, err := st.CreateOrg(t.Context(), directory.Org{Name: "Acme"})
	if err != nil {
		t.Fatal(err)
	}
	svc, err := invites.New(invites.Config{Store: store.Invites{Store: st}, Sender: &recSender{}, Directories: noTeam{}, Tasks: noTasks{}})
	if err != nil {
		t.Fatal(err)
	}
	// By profiles or by user ids alike: queued, either could only fail.
	for _, req := range []invites.Request{
		{OrgID: org.ID, Role: directory.RoleChat, Profiles: []string{"Sales User"}},
		{OrgID: org.ID, Role: directory.RoleChat, UserIDs: []string{"0055g0000IkeymPAQQ"}},
	} {
		_, err = svc.Start(t.Context(), req)
		var e *invites.Error
		if !errors.As(err, &e) || e.Code != invites.CodeNoConnection {
			t.Fatalf("start %+v: %v; want %s", req, err, invites.CodeNoConnection)
		}
		if !strings.Contains(e.Message, "tether org connect-salesforce "+org.ID) || !strings.Contains(e.Message, "POST /v1/orgs/"+org.ID+"/connect-links") ||
			strings.Count(e.Message, org.ID) != 3 || strings.Contains(e.Message, "org has no") {
			t.Fatalf("message %q", e.Message)
		}
	}
	if imps, err := st.ListImports(t.Context(), org.ID, 0); err != nil || len(imps) != 0 {
		t.Fatalf("%d imports stored (%v), want none", len(imps), err)
	}
}

// An import stored while the team connection worked, and run after it was lost, fails with
// the producer's sentence: the verb and route that connect it, not the connection's chain.
func TestRunWithoutTeamConnectionSaysHowToConnect(t *testing.T) {
	t.Parallel()
	st := storetest.SQLite(t)
	org, err := st.CreateOrg(t.Context(), directory.Org{Name: "Acme"})
	if err != nil {
		t.Fatal(err)
	}
	svc, err := invites.New(invites.Config{Store: store.Invites{Store: st}, Sender: &recSender{}, Directories: noTeam{}, Tasks: noTasks{}})
	if err != nil {
		t.Fatal(err)
	}
	imp, err := svc.Create(t.Context(), invites.Request{OrgID: org.ID, Role: directory.RoleChat, Profiles: []string{"Sales User"}})
	if err != nil {
		t.Fatal(err)
	}
	_, err = svc.Run(t.Context(), org.ID, imp.ID)
	var e *invites.Error
	if !errors.As(err, &e) || e.Code != invites.CodeNoConnection || !strings.Contains(e.Message, "tether org connect-salesforce "+org.ID) ||
		!strings.Contains(e.Message, "POST /v1/orgs/"+org.ID+"/connect-links") || strings.Contains(e.Message, "org has no") {
		t.Fatalf("run: %v", err)
	}
	got, err := st.GetImport(t.Context(), org.ID, imp.ID)
	if err != nil || got.Status != directory.ImportFailed || len(got.Errors) != 1 || got.Errors[0] != e.Message {
		t.Fatalf("stored import: %+v, %v; want failed with %q", got, err, e.Message)
	}
}
