package store

import (
	"context"
	"sync"
	"sync/atomic"
	"time"
)

// groupLimit caps the calls one grouped statement carries.
const groupLimit = 64

// groupTimeout bounds a grouped statement. It runs detached from its leader's context
// (see group.lead), so it needs a deadline of its own; past it every call of the group
// falls back to its own single-row statement under its own context.
const groupTimeout = 30 * time.Second

// group coalesces concurrent calls of one single-row statement into one statement over
// many rows (group commit): a call that finds no statement running runs its own at once,
// alone, with its own context, so a lone caller waits for nothing; calls that arrive
// while a statement runs queue, and when it ends the next statement takes everything
// queued (up to groupLimit). There are no timers: a group is whatever queued while the
// previous statement ran. One statement runs at a time, so at low load every call is a
// single-row statement and under load the round trips and commits are shared.
//
// Two calls with one key (a row id) never share a statement: an UPDATE ... FROM with
// two source rows for one target updates it once, arbitrarily. The later one waits for
// the next statement, so calls on one row still run in arrival order.
//
// Safe for concurrent use.
type group[Req, Res any] struct {
	// one runs a single call under the caller's context.
	one func(ctx context.Context, req Req) Res
	// many runs len(reqs) > 1 calls as one statement and returns their results in order.
	// The zero Res must mean "not run: run me alone" (what a call gets if many panics).
	many func(ctx context.Context, reqs []Req) []Res

	mu      sync.Mutex
	running bool
	queue   []*groupCall[Req, Res]

	// calls and statements count calls and the statements that ran them, for tests.
	calls, statements atomic.Int64
	// hook, if set (tests only, before the first call), runs before each statement with
	// its number of calls.
	hook func(n int)
}

type groupCall[Req, Res any] struct {
	ctx context.Context
	key string
	req Req
	res Res
	// lead is set when the call is handed the next group to run (it is its first call).
	lead []*groupCall[Req, Res]
	// queued is true while the call waits in group.queue (under group.mu).
	queued bool
	// done is closed when res is set or lead handed over.
	done chan struct{}
}

// do runs req, alone or grouped with concurrent calls, and returns its result. A call
// may leave (with ctx's error, through gone) while it is queued, before its statement
// starts; once its statement runs it waits for the result even if ctx ends: a write
// whose caller left could not tell it whether it committed.
func (g *group[Req, Res]) do(ctx context.Context, key string, req Req, gone func(error) Res) Res {
	g.calls.Add(1)
	c := &groupCall[Req, Res]{ctx: ctx, key: key, req: req}
	g.mu.Lock()
	if !g.running {
		g.running = true
		g.mu.Unlock()
		return g.lead([]*groupCall[Req, Res]{c})
	}
	c.done = make(chan struct{})
	c.queued = true
	g.queue = append(g.queue, c)
	g.mu.Unlock()
	select {
	case <-c.done:
	case <-ctx.Done():
		g.mu.Lock()
		if c.queued {
			for i, o := range g.queue {
				if o == c {
					g.queue = append(g.queue[:i], g.queue[i+1:]...)
					break
				}
			}
			g.mu.Unlock()
			return gone(ctx.Err())
		}
		g.mu.Unlock()
		<-c.done
	}
	if c.lead != nil {
		return g.lead(c.lead)
	}
	return c.res
}

// lead runs calls (the first is the caller's own), hands the queue to the next leader and
// returns the caller's result. Several calls run detached from the leader's context
// (values kept, cancellation dropped, groupTimeout added): one caller's cancelled context
// must not fail the others' writes.
func (g *group[Req, Res]) lead(calls []*groupCall[Req, Res]) Res {
	defer func() {
		g.next()
		for _, c := range calls[1:] {
			close(c.done)
		}
	}()
	g.statements.Add(1)
	if g.hook != nil {
		g.hook(len(calls))
	}
	if len(calls) == 1 {
		calls[0].res = g.one(calls[0].ctx, calls[0].req)
		return calls[0].res
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(calls[0].ctx), groupTimeout)
	defer cancel()
	reqs := make([]Req, len(calls))
	for i, c := range calls {
		reqs[i] = c.req
	}
	for i, r := range g.many(ctx, reqs) {
		calls[i].res = r
	}
	return calls[0].res
}

// next takes the next group off the queue and wakes its first call to run it, or marks
// the group idle if nothing is queued.
func (g *group[Req, Res]) next() {
	g.mu.Lock()
	if len(g.queue) == 0 {
		g.running = false
		g.mu.Unlock()
		return
	}
	var (
		batch []*groupCall[Req, Res]
		keys  = make(map[string]bool)
		rest  = g.queue[:0]
	)
	for _, c := range g.queue {
		if len(batch) == groupLimit || keys[c.key] {
			rest = append(rest, c)
			continue
		}
		keys[c.key] = true
		c.queued = false
		batch = append(batch, c)
	}
	clear(g.queue[len(rest):])
	g.queue = rest
	g.mu.Unlock()
	batch[0].lead = batch
	close(batch[0].done)
}
