package worker_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"
	"github.com/rs/zerolog"

	"tether/connectors/sandbox"
	"tether/connectors/sandbox/sfdc"
	"tether/jobs"
	"tether/sync/directory"
	"tether/sync/invites"
	"tether/sync/onboarding"
	"tether/sync/store"
	"tether/sync/store/storetest"
	"tether/worker"
)

// reconciler returns w's reconciler, marking sends failed through sends.
func (w *importWorld) reconciler(sends worker.InviteSender) *worker.Reconciler {
	return &worker.Reconciler{Store: w.st, Queue: w.client, Inspector: w.inspector, Imports: w.svc,
		Invites: sends, Audits: unused{w.tb}, Logger: zerolog.Nop(), PageSize: 7}
}

// An import created while Redis is down is stored queued and its producer says so; the
// reconciler gives it its task back (once, however often it runs) and a worker finishes it.
func TestReconcilerRequeuesImportQueuedWhileRedisDown(t *testing.T) {
	storetest.Each(t, func(t *testing.T, st *store.Store) {
		const n = 30
		w := newImportWorld(t, st, n, 200)
		down := asynq.NewClient(asynq.RedisClientOpt{Addr: "127.0.0.1:1", DialTimeout: 200 * time.Millisecond})
		t.Cleanup(func() { _ = down.Close() })
		starter, err := invites.New(invites.Config{Store: store.Invites{Store: st}, Directories: w.dirs,
			Sender: worker.InviteSendQueue{Client: down}, Tasks: worker.ImportTasks{Client: down}})
		if err != nil {
			t.Fatal(err)
		}
		imp, err := starter.Start(t.Context(), invites.Request{OrgID: w.org.ID, Profiles: []string{sfdc.ProfileSalesUser}, Role: directory.RoleChat})
		var nq *invites.NotQueuedError
		if !errors.As(err, &nq) || imp.ID == "" {
			t.Fatalf("start with Redis down: %v (import %q), want a *NotQueuedError with the import", err, imp.ID)
		}
		for _, want := range []string{"import " + imp.ID + " is stored but its task could not be queued", "the reconciler queues it",
			"tether invite status " + imp.ID + " --org " + w.org.ID} {
			if !strings.Contains(err.Error(), want) {
				t.Errorf("error %q lacks %q", err, want)
			}
		}
		taskID := jobs.TaskIDInvitesImport(jobs.TypeInvitesImport, w.org.ID, imp.ID)
		if _, err := w.inspector.GetTaskInfo(jobs.QueueDefault, taskID); err == nil {
			t.Fatalf("task %s exists though Redis was down", taskID)
		}

		sends := &sendLog{}
		rec := w.reconciler(sends)
		res, err := rec.Reconcile(t.Context())
		if err != nil || res.Imports != 1 {
			t.Fatalf("reconcile: %+v %v, want 1 import requeued", res, err)
		}
		// A second run finds the task live and queues nothing.
		if res, err = rec.Reconcile(t.Context()); err != nil || res.Imports != 0 || res.ImportsLive != 1 {
			t.Fatalf("second reconcile: %+v %v, want the import live and nothing requeued", res, err)
		}
		start(t, w.newWorker(t, 5*time.Second, sends))
		waitTask(t, w.inspector, jobs.QueueDefault, taskID, 30*time.Second)
		got, err := st.GetImport(t.Context(), w.org.ID, imp.ID)
		if err != nil || got.Status != directory.ImportDone || got.Counts.Invited != n {
			t.Fatalf("import after reconcile: %s %+v %v, want done with %d invited", got.Status, got.Counts, err, n)
		}
	})
}

