package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/hibiken/asynq"

	"tether/config"
	"tether/jobs"
	"tether/sync/directory"
	"tether/sync/store"
	"tether/worker/httpapi"
	"tether/worker/redistest"
)

// adminSeed is what the listing verbs' test starts from: org A with an import (three
// unsent invites, two skipped rows) and org B with an invite of its own.
type adminSeed struct {
	orgA, orgB string
	importID   string
	invitesA   []string
	inviteB    string
}

func seedInviteAdmin(t *testing.T, dbURL string) adminSeed {
	t.Helper()
	ctx := context.Background()
	st, err := store.Open(ctx, dbURL)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	var s adminSeed
	for name, id := range map[string]*string{"Acme": &s.orgA, "Globex": &s.orgB} {
		o, err := st.CreateOrg(ctx, directory.Org{Name: name, SeatLimit: 10})
		if err != nil {
			t.Fatal(err)
		}
		*id = o.ID
	}
	imp, err := st.CreateImport(ctx, s.orgA, directory.Import{Role: directory.RoleChat, Status: directory.ImportRunning,
		Selection: directory.ImportSelection{Emails: []string{"x"}}})
	if err != nil {
		t.Fatal(err)
	}
	s.importID = imp.ID
	imp.Progress = directory.ImportProgress{Done: 5, Total: 9}
	imp.Counts.Invited = 3
	err = st.SaveCheckpoint(ctx, s.orgA, directory.Checkpoint{Import: imp, Skipped: []directory.SkippedRow{
		{Seq: 1, Email: "not-an-email", Reason: "skipped_invalid_email"},
		{Seq: 4, Email: "ann@acme.example", Name: "=HYPERLINK(1)", Reason: "duplicate_in_import"},
	}}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	mk := func(org, email, importID string) string {
		inv, err := st.CreateInvite(ctx, org, directory.Invite{Email: email, Role: directory.RoleChat,
			TokenHash: "h-" + org + email, ExpiresAt: time.Now().Add(time.Hour), ImportID: importID})
		if err != nil {
			t.Fatal(err)
		}
		return inv.ID
	}
	for _, e := range []string{"ann@acme.example", "bob@acme.example", "cy@acme.example"} {
		s.invitesA = append(s.invitesA, mk(s.orgA, e, s.importID))
	}
	s.inviteB = mk(s.orgB, "dee@globex.example", "")
	return s
}

// The listing, revoke, cancel, skipped-rows and bulk resend verbs, on both backends; org
// A's calls never reach org B's rows.
func TestInviteAdminVerbs(t *testing.T) {
	opt, _ := redistest.Client(t, 12)
	backends := map[string]string{
		"sqlite":   "sqlite:" + filepath.Join(t.TempDir(), "tether.db"),
		"postgres": freshPostgres(t),
	}
	for name, dbURL := range backends {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			env := map[string]string{"TETHER_DATABASE_URL": dbURL, "TETHER_REDIS_URL": redistest.URL(opt), "TETHER_LOG_LEVEL": "warn"}
			ok := func(args ...string) string {
				t.Helper()
				r := runTether(t, ctx, env, args...)
				if r.err != nil {
					t.Fatalf("tether %s: %v\n%s%s", strings.Join(args, " "), r.err, r.stdout, r.stderr)
				}
				return r.stdout
			}
			refused := func(want string, args ...string) {
				t.Helper()
				r := runTether(t, ctx, env, args...)
				if r.err == nil || !strings.Contains(r.err.Error(), want) {
					t.Errorf("tether %s: got %v (%s), want an error containing %q", strings.Join(args, " "), r.err, r.stdout, want)
				}
			}
			ok("migrate", "up")
			s := seedInviteAdmin(t, dbURL)

			// Two pages of pending invites, the second reached with the printed cursor.
			out := ok("invite", "list", "--org", s.orgA, "--status", "pending", "--limit", "2")
			if !strings.Contains(out, s.invitesA[0]) || !strings.Contains(out, s.invitesA[1]) || strings.Contains(out, s.invitesA[2]) ||
				!strings.Contains(out, "--cursor "+s.invitesA[1]) || strings.Contains(out, s.inviteB) {
				t.Fatalf("first page:\n%s", out)
			}
			out = ok("invite", "list", "--org", s.orgA, "--status", "pending", "--limit", "2", "--cursor", s.invitesA[1])
			if !strings.Contains(out, "cy@acme.example") || strings.Contains(out, "ann@") || strings.Contains(out, "more:") {
				t.Fatalf("second page:\n%s", out)
			}
			// --json is the route's page; its next_cursor is what --cursor takes.
			var ip httpapi.InvitePageJSON
			if err := json.Unmarshal([]byte(ok("invite", "list", "--org", s.orgA, "--status", "pending", "--limit", "2", "--json")), &ip); err != nil {
				t.Fatal(err)
			}
			if len(ip.Invites) != 2 || ip.Invites[0].ID != s.invitesA[0] || ip.Invites[1].ID != s.invitesA[1] || ip.Next != s.invitesA[1] ||
				ip.Invites[0].OrgID != s.orgA || ip.Invites[0].Status != directory.InvitePending {
				t.Fatalf("first page in JSON: %+v", ip)
			}
			next := ip.Next
			ip = httpapi.InvitePageJSON{} // the last page has no next_cursor to overwrite the first's
			if err := json.Unmarshal([]byte(ok("invite", "list", "--org", s.orgA, "--status", "pending", "--limit", "2", "--cursor", next, "--json")), &ip); err != nil {
				t.Fatal(err)
			}
			if len(ip.Invites) != 1 || ip.Invites[0].Email != "cy@acme.example" || ip.Next != "" {
				t.Fatalf("second page in JSON: %+v", ip)
			}
			// A send still retrying shows why in SEND ERROR, not only in the worker's log.
			st, err := store.Open(ctx, dbURL)
			if err != nil {
				t.Fatal(err)
			}
			err = st.NoteInviteSendError(ctx, s.orgA, s.invitesA[0], 1, "the invitation email failed on attempt 1 of 6: the mail server deferred it (SMTP 451); tether retries it", time.Now())
			_ = st.Close()
			if err != nil {
				t.Fatal(err)
			}
			out = ok("invite", "list", "--org", s.orgA, "--status", "pending", "--limit", "1")
			if !strings.Contains(out, "the mail server deferred it (SMTP 451); tether retries it") {
				t.Fatalf("a retrying send's error is not listed:\n%s", out)
			}
			refused(`status "maybe" is not one of pending`, "invite", "list", "--org", s.orgA, "--status", "maybe")
			refused("org nope does not exist", "invite", "list", "--org", "nope")

			out = ok("invite", "imports", "--org", s.orgA)
			if !strings.Contains(out, s.importID) || !strings.Contains(out, "running") || !strings.Contains(out, "5/9") {
				t.Fatalf("imports:\n%s", out)
			}
			var imps httpapi.ImportPageJSON
			if err := json.Unmarshal([]byte(ok("invite", "imports", "--org", s.orgA, "--json")), &imps); err != nil {
				t.Fatal(err)
			}
			if len(imps.Imports) != 1 || imps.Imports[0].ID != s.importID || imps.Imports[0].Status != directory.ImportRunning ||
				imps.Imports[0].Progress.Done != 5 || imps.Imports[0].Progress.Total != 9 || imps.Next != "" {
				t.Fatalf("imports --json: %+v", imps)
			}
			if out := ok("invite", "imports", "--org", s.orgB); !strings.Contains(out, "has no imports") {
				t.Fatalf("org B lists org A's import:\n%s", out)
			}

			out = ok("invite", "skipped", s.importID, "--org", s.orgA)
			if !strings.Contains(out, "skipped_invalid_email") || !strings.Contains(out, "duplicate_in_import") || !strings.Contains(out, "not-an-email") {
				t.Fatalf("skipped:\n%s", out)
			}
			if out := ok("invite", "skipped", s.importID, "--org", s.orgA, "--cursor", "99"); !strings.Contains(out, "no skipped rows after cursor 99") {
				t.Fatalf("skipped past the last row:\n%s", out)
			}
			// SEQ is the number --cursor takes: a page of one ends at seq 1, the next
			// page starts after it.
			page := ok("invite", "skipped", s.importID, "--org", s.orgA, "--limit", "1")
			if !regexp.MustCompile(`(?m)^\s*│?\s*1\s.*not-an-email`).MatchString(page) || !strings.Contains(page, "--cursor 1\n") ||
				strings.Contains(page, "ann@acme.example") {
				t.Fatalf("first page of one:\n%s", page)
			}
			page = ok("invite", "skipped", s.importID, "--org", s.orgA, "--cursor", "1")
			if !regexp.MustCompile(`(?m)^\s*│?\s*4\s.*ann@acme.example`).MatchString(page) || strings.Contains(page, "not-an-email") {
				t.Fatalf("page after cursor 1:\n%s", page)
			}
			out = ok("invite", "skipped", s.importID, "--org", s.orgA, "--csv")
			want := "seq,salesforce_user_id,email,name,reason\n1,,not-an-email,,skipped_invalid_email\n4,,ann@acme.example,'=HYPERLINK(1),duplicate_in_import\n"
			if out != want {
				t.Fatalf("CSV:\n%s\nwant:\n%s", out, want)
			}
			refused("org "+s.orgB+" has no import "+s.importID, "invite", "skipped", s.importID, "--org", s.orgB)

			// Revoke: org B cannot reach org A's invite (nor A B's), and B's stays pending.
			refused("org "+s.orgA+" has no invite "+s.inviteB, "invite", "revoke", s.inviteB, "--org", s.orgA)
			if out := ok("invite", "revoke", s.invitesA[2], "--org", s.orgA); !strings.Contains(out, "revoked invite "+s.invitesA[2]) {
				t.Fatalf("revoke: %s", out)
			}
			refused("is revoked, not pending", "invite", "revoke", s.invitesA[2], "--org", s.orgA)
			if out := ok("invite", "list", "--org", s.orgB, "--status", "pending"); !strings.Contains(out, s.inviteB) {
				t.Fatalf("org B's invite after org A's revokes:\n%s", out)
			}
			refused("INVITE_ID", "invite", "revoke", "--org", s.orgA)

			// Bulk resend queues the import's two unsent, still pending invites, once.
			out = ok("invite", "resend", "--import", s.importID, "--org", s.orgA)
			if !strings.Contains(out, "2 queued, 0 already queued, 0 without a free seat") {
				t.Fatalf("resend --import: %s", out)
			}
			if out := ok("invite", "resend", "--import", s.importID, "--org", s.orgA); !strings.Contains(out, "0 queued, 2 already queued") {
				t.Fatalf("second resend --import: %s", out)
			}
			in := asynq.NewInspector(opt)
			defer in.Close()
			for _, id := range s.invitesA[:2] {
				if _, err := in.GetTaskInfo(jobs.QueueDefault, jobs.TaskIDInvitesSend(s.orgA, id, 1)); err != nil {
					t.Errorf("no send task for invite %s: %v", id, err)
				}
			}
			refused("has no such import", "invite", "resend", "--import", s.importID, "--org", s.orgB)

			// Cancel: org B cannot; A can, once.
			refused("has no import", "invite", "cancel", s.importID, "--org", s.orgB)
			if out := ok("invite", "cancel", s.importID, "--org", s.orgA); !strings.Contains(out, fmt.Sprintf("cancelled import %s after 5 of 9 rows", s.importID)) ||
				// The invites already made are not undone: the output says so, and how to find them.
				!strings.Contains(out, "the 3 invites it made stay pending and their invitation emails are still sent") ||
				!strings.Contains(out, "tether invite list --org "+s.orgA+" --import "+s.importID) {
				t.Fatalf("cancel: %s", out)
			}
			refused("already cancelled", "invite", "cancel", s.importID, "--org", s.orgA)
		})
	}
}

