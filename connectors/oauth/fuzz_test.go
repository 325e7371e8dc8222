package oauth

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"tether/sync/connections"
)

// fuzzToken is token-shaped (Google access tokens start ya29.): wherever a body puts it,
// no field of the classified failure may carry it.
const fuzzToken = "ya29.a0AfB_byC1x9Qm7Zt3Lk8Wn2Rv5Hp0Jd6Ys4Gf1Tq"

var validClasses = map[connections.FailureClass]bool{
	connections.FailNeedsReconnect: true, connections.FailNeedsAdmin: true, connections.FailMisconfigured: true,
	connections.FailTransient: true, connections.FailRateLimited: true, connections.FailUnknown: true,
}

// FuzzClassify feeds arbitrary token-endpoint and API answers to the classifiers. They
// must not panic, must return a known class, must decide 5xx and 429 by status, must
// never condemn a connection on a body they could not parse, and must never keep a token.
func FuzzClassify(f *testing.F) {
	seeds := []string{
		`{"error":"invalid_grant","error_description":"expired access/refresh token"}`,
		`{"error":"invalid_grant","error_description":"AADSTS50057: The user account is disabled.\r\nTrace ID: x","error_codes":[50057]}`,
		`{"error":"invalid_grant","error_description":"reauth related error (invalid_rapt)","error_subtype":"invalid_rapt"}`,
		`{"reason":"Invalid Token!","error":"invalid_request"}`,
		`[{"message":"TotalRequests Limit exceeded.","errorCode":"REQUEST_LIMIT_EXCEEDED"}]`,
		`{"error":{"code":403,"message":"Rate Limit Exceeded","errors":[{"reason":"rateLimitExceeded","domain":"usageLimits"}],"status":"PERMISSION_DENIED"}}`,
		`{"error":{"code":"TooManyRequests","message":"Too many requests."}}`,
		`{"code":4711,"message":"Invalid access token, does not contain scopes:[meeting:write:meeting]."}`,
		`<html>Forbidden</html>`,
		`error=invalid_grant&error_description=gone`,
		`Bad_OAuth_Token`,
		``,
	}
	for i, s := range seeds {
		f.Add(uint16(400+i%3*29), uint8(i), s, "")
	}
	f.Add(uint16(200), uint8(0), `{"access_token":"`, `","token_type":"Bearer"}`)
	f.Add(uint16(401), uint8(1), `{"error":"`, `"}`)
	f.Add(uint16(400), uint8(2), `Authorization: Bearer `, ``)
	dialects := []Provider{Salesforce("https://login.salesforce.com"), Google("https://oauth2.googleapis.com"),
		Microsoft("https://login.microsoftonline.com/organizations"), Zoom("https://zoom.us")}
	f.Fuzz(func(t *testing.T, status uint16, which uint8, before, after string) {
		code := int(status%500) + 100 // 100..599
		body := []byte(before + fuzzToken + after)
		p := dialects[int(which)%len(dialects)]
		now := time.Unix(1_700_000_000, 0)
		h := http.Header{"Retry-After": {after}}

		e := classifyResponse(p, "refresh", code, h, body, now)
		check(t, "token endpoint", e.Failure(), code)
		r := parseErrorBody(body)
		if !r.Parsed && code != 429 && code < 500 && e.Class != ClassUnknown {
			t.Fatalf("unparsed body %q classified %s", body, e.Class)
		}
		if e.RetryAfter < 0 {
			t.Fatalf("negative Retry-After %s", e.RetryAfter)
		}
		check(t, "api", APIFailure(p.Name, "verify", code, h, body, now), code)
	})
}

func check(t *testing.T, what string, f *connections.Failure, status int) {
	t.Helper()
	if !validClasses[f.Class] {
		t.Fatalf("%s: class %q", what, f.Class)
	}
	switch {
	case status >= 500 && f.Class != connections.FailTransient && f.Class != connections.FailRateLimited:
		t.Fatalf("%s: %d classified %s", what, status, f.Class)
	case status == 429 && f.Class != connections.FailRateLimited:
		t.Fatalf("%s: 429 classified %s", what, f.Class)
	}
	for name, v := range map[string]string{"code": f.Code, "subcode": f.SubCode, "detail": f.Detail,
		"reason": f.Reason, "error": f.Error(), "scopes": strings.Join(f.MissingScopes, " ")} {
		if strings.Contains(v, fuzzToken) {
			t.Fatalf("%s: the token is in the failure's %s: %q", what, name, v)
		}
	}
}
