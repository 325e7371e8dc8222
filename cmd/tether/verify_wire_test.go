package main

import (
	"net/http/httptest"
	"testing"

	"tether/config"
	"tether/connectors/sandbox"
	"tether/sync/connections"
	"tether/sync/vault"
)

// The process builds its verifier once, from the configured API URLs: pointed at the
// sandbox, it verifies a Zoom and a Google connection there.
func TestVerifierBuiltOnceFromConfig(t *testing.T) {
	sb := sandbox.New(sandbox.Options{})
	srv := httptest.NewServer(sb)
	t.Cleanup(func() { sb.Close(); srv.Close() })
	vars := map[string]string{
		"TETHER_GOOGLE_API_URL":      srv.URL + "/google",
		"TETHER_MICROSOFT_GRAPH_URL": srv.URL + "/microsoft",
		"TETHER_ZOOM_API_URL":        srv.URL + "/zoom",
	}
	cfg, err := config.Load(func(k string) string { return vars[k] }, nil)
	if err != nil {
		t.Fatal(err)
	}
	a := newApp(&deps{cfg: cfg})
	v1, err := a.verifier()
	if err != nil {
		t.Fatal(err)
	}
	v2, _ := a.verifier()
	if v1 != v2 || a.constructions()["verifier"] != 1 {
		t.Fatalf("verifier built %d times, want once", a.constructions()["verifier"])
	}
	var v connections.Verifier = v1
	for _, c := range []struct {
		p     sandbox.Provider
		kind  connections.Kind
		scope []string
	}{
		{sandbox.Zoom, connections.KindZoom, nil},
		{sandbox.Google, connections.KindGoogleCalendar, []string{"https://www.googleapis.com/auth/calendar"}},
		{sandbox.Microsoft, connections.KindMicrosoftCalendar, []string{"User.Read", "Calendars.ReadWrite"}},
	} {
		tok, err := sb.IssueGrant(c.p, "", c.scope)
		if err != nil {
			t.Fatal(err)
		}
		got, err := v.Verify(t.Context(), connections.VerifyRequest{Kind: c.kind, AccessToken: vault.NewToken(tok.AccessToken), Scopes: tok.Scopes})
		if err != nil || got.AccountID == "" || len(got.MissingScopes) != 0 {
			t.Fatalf("%s verification through the configured URLs: %+v, %v", c.kind, got, err)
		}
	}
}
