package worker_test

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/hibiken/asynq"

	"tether/connectors/sandbox"
	"tether/jobs"
	"tether/sync/directory"
	"tether/sync/invites"
	"tether/sync/store"
	"tether/sync/store/storetest"
	"tether/worker"
)

// admin posts body to the sandbox's admin API, as an operator's fault injection would.
func (w *importWorld) admin(t *testing.T, path string, body any) {
	t.Helper()
	b, _ := json.Marshal(body)
	res, err := http.Post(w.sbURL+path, "application/json", bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK {
		t.Fatalf("POST %s %s: %s", path, b, res.Status)
	}
}

// waitImport polls the import until cond holds.
func (w *importWorld) waitImport(t *testing.T, id, what string, cond func(directory.Import) bool) directory.Import {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		imp, err := w.st.GetImport(context.Background(), w.org.ID, id)
		if err != nil {
			t.Fatal(err)
		}
		if cond(imp) {
			return imp
		}
		if time.Now().After(deadline) {
			t.Fatalf("import never %s: %s %+v %q", what, imp.Status, imp.Progress, imp.Errors)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// The org's daily API allocation runs out mid-import: the import pauses (its task waits
// without spending a retry), and once usage allows it resumes from its checkpoint and
// finishes, with no retry spent.
func TestDailyLimitPausesAndResumesImportWithoutSpendingRetries(t *testing.T) {
	storetest.Each(t, func(t *testing.T, st *store.Store) {
		const n, batch = 600, 200
		w := newImportWorld(t, st, n, batch)
		var err error
		w.svc, err = invites.New(invites.Config{Store: store.Invites{Store: st}, Directories: w.dirs,
			Sender: worker.InviteSendQueue{Client: w.client}, PauseFor: time.Second, BudgetShare: 1})
		if err != nil {
			t.Fatal(err)
		}
		// Slow pages, so the allocation can run out between two of them.
		w.admin(t, "/admin/faults", sandbox.Fault{Provider: sandbox.Salesforce, Endpoint: "query",
			Kind: sandbox.FaultLatency, Latency: sandbox.Fixed(300 * time.Millisecond)})
		start(t, w.newWorker(t, 5*time.Second, &sendLog{}))
		imp := w.enqueue(t)
		taskID := jobs.TaskIDInvitesImport(jobs.TypeInvitesImport, w.org.ID, imp.ID)

		w.waitImport(t, imp.ID, "past its first page", func(i directory.Import) bool { return i.Progress.Done >= batch })
		w.admin(t, "/admin/salesforce/orgs/"+w.sfOrg+"/usage", map[string]int{"daily_max": 1000, "used": 1000})
		paused := w.waitImport(t, imp.ID, "paused", func(i directory.Import) bool { return i.Status == directory.ImportPaused })
		if !strings.Contains(paused.PausedReason, "daily Salesforce API allocation is spent (1000 of 1000 calls used") ||
			!strings.Contains(paused.PausedReason, "without spending a retry") || paused.PausedUntil.IsZero() {
			t.Errorf("paused: until %v, reason %q", paused.PausedUntil, paused.PausedReason)
		}
		if paused.Progress.Done >= n {
			t.Fatalf("paused after every page: %+v; the test proves nothing", paused.Progress)
		}
		info, err := w.inspector.GetTaskInfo(jobs.QueueDefault, taskID)
		if err != nil || info.Retried != 0 {
			t.Fatalf("task while paused: %+v %v, want no retry spent", info, err)
		}

		// Usage allows again (the rolling window moved on): the import resumes and ends.
		w.admin(t, "/admin/salesforce/orgs/"+w.sfOrg+"/usage", map[string]int{"used": 0})
		info = waitTask(t, w.inspector, jobs.QueueDefault, taskID, 30*time.Second)
		if info.State != asynq.TaskStateCompleted || info.Retried != 0 {
			t.Fatalf("task %s retried %d, want completed with no retry spent", info.State, info.Retried)
		}
		done, err := st.GetImport(t.Context(), w.org.ID, imp.ID)
		if err != nil || done.Status != directory.ImportDone || done.Counts.Invited != n || done.PausedReason != "" {
			t.Fatalf("import after the pause: %s %+v %q %v", done.Status, done.Counts, done.PausedReason, err)
		}
	})
}

// An org whose API is switched off fails the import at once (no retry) with what the
// Salesforce admin must change.
func TestAPIDisabledFailsImportAtOnceWithTheFix(t *testing.T) {
	storetest.Each(t, func(t *testing.T, st *store.Store) {
		w := newImportWorld(t, st, 10, 200)
		w.admin(t, "/admin/salesforce/orgs/"+w.sfOrg+"/api", map[string]bool{"enabled": false})
		start(t, w.newWorker(t, 5*time.Second, &sendLog{}))
		imp := w.enqueue(t)
		taskID := jobs.TaskIDInvitesImport(jobs.TypeInvitesImport, w.org.ID, imp.ID)
		failed := w.waitImport(t, imp.ID, "failed", func(i directory.Import) bool { return i.Status == directory.ImportFailed })
		msg := strings.Join(failed.Errors, "; ")
		for _, want := range []string{"Salesforce refuses API access", "API_DISABLED_FOR_ORG",
			`Grant the system permission "API Enabled"`, "editions without it", "Then start the import again."} {
			if !strings.Contains(msg, want) {
				t.Errorf("import error %q lacks %q", msg, want)
			}
		}
		deadline := time.Now().Add(10 * time.Second)
		for {
			info, err := w.inspector.GetTaskInfo(jobs.QueueDefault, taskID)
			if err == nil && info.State == asynq.TaskStateArchived {
				if info.Retried != 0 {
					t.Errorf("archived after %d retries, want none", info.Retried)
				}
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("task %+v %v, want archived", info, err)
			}
			time.Sleep(20 * time.Millisecond)
		}
	})
}
