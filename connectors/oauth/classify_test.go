package oauth

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"
)

// fixtures is shared/reference/fixtures, next to the main checkout.
const fixtures = "../../../shared/reference/fixtures"

func readFixture(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(fixtures, name))
	if err != nil {
		t.Fatalf("read fixture %s (expected beside the checkout at /work/shared): %v", name, err)
	}
	return b
}

func TestClassifyRecordedBodies(t *testing.T) {
	t.Parallel()
	nangoGoogle := func(t *testing.T) []byte {
		// Nango logs Google's refusal under payload.dataMessage.
		var v struct {
			Payload struct {
				DataMessage json.RawMessage `json:"dataMessage"`
			} `json:"payload"`
		}
		if err := json.Unmarshal(readFixture(t, "oauth/nango_log_refresh_token_external_error.docs.json"), &v); err != nil {
			t.Fatal(err)
		}
		return v.Payload.DataMessage
	}
	fromFile := func(name string) func(*testing.T) []byte {
		return func(t *testing.T) []byte { return readFixture(t, name) }
	}
	tests := []struct {
		name     string
		provider Provider
		status   int
		body     func(*testing.T) []byte
		class    Class
		code     string
		subCode  string
	}{
		{"salesforce expired refresh token", Salesforce("https://login.salesforce.com"), 400,
			fromFile("salesforce/oauth_refresh_error_expired.restforce.json"), ClassNeedsReconnect, "invalid_grant", "expired access/refresh token"},
		{"salesforce invalid password", Salesforce("https://login.salesforce.com"), 400,
			fromFile("salesforce/oauth_auth_error_invalid_password.restforce.json"), ClassNeedsReconnect, "invalid_grant", "authentication failure"},
		{"x/oauth2 bare invalid_grant", Provider{Name: "generic"}, 400,
			fromFile("oauth/golang_oauth2_bare_invalid_grant.test.json"), ClassNeedsReconnect, "invalid_grant", ""},
		{"microsoft invalid scope AADSTS70011", Microsoft("https://login.microsoftonline.com/organizations"), 400,
			fromFile("oauth/microsoft_token_invalid_scope_70011.docs.json"), ClassMisconfigured, "invalid_scope", "70011"},
		{"zoom 429 concurrent requests", Zoom("https://zoom.us"), 429,
			fromFile("oauth/zoom_api_429_concurrent_requests.docs.json"), ClassRateLimited, "", ""},
		{"google expired, as logged by nango", Google("https://oauth2.googleapis.com"), 400,
			nangoGoogle, ClassNeedsReconnect, "invalid_grant", ""},
		// A REST error array reaching the token endpoint parser is not an
		// OAuth body: never a reason to flag the user.
		{"salesforce REST array at token endpoint", Salesforce("https://login.salesforce.com"), 401,
			fromFile("salesforce/rest_error_invalid_session_id.restforce.json"), ClassUnknown, "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e := classifyResponse(tt.provider, "refresh", tt.status, http.Header{}, tt.body(t), time.Unix(0, 0))
			if e.Class != tt.class || e.Code != tt.code || e.SubCode != tt.subCode {
				t.Errorf("got class %q code %q sub %q, want %q %q %q (%v)", e.Class, e.Code, e.SubCode, tt.class, tt.code, tt.subCode, e)
			}
			if e.Status != tt.status {
				t.Errorf("status %d, want %d", e.Status, tt.status)
			}
		})
	}
}

