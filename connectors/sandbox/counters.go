package sandbox

import (
	"slices"
	"sort"
	"sync"
	"sync/atomic"
)

// endpointStats counts calls to one endpoint; all fields are atomic.
type endpointStats struct {
	provider Provider
	name     string
	class    endpointClass
	calls    atomic.Int64
	faults   atomic.Int64
	byClass  [6]atomic.Int64 // index status/100
	unknown  atomic.Int64    // refresh/revoke with a token the sandbox never issued (or forgot)
}

func (e *endpointStats) count(status int) {
	if status == 0 {
		status = 200
	}
	if c := status / 100; c >= 1 && c <= 5 {
		e.byClass[c].Add(1)
	}
}

type counters struct {
	mu  sync.Mutex // guards registration only; lookups after routes() are read-only
	eps map[string]*endpointStats
}

func newCounters() *counters { return &counters{eps: map[string]*endpointStats{}} }

func (c *counters) endpoint(p Provider, name string, class endpointClass) *endpointStats {
	c.mu.Lock()
	defer c.mu.Unlock()
	k := string(p) + "." + name
	if e := c.eps[k]; e != nil {
		return e
	}
	e := &endpointStats{provider: p, name: name, class: class}
	c.eps[k] = e
	return e
}

// names returns the endpoint names registered for p (every provider's when p is empty),
// sorted and without repeats: the names a fault may match.
func (c *counters) names(p Provider) []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []string
	for _, e := range c.eps {
		if (p == "" || e.provider == p) && !slices.Contains(out, e.name) {
			out = append(out, e.name)
		}
	}
	slices.Sort(out)
	return out
}

func (c *counters) get(p Provider, name string) *endpointStats {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.eps[string(p)+"."+name]
}

// EndpointCounters counts requests to one endpoint, faults included.
type EndpointCounters struct {
	Calls  int64 `json:"calls"`
	Faults int64 `json:"faults"` // answered by an injected fault (latency-only faults not counted)
	OK     int64 `json:"status_2xx"`
	Redir  int64 `json:"status_3xx"`
	Client int64 `json:"status_4xx"`
	Server int64 `json:"status_5xx"`
	// UnknownTokens counts token/revoke calls naming a token the sandbox does not know.
	UnknownTokens int64 `json:"unknown_tokens"`
}

// GrantCounters counts what happened to one grant.
type GrantCounters struct {
	Provider Provider `json:"provider"`
	ClientID string   `json:"client_id"`
	Subject  string   `json:"subject"`
	// Calls are API calls authenticated with one of the grant's access tokens.
	Calls int64 `json:"calls"`
	// Refreshes are successful refresh_token grants.
	Refreshes int64 `json:"refreshes"`
	// Rotations are refreshes that issued a new refresh token.
	Rotations int64 `json:"rotations"`
	// DeadTokenReplays are refresh attempts with a token of this grant that no longer works
	// (rotated out, revoked, evicted or expired).
	DeadTokenReplays int64 `json:"dead_token_replays"`
	// Requests are every provider request naming one of the grant's tokens (a refresh, an
	// API call), whatever the answer, injected faults and refusals included: the calls a
	// client spent on this grant, e.g. on a connection that stays broken.
	Requests int64 `json:"requests"`
}

// Counters is a snapshot of every counter. Endpoint keys are "provider.endpoint", e.g.
// "google.token", "salesforce.query"; grant keys are grant ids.
type Counters struct {
	Endpoints map[string]EndpointCounters `json:"endpoints"`
	Grants    map[string]GrantCounters    `json:"grants"`
}

// Endpoint returns the counters of provider p's endpoint name (zero if never registered).
func (c Counters) Endpoint(p Provider, name string) EndpointCounters {
	return c.Endpoints[string(p)+"."+name]
}

// Counters returns a snapshot of all counters.
func (s *Sandbox) Counters() Counters {
	out := Counters{Endpoints: map[string]EndpointCounters{}, Grants: map[string]GrantCounters{}}
	s.stats.mu.Lock()
	keys := make([]string, 0, len(s.stats.eps))
	for k := range s.stats.eps {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		e := s.stats.eps[k]
		out.Endpoints[k] = EndpointCounters{
			Calls: e.calls.Load(), Faults: e.faults.Load(),
			OK: e.byClass[2].Load(), Redir: e.byClass[3].Load(), Client: e.byClass[4].Load(), Server: e.byClass[5].Load(),
			UnknownTokens: e.unknown.Load(),
		}
	}
	s.stats.mu.Unlock()
	for _, g := range s.store.allGrants() {
		out.Grants[g.id] = g.counters()
	}
	return out
}

func (g *grant) counters() GrantCounters {
	return GrantCounters{Provider: g.provider(), ClientID: g.app.ClientID, Subject: g.subject,
		Calls: g.calls.Load(), Refreshes: g.refreshes.Load(), Rotations: g.rotations.Load(), DeadTokenReplays: g.replays.Load(),
		Requests: g.requests.Load()}
}

// ResetCounters zeroes every endpoint and grant counter.
func (s *Sandbox) ResetCounters() {
	s.stats.mu.Lock()
	for _, e := range s.stats.eps {
		e.calls.Store(0)
		e.faults.Store(0)
		e.unknown.Store(0)
		for i := range e.byClass {
			e.byClass[i].Store(0)
		}
	}
	s.stats.mu.Unlock()
	for _, g := range s.store.allGrants() {
		g.calls.Store(0)
		g.refreshes.Store(0)
		g.rotations.Store(0)
		g.replays.Store(0)
		g.requests.Store(0)
	}
}
