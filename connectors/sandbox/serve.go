package sandbox

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"time"

	"github.com/rs/zerolog"
)

// ServeOptions configures ListenAndServe.
type ServeOptions struct {
	// Addr is HOST:PORT to listen on. Empty means 127.0.0.1:0 (a free port).
	Addr string
	// ScenarioFile, if set, is loaded before serving.
	ScenarioFile string
	// Stdout receives one JSON line with each provider's base URL once listening. Nil
	// means io.Discard.
	Stdout io.Writer
	// Logger receives one line per request (method, path without query, status,
	// duration). Query strings are never logged: they can carry tokens.
	Logger zerolog.Logger
	// Sandbox configures the emulator itself.
	Sandbox Options
	// Listening, if set, is called with the base URL once the line is printed.
	Listening func(base string)
}

// BaseURLs is the line ListenAndServe prints.
type BaseURLs struct {
	Salesforce string `json:"salesforce"`
	Google     string `json:"google"`
	Microsoft  string `json:"microsoft"`
	Zoom       string `json:"zoom"`
	Admin      string `json:"admin"`
}

// ListenAndServe runs the sandbox as a server until ctx ends, then shuts down gracefully
// (hung requests are released first). This is the `tether sandbox` verb.
func ListenAndServe(ctx context.Context, o ServeOptions) error {
	sb := New(o.Sandbox)
	if o.ScenarioFile != "" {
		if err := sb.LoadScenarioFile(o.ScenarioFile); err != nil {
			return fmt.Errorf("sandbox: %w", err)
		}
	}
	addr := o.Addr
	if addr == "" {
		addr = "127.0.0.1:0"
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("sandbox: listen %s: %w", addr, err)
	}
	base := "http://" + printableAddr(ln.Addr().(*net.TCPAddr))
	line, _ := json.Marshal(BaseURLs{Salesforce: base + "/salesforce", Google: base + "/google",
		Microsoft: base + "/microsoft", Zoom: base + "/zoom", Admin: base + "/admin"})
	out := o.Stdout
	if out == nil {
		out = io.Discard
	}
	if _, err := fmt.Fprintf(out, "%s\n", line); err != nil {
		_ = ln.Close()
		return fmt.Errorf("sandbox: print base urls: %w", err)
	}
	if o.Listening != nil {
		o.Listening(base)
	}
	srv := &http.Server{Handler: logRequests(o.Logger, sb), ReadHeaderTimeout: 10 * time.Second}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return fmt.Errorf("sandbox: serve: %w", err)
	case <-ctx.Done():
	}
	sb.Close()
	shutCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(shutCtx); err != nil {
		return fmt.Errorf("sandbox: shutdown: %w", err)
	}
	if err := <-errc; err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("sandbox: serve: %w", err)
	}
	return nil
}

// printableAddr turns a wildcard listen address into one a client can dial.
func printableAddr(a *net.TCPAddr) string {
	ip := a.IP
	if ip == nil || ip.IsUnspecified() {
		ip = net.IPv4(127, 0, 0, 1)
	}
	return net.JoinHostPort(ip.String(), fmt.Sprint(a.Port))
}

func logRequests(log zerolog.Logger, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		sw := &statusWriter{ResponseWriter: w}
		defer func() {
			status := sw.status
			if status == 0 {
				status = 200
			}
			log.Info().Str("method", r.Method).Str("path", r.URL.Path).Int("status", status).
				Dur("duration", time.Since(start)).Msg("sandbox request")
		}()
		next.ServeHTTP(sw, r)
	})
}