// The listing, revoke and skipped-rows verbs read and write only the database: without
// TETHER_REDIS_URL (a trial on `tether all`'s embedded Redis) they work instead of
// stopping at "no Redis configured".
func TestInviteAdminVerbsNeedNoRedis(t *testing.T) {
	db := "sqlite:" + filepath.Join(t.TempDir(), "tether.db")
	env := map[string]string{"TETHER_DATABASE_URL": db, "TETHER_LOG_LEVEL": "warn"}
	if r := runTether(t, t.Context(), env, "migrate", "up"); r.err != nil {
		t.Fatal(r.err)
	}
	s := seedInviteAdmin(t, db)
	for _, args := range [][]string{
		{"invite", "list", "--org", s.orgA},
		{"invite", "imports", "--org", s.orgA},
		{"invite", "skipped", s.importID, "--org", s.orgA},
		{"invite", "revoke", s.invitesA[0], "--org", s.orgA},
	} {
		if r := runTether(t, t.Context(), env, args...); r.err != nil {
			t.Errorf("tether %s without TETHER_REDIS_URL: %v", strings.Join(args, " "), r.err)
		}
	}
}

// A verb that reaches buildDeps without Redis still gets a sentence naming the variable.
func TestBuildDepsWithoutRedisNamesTheVariable(t *testing.T) {
	cfg, err := config.Load(func(string) string { return "" }, nil)
	if err != nil {
		t.Fatal(err)
	}
	_, _, err = buildDeps(t.Context(), env{stderr: io.Discard}, cfg, depsOptions{})
	if err == nil || !strings.Contains(err.Error(), "TETHER_REDIS_URL") || !strings.Contains(err.Error(), "--redis-url") {
		t.Errorf("buildDeps without Redis: %v; want a sentence naming TETHER_REDIS_URL and --redis-url", err)
	}
}
