package store_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"tether/sync/directory"
	"tether/sync/store"
	"tether/sync/store/storetest"
)

// bundle is the fresh state each contract test starts from: two orgs, so every test can
// check that org A's ids do not reach org B's rows.
type bundle struct {
	s    *store.Store
	ctx  context.Context
	now  time.Time
	orgA directory.Org
	orgB directory.Org
}

func setup(t *testing.T, s *store.Store) *bundle {
	t.Helper()
	b := &bundle{s: s, ctx: t.Context(), now: time.Date(2026, 3, 2, 9, 30, 0, 123456000, time.UTC)}
	b.orgA = b.org(t, "Acme", 10)
	b.orgB = b.org(t, "Globex", 10)
	return b
}

// each runs fn on both backends, in parallel with other tests.
func each(t *testing.T, fn func(t *testing.T, b *bundle)) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		t.Parallel()
		fn(t, setup(t, s))
	})
}

func (b *bundle) org(t *testing.T, name string, seats int) directory.Org {
	t.Helper()
	o, err := b.s.CreateOrg(b.ctx, directory.Org{Name: name, SeatLimit: seats, CreatedAt: b.now})
	if err != nil {
		t.Fatalf("create org %s: %v", name, err)
	}
	return o
}

func (b *bundle) user(t *testing.T, email string) directory.User {
	t.Helper()
	u, err := b.s.CreateUser(b.ctx, directory.User{Email: email, Name: email, CreatedAt: b.now})
	if err != nil {
		t.Fatalf("create user %s: %v", email, err)
	}
	return u
}

func (b *bundle) member(t *testing.T, org directory.Org, email string, role directory.Role, status directory.MembershipStatus) directory.Membership {
	t.Helper()
	u, err := b.s.GetUserByEmail(b.ctx, email)
	if errors.Is(err, directory.ErrNotFound) {
		u = b.user(t, email)
	} else if err != nil {
		t.Fatal(err)
	}
	m, err := b.s.CreateMembership(b.ctx, org.ID, directory.Membership{
		UserID: u.ID, Role: role, Status: status, CreatedAt: b.now,
	})
	if err != nil {
		t.Fatalf("create membership %s in %s: %v", email, org.Name, err)
	}
	return m
}

func (b *bundle) invite(t *testing.T, org directory.Org, email string) directory.Invite {
	t.Helper()
	inv, err := b.s.CreateInvite(b.ctx, org.ID, directory.Invite{
		Email: email, Role: directory.RoleChat, TokenHash: "hash-" + org.ID + "-" + email,
		ExpiresAt: b.now.Add(7 * 24 * time.Hour), CreatedAt: b.now,
	})
	if err != nil {
		t.Fatalf("create invite %s in %s: %v", email, org.Name, err)
	}
	return inv
}

func wantErr(t *testing.T, err, target error, what string) {
	t.Helper()
	if !errors.Is(err, target) {
		t.Fatalf("%s: got error %v, want %v", what, err, target)
	}
}

func must(t *testing.T, err error, what string, args ...any) {
	t.Helper()
	if err != nil {
		t.Fatalf("%s: %v", fmt.Sprintf(what, args...), err)
	}
}
