package httpapi_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"

	"tether/sync/directory"
	"tether/sync/members"
	"tether/sync/store"
	"tether/sync/store/storetest"
	"tether/worker/httpapi"
)

// refusedQueue is a Deactivations that counts the deactivations queued: a refused request
// must queue none.
type refusedQueue struct{ queued atomic.Int32 }

func (q *refusedQueue) Queue(context.Context, string, string) (string, bool, error) {
	q.queued.Add(1)
	return "members:deactivate:x:y", false, nil
}

// TestDeactivatePendingInvitee: POST .../members/{member}/deactivate for someone who only
// has a pending invite, by email or by invite id, answers 409 not_deactivatable with the
// exact tether invite revoke command (members list does not show invitees, so pointing
// there was a dead end), and so does a pending member whose invite holds the seat; an
// address with no pending invite stays 404 member_not_found.
func TestDeactivatePendingInvitee(t *testing.T) {
	storetest.Each(t, func(t *testing.T, st *store.Store) {
		ctx := t.Context()
		ms, err := members.New(members.Config{Store: st})
		if err != nil {
			t.Fatal(err)
		}
		q := &refusedQueue{}
		server, err := httpapi.New(httpapi.Params{Logger: zerolog.Nop(), Gatherer: prometheus.NewRegistry(),
			AdminUser: "admin", AdminPassword: "pw", Members: ms, Deactivations: q})
		if err != nil {
			t.Fatal(err)
		}
		srv := httptest.NewServer(server)
		t.Cleanup(srv.Close)
		b := &orgBundle{st: st, url: srv.URL}

		now := time.Now()
		org, err := st.CreateOrg(ctx, directory.Org{Name: "Acme", SeatLimit: 10, CreatedAt: now})
		if err != nil {
			t.Fatal(err)
		}
		invite := func(email, hash string) directory.Invite {
			inv, err := st.CreateInvite(ctx, org.ID, directory.Invite{Email: email, Role: directory.RoleChat,
				TokenHash: hash, ExpiresAt: now.Add(time.Hour), CreatedAt: now})
			if err != nil {
				t.Fatal(err)
			}
			return inv
		}
		pending := invite("aaron.johnson@example.com", "h-aaron")
		revoked := invite("gone@example.com", "h-gone")
		if err := st.RevokeInvite(ctx, org.ID, revoked.ID, now); err != nil {
			t.Fatal(err)
		}

		revoke := "tether invite revoke " + pending.ID + " --org " + org.ID
		for _, ref := range []string{"Aaron.Johnson@example.com", pending.ID} {
			e := b.wantError(t, "POST", "/v1/orgs/"+org.ID+"/members/"+ref+"/deactivate", "", http.StatusConflict, members.CodeNotDeactivatable)
			if !strings.Contains(e.Message, "revoke the invite instead with "+revoke) {
				t.Errorf("deactivate %s: message %q does not give %q", ref, e.Message, revoke)
			}
		}
		// A pending membership whose invite holds the seat gets that invite's command too.
		u, err := st.CreateUser(ctx, directory.User{Email: "bea@example.com", CreatedAt: now})
		if err != nil {
			t.Fatal(err)
		}
		bea, err := st.CreateMembership(ctx, org.ID, directory.Membership{UserID: u.ID, Role: directory.RoleChat,
			Status: directory.MembershipPending, CreatedAt: now})
		if err != nil {
			t.Fatal(err)
		}
		beaInvite := invite("bea@example.com", "h-bea")
		for _, ref := range []string{"bea@example.com", bea.ID} {
			e := b.wantError(t, "POST", "/v1/orgs/"+org.ID+"/members/"+ref+"/deactivate", "", http.StatusConflict, members.CodeNotDeactivatable)
			if want := "revoke the invite instead with tether invite revoke " + beaInvite.ID + " --org " + org.ID; !strings.Contains(e.Message, want) {
				t.Errorf("deactivate pending member %s: message %q does not give %q", ref, e.Message, want)
			}
		}

		for _, ref := range []string{"gone@example.com", revoked.ID, "ghost@example.com"} {
			b.wantError(t, "POST", "/v1/orgs/"+org.ID+"/members/"+ref+"/deactivate", "", http.StatusNotFound, members.CodeMemberNotFound)
		}
		if n := q.queued.Load(); n != 0 {
			t.Errorf("%d deactivations queued for people who are not members", n)
		}
	})
}
