// Package redistest gives tests a real Redis database of their own.
//
// Each test package passes its own database number (see the table in the
// README's testing section) so packages running in parallel never share keys;
// the database is flushed before the test starts. A test that needs Redis fails
// when it cannot reach it: scripts/test.sh starts one.
package redistest

import (
	"context"
	"os"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"
)

// Addr is the Redis address tests use: TETHER_TEST_REDIS_ADDR, or 127.0.0.1:6379.
func Addr() string {
	if a := os.Getenv("TETHER_TEST_REDIS_ADDR"); a != "" {
		return a
	}
	return "127.0.0.1:6379"
}

// Client flushes database db and returns connection options for Asynq and a
// go-redis client on it. The client is closed when the test ends.
func Client(tb testing.TB, db int) (asynq.RedisClientOpt, *redis.Client) {
	tb.Helper()
	opt := asynq.RedisClientOpt{Addr: Addr(), DB: db}
	rc := redis.NewClient(&redis.Options{Addr: opt.Addr, DB: db})
	tb.Cleanup(func() { _ = rc.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := rc.Ping(ctx).Err(); err != nil {
		tb.Fatalf("redis at %s is not reachable (%v): run scripts/test.sh, which starts it", opt.Addr, err)
	}
	if err := rc.FlushDB(ctx).Err(); err != nil {
		tb.Fatalf("flush redis db %d: %v", db, err)
	}
	return opt, rc
}
