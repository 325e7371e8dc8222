package store_test

import (
	"bytes"
	"errors"
	"testing"

	"tether/sync/connections"
	"tether/sync/store"
)

func TestSetPendingToken(t *testing.T) {
	each(t, func(t *testing.T, b *bundle) {
		c, err := b.s.CreateConnection(b.ctx, b.orgA.ID, connections.Connection{Kind: connections.KindSalesforceTeam})
		if err != nil {
			t.Fatal(err)
		}
		if err := b.s.SetPendingToken(b.ctx, b.orgB.ID, c.ID, []byte("x"), b.now); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("another org's id: %v, want ErrNotFound", err)
		}
		if err := b.s.SetPendingToken(b.ctx, b.orgA.ID, c.ID, []byte("sealed"), b.now); err != nil {
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
		if _, err := b.s.UpdateConnection(b.ctx, b.orgA.ID, c, b.now); !errors.Is(err, store.ErrConflict) {
			t.Fatalf("stale update after SetPendingToken: %v, want ErrConflict", err)
		}
	})
}
