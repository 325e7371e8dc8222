package jobs_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/hibiken/asynq"

	"tether/jobs"
	"tether/worker/redistest"
)

func TestNewEventsPruneTaskOptions(t *testing.T) {
	t.Parallel()
	opt, _ := redistest.Client(t, 3)
	client := asynq.NewClient(opt)
	t.Cleanup(func() { _ = client.Close() })
	ctx := context.Background()

	slot := time.Date(2026, 3, 4, 3, 17, 42, 0, time.FixedZone("CET", 3600))
	task, err := jobs.NewEventsPruneTask(slot)
	if err != nil {
		t.Fatal(err)
	}
	info, err := client.EnqueueContext(ctx, task)
	if err != nil {
		t.Fatal(err)
	}
	if info.ID != "events:prune:20260304T021742Z" {
		t.Errorf("TaskID = %q, want events:prune:<UTC slot>", info.ID)
	}
	if info.Queue != jobs.QueueLow || info.MaxRetry != 5 || info.Timeout != 10*time.Minute || info.Retention != jobs.EventsPruneRetention {
		t.Errorf("options: queue %s, max retry %d, timeout %s, retention %s", info.Queue, info.MaxRetry, info.Timeout, info.Retention)
	}
	p, err := jobs.Decode[jobs.EventsPrune](info.Payload)
	if err != nil || p.Slot != "20260304T021742Z" {
		t.Errorf("Decode(payload) = %+v, %v", p, err)
	}

	// Same slot from a second producer (another scheduler replica): refused by the TaskID.
	again, _ := jobs.NewEventsPruneTask(slot.Add(300 * time.Millisecond))
	if _, err := client.EnqueueContext(ctx, again); !errors.Is(err, asynq.ErrTaskIDConflict) {
		t.Errorf("second enqueue for the same slot: err = %v, want ErrTaskIDConflict", err)
	}
}

func TestDecodeRejectsBadPayloads(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		payload string
	}{
		{"not JSON", `slot=1`},
		{"empty", ``},
		{"missing slot", `{}`},
		{"malformed slot", `{"slot":"yesterday"}`},
		{"wrong type", `{"slot":42}`},
		{"trailing data", `{"slot":"20260304T021742Z"} {"slot":"x"}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := jobs.Decode[jobs.EventsPrune]([]byte(tt.payload))
			if !errors.Is(err, jobs.ErrInvalidPayload) {
				t.Errorf("Decode(%q) error = %v, want ErrInvalidPayload", tt.payload, err)
			}
		})
	}
	// Unknown fields are fine (a newer producer).
	if _, err := jobs.Decode[jobs.EventsPrune]([]byte(`{"slot":"20260304T021742Z","org_id":"o1"}`)); err != nil {
		t.Errorf("unknown field refused: %v", err)
	}
}

// FuzzDecodeEventsPrune: Decode never panics, and whatever it accepts re-encodes to a
// payload it accepts again.
func FuzzDecodeEventsPrune(f *testing.F) {
	f.Add([]byte(`{"slot":"20260304T021742Z"}`))
	f.Add([]byte(`{"slot":""}`))
	f.Add([]byte(`{"slot":null}`))
	f.Add([]byte(`[]`))
	f.Add([]byte{0xff, 0xfe})
	f.Fuzz(func(t *testing.T, data []byte) {
		p, err := jobs.Decode[jobs.EventsPrune](data)
		if err != nil {
			if !errors.Is(err, jobs.ErrInvalidPayload) {
				t.Fatalf("error %v does not wrap ErrInvalidPayload", err)
			}
			return
		}
		slot, perr := time.Parse(jobs.SlotFormat, p.Slot)
		if perr != nil {
			t.Fatalf("accepted slot %q does not parse: %v", p.Slot, perr)
		}
		if _, err := jobs.NewEventsPruneTask(slot); err != nil {
			t.Fatalf("accepted payload %+v cannot be re-encoded: %v", p, err)
		}
	})
}