// A finished import's sends are lost with Redis (restarted without persistence: flushed);
// the reconciler queues each again and every invitee gets exactly one email, however often
// it runs afterwards.
func TestReconcilerSendsLostInvitationsExactlyOnce(t *testing.T) {
	storetest.Each(t, func(t *testing.T, st *store.Store) {
		const n = 25
		w := newImportWorld(t, st, n, 200)
		sink, sender := sinkSender(t, st)
		// The import runs to the end and queues its n sends; then Redis loses them.
		imp, err := w.svc.Create(t.Context(), invites.Request{OrgID: w.org.ID, Profiles: []string{sfdc.ProfileSalesUser}, Role: directory.RoleChat})
		if err != nil {
			t.Fatal(err)
		}
		if imp, err = w.svc.Run(t.Context(), w.org.ID, imp.ID); err != nil || imp.Status != directory.ImportDone || imp.Counts.Invited != n {
			t.Fatalf("run import: %s %+v %v", imp.Status, imp.Counts, err)
		}
		if q, err := w.inspector.GetQueueInfo(jobs.QueueDefault); err != nil || q.Pending != n {
			t.Fatalf("queued sends before the loss: %+v %v, want %d", q, err, n)
		}
		flush(t, w)

		rec := w.reconciler(sender)
		if res, err := rec.Reconcile(t.Context()); err != nil || res.Sends != n {
			t.Fatalf("reconcile after the loss: %+v %v, want %d sends requeued", res, err, n)
		}
		start(t, w.newWorker(t, 5*time.Second, sender))
		ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
		defer cancel()
		if _, err := sink.Wait(ctx, n); err != nil {
			t.Fatalf("emails: %v", err)
		}
		waitSent(t, st, w.org.ID, n)
		// Later runs, even after another loss, find nothing to send.
		for range 2 {
			if res, err := rec.Reconcile(t.Context()); err != nil || res.Sends != 0 {
				t.Fatalf("reconcile after the sends: %+v %v, want nothing requeued", res, err)
			}
			flush(t, w)
		}
		time.Sleep(300 * time.Millisecond) // a stray send would be picked up within this
		to := map[string]int{}
		for _, msg := range sink.Messages() {
			for _, r := range msg.To {
				to[r]++
			}
		}
		if len(sink.Messages()) != n || len(to) != n {
			t.Fatalf("%d emails to %d recipients, want %d each once: %v", len(sink.Messages()), len(to), n, to)
		}
	})
}

// flush empties w's Redis database, as a restart without persistence does.
func flush(t *testing.T, w *importWorld) {
	t.Helper()
	c := w.redis.MakeRedisClient().(*redis.Client)
	defer c.Close()
	if err := c.FlushDB(t.Context()).Err(); err != nil {
		t.Fatal(err)
	}
}

// waitSent waits until n of the org's invites are recorded sent.
func waitSent(t *testing.T, st *store.Store, orgID string, n int) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		var sent int
		if err := st.DB().QueryRow(`SELECT count(*) FROM invites WHERE org_id = $1 AND sent_count = 1`, orgID).Scan(&sent); err != nil {
			t.Fatal(err)
		}
		if sent == n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d invites recorded sent, want %d", sent, n)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// An import whose task runs out of retries (Salesforce answers 500 every time) is marked
// failed with a sentence saying so, instead of saying running forever.
func TestImportWhoseRetriesRunOutIsFailedWithItsReason(t *testing.T) {
	storetest.Each(t, func(t *testing.T, st *store.Store) {
		w := newImportWorld(t, st, 10, 200)
		w.sb.Faults().MustAdd(sandbox.Fault{Provider: sandbox.Salesforce, Endpoint: "query", Kind: sandbox.FaultStatus, Status: 500})
		start(t, w.newWorker(t, time.Second, &sendLog{}))
		imp, err := w.svc.Create(t.Context(), invites.Request{OrgID: w.org.ID, Profiles: []string{sfdc.ProfileSalesUser}, Role: directory.RoleChat})
		if err != nil {
			t.Fatal(err)
		}
		task, err := jobs.NewImportTask(w.org.ID, imp.ID, imp.CreatedAt)
		if err != nil {
			t.Fatal(err)
		}
		// One attempt in all, so the last one comes without Asynq's minutes of backoff.
		if _, err := w.client.Enqueue(task, asynq.MaxRetry(0)); err != nil {
			t.Fatal(err)
		}
		taskID := jobs.TaskIDInvitesImport(jobs.TypeInvitesImport, w.org.ID, imp.ID)
		deadline := time.Now().Add(20 * time.Second)
		for {
			got, err := st.GetImport(t.Context(), w.org.ID, imp.ID)
			if err != nil {
				t.Fatal(err)
			}
			if got.Status == directory.ImportFailed {
				reason := strings.Join(got.Errors, "; ")
				want := "the import gave up after 1 attempt: Salesforce answered HTTP 500, a failure on its side; later, start the import again"
				if !strings.Contains(reason, want) || strings.Contains(reason, "salesforce: HTTP") || got.FinishedAt.IsZero() {
					t.Fatalf("failed import: errors %q, finished %v", got.Errors, got.FinishedAt)
				}
				break
			}
			if time.Now().After(deadline) {
				info, ierr := w.inspector.GetTaskInfo(jobs.QueueDefault, taskID)
				t.Fatalf("import still %s; task %+v %v", got.Status, info, ierr)
			}
			time.Sleep(20 * time.Millisecond)
		}
		if info, err := w.inspector.GetTaskInfo(jobs.QueueDefault, taskID); err != nil || info.State != asynq.TaskStateArchived {
			t.Fatalf("task %+v %v, want archived", info, err)
		}
		// The reconciler leaves a failed import alone.
		if res, err := w.reconciler(&sendLog{}).Reconcile(t.Context()); err != nil || res.Imports+res.MarkedFailed != 0 {
			t.Fatalf("reconcile: %+v %v", res, err)
		}
	})
}

