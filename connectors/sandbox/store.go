package sandbox

import (
	"crypto/rand"
	"encoding/base64"
	"hash/maphash"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

type tokenKind uint8

const (
	kindAccess tokenKind = iota + 1
	kindRefresh
)

// deadReason says why a token or grant no longer works; it picks the provider's error text.
type deadReason uint8

const (
	alive       deadReason = iota
	deadRotated            // superseded by rotation (kills_old providers)
	deadRevoked            // revoked by the user, an admin or the revoke endpoint
	deadEvicted            // a newer approval pushed the grant over the per-user cap
	deadExpired            // idle/absolute TTL passed, or expired by fault injection
	deadFamily             // Salesforce: a rotated-out token was replayed, grant revoked
	deadTesting            // Google testing-mode 7-day limit
)

func (r deadReason) String() string {
	return [...]string{"alive", "rotated", "revoked", "evicted", "expired", "replay_revoked", "testing_mode_expired"}[r]
}

const (
	keepAccess = 8  // newest access tokens remembered per grant
	keepOldRT  = 32 // newest superseded refresh tokens remembered per grant
)

// token is one issued access or refresh token. Fields after g are guarded by g.mu.
type token struct {
	value   string
	kind    tokenKind
	g       *grant
	issued  time.Time
	expires time.Time // zero: no absolute expiry
	scopes  []string  // access tokens: scopes granted at issue (immutable)

	lastUsed time.Time
	dead     deadReason
}

// grant is one user's approval of one app. The counters are atomic; the rest after mu is
// guarded by mu.
type grant struct {
	id      string
	app     *appPolicy
	subject string // provider user id (Salesforce 005...)
	orgID   string // Salesforce only
	created time.Time
	seq     int64 // creation order

	calls, refreshes, rotations, replays atomic.Int64
	// requests counts every provider request naming one of the grant's tokens, whatever
	// its answer (faults included): what a client spent on this grant.
	requests atomic.Int64

	mu        sync.Mutex
	scopes    []string
	dead      deadReason
	deadAt    time.Time
	refresh   *token   // current refresh token; nil when the grant has none
	access    []*token // newest last, at most keepAccess
	oldRT     []*token // superseded refresh tokens, newest last, at most keepOldRT
	lastScope string   // cached joined scopes for responses
	// answer is a token answer every refresh gets instead of tokens (SetGrantAnswer);
	// answerLeft counts them down, 0 means until cleared.
	answer     *answerSpec
	answerLeft int
	// apiAnswer is the same for API calls made with the grant's access tokens.
	apiAnswer *answerSpec
	apiLeft   int
}

func (g *grant) provider() Provider { return g.app.Provider }

// store holds grants and the token index. The index is sharded so concurrent refreshes of
// different grants do not contend; lock order is grant.mu before a shard's mu.
type store struct {
	seed   maphash.Seed
	shards [64]struct {
		mu sync.RWMutex
		m  map[string]*token
	}

	mu      sync.RWMutex
	grants  map[string]*grant
	byUser  map[string][]*grant // app client id + "\x00" + subject, oldest first
	nextID  atomic.Int64
	nowFunc func() time.Time
	issued  *lockedWriter // Options.IssuedTokens; nil when not asked
	// sfSession is a Salesforce org's session timeout (org id → time.Duration), set by
	// SetSessionTimeout: its access tokens live that long instead of the app's default.
	sfSession sync.Map
}

func newStore(now func() time.Time) *store {
	s := &store{seed: maphash.MakeSeed(), grants: map[string]*grant{}, byUser: map[string][]*grant{}, nowFunc: now}
	for i := range s.shards {
		s.shards[i].m = map[string]*token{}
	}
	return s
}

func (s *store) shard(v string) int { return int(maphash.String(s.seed, v) % uint64(len(s.shards))) }

func (s *store) lookup(v string) *token {
	if v == "" {
		return nil
	}
	sh := &s.shards[s.shard(v)]
	sh.mu.RLock()
	t := sh.m[v]
	sh.mu.RUnlock()
	return t
}

func (s *store) put(t *token) {
	if s.issued != nil {
		s.issued.line(t.value)
	}
	sh := &s.shards[s.shard(t.value)]
	sh.mu.Lock()
	sh.m[t.value] = t
	sh.mu.Unlock()
}

func (s *store) forget(t *token) {
	sh := &s.shards[s.shard(t.value)]
	sh.mu.Lock()
	delete(sh.m, t.value)
	sh.mu.Unlock()
}

func randToken(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b) // never fails (crypto/rand since Go 1.24)
	return base64.RawURLEncoding.EncodeToString(b)
}

// tokenValue shapes a token like the provider's (prefixes only; the rest is random).
func tokenValue(g *grant, kind tokenKind) string {
	switch g.provider() {
	case Salesforce:
		if kind == kindAccess {
			return g.orgID + "!AQ" + randToken(48)
		}
		return "5Aep861" + randToken(48)
	case Google:
		if kind == kindAccess {
			return "ya29.a0" + randToken(64)
		}
		return "1//0" + randToken(48)
	case Microsoft:
		if kind == kindAccess {
			return "eyJ0eXAiOiJKV1QiLCJub25jZSI6InNhbmRib3gifQ." + randToken(96)
		}
		return "0.AXoA" + randToken(120)
	default:
		return "eyJzdiI6IjAwMDAwMiIsImFsZyI6IkhTNTEyIn0." + randToken(64)
	}
}