// Bodies quoted in shared/reference/oauth.md and salesforce.md §3.5/§5.5
// that have no fixture file of their own.
func TestClassifyDocumentedBodies(t *testing.T) {
	t.Parallel()
	sf := Salesforce("https://login.salesforce.com")
	ms := Microsoft("https://login.microsoftonline.com/organizations")
	gg := Google("https://oauth2.googleapis.com")
	zm := Zoom("https://zoom.us")
	aad := func(code int, err string) string {
		b, _ := json.Marshal(map[string]any{"error": err, "error_description": "AADSTS" + itoa(code) + ": text\r\nTrace ID: x", "error_codes": []int{code}})
		return string(b)
	}
	tests := []struct {
		name   string
		p      Provider
		status int
		body   string
		class  Class
	}{
		{"sf inactive user", sf, 400, `{"error":"invalid_grant","error_description":"inactive user"}`, ClassNeedsAdmin},
		{"sf inactive_user code", sf, 400, `{"error":"inactive_user","error_description":"user is inactive"}`, ClassNeedsAdmin},
		{"sf not pre-authorized", sf, 400, `{"error":"invalid_grant","error_description":"user hasn't approved this consumer"}`, ClassNeedsAdmin},
		{"sf app not installed", sf, 400, `{"error":"invalid_client","error_description":"app must be installed into org"}`, ClassNeedsAdmin},
		{"sf inactive org in description", sf, 400, `{"error":"invalid_grant","error_description":"inactive org"}`, ClassNeedsAdmin},
		{"sf invalid client", sf, 400, `{"error":"invalid_client","error_description":"invalid client credentials"}`, ClassMisconfigured},
		{"sf ip restricted", sf, 400, `{"error":"invalid_grant","error_description":"IP restricted or invalid login hours"}`, ClassOrgProblem},
		{"sf inactive org", sf, 400, `{"error":"inactive_org","error_description":"organization is inactive"}`, ClassOrgProblem},
		{"sf invalid client id", sf, 400, `{"error":"invalid_client_id","error_description":"client identifier invalid"}`, ClassMisconfigured},
		{"sf invalid client credentials", sf, 400, `{"error":"invalid_client_credentials","error_description":"client secret invalid"}`, ClassMisconfigured},
		{"sf unsupported grant", sf, 400, `{"error":"unsupported_grant_type","error_description":"grant type not supported"}`, ClassMisconfigured},
		{"sf invalid request", sf, 400, `{"error":"invalid_request","error_description":"missing parameter"}`, ClassMisconfigured},
		{"sf rate limit", sf, 400, `{"error":"rate_limit_exceeded","error_description":"too many requests"}`, ClassRateLimited},
		{"sf 503 html", sf, 503, `<html>maintenance</html>`, ClassTransient},
		{"sf 500 empty", sf, 500, ``, ClassTransient},
		{"proxy 403 html", sf, 403, `<html><body>Forbidden</body></html>`, ClassUnknown},
		{"sf unknown code", sf, 400, `{"error":"something_new"}`, ClassUnknown},
		{"ms 700082 inactivity", ms, 400, aad(700082, "invalid_grant"), ClassNeedsReconnect},
		{"ms 50173 revoked", ms, 400, aad(50173, "invalid_grant"), ClassNeedsReconnect},
		{"ms 65001 consent", ms, 400, aad(65001, "invalid_grant"), ClassNeedsReconnect},
		{"ms 50076 mfa", ms, 400, aad(50076, "interaction_required"), ClassNeedsReconnect},
		{"ms 50057 disabled", ms, 400, aad(50057, "invalid_grant"), ClassNeedsAdmin},
		{"ms 50034 user not found", ms, 400, aad(50034, "invalid_grant"), ClassNeedsAdmin},
		{"ms 50020 user not in tenant", ms, 400, aad(50020, "invalid_grant"), ClassNeedsAdmin},
		{"ms 90094 admin consent required", ms, 400, aad(90094, "invalid_grant"), ClassNeedsAdmin},
		{"ms 65004 user declined", ms, 400, aad(65004, "consent_required"), ClassNeedsReconnect},
		{"ms 53003 conditional access", ms, 400, aad(53003, "invalid_grant"), ClassNeedsAdmin},
		{"ms 70043 sign-in frequency", ms, 400, aad(70043, "invalid_grant"), ClassNeedsReconnect},
		{"ms 50079 mfa enrollment", ms, 400, aad(50079, "interaction_required"), ClassNeedsReconnect},
		{"ms 700016 app not found", ms, 400, aad(700016, "unauthorized_client"), ClassMisconfigured},
		{"ms unknown aadsts falls back to error", ms, 400, aad(1234567, "invalid_grant"), ClassNeedsReconnect},
		{"google account deleted", gg, 400, `{"error":"invalid_grant","error_description":"The account has been deleted"}`, ClassNeedsAdmin},
		{"google admin policy", gg, 400, `{"error":"admin_policy_enforced","error_description":"The user's Google Workspace administrator blocks access"}`, ClassNeedsAdmin},
		{"zoom owner gone", zm, 400, `{"reason":"The owner of the token does not exist","error":"invalid_grant"}`, ClassNeedsAdmin},
		{"zoom disabled by admin", zm, 400, `{"reason":"The token is disabled by admin","error":"invalid_grant"}`, ClassNeedsAdmin},
		{"zoom revoked", zm, 400, `{"reason":"The token has been revoked","error":"invalid_grant"}`, ClassNeedsReconnect},
		{"ms 7000222 expired secret", ms, 401, aad(7000222, "invalid_client"), ClassMisconfigured},
		{"ms 7000215 bad secret", ms, 401, aad(7000215, "invalid_client"), ClassMisconfigured},
		{"ms 90033 transient", ms, 400, aad(90033, "temporarily_unavailable"), ClassTransient},
		{"ms 90055 throttled", ms, 400, aad(90055, "invalid_request"), ClassRateLimited},
		{"ms 50196 loop", ms, 400, aad(50196, "invalid_grant"), ClassRateLimited},
		{"ms 503 temporarily unavailable", ms, 503, `{"error":"temporarily_unavailable"}`, ClassTransient},
		{"ms code only in description", ms, 400, `{"error":"invalid_grant","error_description":"AADSTS700082: The refresh token has expired due to inactivity."}`, ClassNeedsReconnect},
		{"google expired", gg, 400, `{"error":"invalid_grant","error_description":"Token has been expired or revoked."}`, ClassNeedsReconnect},
		{"google invalid_rapt", gg, 400, `{"error":"invalid_grant","error_description":"reauth related error (invalid_rapt)","error_subtype":"invalid_rapt"}`, ClassNeedsReconnect},
		{"google deleted client", gg, 401, `{"error":"deleted_client","error_description":"The OAuth client was deleted."}`, ClassMisconfigured},
		{"google invalid client", gg, 401, `{"error":"invalid_client","error_description":"The OAuth client was not found."}`, ClassMisconfigured},
		{"google 429", gg, 429, `{"error":"rate_limit_exceeded"}`, ClassRateLimited},
		{"zoom invalid token grant", zm, 400, `{"reason":"Invalid Token!","error":"invalid_grant"}`, ClassNeedsReconnect},
		{"zoom invalid token request", zm, 400, `{"reason":"Invalid Token!","error":"invalid_request"}`, ClassNeedsReconnect},
		{"zoom dead token as 401", zm, 401, `{"reason":"Invalid Token!","error":"invalid_grant"}`, ClassNeedsReconnect},
		{"zoom other invalid request", zm, 400, `{"reason":"Missing grant type","error":"invalid_request"}`, ClassUnknown},
		{"zoom invalid client", zm, 401, `{"reason":"Invalid client_id or client_secret","error":"invalid_client"}`, ClassMisconfigured},
		{"form-encoded body", Provider{Name: "x"}, 400, `error=invalid_grant&error_description=gone`, ClassNeedsReconnect},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e := classifyResponse(tt.p, "refresh", tt.status, http.Header{}, []byte(tt.body), time.Unix(0, 0))
			if e.Class != tt.class {
				t.Errorf("class %q, want %q (%v)", e.Class, tt.class, e)
			}
		})
	}
}

