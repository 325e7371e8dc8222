package main

import (
	"strings"
	"testing"
	"time"

	"github.com/hibiken/asynq"

	"tether/connectors/email"
	"tether/connectors/email/mailsink"
	"tether/jobs"
	"tether/sync/directory"
	"tether/sync/onboarding"
	"tether/worker/redistest"
)

// `tether invite revoke --import`, on both backends: refused while the import runs and in
// the wrong forms; after a cancel it revokes the import's pending invites (never its
// accepted one, never org B's), their queued invitation emails then send nothing, and a
// second run revokes nothing more.
func TestInviteRevokeImport(t *testing.T) {
	opt, _ := redistest.Client(t, 12)
	eachBackend(t, func(t *testing.T, v *verbTest) {
		ctx, st, ok, refused := v.ctx, v.st, v.ok, v.refused
		v.env["TETHER_REDIS_URL"], v.env["TETHER_LOG_LEVEL"] = redistest.URL(opt), "warn"
		s := seedInviteAdmin(t, v.dbURL)
		in := asynq.NewInspector(opt)
		defer in.Close()
		// The other backend's subtest uses the same Redis database.
		defer func() { _, _ = in.DeleteAllPendingTasks(jobs.QueueDefault) }()

		// Every invite of the import has its email queued; one is accepted meanwhile.
		if out := ok("invite", "resend", "--import", s.importID, "--org", s.orgA); !strings.Contains(out, "3 queued") {
			t.Fatalf("resend --import: %s", out)
		}
		if _, err := st.AcceptInvite(ctx, "h-"+s.orgA+"ann@acme.example", "Ann", time.Now()); err != nil {
			t.Fatal(err)
		}

		both := "tether invite revoke INVITE_ID --org ORG (one invite) or tether invite revoke --import IMPORT_ID --org ORG"
		refused("not both: "+both, "invite", "revoke", s.invitesA[1], "--import", s.importID, "--org", s.orgA)
		refused("--dry-run goes with --import", "invite", "revoke", s.invitesA[1], "--dry-run", "--org", s.orgA)
		refused("org "+s.orgB+" has no import "+s.importID, "invite", "revoke", "--import", s.importID, "--org", s.orgB)
		refused("org "+s.orgA+" has no import nope", "invite", "revoke", "--import", "nope", "--org", s.orgA)
		// Running: it would go on inviting, so the command says to cancel it first.
		refused("import "+s.importID+" is running and would go on inviting: cancel it first with tether invite cancel "+s.importID+" --org "+s.orgA,
			"invite", "revoke", "--import", s.importID, "--org", s.orgA, "--dry-run")

		// Cancel names the bulk revoke.
		if out := ok("invite", "cancel", s.importID, "--org", s.orgA); !strings.Contains(out, "revoke them all with tether invite revoke --import "+s.importID+" --org "+s.orgA) {
			t.Fatalf("cancel: %s", out)
		}
		out := ok("invite", "revoke", "--import", s.importID, "--org", s.orgA, "--dry-run")
		if want := "import " + s.importID + ": dry run, nothing changed: would revoke 2 pending invites (2 invitation emails not sent yet are stopped); left alone: 1 accepted, 0 already revoked, 0 expired"; !strings.Contains(out, want) {
			t.Fatalf("dry run: %s\nwant %s", out, want)
		}
		if inv, _ := st.GetInvite(ctx, s.orgA, s.invitesA[1]); inv.Status != directory.InvitePending {
			t.Fatalf("the dry run revoked %s", inv.ID)
		}
		out = ok("invite", "revoke", "--import", s.importID, "--org", s.orgA)
		if want := "import " + s.importID + ": revoked 2 pending invites (2 invitation emails not sent yet are stopped); left alone: 1 accepted, 0 already revoked, 0 expired"; !strings.Contains(out, want) {
			t.Fatalf("revoke --import: %s\nwant %s", out, want)
		}
		for i, want := range []directory.InviteStatus{directory.InviteAccepted, directory.InviteRevoked, directory.InviteRevoked} {
			if inv, _ := st.GetInvite(ctx, s.orgA, s.invitesA[i]); inv.Status != want {
				t.Errorf("invite %s is %s, want %s", inv.Email, inv.Status, want)
			}
		}
		// Again (as after a crash): nothing left to revoke, the rest reported as such.
		out = ok("invite", "revoke", "--import", s.importID, "--org", s.orgA)
		if want := "revoked 0 pending invites (0 invitation emails not sent yet are stopped); left alone: 1 accepted, 2 already revoked, 0 expired"; !strings.Contains(out, want) {
			t.Fatalf("second revoke --import: %s", out)
		}
		// Nothing pending: a bulk resend queues nothing and says how one email goes again.
		if out := ok("invite", "resend", "--import", s.importID, "--org", s.orgA); !strings.Contains(out, "0 queued, 0 already queued, 0 without a free seat\n"+
			"no pending invite of it is unsent or of unknown delivery; to email one again: tether invite resend --org "+s.orgA+" INVITE_ID|EMAIL") {
			t.Fatalf("resend --import with nothing pending: %s", out)
		}
		// The single form still works, and org B's invite was never touched.
		refused("is revoked, not pending", "invite", "revoke", s.invitesA[2], "--org", s.orgA)
		if out := ok("invite", "resend", s.inviteB, "--org", s.orgB); !strings.Contains(out, "queued attempt 1") {
			t.Fatalf("org B's invite after org A's bulk revoke: %s", out)
		}

		// The queued send tasks, run by the real sender: only org B's invite is emailed.
		sink, err := mailsink.Start()
		if err != nil {
			t.Fatal(err)
		}
		defer sink.Close()
		m, err := email.New(email.Config{Host: "127.0.0.1", Port: sink.Port(), TLS: email.TLSNone, From: "invite@acme.example", Timeout: 5 * time.Second})
		if err != nil {
			t.Fatal(err)
		}
		sender, err := onboarding.NewSender(onboarding.SenderConfig{Store: st, Mailer: email.InviteMailer(m, ""), PublicURL: "https://tether.example.com"})
		if err != nil {
			t.Fatal(err)
		}
		tasks, err := in.ListPendingTasks(jobs.QueueDefault)
		if err != nil {
			t.Fatal(err)
		}
		outcomes := map[string]onboarding.Outcome{}
		for _, task := range tasks {
			p, err := jobs.Decode[jobs.InvitesSend](task.Payload)
			if err != nil {
				t.Fatal(err)
			}
			o, err := sender.Send(ctx, p.OrgID, p.InviteID, p.Attempt)
			if err != nil {
				t.Fatalf("send %s: %v", p.InviteID, err)
			}
			outcomes[p.InviteID] = o
		}
		want := map[string]onboarding.Outcome{s.invitesA[0]: onboarding.NotPending, s.invitesA[1]: onboarding.NotPending,
			s.invitesA[2]: onboarding.NotPending, s.inviteB: onboarding.Sent}
		if len(outcomes) != len(want) {
			t.Fatalf("send tasks run: %v, want %v", outcomes, want)
		}
		for id, o := range want {
			if outcomes[id] != o {
				t.Errorf("send task of invite %s: %s, want %s", id, outcomes[id], o)
			}
		}
		if msgs := sink.Messages(); len(msgs) != 1 || len(msgs[0].To) != 1 || msgs[0].To[0] != "dee@globex.example" {
			t.Fatalf("emails at the server: %+v; want only org B's invite's", msgs)
		}
	})
}
