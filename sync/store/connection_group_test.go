package store_test

import (
	"bytes"
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"tether/sync/connections"
	"tether/sync/directory"
	"tether/sync/store"
	"tether/sync/store/storetest"
)

// groupBundle is a PostgreSQL store (the only backend that groups) with n orgs, each with
// one team connection at version 1.
type groupBundle struct {
	s     *store.Store
	ctx   context.Context
	now   time.Time
	conns []connections.Connection
}

func setupGroup(t *testing.T, n int) *groupBundle {
	t.Helper()
	b := &groupBundle{s: storetest.Postgres(t), ctx: t.Context(), now: time.Date(2026, 3, 2, 9, 30, 0, 123456789, time.UTC)}
	for i := range n {
		o, err := b.s.CreateOrg(b.ctx, directory.Org{Name: fmt.Sprintf("Org %d", i), SeatLimit: 10, CreatedAt: b.now})
		must(t, err, "create org %d", i)
		c, err := b.s.CreateConnection(b.ctx, o.ID, connections.Connection{
			Kind: connections.KindSalesforceTeam, State: connections.StateHealthy, CreatedAt: b.now,
			AccessTokenEnc: []byte{1}, RefreshTokenEnc: []byte{2}, Scopes: []string{"api"}, RefreshFence: 10,
		})
		must(t, err, "create connection %d", i)
		b.conns = append(b.conns, c)
	}
	return b
}

// gate holds chosen statements of a group (by their 0-based index) until opened, so a
// test decides what queues behind them and so what the next statement carries.
type gate struct {
	mu    sync.Mutex
	sizes []int
	held  map[int]chan struct{} // closed by the hook when statement i is held
	open  map[int]chan struct{} // closed by the test to let statement i run
}

func newGate(s *store.Store, writes bool, hold ...int) *gate {
	g := &gate{held: map[int]chan struct{}{}, open: map[int]chan struct{}{}}
	for _, i := range hold {
		g.held[i], g.open[i] = make(chan struct{}), make(chan struct{})
	}
	store.SetGroupHook(s, writes, func(n int) {
		g.mu.Lock()
		i := len(g.sizes)
		g.sizes = append(g.sizes, n)
		g.mu.Unlock()
		if g.held[i] != nil {
			close(g.held[i])
			<-g.open[i]
		}
	})
	return g
}

func (g *gate) waitHeld(t *testing.T, i int) {
	t.Helper()
	select {
	case <-g.held[i]:
	case <-time.After(10 * time.Second):
		t.Fatalf("statement %d never started", i)
	}
}

func (g *gate) statementSizes() []int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return slices.Clone(g.sizes)
}

// waitQueued waits until n calls wait in the write (or read) group.
func waitQueued(t *testing.T, s *store.Store, writes bool, n int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for store.GroupQueued(s, writes) != n {
		if time.Now().After(deadline) {
			t.Fatalf("%d calls queued, want %d", store.GroupQueued(s, writes), n)
		}
		time.Sleep(time.Millisecond)
	}
}

// result is one call's outcome, delivered on a channel.
type result struct {
	c   connections.Connection
	err error
}

func (b *groupBundle) update(ctx context.Context, c connections.Connection, at time.Time) chan result {
	ch := make(chan result, 1)
	go func() {
		w, err := b.s.UpdateConnection(ctx, c.OrgID, c, at)
		ch <- result{w, err}
	}()
	return ch
}

func (b *groupBundle) get(orgID, id string) chan result {
	ch := make(chan result, 1)
	go func() {
		c, err := b.s.GetConnection(b.ctx, orgID, id)
		ch <- result{c, err}
	}()
	return ch
}

func recv(t *testing.T, ch chan result) result {
	t.Helper()
	select {
	case r := <-ch:
		return r
	case <-time.After(20 * time.Second):
		t.Fatal("call never returned")
		return result{}
	}
}

