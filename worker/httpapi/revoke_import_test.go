package httpapi_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"tether/sync/directory"
	"tether/sync/invites"
	"tether/sync/store"
	"tether/sync/store/storetest"
	"tether/worker/httpapi"
)

// POST /v1/orgs/{org}/imports/{id}/revoke, on both backends: more invites than one store
// page, a run that died after a page finished by the next, the dry run, the refusals.
func TestRevokeImportRoute(t *testing.T) {
	storetest.Each(t, func(t *testing.T, st *store.Store) {
		ctx := t.Context()
		server, err := httpapi.New(httpapi.Params{Gatherer: prometheus.NewRegistry(), AdminUser: "admin", AdminPassword: "pw",
			InviteAdmin: invites.Admin{Store: store.Invites{Store: st}}})
		if err != nil {
			t.Fatal(err)
		}
		srv := httptest.NewServer(server)
		t.Cleanup(srv.Close)
		b := &importBundle{st: st, url: srv.URL}

		orgA, _ := st.CreateOrg(ctx, directory.Org{Name: "Acme", SeatLimit: 1000})
		orgB, _ := st.CreateOrg(ctx, directory.Org{Name: "Globex", SeatLimit: 5})
		imp, err := st.CreateImport(ctx, orgA.ID, directory.Import{Role: directory.RoleChat, Status: directory.ImportRunning})
		if err != nil {
			t.Fatal(err)
		}
		mk := func(org, email, importID string, expires time.Time) directory.Invite {
			t.Helper()
			i, err := st.CreateInvite(ctx, org, directory.Invite{Email: email, Role: directory.RoleChat,
				TokenHash: "h-" + org + email, ExpiresAt: expires, ImportID: importID})
			if err != nil {
				t.Fatal(err)
			}
			return i
		}
		const pending = invites.RevokePage + 1
		for i := range pending {
			mk(orgA.ID, fmt.Sprintf("p%d@acme.example", i), imp.ID, time.Now().Add(time.Hour))
		}
		accepted := mk(orgA.ID, "ann@acme.example", imp.ID, time.Now().Add(time.Hour))
		if _, err := st.AcceptInvite(ctx, accepted.TokenHash, "Ann", time.Now()); err != nil {
			t.Fatal(err)
		}
		expired := mk(orgA.ID, "old@acme.example", imp.ID, time.Now().Add(-time.Hour))
		if err := st.ExpireLapsedInvites(ctx, orgA.ID, []string{expired.ID}, time.Now()); err != nil {
			t.Fatal(err)
		}
		bInv := mk(orgB.ID, "dee@globex.example", "", time.Now().Add(time.Hour))
		a := "/v1/orgs/" + orgA.ID

		var eb errorBody
		if res := b.call(t, "POST", a+"/imports/"+imp.ID+"/revoke", "", &eb); res.StatusCode != http.StatusConflict ||
			eb.Error.Code != invites.CodeImportRunning || !strings.Contains(eb.Error.Message, "cancel it first with tether invite cancel "+imp.ID) {
			t.Fatalf("revoke a running import: %d %+v", res.StatusCode, eb)
		}
		if _, err := st.CancelImport(ctx, orgA.ID, imp.ID, time.Now()); err != nil {
			t.Fatal(err)
		}
		if res := b.call(t, "POST", "/v1/orgs/"+orgB.ID+"/imports/"+imp.ID+"/revoke", "", &eb); res.StatusCode != 404 ||
			eb.Error.Code != invites.CodeImportNotFound || !strings.Contains(eb.Error.Message, "has no import "+imp.ID) {
			t.Fatalf("org B revokes org A's import: %d %+v", res.StatusCode, eb)
		}
		if res := b.call(t, "POST", a+"/imports/nope/revoke", "", &eb); res.StatusCode != 404 || !strings.Contains(eb.Error.Message, "has no import nope") {
			t.Fatalf("unknown import: %d %+v", res.StatusCode, eb)
		}
		if res := b.call(t, "POST", a+"/imports/"+imp.ID+"/revoke?dry_run=maybe", "", &eb); res.StatusCode != 400 || eb.Error.Code != "invalid_dry_run" {
			t.Fatalf("dry_run=maybe: %d %+v", res.StatusCode, eb)
		}

		var br invites.BulkRevoke
		if res := b.call(t, "POST", a+"/imports/"+imp.ID+"/revoke?dry_run=true", "", &br); res.StatusCode != 200 ||
			br != (invites.BulkRevoke{ImportID: imp.ID, DryRun: true, Revoked: pending, EmailsStopped: pending, Accepted: 1, Expired: 1}) {
			t.Fatalf("dry run: %d %+v", res.StatusCode, br)
		}
		// A run that died after its first page: the next one revokes the rest.
		if p, err := st.RevokeImportInvites(ctx, orgA.ID, imp.ID, time.Now(), 100); err != nil || p.Revoked != 100 {
			t.Fatalf("first page: %+v %v", p, err)
		}
		br = invites.BulkRevoke{}
		if res := b.call(t, "POST", a+"/imports/"+imp.ID+"/revoke", "", &br); res.StatusCode != 200 ||
			br != (invites.BulkRevoke{ImportID: imp.ID, Revoked: pending - 100, EmailsStopped: pending - 100, Accepted: 1, AlreadyRevoked: 100, Expired: 1}) {
			t.Fatalf("revoke: %d %+v", res.StatusCode, br)
		}
		br = invites.BulkRevoke{}
		if res := b.call(t, "POST", a+"/imports/"+imp.ID+"/revoke", "", &br); res.StatusCode != 200 ||
			br != (invites.BulkRevoke{ImportID: imp.ID, Accepted: 1, AlreadyRevoked: pending, Expired: 1}) {
			t.Fatalf("revoke again: %d %+v", res.StatusCode, br)
		}
		for inv, want := range map[directory.Invite]directory.InviteStatus{accepted: directory.InviteAccepted, expired: directory.InviteExpired, bInv: directory.InvitePending} {
			if got, _ := st.GetInvite(ctx, inv.OrgID, inv.ID); got.Status != want {
				t.Errorf("invite %s is %s, want %s", inv.Email, got.Status, want)
			}
		}
		if seats, _ := st.CountSeats(ctx, orgA.ID, time.Now()); seats.PendingInvites != 0 {
			t.Errorf("org A still holds %d seats for pending invites", seats.PendingInvites)
		}
		// Without credentials nothing is revoked.
		req, _ := http.NewRequestWithContext(ctx, "POST", srv.URL+a+"/imports/"+imp.ID+"/revoke", nil)
		if res, err := http.DefaultClient.Do(req); err != nil || res.StatusCode != http.StatusUnauthorized {
			t.Fatalf("anonymous revoke: %v %v", res.StatusCode, err)
		}
	})
}
