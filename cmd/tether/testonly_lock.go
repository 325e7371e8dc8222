package main

import (
	"context"
	"os"
	"sync/atomic"
	"time"

	"github.com/rs/zerolog"

	"tether/sync/connections"
)

// testDisableRefreshLock is a TEST-ONLY switch for scripts/fault.sh: with it set to 1 the
// per-connection refresh lock is a no-op, so the fault suite can show that it catches
// concurrent refreshes ("double refreshes" > 0). Never set it anywhere else.
const testDisableRefreshLock = "TETHER_TEST_DISABLE_REFRESH_LOCK"

// refreshLocker returns locker, or a lock that locks nothing when the test-only switch is on.
func refreshLocker(locker connections.Locker, log zerolog.Logger) connections.Locker {
	if os.Getenv(testDisableRefreshLock) != "1" {
		return locker
	}
	log.Warn().Str("variable", testDisableRefreshLock).
		Msg("TEST ONLY: the refresh lock is disabled; concurrent refreshes of one connection will race. Unset it outside scripts/fault.sh")
	return noLock{}
}

type noLock struct{}

// fences still rise (the store refuses a lower one), across processes too.
var noLockFence atomic.Int64

func (noLock) Lock(context.Context, string) (connections.Lease, error) {
	f := time.Now().UnixNano()
	for {
		old := noLockFence.Load()
		if f <= old {
			f = old + 1
		}
		if noLockFence.CompareAndSwap(old, f) {
			return noLease(f), nil
		}
	}
}

type noLease int64

func (l noLease) Fence() int64             { return int64(l) }
func (noLease) Held(context.Context) error { return nil }
func (noLease) Unlock()                    {}
