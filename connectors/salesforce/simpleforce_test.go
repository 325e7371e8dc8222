package salesforce

import (
	"bytes"
	"context"
	"log"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/simpleforce/simpleforce"

	"tether/connectors/sandbox"
)

// The fault the guard exists for: simpleforce at this version panics on an
// empty error array. If this test fails, simpleforce changed and the guard
// comment in simpleforce.go needs revisiting.
func TestSimpleforcePanicsOnEmptyErrorArray(t *testing.T) {
	t.Parallel()
	panicked := func() (p bool) {
		defer func() { p = recover() != nil }()
		_ = simpleforce.ParseSalesforceError(500, []byte("[]"))
		return false
	}()
	if !panicked {
		t.Fatal("simpleforce no longer panics on []: the recover guard may be obsolete")
	}
}

func emptyArrayOnQuery(w http.ResponseWriter, r *http.Request) bool {
	if !strings.Contains(r.URL.Path, "/query") {
		return false
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusInternalServerError)
	_, _ = w.Write([]byte("[]"))
	return true
}

func TestEmptyErrorArrayIsAnError(t *testing.T) {
	t.Parallel()
	for _, p := range pagers {
		t.Run(p.name, func(t *testing.T) {
			t.Parallel()
			b := setup(t, setupOpts{users: 5, pager: p.pager})
			b.setWrapper(emptyArrayOnQuery)
			err := Query(context.Background(), b.client, "SELECT Id FROM User", func([]idRow) error { return nil })
			e, ok := asAPIError(err)
			if !ok || e.Status != 500 || e.Code != "" {
				t.Fatalf("got %v", err)
			}
		})
	}
}

// simpleforceFor is a bare simpleforce client on the bundle's server, no
// guard transport: what the library does on its own.
func simpleforceFor(b *testBundle) *simpleforce.Client {
	sf := simpleforce.NewClient(b.client.InstanceURL(), simpleforce.DefaultClientID, b.client.version)
	sf.SetSidLoc(b.grant.AccessToken, b.client.InstanceURL())
	return sf
}

// Salesforce sends several errors in one array; simpleforce keeps the
// first. Both pagers return all of them.
func TestAllErrorsKept(t *testing.T) {
	t.Parallel()
	for _, p := range pagers {
		t.Run(p.name, func(t *testing.T) {
			t.Parallel()
			b := setup(t, setupOpts{users: 5, pager: p.pager})
			b.setWrapper(func(w http.ResponseWriter, r *http.Request) bool {
				w.WriteHeader(http.StatusBadRequest)
				_, _ = w.Write([]byte(`[{"message":"No such column 'a'","errorCode":"INVALID_FIELD","fields":["a"]},{"message":"No such column 'b'","errorCode":"INVALID_FIELD","fields":["b"]}]`))
				return true
			})
			err := Query(context.Background(), b.client, "SELECT a, b FROM User", func([]idRow) error { return nil })
			e, ok := asAPIError(err)
			if !ok || !IsInvalidField(err) || len(e.Errors) != 2 || e.Fields[0] != "a" || e.Status != 400 {
				t.Fatalf("got %v", err)
			}
		})
	}
}

// simpleforce logs failed URLs (the whole SOQL) and bodies to the global
// logger. Guarded, nothing reaches it; unguarded, the SOQL does. Not
// parallel: it swaps the process's log output for the test's duration.
func TestGuardKeepsSimpleforceQuiet(t *testing.T) {
	var buf bytes.Buffer
	prev := log.Writer()
	log.SetOutput(&buf)
	t.Cleanup(func() { log.SetOutput(prev) })

	b := setup(t, setupOpts{users: 5})
	soql := "SELECT Id FROM User WHERE Email = 'jane.secret@example.com' AND"
	err := Query(context.Background(), b.client, soql, func([]idRow) error { return nil })
	if !IsMalformedQuery(err) {
		t.Fatalf("want MALFORMED_QUERY, got %v", err)
	}
	b.sb.Faults().MustAdd(faultDropQuery())
	if err := Query(context.Background(), b.client, soql, func([]idRow) error { return nil }); err == nil {
		t.Fatal("dropped connection: no error")
	}
	if buf.Len() != 0 {
		t.Fatalf("guarded simpleforce logged: %q", buf.String())
	}
	for _, e := range []error{err} {
		if strings.Contains(e.Error(), "secret") {
			t.Errorf("error carries the SOQL: %v", e)
		}
	}

	// Even when a failure is handed to simpleforce (the stand-in answer
	// switched off), its panic on [] is recovered and the transport's
	// capture supplies the real status.
	b.setWrapper(emptyArrayOnQuery)
	err = querySimpleforceGuarded(context.Background(), b.client, "SELECT Id FROM User", func([]idRow) error { return nil }, true)
	if e, ok := asAPIError(err); !ok || e.Status != 500 {
		t.Fatalf("unguarded body: got %v", err)
	}
	if _, perr := guardedQuery(simpleforceFor(b), "SELECT Id FROM User"); perr == nil || !strings.Contains(perr.Error(), "panicked") {
		t.Fatalf("guardedQuery did not turn the panic into an error: %v", perr)
	}
	b.setWrapper(nil)

	if _, err := simpleforceFor(b).Query(soql); err == nil {
		t.Fatal("unguarded malformed query: no error")
	}
	if !strings.Contains(buf.String(), "[simpleforce]") || !strings.Contains(buf.String(), "secret") {
		t.Fatalf("expected unguarded simpleforce to log the SOQL, log was %q", buf.String())
	}
}

// One Client, many concurrent queries: each gets its own simpleforce
// client, so -race stays quiet (a shared one races in makeURL).
func TestConcurrentQueries(t *testing.T) {
	t.Parallel()
	b := setup(t, setupOpts{users: 50})
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for range 8 {
		wg.Go(func() {
			n := 0
			errs <- Query(context.Background(), b.client, "SELECT Id FROM User", func(r []idRow) error { n += len(r); return nil })
			if n != len(b.spec.Users) {
				t.Errorf("got %d rows", n)
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Error(err)
		}
	}
}

func faultDropQuery() sandbox.Fault {
	return sandbox.Fault{Provider: sandbox.Salesforce, Endpoint: "query", Kind: sandbox.FaultDrop, Count: 1}
}
