package worker_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"github.com/rs/zerolog"

	"tether/sync/connections"
	"tether/sync/directory"
	"tether/sync/store"
	"tether/sync/store/storetest"
	"tether/worker"
	"tether/worker/httpapi"
)

// clock is a settable clock for the gauges' cache.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// scrape GETs /metrics from srv and parses it.
func scrape(t *testing.T, srv *httptest.Server) map[string]*dto.MetricFamily {
	t.Helper()
	resp, err := http.Get(srv.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(resp.Body)
		t.Fatalf("/metrics = %d: %s", resp.StatusCode, b)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	mfs, err := p.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatalf("parse /metrics: %v", err)
	}
	return mfs
}

// sample returns the value of the series of family name with exactly labels (name,
// value pairs), and whether it exists; a histogram's value is its sample count.
func sample(mfs map[string]*dto.MetricFamily, name string, labels ...string) (float64, bool) {
	mf := mfs[name]
	if mf == nil {
		return 0, false
	}
	for _, m := range mf.GetMetric() {
		if len(m.GetLabel())*2 != len(labels) {
			continue
		}
		match := true
		for _, l := range m.GetLabel() {
			i := indexOf(labels, l.GetName())
			match = match && i >= 0 && labels[i+1] == l.GetValue()
		}
		if !match {
			continue
		}
		switch {
		case m.Counter != nil:
			return m.GetCounter().GetValue(), true
		case m.Gauge != nil:
			return m.GetGauge().GetValue(), true
		case m.Histogram != nil:
			return float64(m.GetHistogram().GetSampleCount()), true
		}
	}
	return 0, false
}

func indexOf(pairs []string, name string) int {
	for i := 0; i+1 < len(pairs); i += 2 {
		if pairs[i] == name {
			return i
		}
	}
	return -1
}

func wantSample(t *testing.T, mfs map[string]*dto.MetricFamily, want float64, name string, labels ...string) {
	t.Helper()
	got, ok := sample(mfs, name, labels...)
	if !ok {
		t.Fatalf("/metrics has no %s%v", name, labels)
	}
	if got != want {
		t.Fatalf("%s%v = %v, want %v", name, labels, got, want)
	}
}

