package connect_test

import (
	"encoding/base64"
	"errors"
	"strings"
	"testing"
	"time"

	"tether/sync/connect"
	"tether/sync/connections"
	"tether/sync/directory"
	"tether/sync/store"
	"tether/sync/store/storetest"
)

func TestLinksIssueVerify(t *testing.T) {
	t.Parallel()
	st := storetest.SQLite(t)
	ctx := t.Context()
	org, m := orgWithRep(t, st)
	now := time.Date(2026, 11, 29, 12, 0, 0, 0, time.UTC)
	clock := now
	secret := []byte("unit-test-secret-0123456789abcdefghijklm")
	links, err := connect.NewLinks(connect.LinksParams{Store: st, Secret: secret, BaseURL: "https://tether.example/",
		Now: func() time.Time { return clock }})
	if err != nil {
		t.Fatal(err)
	}
	token := func(url string) string { return url[strings.LastIndex(url, "/")+1:] }

	team, err := links.Issue(ctx, connect.IssueRequest{OrgID: org.ID, Kind: connections.KindSalesforceTeam})
	if err != nil || !strings.HasPrefix(team.URL, "https://tether.example/connect/") || !team.ExpiresAt.Equal(now.Add(30*time.Minute)) {
		t.Fatalf("team link %+v, %v", team, err)
	}
	// A negative lifetime is refused, not silently the default.
	if _, err := links.Issue(ctx, connect.IssueRequest{OrgID: org.ID, Kind: connections.KindSalesforceTeam, TTL: -time.Hour}); !errors.Is(err, connect.ErrBadRequest) ||
		!strings.Contains(err.Error(), "ttl -1h0m0s is negative") {
		t.Fatalf("negative ttl: %v", err)
	}
	// A lifetime past the kind's maximum is refused with the maximum; the maximum itself is
	// accepted.
	for _, tc := range []struct {
		req  connect.IssueRequest
		want string
	}{
		{connect.IssueRequest{OrgID: org.ID, Kind: connections.KindSalesforceTeam, TTL: 900 * time.Hour},
			"ttl 900h0m0s is longer than a team link may live (at most 24h): give a ttl of 24h or less"},
		{connect.IssueRequest{OrgID: org.ID, MembershipID: m.ID, Kind: connections.KindZoom, TTL: 31 * 24 * time.Hour},
			"longer than a member's link may live (at most 720h (30 days)): give a ttl of 720h (30 days) or less"},
	} {
		if _, err := links.Issue(ctx, tc.req); !errors.Is(err, connect.ErrBadRequest) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("ttl %s for %s: %v, want %q", tc.req.TTL, tc.req.Kind, err, tc.want)
		}
	}
	if l, err := links.Issue(ctx, connect.IssueRequest{OrgID: org.ID, Kind: connections.KindSalesforceTeam, TTL: connect.MaxTeamTTL}); err != nil ||
		!l.ExpiresAt.Equal(now.Add(24*time.Hour)) {
		t.Fatalf("team link of the maximum lifetime: %+v, %v", l, err)
	}
	if l, err := links.Issue(ctx, connect.IssueRequest{OrgID: org.ID, MembershipID: m.ID, Kind: connections.KindZoom, TTL: connect.MaxPersonalTTL}); err != nil ||
		!l.ExpiresAt.Equal(now.Add(30*24*time.Hour)) {
		t.Fatalf("member link of the maximum lifetime: %+v, %v", l, err)
	}
	if _, err := connect.NewLinks(connect.LinksParams{Store: st, Secret: secret, TeamTTL: 48 * time.Hour}); err == nil ||
		!strings.Contains(err.Error(), "TETHER_TEAM_LINK_TTL 48h0m0s is longer than a team link may live (at most 24h)") {
		t.Fatalf("a default team lifetime past the maximum: %v", err)
	}
	byEmail, err := links.Issue(ctx, connect.IssueRequest{OrgID: org.ID, MembershipID: "REP@acme.example", Kind: connections.KindZoom})
	if err != nil || byEmail.MembershipID != m.ID || !byEmail.ExpiresAt.Equal(now.Add(7*24*time.Hour)) {
		t.Fatalf("member link by email %+v, %v", byEmail, err)
	}
	got, err := links.Verify(token(byEmail.URL))
	if err != nil || got.ID != byEmail.ID || got.MembershipID != m.ID || got.Kind != connections.KindZoom {
		t.Fatalf("verify: %+v, %v", got, err)
	}
	if _, exp, err := links.TeamLink(ctx, org.ID); err != nil || !exp.Equal(now.Add(connect.EmailedTeamLinkTTL)) {
		t.Fatalf("emailed team link expires %v, %v", exp, err)
	}

	// A payload rewritten to another member keeps the old signature: refused.
	body, sig, _ := strings.Cut(token(byEmail.URL), ".")
	raw, _ := base64.RawURLEncoding.DecodeString(body)
	forged := base64.RawURLEncoding.EncodeToString([]byte(strings.Replace(string(raw), m.ID, "someone-else", 1)))
	if _, err := links.Verify(forged + "." + sig); !errors.Is(err, connect.ErrLinkInvalid) {
		t.Fatalf("forged payload: %v", err)
	}
	for _, bad := range []string{"", "x", token(team.URL) + "x", "." + sig} {
		if _, err := links.Verify(bad); !errors.Is(err, connect.ErrLinkInvalid) {
			t.Errorf("Verify(%q) = %v, want ErrLinkInvalid", bad, err)
		}
	}
	clock = now.Add(31 * time.Minute)
	if _, err := links.Verify(token(team.URL)); !errors.Is(err, connect.ErrLinkExpired) {
		t.Fatalf("team link after 31 minutes: %v", err)
	}
	if _, err := links.Verify(token(byEmail.URL)); err != nil {
		t.Fatalf("personal link after 31 minutes: %v", err)
	}

	for _, tc := range []struct {
		req  connect.IssueRequest
		want error
	}{
		{connect.IssueRequest{OrgID: "nope", Kind: connections.KindSalesforceTeam}, connect.ErrUnknownOrg},
		{connect.IssueRequest{OrgID: org.ID, MembershipID: "nope", Kind: connections.KindZoom}, connect.ErrUnknownMember},
		{connect.IssueRequest{OrgID: org.ID, MembershipID: m.ID, Kind: connections.KindSalesforceTeam}, connect.ErrBadRequest},
		{connect.IssueRequest{OrgID: org.ID, Kind: connections.KindGoogleCalendar}, connect.ErrBadRequest},
		{connect.IssueRequest{OrgID: org.ID, MembershipID: m.ID, Kind: "fax"}, connect.ErrBadRequest},
	} {
		if _, err := links.Issue(ctx, tc.req); !errors.Is(err, tc.want) {
			t.Errorf("Issue(%+v) = %v, want %v", tc.req, err, tc.want)
		}
	}
	// An invitee is no member yet; the sentence holds for an email invite, whose Join
	// connects nothing, as for one imported from Salesforce.
	if _, err := links.Issue(ctx, connect.IssueRequest{OrgID: org.ID, MembershipID: "invited@acme.example", Kind: connections.KindZoom}); !errors.Is(err, connect.ErrUnknownMember) ||
		!strings.Contains(err.Error(), "this link works once they joined with their invitation's Join link (which, for an invite imported from Salesforce, also connects their Salesforce)") {
		t.Fatalf("invitee: %v", err)
	}
	m.Status = directory.MembershipDeactivated
	if err := st.UpdateMembership(ctx, org.ID, m, now); err != nil {
		t.Fatal(err)
	}
	// The refusal names the way back: a new invitation, by the CLI or the route.
	if _, err := links.Issue(ctx, connect.IssueRequest{OrgID: org.ID, MembershipID: m.ID, Kind: connections.KindZoom}); !errors.Is(err, connect.ErrBadRequest) ||
		!strings.Contains(err.Error(), "tether invite emails --org "+org.ID) || !strings.Contains(err.Error(), "POST /v1/orgs/"+org.ID+"/imports") {
		t.Fatalf("deactivated member: %v", err)
	}
	if _, err := connect.NewLinks(connect.LinksParams{Store: st, Secret: []byte("short")}); err == nil ||
		!strings.Contains(err.Error(), "TETHER_LINK_SECRET") {
		t.Fatalf("short secret: %v", err)
	}
}

// orgWithRep is an org Acme with one active chat member, rep@acme.example.
func orgWithRep(t *testing.T, st *store.Store) (directory.Org, directory.Membership) {
	t.Helper()
	ctx := t.Context()
	org, err := st.CreateOrg(ctx, directory.Org{Name: "Acme"})
	if err != nil {
		t.Fatal(err)
	}
	u, err := st.CreateUser(ctx, directory.User{Email: "rep@acme.example"})
	if err != nil {
		t.Fatal(err)
	}
	m, err := st.CreateMembership(ctx, org.ID, directory.Membership{UserID: u.ID, Role: directory.RoleChat, Status: directory.MembershipActive})
	if err != nil {
		t.Fatal(err)
	}
	return org, m
}