// issueAccess mints an access token for g; g.mu must be held.
func (s *store) issueAccess(g *grant, now time.Time, scopes []string) *token {
	ttl := g.app.accessTTL
	if g.app.Provider == Salesforce {
		if d, ok := s.sfSession.Load(g.orgID); ok {
			ttl = d.(time.Duration)
		}
	}
	t := &token{value: tokenValue(g, kindAccess), kind: kindAccess, g: g, issued: now,
		expires: now.Add(ttl), scopes: scopes}
	s.put(t)
	g.access = append(g.access, t)
	if len(g.access) > keepAccess {
		s.forget(g.access[0])
		g.access = slices.Delete(g.access, 0, 1)
	}
	return t
}

// issueRefresh mints a refresh token for g and makes it current; g.mu must be held.
func (s *store) issueRefresh(g *grant, now time.Time) *token {
	t := &token{value: tokenValue(g, kindRefresh), kind: kindRefresh, g: g, issued: now, lastUsed: now}
	if g.app.maxTTL > 0 {
		t.expires = now.Add(g.app.maxTTL)
	}
	if g.app.Provider == Google && g.app.TestingMode && !onlyIdentityScopes(g.scopes) {
		t.expires = now.Add(googleTestRT)
	}
	s.put(t)
	if g.refresh != nil {
		g.oldRT = append(g.oldRT, g.refresh)
		if len(g.oldRT) > keepOldRT {
			s.forget(g.oldRT[0])
			g.oldRT = slices.Delete(g.oldRT, 0, 1)
		}
	}
	g.refresh = t
	return t
}

func onlyIdentityScopes(scopes []string) bool {
	for _, sc := range scopes {
		switch sc {
		case "openid", "email", "profile",
			"https://www.googleapis.com/auth/userinfo.email", "https://www.googleapis.com/auth/userinfo.profile":
		default:
			return false
		}
	}
	return true
}

func userKey(a *appPolicy, subject string) string { return a.ClientID + "\x00" + subject }

// newGrant records a new approval, evicting the oldest live grants over the app's cap.
func (s *store) newGrant(app *appPolicy, subject, orgID string, scopes []string, now time.Time) *grant {
	g := &grant{app: app, subject: subject, orgID: orgID, created: now, scopes: scopes}
	g.lastScope = joinScopes(app.Provider, scopes)
	g.seq = s.nextID.Add(1)
	g.id = string(app.Provider[:2]) + "g" + itoa(g.seq)
	var evict []*grant
	s.mu.Lock()
	s.grants[g.id] = g
	k := userKey(app, subject)
	list := s.byUser[k]
	live := list[:0]
	for _, o := range list {
		o.mu.Lock()
		d := o.dead
		o.mu.Unlock()
		if d == alive {
			live = append(live, o)
		}
	}
	if app.maxGrants > 0 {
		for len(live) >= app.maxGrants {
			evict = append(evict, live[0])
			live = live[1:]
		}
	}
	s.byUser[k] = append(slices.Clone(live), g)
	s.mu.Unlock()
	for _, o := range evict {
		o.kill(deadEvicted, now)
	}
	return g
}

// latestLive returns the newest live grant of subject for app, or nil.
func (s *store) latestLive(app *appPolicy, subject string) *grant {
	s.mu.RLock()
	list := s.byUser[userKey(app, subject)]
	s.mu.RUnlock()
	for i := len(list) - 1; i >= 0; i-- {
		g := list[i]
		g.mu.Lock()
		ok := g.dead == alive && g.refresh != nil
		g.mu.Unlock()
		if ok {
			return g
		}
	}
	return nil
}

func (s *store) grant(id string) *grant {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.grants[id]
}

func (s *store) allGrants() []*grant {
	s.mu.RLock()
	out := make([]*grant, 0, len(s.grants))
	for _, g := range s.grants {
		out = append(out, g)
	}
	s.mu.RUnlock()
	slices.SortFunc(out, func(a, b *grant) int { return int(a.seq - b.seq) })
	return out
}

// kill ends the grant: its refresh tokens stop working at once.
func (g *grant) kill(r deadReason, now time.Time) {
	g.mu.Lock()
	if g.dead == alive {
		g.dead, g.deadAt = r, now
	}
	g.mu.Unlock()
}

// accessValid reports whether access token t authorises an API call at now.
func (t *token) accessValid(now time.Time) bool {
	if t == nil || t.kind != kindAccess || !now.Before(t.expires) {
		return false
	}
	g := t.g
	g.mu.Lock()
	dead, own := g.dead, t.dead
	g.mu.Unlock()
	if own != alive {
		return false
	}
	// Microsoft access tokens are self-contained JWTs: they outlive a revoked grant.
	return dead == alive || g.provider() == Microsoft
}

func itoa(n int64) string {
	var b [20]byte
	i := len(b)
	for n >= 10 {
		i--
		b[i] = byte('0' + n%10)
		n /= 10
	}
	i--
	b[i] = byte('0' + n)
	return string(b[i:])
}
