package redislock

import (
	"context"
	"errors"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"tether/worker/redisstash"
	"tether/worker/redistest"
)

// sentinelLocker is a Locker and its Stash as tether wires them on redis-sentinel://: the
// failover client behind an autopipeliner (Coalesced).
func sentinelLocker(t *testing.T, rc *redis.Client) (*Locker, *redisstash.Stash, redis.UniversalClient) {
	t.Helper()
	l, st, c := coalescedLocker(t, rc)
	if !l.oneNode() {
		t.Fatal("Sentinel's master was taken for a Cluster: LockAndGet and Unlock would not be one script each")
	}
	return l, st, c
}

// On Sentinel's master the lock keeps exclusion, rising fences and the stash as on one
// Redis: the failover client is one, and LockAndGet and Unlock take one script each.
func TestSentinelLockKeepsExclusionFencingAndTheStash(t *testing.T) {
	l, st, _ := sentinelLocker(t, redistest.Sentinel(t))
	keepsExclusionFencingAndTheStash(t, l, st)
}

// A failover forced while a lock is held and stash values are written (and acknowledged
// by the replica: replication is asynchronous, so an unacknowledged write may be lost in a
// failover, which no client can help): the failover client moves to the promoted node, the
// lock is still its owner's and no one else's, its fence is intact, the stash values are
// there and new writes land on the new master. The old master is made a replica before the
// test ends, so the setup is whole for the next test.
func TestSentinelFailoverKeepsTheLockFenceAndStash(t *testing.T) {
	rc := redistest.Sentinel(t)
	ctx, cancel := context.WithTimeout(t.Context(), 40*time.Second)
	defer cancel()
	l, st, c := sentinelLocker(t, rc)
	l.TTL = 30 * time.Second
	sc := redis.NewSentinelClient(&redis.Options{Addr: redistest.SentinelAddrs()[0]})
	t.Cleanup(func() { _ = sc.Close() })

	// A test before this one may have just failed over: wait for the replica to be in sync
	// and for every sentinel to have seen it as one.
	waitReplicated(ctx, t, rc)
	waitSentinelsSeeTheReplica(ctx, t, masterAddr(ctx, t, sc))
	ls, v, err := l.LockAndGet(ctx, "connection:f", "pending-token:f")
	if err != nil || v != nil {
		t.Fatalf("LockAndGet: %q, %v; want the lock and nothing stashed", v, err)
	}
	held := ls.(*lease)
	defer held.Unlock()
	stashed := map[string]string{"pending-token:f": "sealed-1", "pending-token:g": "sealed-2"}
	for k, v := range stashed {
		if err := st.Put(ctx, k, []byte(v)); err != nil {
			t.Fatal(err)
		}
	}
	if n, err := acked(ctx, rc, 5000); err != nil || n < 1 {
		t.Fatalf("WAIT 1: %d replicas acknowledged the lock and the stash (%v), want 1: the failover could lose them", n, err)
	}

	old := masterAddr(ctx, t, sc)
	if err := sc.Failover(ctx, redistest.SentinelMaster).Err(); err != nil {
		t.Fatalf("SENTINEL FAILOVER %s: %v", redistest.SentinelMaster, err)
	}
	t0 := time.Now()
	// Sentinel demotes the old master only some 10 s after the switch; the test does it
	// itself (as Sentinel would) once done, so the next test finds a replica in sync.
	t.Cleanup(func() { demote(t, old) })
	var promoted string
	for _, a := range redistest.SentinelAddrs() {
		s := redis.NewSentinelClient(&redis.Options{Addr: a})
		for {
			m, err := s.GetMasterAddrByName(ctx, redistest.SentinelMaster).Result()
			if err == nil && net.JoinHostPort(m[0], m[1]) != old {
				if promoted != "" && promoted != net.JoinHostPort(m[0], m[1]) {
					t.Fatalf("sentinels name %s and %s as master", promoted, net.JoinHostPort(m[0], m[1]))
				}
				promoted = net.JoinHostPort(m[0], m[1])
				break
			}
			if ctx.Err() != nil {
				t.Fatalf("sentinel %s still names %s as master %s after the failover (%v)", a, old, time.Since(t0).Round(time.Millisecond), err)
			}
			time.Sleep(50 * time.Millisecond)
		}
		_ = s.Close()
	}
	t.Logf("%s promoted in place of %s; the sentinels agree after %s", promoted, old, time.Since(t0).Round(time.Millisecond))

	// The failover client follows: its commands reach the promoted node. The old one is
	// still a master until Sentinel or demote turns it, so no READONLY error pushed the
	// client there: it moved on the sentinels' word.
	_, port, _ := net.SplitHostPort(promoted)
	follow := time.Now().Add(10 * time.Second)
	for {
		info, err := c.Info(ctx, "server").Result()
		if err == nil && strings.Contains(info, "\ntcp_port:"+port+"\r") {
			break
		}
		if time.Now().After(follow) {
			t.Fatalf("the failover client still reaches a node other than the promoted %s 10s after the sentinels agreed (%v)", promoted, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	oc := redis.NewClient(&redis.Options{Addr: old})
	defer oc.Close()
	role, _ := oc.Do(ctx, "ROLE").Slice()
	t.Logf("the failover client is on %s after %s; %s's role then: %v", promoted, time.Since(t0).Round(time.Millisecond), old, role[:min(len(role), 1)])

	if err := held.Held(ctx); err != nil {
		t.Fatalf("the owner's lock after the failover: %v", err)
	}
	other := NewWithStash(c, "lock:", st)
	if _, err := other.Acquire(ctx, "connection:f", time.Second, 200*time.Millisecond); !errors.Is(err, ErrNotAcquired) {
		t.Fatalf("another owner's Acquire after the failover: %v, want ErrNotAcquired", err)
	}
	if f, err := c.Get(ctx, "lock:{connection:f}:fence").Int64(); err != nil || f != held.Fence() {
		t.Fatalf("the fence after the failover: %d, %v; want the holder's %d", f, err, held.Fence())
	}
	for k, want := range stashed {
		if v, err := st.Get(ctx, k); err != nil || string(v) != want {
			t.Fatalf("stash %s after the failover: %q, %v; want %q", k, v, err, want)
		}
	}
	// New writes: a stash value, the lock's release and the next acquisition, which reads
	// the stash and is preceded by the fence from before the failover.
	if err := st.Put(ctx, "pending-token:f", []byte("sealed-3")); err != nil {
		t.Fatalf("a stash write after the failover: %v", err)
	}
	held.Unlock()
	next, v, err := other.LockAndGet(ctx, "connection:f", "pending-token:f")
	if err != nil {
		t.Fatalf("the next holder after the failover: %v", err)
	}
	defer next.Unlock()
	if nl := next.(*lease); nl.Preceded() != held.Fence() || nl.Fence() <= held.Fence() || string(v) != "sealed-3" {
		t.Fatalf("the next holder: fence %d preceded by %d, read %q; want above %d, preceded by it, and sealed-3",
			nl.Fence(), nl.Preceded(), v, held.Fence())
	}
	// And they are on the promoted node itself.
	pc := redis.NewClient(&redis.Options{Addr: promoted})
	defer pc.Close()
	if v, err := pc.Get(ctx, st.Key("pending-token:f")).Result(); err != nil || v != "sealed-3" {
		t.Fatalf("the promoted node %s holds %q (%v) for the stash value written after the failover", promoted, v, err)
	}
}

// masterAddr is the master the sentinel names.
func masterAddr(ctx context.Context, t *testing.T, sc *redis.SentinelClient) string {
	t.Helper()
	m, err := sc.GetMasterAddrByName(ctx, redistest.SentinelMaster).Result()
	if err != nil {
		t.Fatalf("the sentinel names no master %s: %v", redistest.SentinelMaster, err)
	}
	return net.JoinHostPort(m[0], m[1])
}

// waitReplicated waits until the master has a replica that acknowledges a write.
func waitReplicated(ctx context.Context, t *testing.T, rc *redis.Client) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		n, err := acked(ctx, rc, 200)
		if err == nil && n >= 1 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("no replica of the Sentinel master acknowledged a write within 20s (%d, %v): run scripts/test.sh, which restarts the setup", n, err)
		}
	}
}