// TestConnectionMetricsOnMetricsEndpoint reads the upkeep metrics the way Prometheus
// does: through /metrics of the HTTP server, with the gauges read from a real store.
func TestConnectionMetricsOnMetricsEndpoint(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, st *store.Store) {
		t.Parallel()
		ctx := t.Context()
		clk := &clock{t: time.Date(2026, 5, 4, 10, 0, 0, 0, time.UTC)}
		org, err := st.CreateOrg(ctx, directory.Org{Name: "Acme", SeatLimit: 10, CreatedAt: clk.now()})
		if err != nil {
			t.Fatal(err)
		}
		var members []directory.Membership
		for _, email := range []string{"ann@example.com", "bob@example.com", "cy@example.com"} {
			u, err := st.CreateUser(ctx, directory.User{Email: email, Name: email, CreatedAt: clk.now()})
			if err != nil {
				t.Fatal(err)
			}
			m, err := st.CreateMembership(ctx, org.ID, directory.Membership{UserID: u.ID, Role: directory.RoleChat, Status: directory.MembershipActive, CreatedAt: clk.now()})
			if err != nil {
				t.Fatal(err)
			}
			members = append(members, m)
		}
		overdue := 10 * time.Minute
		conn := func(m directory.Membership, k connections.Kind, s connections.State, next time.Time) {
			t.Helper()
			if _, err := st.CreateConnection(ctx, org.ID, connections.Connection{MembershipID: m.ID, Kind: k, State: s, NextRefreshAt: next}); err != nil {
				t.Fatal(err)
			}
		}
		conn(members[0], connections.KindGoogleCalendar, connections.StateHealthy, clk.now().Add(-overdue))
		conn(members[1], connections.KindGoogleCalendar, connections.StateHealthy, clk.now().Add(-time.Minute))
		conn(members[0], connections.KindZoom, connections.StateNeedsReconnect, clk.now().Add(time.Hour))

		reg := prometheus.NewRegistry()
		m, err := worker.NewConnectionMetrics(reg, []string{"google", "zoom"})
		if err != nil {
			t.Fatal(err)
		}
		maxAge := time.Minute
		err = worker.RegisterConnectionGauges(reg, worker.ConnectionGaugesParams{Stats: st, MaxAge: maxAge, Now: clk.now, Logger: zerolog.Nop()})
		if err != nil {
			t.Fatal(err)
		}
		api, err := httpapi.New(httpapi.Params{Gatherer: reg, Logger: zerolog.Nop()})
		if err != nil {
			t.Fatal(err)
		}
		srv := httptest.NewServer(api)
		t.Cleanup(srv.Close)

		// Every series exists at zero before anything happened, so rate() has a start.
		mfs := scrape(t, srv)
		wantSample(t, mfs, 0, "tether_connection_refreshes_total", "provider", "zoom", "outcome", "ok")
		wantSample(t, mfs, 0, "tether_connection_refreshes_total", "provider", "google", "outcome", string(connections.FailRateLimited))
		wantSample(t, mfs, 0, "tether_connection_verifications_total", "provider", "google", "outcome", string(connections.FailNeedsAdmin))
		wantSample(t, mfs, 0, "tether_connection_lost_during_refresh_total", "provider", "google")
		wantSample(t, mfs, 0, "tether_connection_refresh_duration_seconds", "provider", "google", "result", "ok")

		var _ connections.Metrics = m // what upkeep's service is given
		m.Refreshed("google", "", 120*time.Millisecond)
		m.Refreshed("google", "", 80*time.Millisecond)
		m.Refreshed("google", connections.FailTransient, 3*time.Second)
		m.Verified("zoom", connections.FailNeedsReconnect)
		m.Verified("google", "")
		m.LostDuringRefresh("zoom")

		mfs = scrape(t, srv)
		wantSample(t, mfs, 2, "tether_connection_refreshes_total", "provider", "google", "outcome", "ok")
		wantSample(t, mfs, 1, "tether_connection_refreshes_total", "provider", "google", "outcome", string(connections.FailTransient))
		wantSample(t, mfs, 0, "tether_connection_refreshes_total", "provider", "zoom", "outcome", "ok")
		wantSample(t, mfs, 1, "tether_connection_verifications_total", "provider", "zoom", "outcome", string(connections.FailNeedsReconnect))
		wantSample(t, mfs, 1, "tether_connection_verifications_total", "provider", "google", "outcome", "ok")
		wantSample(t, mfs, 1, "tether_connection_lost_during_refresh_total", "provider", "zoom")
		wantSample(t, mfs, 2, "tether_connection_refresh_duration_seconds", "provider", "google", "result", "ok")
		wantSample(t, mfs, 1, "tether_connection_refresh_duration_seconds", "provider", "google", "result", "failed")
		for _, h := range mfs["tether_connection_refresh_duration_seconds"].GetMetric() {
			if len(h.GetLabel()) == 2 && h.GetLabel()[0].GetValue() == "google" && h.GetLabel()[1].GetValue() == "ok" {
				if sum := h.GetHistogram().GetSampleSum(); sum < 0.199 || sum > 0.201 {
					t.Fatalf("latency sum of google's successful refreshes = %v, want 0.2", sum)
				}
			}
		}

		wantSample(t, mfs, 2, "tether_connections", "kind", string(connections.KindGoogleCalendar), "state", string(connections.StateHealthy))
		wantSample(t, mfs, 1, "tether_connections", "kind", string(connections.KindZoom), "state", string(connections.StateNeedsReconnect))
		wantSample(t, mfs, 0, "tether_connections", "kind", string(connections.KindTeams), "state", string(connections.StateHealthy))
		wantSample(t, mfs, overdue.Seconds(), "tether_connection_sweep_lag_seconds")
		wantSample(t, mfs, float64(clk.now().Unix()), "tether_connection_stats_read_timestamp_seconds")

		// Within MaxAge a scrape reuses the reading; after it, the store is read again.
		conn(members[2], connections.KindGoogleCalendar, connections.StateHealthy, time.Time{})
		clk.add(maxAge / 2)
		mfs = scrape(t, srv)
		wantSample(t, mfs, 2, "tether_connections", "kind", string(connections.KindGoogleCalendar), "state", string(connections.StateHealthy))
		wantSample(t, mfs, overdue.Seconds(), "tether_connection_sweep_lag_seconds")
		clk.add(maxAge / 2)
		mfs = scrape(t, srv)
		wantSample(t, mfs, 3, "tether_connections", "kind", string(connections.KindGoogleCalendar), "state", string(connections.StateHealthy))
		wantSample(t, mfs, (overdue + maxAge).Seconds(), "tether_connection_sweep_lag_seconds")
		wantSample(t, mfs, 0, "tether_connection_stats_read_errors_total")
	})
}

