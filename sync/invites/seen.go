package invites

import "hash/maphash"

// emailSet remembers the emails an import has used, as 64-bit hashes: 100,000 people cost
// about 3 MB instead of the emails themselves. A collision (about 1 in 10^9 per pair at
// that size) would count one person as a duplicate.
type emailSet struct {
	seed maphash.Seed
	m    map[uint64]struct{}
}

func newEmailSet() *emailSet {
	return &emailSet{seed: maphash.MakeSeed(), m: map[uint64]struct{}{}}
}

func (s *emailSet) has(e string) bool {
	_, ok := s.m[maphash.String(s.seed, e)]
	return ok
}

// add records e and reports whether it was new.
func (s *emailSet) add(e string) bool {
	h := maphash.String(s.seed, e)
	if _, ok := s.m[h]; ok {
		return false
	}
	s.m[h] = struct{}{}
	return true
}
