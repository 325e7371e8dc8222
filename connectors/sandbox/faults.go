package sandbox

import (
	"fmt"
	"math"
	"math/rand/v2"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// FaultKind is what an injected fault does to a matching request.
type FaultKind string

// Fault kinds.
const (
	// FaultStatus answers with Status (429, 500, 503, ...) and the provider's error body for
	// that endpoint; 429 and 503 carry Retry-After.
	FaultStatus FaultKind = "status"
	// FaultHang holds the request without answering until the client gives up (its
	// deadline), HangFor passes, or Sandbox.Close; then the connection is dropped.
	FaultHang FaultKind = "hang"
	// FaultDrop closes the connection without an answer.
	FaultDrop FaultKind = "drop"
	// FaultLatency delays the request by Latency, then serves it normally.
	FaultLatency FaultKind = "latency"
	// FaultAnswer answers with the provider's recorded answer named Answer (see Answers):
	// a token answer on the token endpoint, an API answer on API endpoints.
	FaultAnswer FaultKind = "answer"
)

// Statuses a FaultStatus may use: each has a body per provider. Other 4xx answers carry
// meaning and are given by name (FaultAnswer), so no invented body stands for them.
var faultStatuses = []int{429, 500, 502, 503, 504}

// Fault is one rule of the fault plan. It matches requests by provider and endpoint name
// (the part after the dot in Counters keys: "token", "calendarList", "query"...; empty
// matches all) and fires on the next Count matching requests (0: every one), each with
// probability Share (0: always).
type Fault struct {
	ID       string    `json:"id,omitempty"` // assigned by Add
	Provider Provider  `json:"provider,omitempty"`
	Endpoint string    `json:"endpoint,omitempty"`
	Kind     FaultKind `json:"kind"`
	Status   int       `json:"status,omitempty"`
	// Answer names the provider answer of a FaultAnswer (GET /admin/answers).
	Answer string `json:"answer,omitempty"`
	// RetryAfter is the Retry-After header value. Empty: "1" for 429 and 503.
	RetryAfter string       `json:"retry_after,omitempty"`
	Count      int          `json:"count,omitempty"`
	Share      float64      `json:"share,omitempty"`
	Latency    *LatencyDist `json:"latency,omitempty"`
	// HangFor bounds a hang. Zero means 2 minutes.
	HangFor Duration `json:"hang_for,omitempty"`
	// Fired counts how often the fault fired (read-only, filled by List).
	Fired int64 `json:"fired,omitempty"`
}

// LatencyDist is a delay distribution: "fixed" (Mean), "uniform" (Min..Max), "normal"
// (Mean, StdDev, clipped at 0) or "exponential" (Mean).
type LatencyDist struct {
	Dist   string   `json:"dist"`
	Min    Duration `json:"min,omitempty"`
	Max    Duration `json:"max,omitempty"`
	Mean   Duration `json:"mean,omitempty"`
	StdDev Duration `json:"stddev,omitempty"`
}

// Fixed returns a LatencyDist of exactly d.
func Fixed(d time.Duration) *LatencyDist { return &LatencyDist{Dist: "fixed", Mean: Duration(d)} }

func (l *LatencyDist) validate() error {
	switch l.Dist {
	case "fixed", "exponential":
		if l.Mean < 0 {
			return fmt.Errorf("latency %s: mean must be >= 0", l.Dist)
		}
	case "uniform":
		if l.Min < 0 || l.Max < l.Min {
			return fmt.Errorf("latency uniform: need 0 <= min <= max")
		}
	case "normal":
		if l.StdDev < 0 {
			return fmt.Errorf("latency normal: stddev must be >= 0")
		}
	default:
		return fmt.Errorf("latency: unknown dist %q (fixed, uniform, normal, exponential)", l.Dist)
	}
	return nil
}

func (l *LatencyDist) sample(r *rand.Rand) time.Duration {
	var d float64
	switch l.Dist {
	case "uniform":
		d = float64(l.Min) + r.Float64()*float64(l.Max-l.Min)
	case "normal":
		d = float64(l.Mean) + r.NormFloat64()*float64(l.StdDev)
	case "exponential":
		d = r.ExpFloat64() * float64(l.Mean)
	default:
		d = float64(l.Mean)
	}
	return time.Duration(math.Max(0, d))
}

// FaultPlan is the ordered list of active faults. Safe for concurrent use.
type FaultPlan struct {
	active atomic.Int32 // len(faults), read without the lock on every request
	// endpoints lists the endpoint names the sandbox serves for a provider (all when
	// empty); nil accepts any name. Set once, before the first Add.
	endpoints func(Provider) []string
	mu        sync.Mutex
	rnd       *rand.Rand
	next      int64
	faults    []*faultState
}

type faultState struct {
	f         Fault
	remaining int // only when f.Count > 0
	fired     int64
}

func newFaultPlan(r *rand.Rand) *FaultPlan { return &FaultPlan{rnd: r} }

func (p *FaultPlan) armed() bool { return p.active.Load() > 0 }

// Add validates f and appends it to the plan; it returns the fault's id.
func (p *FaultPlan) Add(f Fault) (string, error) {
	switch f.Kind {
	case FaultStatus:
		if !slices.Contains(faultStatuses, f.Status) {
			return "", fmt.Errorf("fault: status %d: a status fault is one of %v; for a provider's 4xx answer use kind %q with its name (GET /admin/answers)",
				f.Status, faultStatuses, FaultAnswer)
		}
	case FaultAnswer:
		if f.Provider == "" {
			return "", fmt.Errorf("fault: kind answer needs a provider")
		}
		a, err := findAnswer(f.Provider, f.Answer)
		if err != nil {
			return "", fmt.Errorf("fault: %w", err)
		}
		if f.Status != 0 && f.Status != a.Status {
			return "", fmt.Errorf("fault: %s answer %s has status %d, not %d", f.Provider, f.Answer, a.Status, f.Status)
		}
	case FaultHang, FaultDrop:
	case FaultLatency:
		if f.Latency == nil {
			return "", fmt.Errorf("fault: latency kind needs a latency distribution")
		}
	default:
		return "", fmt.Errorf("fault: unknown kind %q (status, answer, hang, drop, latency)", f.Kind)
	}
	if f.Latency != nil {
		if err := f.Latency.validate(); err != nil {
			return "", fmt.Errorf("fault: %w", err)
		}
	}
	if f.Provider != "" && !f.Provider.valid() {
		return "", fmt.Errorf("fault: unknown provider %q", f.Provider)
	}
	if f.Endpoint != "" && p.endpoints != nil {
		// Stored, a fault on a name no request carries would never fire.
		if valid := p.endpoints(f.Provider); !slices.Contains(valid, f.Endpoint) {
			of := "any provider"
			if f.Provider != "" {
				of = string(f.Provider)
			}
			return "", fmt.Errorf("fault: the sandbox serves no endpoint %q for %s, so the fault would never fire; use one of %s (or none for every endpoint)",
				f.Endpoint, of, strings.Join(valid, ", "))
		}
	}
	if f.Count < 0 || f.Share < 0 || f.Share > 1 {
		return "", fmt.Errorf("fault: count must be >= 0 and share within [0,1]")
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.next++
	f.ID = "f" + strconv.FormatInt(p.next, 10)
	f.Fired = 0
	p.faults = append(p.faults, &faultState{f: f, remaining: f.Count})
	p.active.Store(int32(len(p.faults)))
	return f.ID, nil
}

// MustAdd is Add for tests: it panics on an invalid fault.
func (p *FaultPlan) MustAdd(f Fault) string {
	id, err := p.Add(f)
	if err != nil {
		panic(err)
	}
	return id
}

// Remove deletes the fault with id; it reports whether it existed.
func (p *FaultPlan) Remove(id string) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	for i, fs := range p.faults {
		if fs.f.ID == id {
			p.faults = append(p.faults[:i], p.faults[i+1:]...)
			p.active.Store(int32(len(p.faults)))
			return true
		}
	}
	return false
}

// Clear removes every fault.
func (p *FaultPlan) Clear() {
	p.mu.Lock()
	p.faults = nil
	p.active.Store(0)
	p.mu.Unlock()
}

// List returns the active faults with their Fired counts.
func (p *FaultPlan) List() []Fault {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := make([]Fault, 0, len(p.faults))
	for _, fs := range p.faults {
		f := fs.f
		f.Fired = fs.fired
		if f.Count > 0 {
			f.Count = fs.remaining
		}
		out = append(out, f)
	}
	return out
}

// decide picks what happens to a request: a total delay from latency faults and at most
// one outcome fault (the first that fires).
func (p *FaultPlan) decide(ep *endpointStats) (delay time.Duration, outcome *Fault) {
	p.mu.Lock()
	defer p.mu.Unlock()
	kept := p.faults[:0]
	for _, fs := range p.faults {
		f := &fs.f
		fires := (f.Provider == "" || f.Provider == ep.provider) && (f.Endpoint == "" || f.Endpoint == ep.name) &&
			(f.Kind != FaultAnswer || answerFits(f, ep)) &&
			(outcome == nil || f.Kind == FaultLatency) &&
			(f.Share == 0 || p.rnd.Float64() < f.Share)
		if fires {
			fs.fired++
			if f.Latency != nil {
				delay += f.Latency.sample(p.rnd)
			}
			if f.Kind != FaultLatency {
				c := *f
				outcome = &c
			}
			if f.Count > 0 {
				fs.remaining--
				if fs.remaining == 0 {
					continue // used up
				}
			}
		}
		kept = append(kept, fs)
	}
	for i := len(kept); i < len(p.faults); i++ {
		p.faults[i] = nil
	}
	p.faults = kept
	p.active.Store(int32(len(kept)))
	return delay, outcome
}

// applyFaults runs the plan for one request; it reports whether the request was answered
// (or dropped) by a fault.
func (s *Sandbox) applyFaults(w *statusWriter, r *http.Request, ep *endpointStats) bool {
	delay, f := s.faults.decide(ep)
	if delay > 0 {
		if err := s.opts.Sleep(r.Context(), delay); err != nil {
			return true // client gone
		}
	}
	if f == nil {
		return false
	}
	ep.faults.Add(1)
	switch f.Kind {
	case FaultDrop:
		dropConn(w)
	case FaultHang:
		hang := time.Duration(f.HangFor)
		if hang <= 0 {
			hang = 2 * time.Minute
		}
		t := time.NewTimer(hang)
		defer t.Stop()
		select {
		case <-r.Context().Done():
		case <-s.closed:
		case <-t.C:
		}
		dropConn(w)
	case FaultAnswer:
		a, _ := findAnswer(f.Provider, f.Answer) // validated by Add
		a.write(s, w, f.RetryAfter, s.Now())
	case FaultStatus:
		if ep.provider == Salesforce && f.Status == 429 && (ep.class == classAPI || ep.name == "token") {
			// Salesforce never answers 429: its limits are 403 REQUEST_LIMIT_EXCEEDED on
			// the API and 400 rate_limit_exceeded at the token endpoint (salesforce.md
			// §3.2, §5.5). It sends no Retry-After either.
			if ep.name == "token" {
				writeOAuthError(w, Salesforce, oauthError{status: 400, code: "rate_limit_exceeded", desc: "rate limit exceeded"}, s.Now())
				return true
			}
			a, _ := findAnswer(Salesforce, "concurrent_limit")
			a.write(s, w, "", s.Now())
			return true
		}
		ra := f.RetryAfter
		if ra == "" && (f.Status == 429 || f.Status == 503) {
			ra = "1"
		}
		if ra != "" {
			w.Header().Set("Retry-After", ra)
		}
		s.writeFaultBody(w, ep, f.Status)
	}
	return true
}

func answerFits(f *Fault, ep *endpointStats) bool {
	a, err := findAnswer(f.Provider, f.Answer)
	return err == nil && a.fits(ep)
}

// dropConn closes the client connection without a response.
func dropConn(w *statusWriter) {
	w.status = 599 // counted as a server-side failure
	if conn, _, err := http.NewResponseController(w.ResponseWriter).Hijack(); err == nil {
		_ = conn.Close()
		return
	}
	panic(http.ErrAbortHandler) // HTTP/2 or a recorder: net/http aborts the stream
}

// writeFaultBody answers with status in the shape the provider uses on this endpoint.
func (s *Sandbox) writeFaultBody(w http.ResponseWriter, ep *endpointStats, status int) {
	if status == http.StatusBadGateway || status == http.StatusGatewayTimeout {
		// The provider's front end, not the service, answers these: an HTML page.
		w.Header().Set("Content-Type", "text/html; charset=UTF-8")
		w.WriteHeader(status)
		_, _ = fmt.Fprintf(w, "<html><head><title>%d %s</title></head><body><h1>%d %s</h1></body></html>\n", status, http.StatusText(status), status, http.StatusText(status))
		return
	}
	kind := errServer
	switch status {
	case 429:
		kind = errThrottled
	case 503:
		kind = errUnavailable
	}
	switch ep.class {
	case classOAuth, classPage:
		if ep.class == classPage {
			w.Header().Set("Content-Type", "text/html; charset=utf-8")
			w.WriteHeader(status)
			_, _ = fmt.Fprintf(w, "<!doctype html><title>Error %d</title><h1>Error %d</h1><p>%s</p>\n", status, status, http.StatusText(status))
			return
		}
		e := oauthErrorFor(ep.provider, kind, errInfo{})
		e.status = status
		writeOAuthError(w, ep.provider, e, s.Now())
	default:
		s.writeAPIError(w, ep.provider, status, apiFault(kind), "")
	}
}
