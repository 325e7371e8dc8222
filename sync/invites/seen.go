package invites

import (
	"crypto/sha256"
	"encoding/binary"
)

// emailSet remembers the emails an import has used, as 64-bit hashes: 100,000 people cost
// about 3 MB instead of the emails themselves. The hash is keyed by the import id and
// stable across processes, so the set is saved with each page's checkpoint (only the
// page's new hashes, appended) and a resumed run reloads it: duplicates within the import
// are counted the same whether or not the run was interrupted. A collision (about 1 in
// 10^9 per pair at 100,000 people) would count one person as a duplicate.
type emailSet struct {
	key string
	m   map[uint64]struct{}
	// added are the hashes added since the last take.
	added []uint64
}

func newEmailSet(importID string, saved []uint64) *emailSet {
	s := &emailSet{key: importID + "\x00", m: make(map[uint64]struct{}, len(saved))}
	for _, h := range saved {
		s.m[h] = struct{}{}
	}
	return s
}

func (s *emailSet) hash(e string) uint64 {
	sum := sha256.Sum256([]byte(s.key + e))
	return binary.BigEndian.Uint64(sum[:8])
}

func (s *emailSet) has(e string) bool {
	_, ok := s.m[s.hash(e)]
	return ok
}

// add records e and reports whether it was new.
func (s *emailSet) add(e string) bool {
	h := s.hash(e)
	if _, ok := s.m[h]; ok {
		return false
	}
	s.m[h] = struct{}{}
	s.added = append(s.added, h)
	return true
}

// take returns the hashes added since the last take, for the page's checkpoint.
func (s *emailSet) take() []uint64 {
	a := s.added
	s.added = nil
	return a
}
