package worker_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"tether/connectors/email"
	"tether/sync/directory"
	"tether/sync/reminders"
	"tether/sync/store"
	"tether/sync/store/storetest"
)

// countingStore is the real store with a count of every read the reminders' list and
// digest paths make: a read per member shows up as a count that grows with the members.
type countingStore struct {
	reminders.Store
	mu    sync.Mutex
	calls map[string]int
}

func newCountingStore(st *store.Store) *countingStore {
	return &countingStore{Store: st, calls: map[string]int{}}
}

func (c *countingStore) count(name string) {
	c.mu.Lock()
	c.calls[name]++
	c.mu.Unlock()
}

// snapshot returns the counts so far and resets them.
func (c *countingStore) snapshot() map[string]int {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := c.calls
	c.calls = map[string]int{}
	return out
}

func (c *countingStore) GetOrg(ctx context.Context, orgID string) (directory.Org, error) {
	c.count("GetOrg")
	return c.Store.GetOrg(ctx, orgID)
}

func (c *countingStore) GetMembership(ctx context.Context, orgID, id string) (directory.Membership, error) {
	c.count("GetMembership")
	return c.Store.GetMembership(ctx, orgID, id)
}

func (c *countingStore) GetUser(ctx context.Context, id string) (directory.User, error) {
	c.count("GetUser")
	return c.Store.GetUser(ctx, id)
}

func (c *countingStore) ListMembers(ctx context.Context, orgID string, f directory.MembershipFilter) ([]directory.Member, error) {
	c.count("ListMembers")
	return c.Store.ListMembers(ctx, orgID, f)
}

func (c *countingStore) ListReminders(ctx context.Context, orgID, membershipID string, limit int) ([]reminders.Reminder, error) {
	c.count("ListReminders")
	return c.Store.ListReminders(ctx, orgID, membershipID, limit)
}

func (c *countingStore) MemberReminders(ctx context.Context, orgID string, ids []string) (map[string]reminders.MemberReminders, error) {
	c.count("MemberReminders")
	return c.Store.MemberReminders(ctx, orgID, ids)
}

func (c *countingStore) MemberTimeZone(ctx context.Context, orgID, membershipID string) (string, error) {
	c.count("MemberTimeZone")
	return c.Store.MemberTimeZone(ctx, orgID, membershipID)
}

func (c *countingStore) ReminderSettings(ctx context.Context, orgID string) (reminders.Settings, error) {
	c.count("ReminderSettings")
	return c.Store.ReminderSettings(ctx, orgID)
}

func total(calls map[string]int) int {
	n := 0
	for _, v := range calls {
		n += v
	}
	return n
}

// escalatedReps adds n reps to org, each still needing action after three reminders
// (the default escalate_after), so each belongs on the admins' digest.
func (b *remindBundle) escalatedReps(t *testing.T, org directory.Org, n int) []directory.Membership {
	t.Helper()
	ctx := t.Context()
	var out []directory.Membership
	for i := range n {
		u, err := b.st.CreateUser(ctx, directory.User{Email: fmt.Sprintf("rep%d@%s.example", i, strings.ToLower(org.Name))})
		if err != nil {
			t.Fatal(err)
		}
		m, err := b.st.CreateMembership(ctx, org.ID, directory.Membership{UserID: u.ID, Role: directory.RoleChat, Status: directory.MembershipActive})
		if err != nil {
			t.Fatal(err)
		}
		if err := b.st.SetActionRequired(ctx, org.ID, m.ID, []directory.ActionReason{calBroken}, b.clock.now()); err != nil {
			t.Fatal(err)
		}
		for seq, ago := range []time.Duration{96 * time.Hour, 72 * time.Hour, 24 * time.Hour} {
			if _, err := b.st.InsertReminder(ctx, org.ID, reminders.Reminder{MembershipID: m.ID, Channel: reminders.ChannelEmail,
				Sequence: seq + 1, SentAt: b.clock.now().Add(-ago)}); err != nil {
				t.Fatal(err)
			}
		}
		out = append(out, m)
	}
	return out
}

