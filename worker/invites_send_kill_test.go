package worker_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"syscall"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"

	"tether/jobs"
	"tether/sync/directory"
	"tether/sync/onboarding"
	"tether/sync/store"
	"tether/sync/store/storetest"
	"tether/worker/redistest"
)

// sendChildEnv switches this test binary into a worker process (see TestMain) that runs
// invites:send and, once the mail server has accepted an email, prints "accepted" and
// blocks before recording it: the window a kill -9 turns into a duplicate email when
// sends are at-least-once. Its value is a sendChild as JSON.
const sendChildEnv = "TETHER_TEST_SEND_CHILD"

type sendChild struct {
	Redis    string `json:"redis"`
	DB       int    `json:"db"`
	Store    string `json:"store"`
	SMTPPort int    `json:"smtp_port"`
}

// childTB stands in for the testing.TB that complete's unused services report to: in the
// child, an unexpected call is printed and fails the process.
type childTB struct{ testing.TB }

func (childTB) Helper() {}
func (childTB) Errorf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, format+"\n", args...)
	os.Exit(3)
}

func runSendChild(v string) error {
	var c sendChild
	if err := json.Unmarshal([]byte(v), &c); err != nil {
		return fmt.Errorf("%s: %w", sendChildEnv, err)
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM)
	defer stop()
	st, err := store.Open(ctx, c.Store)
	if err != nil {
		return err
	}
	defer st.Close()
	sender, err := smtpSender(st, c.SMTPPort)
	if err != nil {
		return err
	}
	sender.SetAfterAccept(func() {
		fmt.Println("accepted")
		select {} // until SIGKILL
	})
	w, err := inviteWorker(childTB{}, asynq.RedisClientOpt{Addr: c.Redis, DB: c.DB}, st, sender)
	if err != nil {
		return err
	}
	return w.Run(ctx)
}

// TestInvitesSendKilledAfterAccept kills a real worker process with SIGKILL after the
// SMTP server accepted an invitation and before the send was recorded, then lets a new
// worker run the task's retry: exactly one email reaches the server, the invite's
// delivery is unknown, and the retry completes without sending.
func TestInvitesSendKilledAfterAccept(t *testing.T) {
	opt, rdb := redistest.Client(t, 15)
	st, dsn := storetest.PostgresURL(t)
	sink, sender := sinkSender(t, st)
	ctx := t.Context()
	org, inv := seedInvite(t, st, "kim@acme.example")

	cfg, _ := json.Marshal(sendChild{Redis: opt.Addr, DB: opt.DB, Store: dsn, SMTPPort: sink.Port()})
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), sendChildEnv+"="+string(cfg))
	cmd.Stderr = os.Stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start worker process: %v", err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	accepted := make(chan struct{})
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			if sc.Text() == "accepted" {
				close(accepted)
				return
			}
		}
	}()

	client := asynq.NewClient(opt)
	inspector := asynq.NewInspector(opt)
	t.Cleanup(func() { _ = client.Close(); _ = inspector.Close() })
	task, err := jobs.NewInviteSendTask(org.ID, inv.ID, 1)
	if err != nil {
		t.Fatal(err)
	}
	info, err := client.Enqueue(task)
	if err != nil {
		t.Fatal(err)
	}
	select {
	case <-accepted:
	case <-time.After(60 * time.Second):
		t.Fatal("the worker process never reached the SMTP accept")
	}
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = cmd.Wait()
	if n := len(sink.Messages()); n != 1 {
		t.Fatalf("%d emails at the server after the kill, want 1", n)
	}
	got, _ := st.GetInvite(ctx, org.ID, inv.ID)
	if got.SentCount != 0 || got.LastAttempt != 0 {
		t.Fatalf("the killed run recorded its send: %+v", got)
	}

	// The killed worker's lease would lapse after 30 s and a worker's recoverer would
	// retry the task; expire the lease now to stand in for that wait.
	if err := rdb.ZAdd(ctx, "asynq:{"+jobs.QueueDefault+"}:lease",
		redis.Z{Score: float64(time.Now().Add(-time.Minute).Unix()), Member: info.ID}).Err(); err != nil {
		t.Fatal(err)
	}
	w, err := inviteWorker(t, opt, st, sender)
	if err != nil {
		t.Fatal(err)
	}
	start(t, w)
	deadline := time.Now().Add(30 * time.Second)
	for {
		ti, err := inspector.GetTaskInfo(jobs.QueueDefault, info.ID)
		if err == nil && ti.State == asynq.TaskStateRetry {
			_ = inspector.RunTask(jobs.QueueDefault, info.ID) // skip the backoff
		}
		if err == nil && ti.State == asynq.TaskStateCompleted {
			if string(ti.Result) != string(onboarding.Unknown) {
				t.Fatalf("retry's result %q, want %q", ti.Result, onboarding.Unknown)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the retry never completed (last: %+v, %v)", ti, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if n := len(sink.Messages()); n != 1 {
		t.Fatalf("%d emails at the server after the retry, want exactly 1", n)
	}
	got, _ = st.GetInvite(ctx, org.ID, inv.ID)
	if got.Delivery() != directory.DeliveryUnknown || got.LastAttempt != 1 {
		t.Fatalf("invite after the retry: delivery %s, %+v; want unknown", got.Delivery(), got)
	}
	l, err := st.ListInvites(ctx, org.ID, directory.InviteFilter{Delivery: directory.DeliveryUnknown})
	if err != nil || len(l) != 1 {
		t.Fatalf("unknown invites listed: %v, %v", l, err)
	}
}
