package sandbox

// Token-refresh throughput, in-process (the handler called directly, no sockets), so the
// figure is the sandbox's own cost and shows it is never the bottleneck (goal: >= 20,000
// refreshes/s). Run:
//
//	go test -run '^$' -bench 'Refresh' -benchtime 2s -count 5 ./connectors/sandbox/

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
)

func benchRefresh(b *testing.B, p Provider, scopes []string) {
	// No per-user grant cap: every goroutine's grant belongs to the same default user.
	id, secret := defaultCreds(p)
	sb := New(Options{Apps: []App{{Provider: p, ClientID: id, ClientSecret: secret, MaxGrantsPerUser: -1,
		DefaultScopes: DefaultApps()[3].DefaultScopes}}})
	defer sb.Close()
	tokenPath := Endpoints("", p).TokenURL
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		// One grant per goroutine, as one connection per rep: no shared grant lock.
		tk, err := sb.IssueGrant(p, "", scopes)
		if err != nil {
			b.Error(err)
			return
		}
		rt := tk.RefreshToken
		rec := &benchWriter{h: http.Header{}}
		for pb.Next() {
			form := url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt}}
			if p != Zoom {
				form.Set("client_id", id)
				form.Set("client_secret", secret)
			}
			req, _ := http.NewRequest(http.MethodPost, "http://sandbox.test"+tokenPath, strings.NewReader(form.Encode()))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			if p == Zoom {
				req.SetBasicAuth(id, secret)
			}
			rec.reset()
			sb.ServeHTTP(rec, req)
			if rec.code != 200 {
				b.Errorf("refresh: %d %s", rec.code, rec.body.Bytes())
				return
			}
			if p == Zoom || p == Microsoft {
				var body struct {
					RefreshToken string `json:"refresh_token"`
				}
				_ = json.Unmarshal(rec.body.Bytes(), &body)
				rt = body.RefreshToken
			}
		}
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "refreshes/s")
}

// Google: no rotation.
func BenchmarkRefreshGoogle(b *testing.B) {
	benchRefresh(b, Google, []string{"openid", googleScopePrefix + "calendar.events"})
}

// Zoom: rotation, old token killed; HTTP Basic.
func BenchmarkRefreshZoom(b *testing.B) { benchRefresh(b, Zoom, nil) }

// Microsoft: rotation, old token kept; the largest bodies.
func BenchmarkRefreshMicrosoft(b *testing.B) {
	benchRefresh(b, Microsoft, []string{"offline_access", "User.Read", "Calendars.ReadWrite"})
}

// benchWriter is a reusable ResponseWriter, so the figure measures the sandbox rather than
// httptest's recorder.
type benchWriter struct {
	h    http.Header
	code int
	body bytes.Buffer
}

func (w *benchWriter) reset() {
	clear(w.h)
	w.code = 0
	w.body.Reset()
}
func (w *benchWriter) Header() http.Header { return w.h }
func (w *benchWriter) WriteHeader(c int) {
	if w.code == 0 {
		w.code = c
	}
}
func (w *benchWriter) Write(b []byte) (int, error) {
	if w.code == 0 {
		w.code = 200
	}
	return w.body.Write(b)
}
