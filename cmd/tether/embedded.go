package main

import (
	"context"
	"fmt"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/hibiken/asynq"
)

// startEmbeddedRedis starts an in-memory Redis (miniredis) on a random local port for demo
// and all. Nothing in it survives the process. stop closes it.
func startEmbeddedRedis(ctx context.Context) (opt asynq.RedisClientOpt, addr string, stop func(), err error) {
	mr := miniredis.NewMiniRedis()
	if err := mr.Start(); err != nil {
		return asynq.RedisClientOpt{}, "", nil, fmt.Errorf("start embedded redis: %w", err)
	}
	// miniredis never expires keys by itself; Asynq relies on expiry (unique locks, server
	// and scheduler heartbeats, daily stats). Advance its clock with the wall clock.
	tickCtx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		t := time.NewTicker(250 * time.Millisecond)
		defer t.Stop()
		last := time.Now()
		for {
			select {
			case <-tickCtx.Done():
				return
			case now := <-t.C:
				mr.FastForward(now.Sub(last))
				last = now
			}
		}
	}()
	stop = func() {
		cancel()
		<-done
		mr.Close()
	}
	return asynq.RedisClientOpt{Addr: mr.Addr()}, mr.Addr(), stop, nil
}