// A resend (attempt 2) whose task Redis lost before a worker took it gets its task back
// from the reconciler, and the invitee gets that second email once, however often the
// reconciler runs afterwards. Both backends, real Redis.
func TestReconcilerRequeuesLostResendOnce(t *testing.T) {
	storetest.Each(t, func(t *testing.T, st *store.Store) {
		const n = 3
		w := newImportWorld(t, st, n, 200)
		sink, sender := sinkSender(t, st)
		imp, err := w.svc.Create(t.Context(), invites.Request{OrgID: w.org.ID, Profiles: []string{sfdc.ProfileSalesUser}, Role: directory.RoleChat})
		if err != nil {
			t.Fatal(err)
		}
		if imp, err = w.svc.Run(t.Context(), w.org.ID, imp.ID); err != nil || imp.Counts.Invited != n {
			t.Fatalf("run import: %+v %v", imp.Counts, err)
		}
		stop := start(t, w.newWorker(t, 5*time.Second, sender))
		ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
		defer cancel()
		first, err := sink.Wait(ctx, n)
		if err != nil {
			t.Fatalf("first emails: %v", err)
		}
		waitSent(t, st, w.org.ID, n)
		stop()

		// With no worker running, resend one invitation; Redis then loses the task.
		resender := onboarding.Resender{Store: store.Invites{Store: st}, Queue: worker.InviteEnqueuer{Client: w.client, Inspector: w.inspector}}
		to := first[0].To[0]
		inv, attempt, err := resender.Resend(t.Context(), w.org.ID, to)
		if err != nil || attempt != 2 {
			t.Fatalf("resend to %s: attempt %d, %v; want attempt 2", to, attempt, err)
		}
		taskID := jobs.TaskIDInvitesSend(w.org.ID, inv.ID, 2)
		if _, err := w.inspector.GetTaskInfo(jobs.QueueDefault, taskID); err != nil {
			t.Fatalf("resend task %s: %v", taskID, err)
		}
		flush(t, w)

		rec := w.reconciler(sender)
		if res, err := rec.Reconcile(t.Context()); err != nil || res.Sends != 1 {
			t.Fatalf("reconcile after the loss: %+v %v, want the resend requeued", res, err)
		}
		// Queued again under attempt 2's TaskID: the next run's enqueue conflicts with it.
		if res, err := rec.Reconcile(t.Context()); err != nil || res.Sends != 0 || res.SendsLive != 1 {
			t.Fatalf("second reconcile: %+v %v, want the resend live and nothing requeued", res, err)
		}
		start(t, w.newWorker(t, 5*time.Second, sender))
		if _, err := sink.Wait(ctx, n+1); err != nil {
			t.Fatalf("resent email: %v", err)
		}
		deadline := time.Now().Add(20 * time.Second)
		for {
			got, err := st.GetInvite(t.Context(), w.org.ID, inv.ID)
			if err != nil {
				t.Fatal(err)
			}
			if got.SentCount == 2 {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("invite sent %d times, want 2", got.SentCount)
			}
			time.Sleep(20 * time.Millisecond)
		}
		// Later runs, even after another loss, queue nothing more.
		for range 2 {
			flush(t, w)
			if res, err := rec.Reconcile(t.Context()); err != nil || res.Sends != 0 {
				t.Fatalf("reconcile after the resend: %+v %v, want nothing requeued", res, err)
			}
		}
		time.Sleep(300 * time.Millisecond) // a stray send would be picked up within this
		var toHim int
		for _, m := range sink.Messages() {
			if m.To[0] == to {
				toHim++
			}
		}
		if len(sink.Messages()) != n+1 || toHim != 2 {
			t.Fatalf("%d emails, %d to %s; want %d in all and 2 to %s", len(sink.Messages()), toHim, to, n+1, to)
		}
	})
}
