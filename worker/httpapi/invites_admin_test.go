package httpapi_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/prometheus/client_golang/prometheus"

	"tether/jobs"
	"tether/sync/directory"
	"tether/sync/invites"
	"tether/sync/onboarding"
	"tether/sync/store"
	"tether/sync/store/storetest"
	"tether/worker"
	"tether/worker/httpapi"
	"tether/worker/redistest"
)

// The listing, revoke, cancel, skipped rows (JSON and CSV), bulk and single resend routes, on both
// backends; org A's calls never reach org B's rows.
func TestInviteAdminRoutes(t *testing.T) {
	storetest.Each(t, func(t *testing.T, st *store.Store) {
		ctx := t.Context()
		redis, _ := redistest.Client(t, dbImports)
		client, inspector := asynq.NewClient(redis), asynq.NewInspector(redis)
		t.Cleanup(func() { _ = client.Close(); _ = inspector.Close() })
		inv := store.Invites{Store: st}
		server, err := httpapi.New(httpapi.Params{Gatherer: prometheus.NewRegistry(), AdminUser: "admin", AdminPassword: "pw",
			InviteAdmin: invites.Admin{Store: inv},
			Resends:     onboarding.Resender{Store: inv, Queue: worker.InviteEnqueuer{Client: client, Inspector: inspector}}})
		if err != nil {
			t.Fatal(err)
		}
		srv := httptest.NewServer(server)
		t.Cleanup(srv.Close)
		b := &importBundle{st: st, url: srv.URL}

		orgA, _ := st.CreateOrg(ctx, directory.Org{Name: "Acme", SeatLimit: 5})
		orgB, _ := st.CreateOrg(ctx, directory.Org{Name: "Globex", SeatLimit: 5})
		var imps []directory.Import
		for i := range 3 {
			imp, err := st.CreateImport(ctx, orgA.ID, directory.Import{Role: directory.RoleChat, Status: directory.ImportRunning,
				CreatedAt: time.Now().Add(time.Duration(i) * time.Second)})
			if err != nil {
				t.Fatal(err)
			}
			imps = append(imps, imp)
		}
		newest := imps[2]
		if err := st.SaveCheckpoint(ctx, orgA.ID, directory.Checkpoint{Import: newest, Skipped: []directory.SkippedRow{
			{Seq: 0, Email: "bad@", Reason: "skipped_invalid_email"},
			{Seq: 2, SalesforceUserID: "005000000000009AAA", Email: "m@acme.example", Name: "Mo", Reason: "already_member"},
		}}, time.Now()); err != nil {
			t.Fatal(err)
		}
		mk := func(org, email, importID string) directory.Invite {
			i, err := st.CreateInvite(ctx, org, directory.Invite{Email: email, Role: directory.RoleChat,
				TokenHash: "h-" + org + email, ExpiresAt: time.Now().Add(time.Hour), ImportID: importID})
			if err != nil {
				t.Fatal(err)
			}
			return i
		}
		a1, a2 := mk(orgA.ID, "ann@acme.example", newest.ID), mk(orgA.ID, "bob@acme.example", newest.ID)
		bInv := mk(orgB.ID, "dee@globex.example", "")
		a := "/v1/orgs/" + orgA.ID

		// Imports, newest first, two pages.
		var ip struct {
			Imports []httpapi.ImportView `json:"imports"`
			Next    string               `json:"next_cursor"`
		}
		if res := b.call(t, "GET", a+"/imports?limit=2", "", &ip); res.StatusCode != 200 || len(ip.Imports) != 2 ||
			ip.Imports[0].ID != imps[2].ID || ip.Imports[1].ID != imps[1].ID || ip.Next != imps[1].ID {
			t.Fatalf("imports page 1: %d %+v", res.StatusCode, ip)
		}
		ip.Imports, ip.Next = nil, ""
		if b.call(t, "GET", a+"/imports?limit=2&cursor="+imps[1].ID, "", &ip); len(ip.Imports) != 1 || ip.Imports[0].ID != imps[0].ID || ip.Next != "" {
			t.Fatalf("imports page 2: %+v", ip)
		}
		var eb errorBody
		if res := b.call(t, "GET", a+"/imports?limit=0", "", &eb); res.StatusCode != 400 || eb.Error.Code != "invalid_limit" {
			t.Fatalf("limit=0: %d %+v", res.StatusCode, eb)
		}
		if res := b.call(t, "GET", "/v1/orgs/"+orgB.ID+"/imports?cursor="+imps[1].ID, "", &eb); res.StatusCode != 400 {
			t.Fatalf("org B paging from org A's import: %d", res.StatusCode)
		}

		// Invites by status, paged; org B's never listed in org A.
		var vp struct {
			Invites []httpapi.InviteView `json:"invites"`
			Next    string               `json:"next_cursor"`
		}
		if res := b.call(t, "GET", a+"/invites?status=pending&limit=1", "", &vp); res.StatusCode != 200 || len(vp.Invites) != 1 || vp.Invites[0].ID != a1.ID || vp.Next != a1.ID {
			t.Fatalf("invites page 1: %d %+v", res.StatusCode, vp)
		}
		vp.Invites, vp.Next = nil, ""
		if b.call(t, "GET", a+"/invites?status=pending&limit=1&cursor="+a1.ID, "", &vp); len(vp.Invites) != 1 || vp.Invites[0].ID != a2.ID || vp.Next != "" {
			t.Fatalf("invites page 2: %+v", vp)
		}
		if res := b.call(t, "GET", a+"/invites?status=gone", "", &eb); res.StatusCode != 400 || eb.Error.Code != invites.CodeInvalidStatus ||
			!strings.Contains(eb.Error.Message, "unknown") {
			t.Fatalf("bad status: %d %+v", res.StatusCode, eb)
		}
		// An email whose worker died after the server may have accepted it: status=unknown.
		if _, err := st.BeginInviteAttempt(ctx, orgA.ID, directory.InviteAttempt{InviteID: a2.ID, Attempt: 1, At: time.Now()}); err != nil {
			t.Fatal(err)
		}
		if _, err := st.SettleInviteAttempt(ctx, orgA.ID, a2.ID, 1, time.Now()); err != nil {
			t.Fatal(err)
		}
		vp.Invites, vp.Next = nil, ""
		if res := b.call(t, "GET", a+"/invites?status=unknown", "", &vp); res.StatusCode != 200 || len(vp.Invites) != 1 ||
			vp.Invites[0].ID != a2.ID || vp.Invites[0].Delivery != directory.DeliveryUnknown {
			t.Fatalf("unknown invites: %d %+v", res.StatusCode, vp)
		}
		// A send still retrying carries why, not only the worker's log.
		if err := st.NoteInviteSendError(ctx, orgA.ID, a1.ID, 1, "the mail server deferred it (SMTP 451)", time.Now()); err != nil {
			t.Fatal(err)
		}
		vp.Invites = nil
		if b.call(t, "GET", a+"/invites?status=unsent", "", &vp); len(vp.Invites) != 1 || vp.Invites[0].ID != a1.ID ||
			vp.Invites[0].LastSendError != "the mail server deferred it (SMTP 451)" || vp.Invites[0].SendError != "" {
			t.Fatalf("unsent invites: %+v", vp)
		}
		if res := b.call(t, "GET", "/v1/orgs/nope/invites", "", &eb); res.StatusCode != 404 || eb.Error.Code != invites.CodeOrgNotFound {
			t.Fatalf("unknown org: %d %+v", res.StatusCode, eb)
		}
		// A mistyped import or cursor is an error, not an empty page that reads as "no invites".
		if res := b.call(t, "GET", a+"/invites?import=nope", "", &eb); res.StatusCode != 404 || eb.Error.Code != invites.CodeImportNotFound {
			t.Fatalf("unknown import: %d %+v", res.StatusCode, eb)
		}
		if res := b.call(t, "GET", a+"/invites?cursor=zzz", "", &eb); res.StatusCode != 400 || eb.Error.Code != invites.CodeInvalidCursor {
			t.Fatalf("unknown cursor: %d %+v", res.StatusCode, eb)
		}

		// Skipped rows as JSON and CSV; org B gets a 404 for org A's import.
		var sp struct {
			Rows []directory.SkippedRow `json:"rows"`
			Next string                 `json:"next_cursor"`
		}
		if b.call(t, "GET", a+"/imports/"+newest.ID+"/skipped?limit=1", "", &sp); len(sp.Rows) != 1 || sp.Rows[0].Reason != "skipped_invalid_email" || sp.Next != "0" {
			t.Fatalf("skipped page 1: %+v", sp)
		}
		sp.Rows, sp.Next = nil, ""
		if b.call(t, "GET", a+"/imports/"+newest.ID+"/skipped?cursor=0", "", &sp); len(sp.Rows) != 1 || sp.Rows[0].Name != "Mo" || sp.Next != "" {
			t.Fatalf("skipped page 2: %+v", sp)
		}
		req, _ := http.NewRequestWithContext(ctx, "GET", srv.URL+a+"/imports/"+newest.ID+"/skipped.csv", nil)
		req.SetBasicAuth("admin", "pw")
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(res.Body)
		res.Body.Close()
		wantCSV := "seq,salesforce_user_id,email,name,reason\n0,,bad@,,skipped_invalid_email\n2,005000000000009AAA,m@acme.example,Mo,already_member\n"
		if res.StatusCode != 200 || !strings.HasPrefix(res.Header.Get("Content-Type"), "text/csv") || string(body) != wantCSV {
			t.Fatalf("CSV: %d %s\n%s", res.StatusCode, res.Header.Get("Content-Type"), body)
		}
		if res := b.call(t, "GET", "/v1/orgs/"+orgB.ID+"/imports/"+newest.ID+"/skipped.csv", "", &eb); res.StatusCode != 404 || eb.Error.Code != invites.CodeImportNotFound {
			t.Fatalf("org B's CSV of org A's import: %d %+v", res.StatusCode, eb)
		}

		// Revoke: org A cannot reach org B's invite; a second revoke is a conflict.
		if res := b.call(t, "DELETE", a+"/invites/"+bInv.ID, "", &eb); res.StatusCode != 404 || eb.Error.Code != invites.CodeInviteNotFound {
			t.Fatalf("revoke org B's invite from org A: %d %+v", res.StatusCode, eb)
		}
		if got, _ := st.GetInvite(ctx, orgB.ID, bInv.ID); got.Status != directory.InvitePending {
			t.Fatalf("org B's invite is %s", got.Status)
		}
		var iv httpapi.InviteView
		if res := b.call(t, "DELETE", a+"/invites/"+a2.ID, "", &iv); res.StatusCode != 200 || iv.Status != directory.InviteRevoked {
			t.Fatalf("revoke: %d %+v", res.StatusCode, iv)
		}
		if res := b.call(t, "DELETE", a+"/invites/"+a2.ID, "", &eb); res.StatusCode != 409 || eb.Error.Code != invites.CodeNotPending {
			t.Fatalf("revoke twice: %d %+v", res.StatusCode, eb)
		}

		// Bulk resend: the one unsent pending invite left gets its send task.
		var br onboarding.BulkResend
		if res := b.call(t, "POST", a+"/imports/"+newest.ID+"/resend", "", &br); res.StatusCode != 200 || br.Queued != 1 || br.AlreadyQueued != 0 {
			t.Fatalf("resend: %d %+v", res.StatusCode, br)
		}
		if _, err := inspector.GetTaskInfo(jobs.QueueDefault, jobs.TaskIDInvitesSend(orgA.ID, a1.ID, 1)); err != nil {
			t.Fatalf("no send task for %s: %v", a1.Email, err)
		}
		if res := b.call(t, "POST", "/v1/orgs/"+orgB.ID+"/imports/"+newest.ID+"/resend", "", &eb); res.StatusCode != 404 {
			t.Fatalf("resend org A's import from org B: %d", res.StatusCode)
		}

		// One invite's resend, the route of `tether invite resend`: by email, the attempt the
		// bulk resend queued is already queued (one email, not two); a revoked invite is a
		// conflict that says what to do; org B cannot reach org A's invite.
		var rv httpapi.ResendView
		if res := b.call(t, "POST", a+"/invites/ANN@acme.example/resend", "", &rv); res.StatusCode != 200 ||
			rv.Status != "already_queued" || rv.Attempt != 1 || rv.Invite.ID != a1.ID {
			t.Fatalf("resend by email: %d %+v", res.StatusCode, rv)
		}
		if n, _ := inspector.ListPendingTasks(jobs.QueueDefault); len(n) != 1 {
			t.Fatalf("%d pending send tasks after a second resend, want 1", len(n))
		}
		if res := b.call(t, "POST", a+"/invites/"+a2.ID+"/resend", "", &eb); res.StatusCode != 409 || eb.Error.Code != invites.CodeNotPending ||
			!strings.Contains(eb.Error.Message, "revoked, not pending") {
			t.Fatalf("resend a revoked invite: %d %+v", res.StatusCode, eb)
		}
		if res := b.call(t, "POST", "/v1/orgs/"+orgB.ID+"/invites/"+a1.ID+"/resend", "", &eb); res.StatusCode != 404 || eb.Error.Code != invites.CodeInviteNotFound {
			t.Fatalf("resend org A's invite from org B: %d %+v", res.StatusCode, eb)
		}
		if res := b.call(t, "POST", "/v1/orgs/"+orgB.ID+"/invites/"+bInv.ID+"/resend", "", &rv); res.StatusCode != 200 || rv.Status != "queued" || rv.Attempt != 1 {
			t.Fatalf("resend org B's own invite: %d %+v", res.StatusCode, rv)
		}

		// Cancel: org B cannot; org A can, once.
		if res := b.call(t, "POST", "/v1/orgs/"+orgB.ID+"/imports/"+newest.ID+"/cancel", "", &eb); res.StatusCode != 404 {
			t.Fatalf("cancel from org B: %d", res.StatusCode)
		}
		var cv httpapi.ImportView
		if res := b.call(t, "POST", a+"/imports/"+newest.ID+"/cancel", "", &cv); res.StatusCode != 200 || cv.Status != directory.ImportCancelled {
			t.Fatalf("cancel: %d %+v", res.StatusCode, cv)
		}
		if res := b.call(t, "POST", a+"/imports/"+newest.ID+"/cancel", "", &eb); res.StatusCode != 409 || eb.Error.Code != invites.CodeFinished {
			t.Fatalf("cancel twice: %d %+v", res.StatusCode, eb)
		}
		// Without credentials nothing is listed.
		req, _ = http.NewRequestWithContext(ctx, "GET", srv.URL+a+"/invites", nil)
		if res, err := http.DefaultClient.Do(req); err != nil || res.StatusCode != http.StatusUnauthorized {
			t.Fatalf("anonymous listing: %v %v", res.StatusCode, err)
		}
	})
}