// TestReminderDigestReadsAPageNotAMember runs the admins' digest of an org of 2 escalated
// reps and of one of 9 through the real store wrapped in a counter: the reads must be the
// same in number (one read of the page's messages, none per member), and the digest must
// still name every rep.
func TestReminderDigestReadsAPageNotAMember(t *testing.T) {
	storetest.Each(t, func(t *testing.T, st *store.Store) {
		b := setupReminders(t, st, nil)
		cs := newCountingStore(st)
		svc, err := reminders.New(reminders.Config{Store: cs, Mailer: email.ReminderMailer(b.mailer, ""), Links: mustLinks(t, st),
			Queue: b.queue, Now: b.clock.now})
		if err != nil {
			t.Fatal(err)
		}
		small := b.escalatedReps(t, b.org, 1) // with b.rep below: 2
		b.reasons(t, calBroken)
		for seq, ago := range []time.Duration{96 * time.Hour, 72 * time.Hour, 24 * time.Hour} {
			if _, err := st.InsertReminder(t.Context(), b.org.ID, reminders.Reminder{MembershipID: b.rep.ID, Channel: reminders.ChannelEmail,
				Sequence: seq + 1, SentAt: b.clock.now().Add(-ago)}); err != nil {
				t.Fatal(err)
			}
		}
		big, err := st.CreateOrg(t.Context(), directory.Org{Name: "Bigco"})
		if err != nil {
			t.Fatal(err)
		}
		u, err := st.CreateUser(t.Context(), directory.User{Email: "boss@bigco.example"})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := st.CreateMembership(t.Context(), big.ID, directory.Membership{UserID: u.ID, Role: directory.RoleAdmin, Status: directory.MembershipActive}); err != nil {
			t.Fatal(err)
		}
		many := b.escalatedReps(t, big, 9)

		cs.snapshot()
		res, err := svc.Digest(t.Context(), b.org.ID)
		if err != nil || !res.Sent || len(res.Members) != 1+len(small) {
			t.Fatalf("digest of 2: %+v %v", res, err)
		}
		two := cs.snapshot()
		res, err = svc.Digest(t.Context(), big.ID)
		if err != nil || !res.Sent || len(res.Members) != len(many) {
			t.Fatalf("digest of 9: %+v %v", res, err)
		}
		nine := cs.snapshot()
		if total(two) != total(nine) || nine["MemberReminders"] != 1 || nine["ListReminders"] != 0 || nine["MemberTimeZone"] != 0 {
			t.Fatalf("store reads for 2 reps %v, for 9 reps %v: they must not grow with the members", two, nine)
		}
		msgs := to(b.sink.Messages(), "boss@bigco.example")
		if len(msgs) != 1 {
			t.Fatalf("%d digests to bigco's admin, want 1", len(msgs))
		}
		for i := range many {
			if want := fmt.Sprintf("rep%d@bigco.example", i); !strings.Contains(msgs[0].Text, want) {
				t.Fatalf("the digest lacks %s:\n%s", want, msgs[0].Text)
			}
		}

		// The members page's reminders column reads the same way: 2 members or 9, the
		// settings and one read of the page's messages.
		vw := reminders.Viewer{Store: cs, Now: b.clock.now}
		ms := func(org string) []directory.Membership {
			page, err := st.ListMembers(t.Context(), org, directory.MembershipFilter{Limit: 100})
			if err != nil {
				t.Fatal(err)
			}
			out := make([]directory.Membership, len(page))
			for i, p := range page {
				out[i] = p.Membership
			}
			return out
		}
		page := ms(big.ID)
		cs.snapshot()
		sums, err := vw.Summaries(t.Context(), big.ID, page)
		if err != nil || len(sums) != len(page) {
			t.Fatalf("summaries of %d members: %d, %v", len(page), len(sums), err)
		}
		if got := cs.snapshot(); total(got) != 2 || got["MemberReminders"] != 1 {
			t.Fatalf("summaries of a page of %d members read %v, want the settings and one MemberReminders", len(page), got)
		}
		for _, m := range many {
			s := sums[m.ID]
			if s.Last == nil || s.Last.Sequence != 3 || s.Streak != 3 || !s.Escalated || !strings.HasSuffix(s.Why, "; on the admins' daily digest") {
				t.Fatalf("summary of an escalated rep %+v", s)
			}
		}
	})
}
