package sandbox

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
)

// The fault suite compares what tether holds with the sandbox's current refresh token by
// digest, counts a rotated-out token presented again, and greps logs for every issued token.
func TestFingerprintsFollowRotationAndIssuedTokensAreWritten(t *testing.T) {
	var issued bytes.Buffer
	b := setup(t, func(o *Options) { o.IssuedTokens = &issued })
	tk, err := b.sb.IssueGrant(Zoom, "", nil)
	if err != nil {
		t.Fatal(err)
	}
	refresh := func(rt string) (int, map[string]any) {
		id, secret := defaultCreds(Zoom)
		st, body, _ := b.postForm(t, b.base+Endpoints("", Zoom).TokenURL,
			url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt}}, id, secret)
		return st, body
	}
	st, body := refresh(tk.RefreshToken)
	if st != http.StatusOK {
		t.Fatalf("refresh: %d %v", st, body)
	}
	next, _ := body["refresh_token"].(string)
	if next == "" || next == tk.RefreshToken {
		t.Fatalf("zoom refresh did not rotate: %v", body)
	}
	if st, _ := refresh(tk.RefreshToken); st == http.StatusOK {
		t.Fatal("the rotated-out refresh token still works")
	}

	res, err := http.Get(b.base + "/admin/fingerprints")
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var fps []Fingerprint
	if err := json.NewDecoder(res.Body).Decode(&fps); err != nil {
		t.Fatal(err)
	}
	var fp *Fingerprint
	for i := range fps {
		if fps[i].ID == tk.GrantID {
			fp = &fps[i]
		}
	}
	if fp == nil {
		t.Fatalf("grant %s missing from %+v", tk.GrantID, fps)
	}
	if fp.RefreshSHA256 != TokenSHA256(next) {
		t.Errorf("fingerprint %s is not the digest of the rotated token", fp.RefreshSHA256)
	}
	if fp.Refreshes != 1 || fp.Rotations != 1 || fp.DeadTokenReplays != 1 {
		t.Errorf("counters: %d refreshes, %d rotations, %d dead replays; want 1, 1, 1", fp.Refreshes, fp.Rotations, fp.DeadTokenReplays)
	}
	got := strings.Fields(issued.String())
	for _, v := range []string{tk.AccessToken, tk.RefreshToken, next, body["access_token"].(string)} {
		found := false
		for _, g := range got {
			found = found || g == v
		}
		if !found {
			t.Errorf("issued-token file lacks a token the sandbox issued (%d lines)", len(got))
		}
	}
}

// The fault suite bounds what a broken connection costs by the grant's request counter:
// every call naming one of its tokens counts, refused or answered by a fault.
func TestRequestsCountEveryCallNamingTheGrant(t *testing.T) {
	b := setup(t, nil)
	tk, err := b.sb.IssueGrant(Zoom, "", nil)
	if err != nil {
		t.Fatal(err)
	}
	id, secret := defaultCreds(Zoom)
	refresh := func(rt string) int {
		st, _, _ := b.postForm(t, b.base+Endpoints("", Zoom).TokenURL,
			url.Values{"grant_type": {"refresh_token"}, "refresh_token": {rt}}, id, secret)
		return st
	}
	me := func() int {
		req, _ := http.NewRequest(http.MethodGet, b.base+"/zoom/v2/users/me", nil)
		req.Header.Set("Authorization", "Bearer "+tk.AccessToken)
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		return res.StatusCode
	}
	if st := me(); st != http.StatusOK {
		t.Fatalf("API call: %d", st)
	}
	if _, err := b.sb.Faults().Add(Fault{Provider: Zoom, Endpoint: "token", Kind: FaultStatus, Status: 503, Count: 1}); err != nil {
		t.Fatal(err)
	}
	if st := refresh(tk.RefreshToken); st != http.StatusServiceUnavailable {
		t.Fatalf("faulted refresh: %d, want 503", st)
	}
	if err := b.sb.RevokeGrant(tk.GrantID); err != nil {
		t.Fatal(err)
	}
	if st := refresh(tk.RefreshToken); st == http.StatusOK {
		t.Fatal("a revoked grant refreshed")
	}
	if st := me(); st == http.StatusOK {
		t.Fatal("a revoked grant's access token still works")
	}
	if st := refresh("not-a-token-the-sandbox-issued"); st == http.StatusOK {
		t.Fatal("an unknown refresh token refreshed")
	}
	g := b.sb.Counters().Grants[tk.GrantID]
	// Two API calls and two refreshes named the grant; the unknown token names none.
	if g.Requests != 4 || g.Calls != 1 || g.Refreshes != 0 {
		t.Errorf("grant counters %+v: want 4 requests (1 API call accepted, a 503 fault, a refused refresh and API call), 1 call, 0 refreshes", g)
	}
	b.sb.ResetCounters()
	if g := b.sb.Counters().Grants[tk.GrantID]; g.Requests != 0 {
		t.Errorf("requests after reset: %d", g.Requests)
	}
}
