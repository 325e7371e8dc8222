package store_test

import (
	"bytes"
	"errors"
	"testing"

	"tether/sync/connections"
	"tether/sync/directory"
)

func TestSetPendingToken(t *testing.T) {
	each(t, func(t *testing.T, b *bundle) {
		spent := []byte("sealed refresh token R0")
		c, err := b.s.CreateConnection(b.ctx, b.orgA.ID, connections.Connection{Kind: connections.KindSalesforceTeam,
			RefreshTokenEnc: spent})
		if err != nil {
			t.Fatal(err)
		}
		if err := b.s.SetPendingToken(b.ctx, b.orgB.ID, c.ID, []byte("x"), spent, b.now); !errors.Is(err, directory.ErrNotFound) {
			t.Fatalf("another org's id: %v, want ErrNotFound", err)
		}
		if err := b.s.SetPendingToken(b.ctx, b.orgA.ID, c.ID, []byte("sealed"), spent, b.now); err != nil {
			t.Fatal(err)
		}
		got, err := b.s.GetConnection(b.ctx, b.orgA.ID, c.ID)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got.PendingTokenEnc, []byte("sealed")) || got.Version != c.Version+1 {
			t.Fatalf("pending %q version %d; want sealed and %d", got.PendingTokenEnc, got.Version, c.Version+1)
		}
		// A writer holding the old version now loses its compare-and-swap.
		if _, err := b.s.UpdateConnection(b.ctx, b.orgA.ID, c, b.now); !errors.Is(err, directory.ErrConflict) {
			t.Fatalf("stale update after SetPendingToken: %v, want ErrConflict", err)
		}
	})
}

// Invariant 2, the fence's half in the store: a set obtained by spending a refresh token
// the row no longer holds is older than what the row holds, and never reaches the pending
// slot.
func TestSetPendingTokenRefusedOnceTheRowHoldsAnotherRefreshToken(t *testing.T) {
	each(t, func(t *testing.T, b *bundle) {
		c, err := b.s.CreateConnection(b.ctx, b.orgA.ID, connections.Connection{Kind: connections.KindSalesforceTeam,
			RefreshTokenEnc: []byte("R0")})
		if err != nil {
			t.Fatal(err)
		}
		c.RefreshTokenEnc = []byte("R2 from a newer refresh")
		if c, err = b.s.UpdateConnection(b.ctx, b.orgA.ID, c, b.now); err != nil {
			t.Fatal(err)
		}
		err = b.s.SetPendingToken(b.ctx, b.orgA.ID, c.ID, []byte("set from R0"), []byte("R0"), b.now)
		if !errors.Is(err, directory.ErrConflict) {
			t.Fatalf("pending set from a spent token the row no longer holds: %v, want ErrConflict", err)
		}
		got, err := b.s.GetConnection(b.ctx, b.orgA.ID, c.ID)
		if err != nil {
			t.Fatal(err)
		}
		if len(got.PendingTokenEnc) != 0 || got.Version != c.Version {
			t.Fatalf("refused pending write changed the row: pending %q, version %d (want %d)", got.PendingTokenEnc, got.Version, c.Version)
		}
	})
}

// Invariant 2: the row records the fencing token of the lease its tokens were refreshed
// under, and refuses a write carrying an older one, even with the current version.
func TestUpdateConnectionRefusesAnOlderRefreshFence(t *testing.T) {
	each(t, func(t *testing.T, b *bundle) {
		c, err := b.s.CreateConnection(b.ctx, b.orgA.ID, connections.Connection{Kind: connections.KindSalesforceTeam})
		if err != nil {
			t.Fatal(err)
		}
		c.RefreshFence, c.RefreshTokenEnc = 7, []byte("R7")
		if c, err = b.s.UpdateConnection(b.ctx, b.orgA.ID, c, b.now); err != nil {
			t.Fatal(err)
		}
		if got, _ := b.s.GetConnection(b.ctx, b.orgA.ID, c.ID); got.RefreshFence != 7 {
			t.Fatalf("stored refresh fence %d, want 7", got.RefreshFence)
		}
		stale := c
		stale.RefreshFence, stale.RefreshTokenEnc = 6, []byte("R6")
		if _, err := b.s.UpdateConnection(b.ctx, b.orgA.ID, stale, b.now); !errors.Is(err, directory.ErrConflict) {
			t.Fatalf("write under an older fence: %v, want ErrConflict", err)
		}
		// The same fence (a state-only writer carrying what it read) is accepted.
		c.State = connections.StateDegraded
		if _, err := b.s.UpdateConnection(b.ctx, b.orgA.ID, c, b.now); err != nil {
			t.Fatalf("write under the stored fence: %v", err)
		}
		got, err := b.s.GetConnection(b.ctx, b.orgA.ID, c.ID)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got.RefreshTokenEnc, []byte("R7")) || got.RefreshFence != 7 {
			t.Fatalf("row holds %q under fence %d, want R7 under 7", got.RefreshTokenEnc, got.RefreshFence)
		}
	})
}
