package sandbox

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"regexp"
	"strconv"
	"testing"

	"golang.org/x/oauth2"
)

// Bodies compared with the recorded responses in shared/reference/fixtures: every field a
// real response has must be present with the same JSON type.

// googleRefreshDocSample is Google's documented refresh response (reference/oauth.md §2).
const googleRefreshDocSample = `{"access_token": "1/fFAGRNJru1FTz70BzhT3Zg", "expires_in": 3920,
 "scope": "https://www.googleapis.com/auth/drive.metadata.readonly https://www.googleapis.com/auth/calendar.readonly",
 "token_type": "Bearer"}`

func TestShapesGoogle(t *testing.T) {
	b := setup(t, nil)
	tk := mustGrant(t, b.sb, Google, "", []string{googleScopePrefix + "calendar.readonly"})
	status, _, raw := b.refreshRaw(t, Google, tk.RefreshToken, nil)
	if status != 200 {
		t.Fatalf("google refresh: %d %s", status, raw)
	}
	assertShape(t, "google refresh", []byte(googleRefreshDocSample), raw)
}

func TestShapesMicrosoft(t *testing.T) {
	b := setup(t, nil)
	tk := mustGrant(t, b.sb, Microsoft, "", []string{"openid", "offline_access", "Mail.Read"})
	status, body, raw := b.refreshRaw(t, Microsoft, tk.RefreshToken, nil)
	if status != 200 {
		t.Fatalf("refresh: %d %s", status, raw)
	}
	assertShape(t, "microsoft refresh", fixture(t, "oauth/microsoft_refresh_success.docs.json"), raw)
	if body["token_type"] != "Bearer" || body["expires_in"] != float64(3599) || body["scope"] != "openid "+graphPrefix+"Mail.Read" {
		t.Fatalf("refresh values: %s", raw)
	}

	if err := b.sb.RevokeGrant(tk.GrantID); err != nil {
		t.Fatal(err)
	}
	status, body, raw = b.refreshRaw(t, Microsoft, tk.RefreshToken, nil)
	if status != 400 {
		t.Fatalf("dead token: %d", status)
	}
	assertShape(t, "microsoft error", fixture(t, "oauth/microsoft_token_invalid_scope_70011.docs.json"), raw)
	// error_description, timestamp and error_uri follow the recorded formats.
	desc := regexp.MustCompile(`^AADSTS(\d+): .+\r\nTrace ID: [0-9a-f-]{36}\r\nCorrelation ID: [0-9a-f-]{36}\r\nTimestamp: \d{4}-\d\d-\d\d \d\d:\d\d:\d\dZ$`)
	m := desc.FindStringSubmatch(body["error_description"].(string))
	if m == nil {
		t.Fatalf("error_description %q does not match the recorded format", body["error_description"])
	}
	if code, _ := strconv.Atoi(m[1]); body["error_codes"].([]any)[0] != float64(code) {
		t.Fatalf("error_codes %v disagree with %s", body["error_codes"], m[1])
	}
	if !regexp.MustCompile(`^\d{4}-\d\d-\d\d \d\d:\d\d:\d\dZ$`).MatchString(body["timestamp"].(string)) ||
		body["error_uri"] != "https://login.microsoftonline.com/error?code="+m[1] {
		t.Fatalf("timestamp %v error_uri %v", body["timestamp"], body["error_uri"])
	}
}

func TestShapesZoom(t *testing.T) {
	b := setup(t, nil)
	tk := mustGrant(t, b.sb, Zoom, "", nil)
	status, body, raw := b.refreshRaw(t, Zoom, tk.RefreshToken, nil)
	if status != 200 {
		t.Fatalf("zoom refresh: %d %s", status, raw)
	}
	assertShape(t, "zoom token", fixture(t, "oauth/zoom_token_success.docs-secondary.json"), raw)
	if body["token_type"] != "bearer" || body["refresh_token"] == tk.RefreshToken {
		t.Fatalf("zoom token values: %s", raw)
	}
}

// Every provider's dead-token answer parses in x/oauth2 to the same code as the minimal
// recorded body.
func TestShapesInvalidGrantEverywhere(t *testing.T) {
	b, _, u := sfSetup(t)
	var bare struct{ Error string }
	if err := jsonUnmarshal(fixture(t, "oauth/golang_oauth2_bare_invalid_grant.test.json"), &bare); err != nil {
		t.Fatal(err)
	}
	for _, p := range Providers {
		subject := ""
		if p == Salesforce {
			subject = u.ID
		}
		tk, err := b.sb.IssueGrant(p, subject, nil)
		if p == Google || p == Microsoft {
			tk, err = b.sb.IssueGrant(p, subject, []string{"openid", "offline_access"})
		}
		if err != nil {
			t.Fatal(err)
		}
		if err := b.sb.RevokeGrant(tk.GrantID); err != nil {
			t.Fatal(err)
		}
		_, err = b.config(p).TokenSource(b.ctx(), &oauth2.Token{RefreshToken: tk.RefreshToken}).Token()
		re := retrieveErr(t, err)
		if re.ErrorCode != bare.Error || re.Response.StatusCode != 400 {
			t.Errorf("%s dead token: code %q status %d, want %q 400", p, re.ErrorCode, re.Response.StatusCode, bare.Error)
		}
	}
}

