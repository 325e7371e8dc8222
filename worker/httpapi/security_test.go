package httpapi_test

import (
	"bufio"
	"context"
	"io"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/rs/zerolog"

	"tether/sync/store/storetest"
	"tether/worker/httpapi"
	"tether/worker/redistest"
)

// login signs in at base's /monitoring/login and returns a client holding the session
// cookie that does not follow redirects.
func login(t *testing.T, base, user, password string) *http.Client {
	t.Helper()
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	c := &http.Client{Jar: jar, Timeout: 10 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	if tr, ok := http.DefaultTransport.(*http.Transport); ok && strings.HasPrefix(base, "https") {
		tr = tr.Clone()
		tr.TLSClientConfig.InsecureSkipVerify = true //nolint:gosec // httptest's own certificate
		c.Transport = tr
	}
	req, _ := http.NewRequest(http.MethodPost, base+"/monitoring/login",
		strings.NewReader(url.Values{"user": {user}, "password": {password}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Origin", base)
	req.Header.Set("Sec-Fetch-Site", "same-origin")
	res, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusSeeOther || res.Header.Get("Location") != "/monitoring/" {
		t.Fatalf("login: %d Location %q, want 303 to /monitoring/", res.StatusCode, res.Header.Get("Location"))
	}
	return c
}

// The session cookie is never sent by a browser on a cross-site request, never readable
// by scripts, and Secure when served over TLS.
func TestMonitoringSessionCookie(t *testing.T) {
	opt, _ := redistest.Client(t, dbAPI)
	mon := httpapi.NewMonitoring(opt)
	t.Cleanup(func() { _ = mon.Close() })
	s, err := httpapi.New(httpapi.Params{Gatherer: httpapi.NewRegistry(nil), Monitoring: mon, AdminUser: "admin", AdminPassword: "s3cret"})
	if err != nil {
		t.Fatal(err)
	}
	for _, srv := range []*httptest.Server{httptest.NewServer(s), httptest.NewTLSServer(s)} {
		t.Cleanup(srv.Close)
		c := login(t, srv.URL, "admin", "s3cret")
		u, _ := url.Parse(srv.URL + "/monitoring/")
		cookies := c.Jar.Cookies(u)
		if len(cookies) != 1 {
			t.Fatalf("%s: cookies %v, want the session", srv.URL, cookies)
		}
		// The jar hides attributes: read them from a fresh login response.
		req, _ := http.NewRequest(http.MethodPost, srv.URL+"/monitoring/login", strings.NewReader("user=admin&password=s3cret"))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		res, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		ck := res.Cookies()
		tls := strings.HasPrefix(srv.URL, "https")
		if len(ck) != 1 || ck[0].SameSite != http.SameSiteStrictMode || !ck[0].HttpOnly || ck[0].Secure != tls || ck[0].Path != "/monitoring" {
			t.Fatalf("%s: session cookie %+v; want SameSite=Strict, HttpOnly, Secure=%v, Path=/monitoring", srv.URL, ck, tls)
		}
		res, err = c.Get(srv.URL + "/monitoring/api/queues")
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode != http.StatusOK {
			t.Fatalf("%s: /monitoring/api/queues with the session = %d", srv.URL, res.StatusCode)
		}
		// A forged cookie does not pass.
		req, _ = http.NewRequest(http.MethodGet, srv.URL+"/monitoring/api/queues", nil)
		req.AddCookie(&http.Cookie{Name: cookies[0].Name, Value: cookies[0].Value[:len(cookies[0].Value)-2] + "AA"})
		res, err = (&http.Client{Transport: c.Transport}).Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode != http.StatusUnauthorized {
			t.Fatalf("%s: forged session = %d, want 401", srv.URL, res.StatusCode)
		}
	}
}

// A hostile page's form post, sent by a browser of a signed-in admin, pauses no queue; the
// same request from tether's own page does.
func TestMonitoringRefusesCrossSitePost(t *testing.T) {
	b := setup(t, nil, ok)
	c := login(t, b.srv.URL, "admin", "s3cret")
	inspector := asynq.NewInspector(b.redis)
	t.Cleanup(func() { _ = inspector.Close() })
	if _, err := b.client.Enqueue(asynq.NewTask("noop", nil), asynq.Queue("victim")); err != nil {
		t.Fatal(err)
	}
	pause := func(headers map[string]string) int {
		req, _ := http.NewRequest(http.MethodPost, b.srv.URL+"/monitoring/api/queues/victim:pause", nil)
		for k, v := range headers {
			req.Header.Set(k, v)
		}
		res, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		return res.StatusCode
	}
	paused := func() bool {
		qi, err := inspector.GetQueueInfo("victim")
		if err != nil {
			t.Fatal(err)
		}
		return qi.Paused
	}
	for _, h := range []map[string]string{
		{"Sec-Fetch-Site": "cross-site", "Origin": "https://evil.example"},
		{"Sec-Fetch-Site": "same-site", "Origin": "https://evil." + strings.TrimPrefix(b.srv.URL, "http://")},
		{"Origin": "https://evil.example"}, // an older browser: Origin only
	} {
		if code := pause(h); code != http.StatusForbidden {
			t.Errorf("cross-site pause %v = %d, want 403", h, code)
		}
	}
	if paused() {
		t.Fatal("a cross-site POST paused the queue")
	}
	if code := pause(map[string]string{"Sec-Fetch-Site": "same-origin", "Origin": b.srv.URL}); code != http.StatusNoContent && code != http.StatusOK {
		t.Fatalf("same-origin pause = %d, want success", code)
	}
	if !paused() {
		t.Fatal("a same-origin POST did not pause the queue")
	}
}

// The /v1 API: a cross-site text/plain POST (a form a hostile page can send without a
// preflight) is refused even with the admin's basic credentials; a program's JSON POST
// works.
func TestAPIRefusesCrossSiteAndNonJSON(t *testing.T) {
	b := setupImports(t, storetest.SQLite(t))
	started := func() int {
		imps, err := b.st.ListImports(t.Context(), b.org.ID, 100)
		if err != nil {
			t.Fatal(err)
		}
		return len(imps)
	}
	post := func(contentType string, headers map[string]string) (int, string) {
		req, _ := http.NewRequest(http.MethodPost, b.url+"/v1/orgs/"+b.org.ID+"/imports", strings.NewReader(`{"role":"admin","emails":"outsider@evil.example"}`))
		req.SetBasicAuth("admin", "pw")
		req.Header.Set("Content-Type", contentType)
		for k, v := range headers {
			req.Header.Set(k, v)
		}
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		return res.StatusCode, string(b)
	}
	cross := map[string]string{"Sec-Fetch-Site": "cross-site", "Origin": "https://evil.example"}
	if code, body := post("text/plain", cross); code != http.StatusForbidden || !strings.Contains(body, `"cross_origin"`) {
		t.Errorf("cross-site text/plain POST = %d %s, want 403 cross_origin", code, body)
	}
	if code, body := post("application/json", cross); code != http.StatusForbidden {
		t.Errorf("cross-site JSON POST = %d %s, want 403", code, body)
	}
	if code, body := post("text/plain", nil); code != http.StatusUnsupportedMediaType || !strings.Contains(body, `"unsupported_media_type"`) {
		t.Errorf("text/plain POST = %d %s, want 415", code, body)
	}
	if n := started(); n != 0 {
		t.Fatalf("%d imports started by refused requests", n)
	}
	same := map[string]string{"Sec-Fetch-Site": "same-origin", "Origin": b.url}
	for _, h := range []map[string]string{same, nil} {
		if code, body := post("application/json; charset=utf-8", h); code != http.StatusAccepted {
			t.Errorf("JSON POST %v = %d %s, want 202", h, code, body)
		}
	}
	if n := started(); n != 2 {
		t.Fatalf("%d imports started, want 2", n)
	}
}

// Every response carries the headers that stop framing, sniffing and Referer leaks.
func TestSecurityHeadersOnEveryResponse(t *testing.T) {
	b := setup(t, nil, ok)
	for _, path := range []string{"/healthz", "/metrics", "/monitoring/login", "/monitoring/", "/no-such-page"} {
		res, err := http.Get(b.srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		for k, v := range map[string]string{"X-Frame-Options": "DENY", "Content-Security-Policy": "frame-ancestors 'none'",
			"X-Content-Type-Options": "nosniff", "Referrer-Policy": "no-referrer"} {
			if got := res.Header.Get(k); got != v {
				t.Errorf("%s: %s = %q, want %q", path, k, got, v)
			}
		}
	}
}

// serveRaw runs h as tether serve does, with short timeouts, and returns its address.
func serveRaw(t *testing.T, h http.Handler, to httpapi.Timeouts) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- httpapi.Serve(ctx, ln, h, to, zerolog.Nop(), nil) }()
	t.Cleanup(func() { cancel(); <-done })
	return ln.Addr().String()
}

// closedWithin reads from conn until the server closes it and fails if that takes longer
// than limit.
func closedWithin(t *testing.T, conn net.Conn, limit time.Duration, what string) {
	t.Helper()
	start := time.Now()
	_ = conn.SetReadDeadline(start.Add(limit + 5*time.Second))
	_, err := io.Copy(io.Discard, conn)
	if took := time.Since(start); err != nil || took > limit {
		t.Errorf("%s: connection open %s (err %v), want closed by the server within %s", what, took.Round(time.Millisecond), err, limit)
	}
}

// Slow clients are cut off within the configured timeouts: an idle keep-alive connection,
// and an unauthenticated POST announcing a 100 KB body and sending none (its 401 comes at
// once, without waiting for the body).
func TestSlowClientsCutOff(t *testing.T) {
	b := setupImports(t, storetest.SQLite(t))
	to := httpapi.Timeouts{ReadHeader: 300 * time.Millisecond, Read: 600 * time.Millisecond, Write: time.Second, Idle: 400 * time.Millisecond}
	addr := serveRaw(t, b.handler, to)

	var wg sync.WaitGroup
	for i := range 20 {
		wg.Add(2)
		go func() {
			defer wg.Done()
			conn, err := net.Dial("tcp", addr)
			if err != nil {
				t.Error(err)
				return
			}
			defer conn.Close()
			_, _ = io.WriteString(conn, "GET /healthz HTTP/1.1\r\nHost: tether\r\n\r\n")
			res, err := http.ReadResponse(bufio.NewReader(conn), nil)
			if err != nil || res.StatusCode != http.StatusOK {
				t.Errorf("idle client %d: %v, %v", i, res, err)
				return
			}
			_, _ = io.Copy(io.Discard, res.Body)
			// Keep-alive, then silence.
			closedWithin(t, conn, to.Idle+time.Second, "idle keep-alive connection")
		}()
		go func() {
			defer wg.Done()
			conn, err := net.Dial("tcp", addr)
			if err != nil {
				t.Error(err)
				return
			}
			defer conn.Close()
			start := time.Now()
			_, _ = io.WriteString(conn, "POST /v1/orgs/"+b.org.ID+"/imports HTTP/1.1\r\nHost: tether\r\n"+
				"Content-Type: application/json\r\nContent-Length: 100000\r\n\r\n")
			_ = conn.SetReadDeadline(start.Add(10 * time.Second))
			br := bufio.NewReader(conn)
			res, err := http.ReadResponse(br, nil)
			if err != nil {
				t.Errorf("stalled POST %d: no answer: %v", i, err)
				return
			}
			if took := time.Since(start); res.StatusCode != http.StatusUnauthorized || took > to.Read/2 {
				t.Errorf("stalled POST %d: %d after %s, want 401 at once (before the %s read timeout)", i, res.StatusCode, took, to.Read)
			}
			_, _ = io.Copy(io.Discard, res.Body)
			closedWithin(t, conn, to.Read+time.Second, "stalled unauthenticated POST")
		}()
	}
	wg.Wait()

	// An authenticated POST that stalls mid-body is cut off by the read timeout too.
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_, _ = io.WriteString(conn, "POST /v1/orgs/"+b.org.ID+"/imports HTTP/1.1\r\nHost: tether\r\nAuthorization: Basic YWRtaW46cHc=\r\n"+
		"Content-Type: application/json\r\nContent-Length: 100000\r\n\r\n{\"role\":")
	closedWithin(t, conn, to.Read+2*time.Second, "authenticated POST stalled mid-body")
}

// Requests without credentials beyond the cap get 503 at once instead of piling up.
func TestUnauthenticatedWorkIsCapped(t *testing.T) {
	release := make(chan struct{})
	entered := make(chan struct{}, 8)
	slow := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		entered <- struct{}{}
		<-release
	})
	s, err := httpapi.New(httpapi.Params{Gatherer: httpapi.NewRegistry(nil), Join: slow, MaxUnauthenticated: 2})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(s)
	t.Cleanup(srv.Close)
	var wg sync.WaitGroup
	for range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if res, err := http.Get(srv.URL + "/join/x"); err == nil {
				res.Body.Close()
			}
		}()
	}
	<-entered
	<-entered
	res, err := http.Get(srv.URL + "/join/y")
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusServiceUnavailable || res.Header.Get("Retry-After") == "" {
		t.Errorf("third request at once = %d, want 503 with Retry-After", res.StatusCode)
	}
	// Authenticated and probe routes are not counted.
	if res, err := http.Get(srv.URL + "/healthz"); err != nil || res.StatusCode != http.StatusOK {
		t.Errorf("/healthz while the cap is reached: %v, %v", res, err)
	}
	close(release)
	wg.Wait()
	res, err = http.Get(srv.URL + "/join/z")
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode == http.StatusServiceUnavailable {
		t.Error("the cap is not released after the requests finished")
	}
}
