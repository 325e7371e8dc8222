package httpapi

import (
	"context"
	"encoding/json"
	"net/http"
	"sync"
)

// handleHealthz answers 200 while the process can serve HTTP at all.
func (s *Server) handleHealthz() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		_, _ = w.Write([]byte("ok\n"))
	})
}

// readiness is /readyz's body: per check "ok" or "fail" (details go to the log, not to
// an unauthenticated caller).
type readiness struct {
	Status string            `json:"status"` // ok, unavailable, draining
	Checks map[string]string `json:"checks"`
}

// handleReadyz answers 200 when every check passes within ReadyTimeout, 503 otherwise or
// while draining.
func (s *Server) handleReadyz() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		res := readiness{Status: "ok", Checks: make(map[string]string, len(s.p.Checks))}
		var mu sync.Mutex
		var wg sync.WaitGroup
		for _, c := range s.p.Checks {
			wg.Add(1)
			go func() {
				defer wg.Done()
				ctx, cancel := context.WithTimeout(r.Context(), s.p.ReadyTimeout)
				defer cancel()
				err := c.Ping(ctx)
				mu.Lock()
				defer mu.Unlock()
				if err != nil {
					s.log.Warn().Err(err).Str("check", c.Name).Msg("readiness check failed")
					res.Checks[c.Name] = "fail"
					res.Status = "unavailable"
					return
				}
				res.Checks[c.Name] = "ok"
			}()
		}
		wg.Wait()
		if s.draining.Load() {
			res.Status = "draining"
		}
		code := http.StatusOK
		if res.Status != "ok" {
			code = http.StatusServiceUnavailable
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(code)
		_ = json.NewEncoder(w).Encode(res)
	})
}

// pinger is what PingCheck needs: go-redis clients and the store both fit through small
// adapters.
type pinger func(ctx context.Context) error

// RedisCheck is the readiness check for a go-redis client (redis.UniversalClient's Ping).
func RedisCheck(ping func(ctx context.Context) error) Check {
	return Check{Name: "redis", Ping: pinger(ping)}
}

// DatabaseCheck is the readiness check for the store.
func DatabaseCheck(ping func(ctx context.Context) error) Check {
	return Check{Name: "database", Ping: pinger(ping)}
}