func TestClassifyMicrosoft70000AsksForConfirmation(t *testing.T) {
	t.Parallel()
	body := `{"error":"invalid_grant","error_description":"AADSTS70000: The provided value for the 'refresh_token' is not valid.","error_codes":[70000]}`
	e := classifyResponse(Microsoft("https://login.microsoftonline.com/common"), "refresh", 400, http.Header{}, []byte(body), time.Now())
	if e.Class != ClassNeedsReconnect || !e.Intermittent || e.SubCode != "70000" {
		t.Fatalf("got %+v", e)
	}
}

func TestRetryAfter(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 1, 19, 12, 0, 0, 0, time.UTC)
	tests := []struct {
		name   string
		header string
		want   time.Duration
	}{
		{"seconds", "120", 2 * time.Minute},
		{"zero seconds", "0", 0},
		{"negative", "-5", 0},
		{"http date", "Mon, 19 Jan 2026 12:00:30 GMT", 30 * time.Second},
		{"zoom iso timestamp", "2026-01-20T00:00:00Z", 12 * time.Hour},
		{"past timestamp", "2026-01-19T11:00:00Z", 0},
		{"garbage", "soon", 0},
		{"empty", "", 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := parseRetryAfter(tt.header, now); got != tt.want {
				t.Errorf("parseRetryAfter(%q) = %s, want %s", tt.header, got, tt.want)
			}
		})
	}
	// Through classification: a Zoom daily limit carries an ISO date.
	h := http.Header{"Retry-After": {"2026-01-20T00:00:00Z"}}
	e := classifyResponse(Zoom("https://zoom.us"), "refresh", 429, h, []byte(`{"code":429,"message":"daily limit"}`), now)
	if e.Class != ClassRateLimited || e.RetryAfter != 12*time.Hour {
		t.Fatalf("zoom 429: %+v", e)
	}
	if got := RetryAfter(e); got != 12*time.Hour {
		t.Fatalf("RetryAfter(err) = %s", got)
	}
}