// acked writes a marker and WAITs up to ms for a replica to acknowledge it, on one
// connection: WAIT counts only the writes of its own connection, and the replication
// stream is in order, so the marker's acknowledgement covers every write before it.
func acked(ctx context.Context, rc *redis.Client, ms int) (int, error) {
	pipe := rc.Pipeline()
	pipe.Set(ctx, "redistest:acked", "1", 0)
	w := pipe.Do(ctx, "WAIT", 1, ms)
	if _, err := pipe.Exec(ctx); err != nil {
		return 0, err
	}
	return w.Int()
}

// waitSentinelsSeeTheReplica waits until every sentinel's last INFO of the replica says it
// replicates master. A sentinel still holding the role it last saw, master, from before
// the node was demoted, turns the node back into a replica the moment it is promoted,
// and the failover aborts (-failover-abort-slave-timeout). A sentinel asks a replica for
// INFO every 10 s.
func waitSentinelsSeeTheReplica(ctx context.Context, t *testing.T, master string) {
	t.Helper()
	_, port, _ := net.SplitHostPort(master)
	deadline := time.Now().Add(25 * time.Second)
	for _, a := range redistest.SentinelAddrs() {
		s := redis.NewSentinelClient(&redis.Options{Addr: a})
		for {
			rs, err := s.Replicas(ctx, redistest.SentinelMaster).Result()
			ok := false
			for _, r := range rs {
				ok = ok || r["flags"] == "slave" && r["role-reported"] == "slave" && r["master-port"] == port && r["master-link-status"] == "ok"
			}
			if ok {
				break
			}
			if time.Now().After(deadline) {
				_ = s.Close()
				t.Fatalf("sentinel %s sees no replica in sync with %s within 25s (%v, %v): run scripts/test.sh, which restarts the setup", a, master, rs, err)
			}
			time.Sleep(100 * time.Millisecond)
		}
		_ = s.Close()
	}
}

// demote makes the old master a replica of the one the sentinels name, as Sentinel itself
// does some 10 s after a failover, and waits for it to be in sync.
func demote(t *testing.T, old string) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	sc := redis.NewSentinelClient(&redis.Options{Addr: redistest.SentinelAddrs()[0]})
	defer sc.Close()
	m, err := sc.GetMasterAddrByName(ctx, redistest.SentinelMaster).Result()
	if err != nil || net.JoinHostPort(m[0], m[1]) == old {
		t.Errorf("demote %s: the sentinel names %v (%v) as master", old, m, err)
		return
	}
	oc := redis.NewClient(&redis.Options{Addr: old})
	defer oc.Close()
	if err := oc.SlaveOf(ctx, m[0], m[1]).Err(); err != nil {
		t.Errorf("REPLICAOF %s %s on the old master %s: %v", m[0], m[1], old, err)
		return
	}
	for {
		info, err := oc.Info(ctx, "replication").Result()
		if err == nil && strings.Contains(info, "master_port:"+m[1]+"\r") && strings.Contains(info, "master_link_status:up") {
			return
		}
		if ctx.Err() != nil {
			t.Errorf("the old master %s is not in sync with %s within 20s (%v)", old, net.JoinHostPort(m[0], m[1]), err)
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
}
