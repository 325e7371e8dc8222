package store

import "context"

// GroupStats returns how many UpdateConnection (writes) and GetConnection (reads) calls
// went through s's groups and how many statements ran them; zeros where s does not group.
func GroupStats(s *Store) (writeCalls, writeStmts, readCalls, readStmts int64) {
	if s.g == nil {
		return 0, 0, 0, 0
	}
	return s.g.updates.calls.Load(), s.g.updates.statements.Load(), s.g.reads.calls.Load(), s.g.reads.statements.Load()
}

// SetGroupHook makes hook run before each statement of s's write (or read) group, with
// its number of calls. Set it before the calls it should see.
func SetGroupHook(s *Store, writes bool, hook func(n int)) {
	if writes {
		s.g.updates.hook = hook
	} else {
		s.g.reads.hook = hook
	}
}

// GroupQueued returns how many calls wait in s's write (or read) group.
func GroupQueued(s *Store, writes bool) int {
	if writes {
		s.g.updates.mu.Lock()
		defer s.g.updates.mu.Unlock()
		return len(s.g.updates.queue)
	}
	s.g.reads.mu.Lock()
	defer s.g.reads.mu.Unlock()
	return len(s.g.reads.queue)
}

// GroupFailures returns how many of s's grouped statements failed (their calls then ran
// alone).
func GroupFailures(s *Store) int64 { return s.g.failed.Load() }

// MigrateTo moves s's schema up or down to version v, to test a migration's data moves.
func MigrateTo(s *Store, v int64) error {
	ctx := context.Background()
	p, err := s.provider(ctx)
	if err != nil {
		return err
	}
	cur, err := p.GetDBVersion(ctx)
	if err != nil {
		return err
	}
	if v < cur {
		_, err = p.DownTo(ctx, v)
	} else {
		_, err = p.UpTo(ctx, v)
	}
	return err
}