func itoa(n int) string { b, _ := json.Marshal(n); return string(b) }

// Status first, body second: a provider outage (5xx) or a rate limit (429) whose body
// says invalid_grant is still an outage or a rate limit. Flagging users to reconnect
// because a load balancer returned a cached error page would send every rep of every
// org a false alarm.
func TestOutageWithInvalidGrantBodyIsNeverNeedsReconnect(t *testing.T) {
	t.Parallel()
	body := []byte(`{"error":"invalid_grant","error_description":"expired access/refresh token"}`)
	providers := []Provider{Salesforce("https://login.salesforce.com"), Google("https://oauth2.googleapis.com"),
		Microsoft("https://login.microsoftonline.com/organizations"), Zoom("https://zoom.us")}
	for _, p := range providers {
		for _, tt := range []struct {
			status int
			class  Class
		}{{500, ClassTransient}, {502, ClassTransient}, {503, ClassTransient}, {429, ClassRateLimited}} {
			e := classifyResponse(p, "refresh", tt.status, http.Header{}, body, time.Unix(0, 0))
			if e.Class != tt.class {
				t.Errorf("%s %d with an invalid_grant body: class %q, want %q", p.Name, tt.status, e.Class, tt.class)
			}
		}
		// The same body under 400 is the dead grant it says: the check above can fail.
		if e := classifyResponse(p, "refresh", 400, http.Header{}, body, time.Unix(0, 0)); e.Class != ClassNeedsReconnect {
			t.Errorf("%s 400 invalid_grant: class %q, want %q", p.Name, e.Class, ClassNeedsReconnect)
		}
	}
}

// Every AADSTS number tether knows, by the class the README promises for it.
func TestClassifyEveryKnownAADSTS(t *testing.T) {
	t.Parallel()
	ms := Microsoft("https://login.microsoftonline.com/organizations")
	want := map[Class][]int{
		ClassNeedsAdmin: {50057, 50034, 50020, 50105, 500011, 90094, 90095, 53003, 530032},
		ClassNeedsReconnect: {700082, 70008, 700084, 50173, 70043, 50089, 65001, 65004, 50076, 50079, 50074, 50078,
			50133, 50055, 53000, 53001, 9002341, 70000},
		ClassMisconfigured: {7000215, 7000222, 70002, 7000218, 700016, 70001, 7000112, 70011, 28002, 700022,
			9001023, 90124, 90130, 50194},
		ClassTransient:   {90033, 50033, 90024, 50087, 90006, 90090, 70012},
		ClassRateLimited: {90055, 50196},
	}
	for class, codes := range want {
		for _, n := range codes {
			body := fmt.Sprintf(`{"error":"invalid_grant","error_description":"AADSTS%d: text","error_codes":[%d]}`, n, n)
			e := classifyResponse(ms, "refresh", 400, http.Header{}, []byte(body), time.Unix(0, 0))
			if e.Class != class || e.SubCode != strconv.Itoa(n) || e.Reason == "" {
				t.Errorf("AADSTS%d: class %s sub %q reason %q, want %s", n, e.Class, e.SubCode, e.Reason, class)
			}
			if e.Intermittent != (n == 70000) {
				t.Errorf("AADSTS%d: intermittent %t", n, e.Intermittent)
			}
		}
	}
}
