package oauth

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"

	"golang.org/x/oauth2"
)

func TestSplitScopes(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, scope, sep string
		want             []string
	}{
		{"space", "refresh_token api", "", []string{"refresh_token", "api"}},
		{"zoom comma and space", "meeting:write:meeting,user:read:user meeting:read", " ,", []string{"meeting:write:meeting", "user:read:user", "meeting:read"}},
		{"microsoft url-encoded with prefix", "https%3A%2F%2Fgraph.microsoft.com%2Fmail.read offline_access", "", []string{"mail.read", "offline_access"}},
		{"graph case", "https://graph.microsoft.com/Calendars.ReadWrite", "", []string{"calendars.readwrite"}},
		{"empty", "", "", []string{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := SplitScopes(tt.scope, tt.sep); !slices.Equal(got, tt.want) {
				t.Errorf("SplitScopes(%q) = %q, want %q", tt.scope, got, tt.want)
			}
		})
	}
}

func TestMissingScopes(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		d        Dialect
		required []string
		granted  string
		want     []string
	}{
		{"all granted", DialectGeneric, []string{"a", "b"}, "b a", nil},
		{"one missing", DialectGeneric, []string{"a", "b"}, "a", []string{"b"}},
		{"salesforce full covers api", DialectSalesforce, []string{"api", "refresh_token"}, "refresh_token full", nil},
		{"salesforce full lacks refresh", DialectSalesforce, []string{"api", "refresh_token"}, "full", []string{"refresh_token"}},
		{"salesforce offline_access is refresh_token", DialectSalesforce, []string{"refresh_token"}, "api offline_access", nil},
		{"graph normalised", DialectMicrosoft, []string{"Calendars.ReadWrite"}, "https://graph.microsoft.com/calendars.readwrite", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := missingScopes(tt.d, tt.required, SplitScopes(tt.granted, ""))
			if !slices.Equal(got, tt.want) {
				t.Errorf("missing = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestProviderValidate(t *testing.T) {
	t.Parallel()
	ok := Salesforce("https://login.salesforce.com")
	ok.ClientID = "cid"
	if err := ok.Validate(); err != nil {
		t.Fatalf("valid provider: %v", err)
	}
	auto := ok
	auto.AuthStyle = oauth2.AuthStyleAutoDetect
	if err := auto.Validate(); err == nil || !strings.Contains(err.Error(), "auth style") {
		t.Fatalf("auto-detect accepted: %v", err)
	}
	rel := ok
	rel.TokenURL = "/services/oauth2/token"
	if err := rel.Validate(); err == nil {
		t.Fatal("relative token URL accepted")
	}
	if _, err := New(Config{Providers: []Provider{ok, ok}}); err == nil {
		t.Fatal("duplicate provider accepted")
	}
}

func TestSecretsNeverPrinted(t *testing.T) {
	t.Parallel()
	p := Zoom("https://zoom.us")
	p.ClientID, p.ClientSecret = "cid", "s3cr3t-client"
	ts := TokenSet{AccessToken: "at-VALUE", RefreshToken: "rt-VALUE", Scope: "x"}
	for _, s := range []string{fmt.Sprint(p), fmt.Sprintf("%+v %#v", p, p), fmt.Sprint(ts), fmt.Sprintf("%+v %#v", ts, ts)} {
		for _, secret := range []string{"s3cr3t-client", "at-VALUE", "rt-VALUE"} {
			if strings.Contains(s, secret) {
				t.Errorf("%q printed in %s", secret, s)
			}
		}
	}
	// A provider that echoes the token in its description.
	c, err := New(Config{Providers: []Provider{p}})
	if err != nil {
		t.Fatal(err)
	}
	echo := &oauth2.RetrieveError{
		Response: &http.Response{StatusCode: 400, Header: http.Header{}},
		Body:     []byte(`{"error":"invalid_grant","error_description":"token rt-VALUE is dead"}`),
	}
	e := c.refreshError(p, echo, true, "rt-VALUE")
	if strings.Contains(e.Error(), "rt-VALUE") || Classify(e) != ClassNeedsReconnect {
		t.Errorf("token in %v", e)
	}
	te := c.refreshError(p, fmt.Errorf("post https://zoom.us/oauth/token?x=rt-VALUE: %w", context.DeadlineExceeded), true, "rt-VALUE")
	if strings.Contains(te.Error(), "rt-VALUE") || Classify(te) != ClassTransient || !errors.Is(te, context.DeadlineExceeded) {
		t.Errorf("transport error: %v class %s", te, Classify(te))
	}
}

func TestClassifyPlainErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		err  error
		want Class
	}{
		{nil, ClassNone},
		{context.DeadlineExceeded, ClassTransient},
		{fmt.Errorf("refresh connection 7: %w", &Error{Class: ClassOrgProblem}), ClassOrgProblem},
		{errors.New("boom"), ClassUnknown},
	}
	for _, tt := range tests {
		if got := Classify(tt.err); got != tt.want {
			t.Errorf("Classify(%v) = %q, want %q", tt.err, got, tt.want)
		}
	}
}