func TestShapesSalesforce(t *testing.T) {
	b, orgID, u := sfSetup(t)
	conf := b.config(Salesforce, "api", "refresh_token")
	q := b.authorizeCode(t, conf, oauth2.SetAuthURLParam("login_hint", u.Username))
	status, body, raw := b.postForm(t, conf.Endpoint.TokenURL, map[string][]string{"grant_type": {"authorization_code"}, "code": {q.Get("code")},
		"redirect_uri": {redirectURL}, "client_id": {conf.ClientID}, "client_secret": {conf.ClientSecret}}, "", "")
	if status != 200 {
		t.Fatalf("exchange: %d %s", status, raw)
	}
	assertShape(t, "salesforce token", fixture(t, "salesforce/oauth_token_success.restforce.json"), raw)
	// issued_at is epoch ms as a string; signature is HMAC-SHA256(id+issued_at) with the secret.
	issued := body["issued_at"].(string)
	if _, err := strconv.ParseInt(issued, 10, 64); err != nil || len(issued) != 13 {
		t.Fatalf("issued_at %q is not epoch milliseconds", issued)
	}
	mac := hmac.New(sha256.New, []byte(DefaultSalesforceClientSecret))
	mac.Write([]byte(body["id"].(string) + issued))
	if body["signature"] != base64.StdEncoding.EncodeToString(mac.Sum(nil)) {
		t.Fatalf("signature %v does not verify", body["signature"])
	}

	status, body, raw = b.refreshRaw(t, Salesforce, body["refresh_token"].(string), nil)
	if status != 200 {
		t.Fatalf("salesforce refresh: %d %s", status, raw)
	}
	assertShape(t, "salesforce refresh", fixture(t, "salesforce/oauth_refresh_success.restforce.json"), raw)

	status, _, raw = b.get(t, "/salesforce/id/"+orgID+"/"+u.ID, body["access_token"].(string))
	if status != 200 {
		t.Fatalf("salesforce identity: %d %s", status, raw)
	}
	assertShape(t, "salesforce identity", fixture(t, "salesforce/identity_url_response.swiftlysalesforce.json"), raw)

	b.sb.Faults().MustAdd(Fault{Provider: Salesforce, Endpoint: "query", Kind: FaultStatus, Status: 500, Count: 1})
	status, _, raw = b.get(t, "/salesforce/services/data/v62.0/query?q=SELECT+Id+FROM+User", body["access_token"].(string))
	if status != 500 {
		t.Fatalf("salesforce REST error under a 500 fault: %d %s", status, raw)
	}
	assertShape(t, "salesforce REST error", fixture(t, "salesforce/rest_error_invalid_session_id.restforce.json"), raw)
}

// mustGrant issues a grant or fails: a shape compared over a failed grant's error body
// would prove nothing.
func mustGrant(t *testing.T, sb *Sandbox, p Provider, subject string, scopes []string) Tokens {
	t.Helper()
	tk, err := sb.IssueGrant(p, subject, scopes)
	if err != nil || tk.RefreshToken == "" {
		t.Fatalf("issue %s grant: %v", p, err)
	}
	return tk
}

// errRecorder records Errorf instead of failing, so the shape helper's own checks can be
// tested for failing.
type errRecorder struct {
	testing.TB
	errs []string
}

func (r *errRecorder) Helper() {}
func (r *errRecorder) Errorf(format string, args ...any) {
	r.errs = append(r.errs, fmt.Sprintf(format, args...))
}

// The shape helper fails when the sandbox sends an empty array where the recording has
// elements, and when any element (not only the first) lacks a recorded field.
func TestCompareShapeFailsOnArrays(t *testing.T) {
	for _, tc := range []struct {
		name      string
		want, got string
		fails     bool
	}{
		{"empty sandbox array", `{"a":[{"x":1}]}`, `{"a":[]}`, true},
		{"second element lacks a field", `{"a":[{"x":1}]}`, `{"a":[{"x":2},{"y":3}]}`, true},
		{"element of the wrong type", `{"a":[{"x":1}]}`, `{"a":["x"]}`, true},
		{"every element has the shape", `{"a":[{"x":1}]}`, `{"a":[{"x":2},{"x":3,"y":4}]}`, false},
		{"empty recording", `{"a":[]}`, `{"a":[{"x":1}]}`, false},
	} {
		var w, g any
		if err := jsonUnmarshal([]byte(tc.want), &w); err != nil {
			t.Fatal(err)
		}
		if err := jsonUnmarshal([]byte(tc.got), &g); err != nil {
			t.Fatal(err)
		}
		r := &errRecorder{TB: t}
		compareShape(r, tc.name, "$", w, g)
		if failed := len(r.errs) > 0; failed != tc.fails {
			t.Errorf("%s: failed %t (%v), want %t", tc.name, failed, r.errs, tc.fails)
		}
	}
}
