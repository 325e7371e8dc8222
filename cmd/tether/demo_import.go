package main

import (
	"bytes"
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"tether/connectors/email/mailsink"
	"tether/sync/directory"
	"tether/sync/invites"
	"tether/sync/store"
)

// demoImport imports the demo org's Sales User profile the way `tether invite import
// --wait` does: the producer resolves the profile name and queues invites:import, the
// worker reads Salesforce through the team connection and queues one invites:send per
// invite, and the emails arrive in the sink.
func demoImport(ctx context.Context, dm *demo) error {
	parts, err := dm.d.app.importParts()
	if err != nil {
		return err
	}
	starter := parts.svc
	imp, err := starter.Start(ctx, invites.Request{OrgID: dm.acme.org.ID, Profiles: []string{demoSFProfile},
		Role: directory.RoleChat, Group: "Sales", RequestedBy: dm.acme.adminEmail})
	if err != nil {
		return err
	}
	dm.ok("queued import %s: profile %q as role chat in group Sales (task invites:import:%s:%s)", imp.ID, demoSFProfile, imp.OrgID, imp.ID)
	err = waitFor(ctx, "the import to finish", func() (bool, error) {
		if imp, err = starter.Get(ctx, imp.OrgID, imp.ID); err != nil {
			return false, err
		}
		return imp.Status == directory.ImportDone || imp.Status == directory.ImportFailed, nil
	})
	if err != nil {
		return err
	}
	var table bytes.Buffer
	printSummary(&table, imp)
	fmt.Fprint(dm.out, indent(table.String(), "         "))
	c := imp.Counts
	switch {
	case imp.Status != directory.ImportDone:
		return fmt.Errorf("import %s ended %s: %s", imp.ID, imp.Status, strings.Join(imp.Errors, "; "))
	case c.Invited == 0:
		return fmt.Errorf("import %s invited nobody", imp.ID)
	case c.AlreadyMember != 1:
		return fmt.Errorf("import %s counted %d already_member; the demo seeded 1 (%s)", imp.ID, c.AlreadyMember, dm.acme.member)
	}
	seats, err := dm.d.store.CountSeats(ctx, imp.OrgID, time.Now())
	if err != nil {
		return err
	}
	if want := 2 + c.Invited; seats.Used() != want { // the admin, the existing member, the invites
		return fmt.Errorf("org uses %d seats after the import; want %d", seats.Used(), want)
	}
	dm.ok("import %s done: %d found, %d invited, %d already a member (%s), %d refused; seats: %d of %d used (%d members, %d pending invites)",
		imp.ID, c.Found, c.Invited, c.AlreadyMember, dm.acme.member, len(imp.Refused), seats.Used(), seats.Limit, seats.Active, seats.PendingInvites)

	pending, err := dm.d.store.ListInvites(ctx, imp.OrgID, store.InviteFilter{ImportID: imp.ID})
	if err != nil {
		return err
	}
	if len(pending) != c.Invited {
		return fmt.Errorf("import %s counted %d invited but stored %d invites", imp.ID, c.Invited, len(pending))
	}
	addrs := make([]string, len(pending))
	for i, inv := range pending {
		addrs[i] = inv.Email
	}
	msgs, err := dm.waitMail(ctx, "invitation emails of the import", len(pending), to(addrs...))
	if err != nil {
		return err
	}
	if len(msgs) != len(pending) {
		return fmt.Errorf("%d invitation emails for %d invites", len(msgs), len(pending))
	}
	slices.SortFunc(msgs, func(a, b mailsink.Received) int { return strings.Compare(a.To[0], b.To[0]) }) // arrival order varies
	dm.ok("%d invitation emails arrived in the sink, one per invite (e.g. to %s: %q)", len(msgs), msgs[0].To[0], msgs[0].Subject)
	return nil
}

// indent prefixes every line of s.
func indent(s, prefix string) string {
	lines := strings.SplitAfter(strings.TrimRight(s, "\n"), "\n")
	return prefix + strings.Join(lines, prefix) + "\n"
}