// TestConnectionGaugesKeepLastReading: a reading that fails (here: a deadline no query
// meets) is counted, and the last good values stay rather than dropping to zero.
func TestConnectionGaugesKeepLastReading(t *testing.T) {
	t.Parallel()
	st := storetest.SQLite(t)
	ctx := t.Context()
	clk := &clock{t: time.Date(2026, 5, 4, 10, 0, 0, 0, time.UTC)}
	org, err := st.CreateOrg(ctx, directory.Org{Name: "Acme", SeatLimit: 10, CreatedAt: clk.now()})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.EnsureConnection(ctx, org.ID, "", connections.KindSalesforceTeam, clk.now()); err != nil {
		t.Fatal(err)
	}
	good := prometheus.NewRegistry()
	if err := worker.RegisterConnectionGauges(good, worker.ConnectionGaugesParams{Stats: st, Now: clk.now, MaxAge: time.Second}); err != nil {
		t.Fatal(err)
	}
	// No reading can succeed within a nanosecond: the store answers with a context error.
	bad := prometheus.NewRegistry()
	if err := worker.RegisterConnectionGauges(bad, worker.ConnectionGaugesParams{Stats: st, Now: clk.now, Timeout: time.Nanosecond}); err != nil {
		t.Fatal(err)
	}
	serve := func(reg *prometheus.Registry) *httptest.Server {
		api, err := httpapi.New(httpapi.Params{Gatherer: reg, Logger: zerolog.Nop()})
		if err != nil {
			t.Fatal(err)
		}
		srv := httptest.NewServer(api)
		t.Cleanup(srv.Close)
		return srv
	}
	badSrv := serve(bad)
	mfs := scrape(t, badSrv)
	wantSample(t, mfs, 1, "tether_connection_stats_read_errors_total")
	if _, ok := mfs["tether_connections"]; ok {
		t.Fatal("tether_connections served before any good reading")
	}
	mfs = scrape(t, badSrv)
	wantSample(t, mfs, 2, "tether_connection_stats_read_errors_total")

	goodSrv := serve(good)
	mfs = scrape(t, goodSrv)
	wantSample(t, mfs, 1, "tether_connections", "kind", string(connections.KindSalesforceTeam), "state", string(connections.StateMissing))
	st.Close() // every later reading fails
	clk.add(time.Minute)
	mfs = scrape(t, goodSrv)
	wantSample(t, mfs, 1, "tether_connection_stats_read_errors_total")
	wantSample(t, mfs, 1, "tether_connections", "kind", string(connections.KindSalesforceTeam), "state", string(connections.StateMissing))
	wantSample(t, mfs, float64(clk.now().Add(-time.Minute).Unix()), "tether_connection_stats_read_timestamp_seconds")
}