// changed is c as a refresh under fence would write it.
func changed(c connections.Connection, token byte, fence int64, at time.Time) connections.Connection {
	c.AccessTokenEnc = []byte{token, 0, 255}
	c.RefreshTokenEnc = []byte{}
	c.PendingTokenEnc = nil
	c.Scopes = []string{"api", fmt.Sprintf("s%d", token), `q"uote\`}
	c.State = connections.StateRefreshing
	c.LastErrorDescription = "ünïcode\ttab"
	c.LastRefreshedAt = at
	c.ExpiresAt = at.Add(time.Hour)
	c.NextAttemptAt = time.Time{}
	c.RefreshFence = fence
	return c
}

// sameStored fails unless the stored row is want as written at at.
func (b *groupBundle) sameStored(t *testing.T, want connections.Connection, at time.Time) {
	t.Helper()
	got, err := b.s.GetConnection(b.ctx, want.OrgID, want.ID)
	must(t, err, "get %s", want.ID)
	if got.Version != want.Version || !bytes.Equal(got.AccessTokenEnc, want.AccessTokenEnc) ||
		!bytes.Equal(got.RefreshTokenEnc, want.RefreshTokenEnc) || got.RefreshTokenEnc == nil ||
		got.PendingTokenEnc != nil || !slices.Equal(got.Scopes, want.Scopes) || got.State != want.State ||
		got.LastErrorDescription != want.LastErrorDescription || got.RefreshFence != want.RefreshFence ||
		!got.LastRefreshedAt.Equal(at.Truncate(time.Microsecond)) || !got.ExpiresAt.Equal(at.Add(time.Hour).Truncate(time.Microsecond)) ||
		!got.UpdatedAt.Equal(want.UpdatedAt) || !got.NextAttemptAt.IsZero() {
		t.Fatalf("stored %+v\nwant %+v", got, want)
	}
}

func TestGroupedUpdatesConcurrent(t *testing.T) {
	t.Parallel()
	const n = 200
	b := setupGroup(t, n)
	at := b.now.Add(time.Minute)
	start := make(chan struct{})
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i, c := range b.conns {
		wg.Go(func() {
			<-start
			w := changed(c, byte(i), 11, at)
			for round := range 2 {
				got, err := b.s.GetConnection(b.ctx, c.OrgID, c.ID)
				if err != nil {
					errs[i] = err
					return
				}
				if got.Version != w.Version {
					errs[i] = fmt.Errorf("round %d: read version %d, want %d", round, got.Version, w.Version)
					return
				}
				prev := w
				if w, err = b.s.UpdateConnection(b.ctx, c.OrgID, w, at); err != nil {
					errs[i] = err
					return
				}
				if w.Version != prev.Version+1 || w.OrgID != c.OrgID || !w.UpdatedAt.Equal(at.Truncate(time.Microsecond)) ||
					w.UpdatedAt.Location() != time.UTC || w.UpdatedAt.Nanosecond()%1000 != 0 {
					errs[i] = fmt.Errorf("round %d: returned %+v", round, w)
					return
				}
			}
		})
	}
	close(start)
	wg.Wait()
	for i, err := range errs {
		must(t, err, "connection %d", i)
	}
	for i, c := range b.conns {
		w := changed(c, byte(i), 11, at)
		w.Version, w.UpdatedAt = 3, at.Truncate(time.Microsecond)
		b.sameStored(t, w, at)
	}
	wc, ws, rc, rs := store.GroupStats(b.s)
	t.Logf("%d updates in %d statements, %d reads in %d statements", wc, ws, rc, rs)
	if f := store.GroupFailures(b.s); f != 0 {
		t.Fatalf("%d grouped statements failed", f)
	}
	if wc < 2*n || ws >= wc || rs >= rc {
		t.Fatalf("no grouping: %d updates in %d statements, %d reads in %d statements", wc, ws, rc, rs)
	}
}

func TestGroupedUpdateConflicts(t *testing.T) {
	t.Parallel()
	b := setupGroup(t, 5)
	at := b.now.Add(time.Minute)
	c := b.conns
	// c[2] moves to version 2 first, so a write naming version 1 is stale.
	moved, err := b.s.UpdateConnection(b.ctx, c[2].OrgID, changed(c[2], 9, 10, b.now), b.now)
	must(t, err, "move c[2]")

	g := newGate(b.s, true, 0)
	lone := b.update(b.ctx, changed(c[0], 1, 10, at), at)
	g.waitHeld(t, 0)
	queued := []connections.Connection{
		changed(c[1], 2, 12, at),               // written, fence raised
		changed(c[2], 3, 10, at),               // stale version
		changed(c[3], 4, 9, at),                // fence below the stored 10
		changed(c[4], 5, 10, at),               // written
		{ID: store.NewID(), OrgID: c[1].OrgID}, // no such connection
		changed(c[4], 6, 10, at),               // c[4] again: the next statement, then stale
	}
	queued[4].Version = 1
	wrongOrg := changed(c[3], 7, 10, at)
	wrongOrg.OrgID = c[1].OrgID
	queued = append(queued, wrongOrg) // c[3]'s id in another org: the next statement too
	var chans []chan result
	for i, q := range queued {
		chans = append(chans, b.update(b.ctx, q, at))
		waitQueued(t, b.s, true, i+1) // in this order
	}
	close(g.open[0])

	r := recv(t, lone)
	must(t, r.err, "lone update")
	res := make([]result, len(chans))
	for i, ch := range chans {
		res[i] = recv(t, ch)
	}
	must(t, res[0].err, "c[1]")
	wantErr(t, res[1].err, directory.ErrConflict, "stale version")
	if want := fmt.Sprintf("update connection %s in org %s: version 1 is now 2, refresh fence 10 is now 10", c[2].ID, c[2].OrgID); !strings.HasPrefix(res[1].err.Error(), want) {
		t.Fatalf("stale version: %v, want %s...", res[1].err, want)
	}
	wantErr(t, res[2].err, directory.ErrConflict, "lower fence")
	must(t, res[3].err, "c[4]")
	wantErr(t, res[4].err, directory.ErrNotFound, "missing connection")
	wantErr(t, res[5].err, directory.ErrConflict, "second write of c[4] naming version 1")
	wantErr(t, res[6].err, directory.ErrNotFound, "connection of another org")
	if sizes := g.statementSizes(); !slices.Equal(sizes, []int{1, 5, 2}) {
		t.Fatalf("statements carried %v calls, want [1 5 2]", sizes)
	}
	if f := store.GroupFailures(b.s); f != 0 {
		t.Fatalf("%d grouped statements failed", f)
	}

	for i, w := range []result{r, res[0], res[3]} {
		if w.c.Version != 2 {
			t.Fatalf("write %d returned version %d", i, w.c.Version)
		}
		b.sameStored(t, w.c, at)
	}
	if moved.Version != 2 {
		t.Fatalf("moved %+v", moved)
	}
	b.sameStored(t, moved, b.now)
	cur, err := b.s.GetConnection(b.ctx, c[3].OrgID, c[3].ID)
	must(t, err, "get c[3]")
	if cur.Version != 1 || !bytes.Equal(cur.AccessTokenEnc, []byte{1}) {
		t.Fatalf("refused writes changed c[3]: %+v", cur)
	}
}

func TestGroupedUpdateFallsBackOnError(t *testing.T) {
	t.Parallel()
	b := setupGroup(t, 5)
	at := b.now.Add(time.Minute)
	c := b.conns
	g := newGate(b.s, true, 0)
	lone := b.update(b.ctx, changed(c[0], 1, 10, at), at)
	g.waitHeld(t, 0)
	bad := changed(c[2], 3, 10, at)
	bad.State = "bogus" // violates the state CHECK: the grouped statement fails whole
	var chans []chan result
	for i, q := range []connections.Connection{changed(c[1], 2, 10, at), bad, changed(c[3], 4, 10, at), changed(c[4], 5, 10, at)} {
		chans = append(chans, b.update(b.ctx, q, at))
		waitQueued(t, b.s, true, i+1)
	}
	close(g.open[0])
	must(t, recv(t, lone).err, "lone update")
	for i, ch := range chans {
		r := recv(t, ch)
		if i == 1 {
			wantErr(t, r.err, directory.ErrInvalid, "bad state")
			continue
		}
		must(t, r.err, "update %d", i)
		b.sameStored(t, r.c, at)
	}
	if sizes := g.statementSizes(); !slices.Equal(sizes, []int{1, 4}) {
		t.Fatalf("statements carried %v calls, want [1 4]", sizes)
	}
	if f := store.GroupFailures(b.s); f != 1 {
		t.Fatalf("%d grouped statements failed, want 1", f)
	}
	cur, err := b.s.GetConnection(b.ctx, c[2].OrgID, c[2].ID)
	must(t, err, "get bad")
	if cur.Version != 1 || cur.State != connections.StateHealthy {
		t.Fatalf("bad write changed the row: %+v", cur)
	}
	// The same error as alone, outside any group.
	err = b.s.InTx(b.ctx, func(tx *store.Queries) error {
		_, err := tx.UpdateConnection(b.ctx, bad.OrgID, bad, at)
		return err
	})
	wantErr(t, err, directory.ErrInvalid, "bad state alone")
}

func TestGroupedUpdateOutlivesLeaderContext(t *testing.T) {
	t.Parallel()
	b := setupGroup(t, 3)
	at := b.now.Add(time.Minute)
	c := b.conns
	g := newGate(b.s, true, 0, 1)
	lone := b.update(b.ctx, changed(c[0], 1, 10, at), at)
	g.waitHeld(t, 0)
	leaderCtx, cancelLeader := context.WithCancel(b.ctx)
	leader := b.update(leaderCtx, changed(c[1], 2, 10, at), at)
	waitQueued(t, b.s, true, 1)
	other := b.update(b.ctx, changed(c[2], 3, 10, at), at)
	waitQueued(t, b.s, true, 2)
	close(g.open[0])
	g.waitHeld(t, 1) // the group of two runs, led by the call whose context ends now
	cancelLeader()
	close(g.open[1])
	must(t, recv(t, lone).err, "lone")
	for i, ch := range []chan result{leader, other} {
		r := recv(t, ch)
		must(t, r.err, "grouped write %d", i)
		b.sameStored(t, r.c, at)
	}
	if f := store.GroupFailures(b.s); f != 0 {
		t.Fatalf("%d grouped statements failed: the leader's context reached the statement", f)
	}
}

func TestGroupedUpdateQueuedCallerLeaves(t *testing.T) {
	t.Parallel()
	b := setupGroup(t, 2)
	at := b.now.Add(time.Minute)
	c := b.conns
	g := newGate(b.s, true, 0)
	lone := b.update(b.ctx, changed(c[0], 1, 10, at), at)
	g.waitHeld(t, 0)
	ctx, cancel := context.WithCancel(b.ctx)
	left := b.update(ctx, changed(c[1], 2, 10, at), at)
	waitQueued(t, b.s, true, 1)
	cancel()
	r := recv(t, left)
	wantErr(t, r.err, context.Canceled, "queued call whose context ended")
	waitQueued(t, b.s, true, 0)
	close(g.open[0])
	must(t, recv(t, lone).err, "lone")
	cur, err := b.s.GetConnection(b.ctx, c[1].OrgID, c[1].ID)
	must(t, err, "get")
	if cur.Version != 1 {
		t.Fatalf("a call that left before its statement was written: %+v", cur)
	}
}

func TestGroupedReads(t *testing.T) {
	t.Parallel()
	b := setupGroup(t, 3)
	c := b.conns
	g := newGate(b.s, false, 0)
	lone := b.get(c[0].OrgID, c[0].ID)
	g.waitHeld(t, 0)
	missing := store.NewID()
	keys := [][2]string{
		{c[1].OrgID, c[1].ID},
		{c[1].OrgID, missing},
		{c[2].OrgID, c[2].ID},
		{c[0].OrgID, c[2].ID}, // c[2]'s id in another org: the next statement
		{c[1].OrgID, c[1].ID}, // again: the next statement too
	}
	var chans []chan result
	for i, k := range keys {
		chans = append(chans, b.get(k[0], k[1]))
		waitQueued(t, b.s, false, i+1)
	}
	close(g.open[0])
	if r := recv(t, lone); r.err != nil || r.c.ID != c[0].ID || r.c.OrgID != c[0].OrgID {
		t.Fatalf("lone read: %+v, %v", r.c, r.err)
	}
	// What a read outside the group says of a missing row.
	var alone error
	_ = b.s.InTx(b.ctx, func(tx *store.Queries) error {
		_, alone = tx.GetConnection(b.ctx, c[1].OrgID, missing)
		return nil
	})
	wantErr(t, alone, directory.ErrNotFound, "missing, alone")
	for i, ch := range chans {
		r := recv(t, ch)
		switch i {
		case 1:
			wantErr(t, r.err, directory.ErrNotFound, "missing")
			if r.err.Error() != alone.Error() {
				t.Fatalf("grouped not found %q, alone %q", r.err, alone)
			}
		case 3:
			wantErr(t, r.err, directory.ErrNotFound, "another org's id")
		default:
			must(t, r.err, "read %d", i)
			want := c[map[int]int{0: 1, 2: 2, 4: 1}[i]]
			if r.c.ID != want.ID || r.c.OrgID != want.OrgID || r.c.Version != 1 || r.c.State != connections.StateHealthy ||
				!bytes.Equal(r.c.AccessTokenEnc, []byte{1}) || !slices.Equal(r.c.Scopes, []string{"api"}) ||
				r.c.RefreshFence != 10 || !r.c.CreatedAt.Equal(b.now.Truncate(time.Microsecond)) {
				t.Fatalf("read %d: %+v", i, r.c)
			}
		}
	}
	if sizes := g.statementSizes(); !slices.Equal(sizes, []int{1, 3, 2}) {
		t.Fatalf("statements carried %v calls, want [1 3 2]", sizes)
	}
	if f := store.GroupFailures(b.s); f != 0 {
		t.Fatalf("%d grouped statements failed", f)
	}
}

// SQLite and calls inside a transaction run today's single-row statements.
func TestGroupsOnlyOnThePostgresPool(t *testing.T) {
	t.Parallel()
	s := storetest.SQLite(t)
	ctx := t.Context()
	o, err := s.CreateOrg(ctx, directory.Org{Name: "Acme", SeatLimit: 1})
	must(t, err, "create org")
	c, err := s.CreateConnection(ctx, o.ID, connections.Connection{Kind: connections.KindSalesforceTeam})
	must(t, err, "create connection")
	_, err = s.UpdateConnection(ctx, o.ID, c, time.Now())
	must(t, err, "update")
	if wc, ws, rc, rs := store.GroupStats(s); wc+ws+rc+rs != 0 {
		t.Fatalf("sqlite grouped: %d %d %d %d", wc, ws, rc, rs)
	}

	b := setupGroup(t, 1)
	err = b.s.InTx(b.ctx, func(tx *store.Queries) error {
		c, err := tx.GetConnection(b.ctx, b.conns[0].OrgID, b.conns[0].ID)
		if err != nil {
			return err
		}
		_, err = tx.UpdateConnection(b.ctx, c.OrgID, c, b.now)
		return err
	})
	must(t, err, "in transaction")
	if wc, _, rc, _ := store.GroupStats(b.s); wc+rc != 0 {
		t.Fatalf("a transaction's calls went through the groups: %d writes, %d reads", wc, rc)
	}
}
