package sandbox

import (
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"tether/connectors/sandbox/sfdc"
)

// Options configures a Sandbox. The zero value works: real-time clock, default apps
// (DefaultApps) and users (DefaultUsers), consent pages shown to browsers.
type Options struct {
	// Clock is the time source for every expiry rule. Nil means time.Now. Advance adds an
	// offset on top of it.
	Clock func() time.Time
	// Rand drives fault shares and latency distributions. Nil means a randomly seeded PCG.
	// Used under a lock, so it need not be safe for concurrent use.
	Rand *rand.Rand
	// Sleep waits for injected latency; it must return early when ctx ends. Nil means a
	// real timer.
	Sleep func(ctx context.Context, d time.Duration) error
	// AutoApprove skips the consent page: authorize redirects at once with a code for the
	// login_hint user (or the provider's first user). A request can also ask for it with
	// sandbox_auto=allow or sandbox_auto=deny.
	AutoApprove bool
	// Apps are registered after DefaultApps; an app with a default's client id replaces it.
	Apps []App
	// Users are registered instead of DefaultUsers for each provider they name.
	Users []User
	// BaseURL fixes the external origin used in instance_url, id and api_url. Empty means
	// the request's scheme and Host.
	BaseURL string
	// IssuedTokens, when set, receives every token value the sandbox issues, one a line.
	// Test-only: scripts/fault.sh greps every process's log for them. Never point it at a
	// log or anything shared.
	IssuedTokens io.Writer
}

// Sandbox is the emulator of all four providers. Create it with New; it is an
// http.Handler. Safe for concurrent use.
type Sandbox struct {
	opts   Options
	offset atomic.Int64 // nanoseconds added to opts.Clock by Advance
	store  *store
	sf     *sfdc.Server
	faults *FaultPlan
	stats  *counters
	// apiAnswered counts grants with an API answer set (SetGrantAnswer), so API calls
	// look their token up only while one exists.
	apiAnswered atomic.Int64
	mux         *http.ServeMux
	closed      chan struct{}
	once        sync.Once

	mu    sync.RWMutex
	apps  map[string]*appPolicy // provider + "\x00" + client id
	first map[Provider]*appPolicy
	users map[Provider][]User

	codesMu sync.Mutex
	codes   map[string]*authCode
}

// New returns a Sandbox serving all providers. It panics if o.Apps or o.Users are invalid
// (a programming error, like regexp.MustCompile); load untrusted data with LoadScenario.
func New(o Options) *Sandbox {
	if o.Clock == nil {
		o.Clock = time.Now
	}
	if o.Rand == nil {
		o.Rand = rand.New(rand.NewPCG(rand.Uint64(), rand.Uint64()))
	}
	if o.Sleep == nil {
		o.Sleep = sleepCtx
	}
	s := &Sandbox{
		opts:   o,
		closed: make(chan struct{}),
		apps:   map[string]*appPolicy{},
		first:  map[Provider]*appPolicy{},
		users:  map[Provider][]User{},
		codes:  map[string]*authCode{},
	}
	s.store = newStore(s.Now)
	if o.IssuedTokens != nil {
		s.store.issued = &lockedWriter{w: o.IssuedTokens}
	}
	s.faults = newFaultPlan(o.Rand)
	s.stats = newCounters()
	s.sf = sfdc.New(sfdc.Params{Auth: sfAuthenticator{s}, Clock: s.Now})
	for _, a := range append(DefaultApps(), o.Apps...) {
		if err := s.AddApp(a); err != nil {
			panic("sandbox.New: " + err.Error())
		}
	}
	named := map[Provider]bool{}
	for _, u := range o.Users {
		named[u.Provider] = true
	}
	for _, u := range DefaultUsers() {
		if !named[u.Provider] {
			o.Users = append(o.Users, u)
		}
	}
	for _, u := range o.Users {
		if err := s.AddUser(u); err != nil {
			panic("sandbox.New: " + err.Error())
		}
	}
	s.mux = s.routes()
	s.faults.endpoints = s.stats.names
	return s
}

// ServeHTTP serves every provider and the admin API.
func (s *Sandbox) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.mux.ServeHTTP(w, r) }

// Close releases requests held by a hang fault, so an httptest.Server can shut down.
// The Sandbox keeps serving afterwards, but hang faults end at once.
func (s *Sandbox) Close() { s.once.Do(func() { close(s.closed) }) }

// Now is the sandbox's current time: Options.Clock plus every Advance.
func (s *Sandbox) Now() time.Time { return s.opts.Clock().Add(time.Duration(s.offset.Load())) }

// Advance moves the sandbox clock forward by d (for a process without an injected clock).
func (s *Sandbox) Advance(d time.Duration) { s.offset.Add(int64(d)) }

// Salesforce returns the Salesforce data plane (org data, users, API limits).
func (s *Sandbox) Salesforce() *sfdc.Server { return s.sf }

// Faults returns the fault plan consulted before every provider request.
func (s *Sandbox) Faults() *FaultPlan { return s.faults }

// AddApp registers (or replaces, by provider and client id) an OAuth client.
func (s *Sandbox) AddApp(a App) error {
	p, err := resolveApp(a)
	if err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.apps[string(a.Provider)+"\x00"+a.ClientID] = p
	if f := s.first[a.Provider]; f == nil || f.ClientID == a.ClientID {
		s.first[a.Provider] = p
	}
	return nil
}

func (s *Sandbox) app(p Provider, clientID string) *appPolicy {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.apps[string(p)+"\x00"+clientID]
}

// Apps lists the registered apps.
func (s *Sandbox) Apps() []App {
	s.mu.RLock()
	defer s.mu.RUnlock()
	out := make([]App, 0, len(s.apps))
	for _, p := range s.apps {
		out = append(out, p.App)
	}
	return out
}

// AddUser registers a Google, Microsoft or Zoom account (Salesforce users belong to sfdc).
// A user with the same provider and id is replaced.
func (s *Sandbox) AddUser(u User) error {
	if u.Provider == Salesforce || !u.Provider.valid() {
		return fmt.Errorf("user %q: provider must be google, microsoft or zoom (Salesforce users come from the org data)", u.ID)
	}
	if u.ID == "" || u.Email == "" {
		return fmt.Errorf("%s user: id and email are required", u.Provider)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	list := s.users[u.Provider]
	for i := range list {
		if list[i].ID == u.ID {
			list[i] = u
			return nil
		}
	}
	s.users[u.Provider] = append(list, u)
	return nil
}

// user finds a Google/Microsoft/Zoom user by id or email (case-insensitive).
func (s *Sandbox) user(p Provider, login string) (User, bool) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	list := s.users[p]
	if login == "" && len(list) > 0 {
		return list[0], true
	}
	for _, u := range list {
		if u.ID == login || strings.EqualFold(u.Email, login) {
			return u, true
		}
	}
	return User{}, false
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
