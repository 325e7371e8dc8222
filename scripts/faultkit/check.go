package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"tether/connectors/sandbox"
	"tether/sync/connections"
	"tether/sync/directory"
	"tether/sync/store"
	"tether/sync/vault"
)

// overdue is how late a healthy connection's refresh may be: the sweep's period and a minute.
const overdue = 6 * time.Minute

// figure is one line of the report; bad ones fail the run.
type figure struct {
	name  string
	value int
	want  string // "= 0", "= N", ...
	bad   bool
	note  string
	// final: once wrong, waiting cannot right it (a duplicate sent, a token logged), so
	// fault.sh stops waiting for tether to settle.
	final bool
}

// runCheck prints the end-of-run figures from the sandbox's counters, the store and the
// mail sink, and fails when one shows a broken promise.
func runCheck(args []string) error {
	fs := flag.NewFlagSet("check", flag.ExitOnError)
	sb := fs.String("sandbox", "", "sandbox base URL")
	manifest := fs.String("manifest", "", "seed's manifest")
	fatesPath := fs.String("fates", "", "chaos's fates file")
	sinkURL := fs.String("mailsink", "", "mail sink base URL (GET /messages)")
	importOrg := fs.String("import-org", "", "org of the import")
	importID := fs.String("import", "", "import id")
	issuedPath := fs.String("issued-tokens", "", "the sandbox's issued-token file")
	logs := fs.String("logs", "", "directory of every process's log")
	quiet := fs.Bool("quiet", false, "print only the wrong figures, on one line of stderr; exit 1 when there are (fault.sh polls with it)")
	_ = fs.Parse(args)
	if *sb == "" || *manifest == "" {
		return errors.New("--sandbox and --manifest are required")
	}
	ring, err := vault.ParseKeyring(os.Getenv("TETHER_ENCRYPTION_KEYS"))
	if err != nil {
		return fmt.Errorf("TETHER_ENCRYPTION_KEYS: %w", err)
	}
	var m Manifest
	if err := readJSON(*manifest, &m); err != nil {
		return err
	}
	var f Fates
	if *fatesPath != "" {
		if err := readJSON(*fatesPath, &f); err != nil {
			return err
		}
	}
	ctx := context.Background()
	st, err := store.Open(ctx, os.Getenv("TETHER_DATABASE_URL"))
	if err != nil {
		return err
	}
	defer st.Close()
	revoked, disabled := set(f.Revoked), set(f.Disabled)
	fps, byGrant, rows, err := readState(ctx, st, *sb, m)
	if err != nil {
		return err
	}
	// The fingerprints are read before the 5,000 rows, so a refresh committed in between
	// leaves a row newer than its grant's fingerprint. A connection not holding the current
	// token is read again (its grant's fingerprint first, then its row) before it counts.
	for range 5 {
		var again []int
		for i, s := range m.Connections {
			if !revoked[s.ConnID] && !disabled[s.ConnID] && !holds(ring, rows[i], byGrant[s.GrantID]) {
				again = append(again, i)
			}
		}
		if len(again) == 0 {
			break
		}
		time.Sleep(time.Second)
		var now []sandbox.Fingerprint
		if err := getJSON(*sb+"/admin/fingerprints", &now); err != nil {
			return err
		}
		fresh := make(map[string]sandbox.Fingerprint, len(now))
		for _, fp := range now {
			fresh[fp.ID] = fp
		}
		for _, i := range again {
			s := m.Connections[i]
			byGrant[s.GrantID] = fresh[s.GrantID]
			if rows[i], err = st.GetConnection(ctx, s.OrgID, s.ConnID); err != nil {
				return fmt.Errorf("connection %s: %w", s.ConnID, err)
			}
		}
	}

	// A refresh whose worker was SIGKILLed between the provider's answer and the commit
	// loses the rotated token with the process: the retry finds its in-flight mark, spends
	// the old token once and records lost_during_refresh. Told apart from a loss of
	// tether's own doing by the logs: the attempt before the one that recorded it never
	// reported.
	var killed map[string]bool
	if *logs != "" {
		if killed, err = killWindowLosses(*logs); err != nil {
			return err
		}
	}
	var figs []figure
	var killLost int
	var lost, stale, notHealthy, wrongToken, pending, revokedWrong, disabledWrong, doubles, revokedReplays int
	var refreshes, rotations int64
	states := map[connections.State]int{}
	var examples []string
	for i, s := range m.Connections {
		c := rows[i]
		states[c.State]++
		fp := byGrant[s.GrantID]
		refreshes += fp.Refreshes
		rotations += fp.Rotations
		switch {
		case revoked[s.ConnID]:
			revokedReplays += int(fp.DeadTokenReplays)
			if c.State != connections.StateNeedsReconnect {
				revokedWrong++
				examples = append(examples, fmt.Sprintf("revoked %s %s is %s", s.Kind, s.ConnID, c.State))
			}
			continue
		case disabled[s.ConnID]:
			doubles += int(fp.DeadTokenReplays)
			if c.State != connections.StateNeedsAdmin {
				disabledWrong++
				examples = append(examples, fmt.Sprintf("disabled %s %s is %s", s.Kind, s.ConnID, c.State))
			}
			continue
		}
		if c.State == connections.StateNeedsReconnect && c.FailureCause == connections.CauseLostDuringRefresh &&
			killed[s.ConnID] && fp.DeadTokenReplays <= 1 {
			killLost++
			if len(examples) < 10 {
				examples = append(examples, fmt.Sprintf("%s %s (grant %s): lost to a SIGKILL between the provider's answer and the commit; recorded needs_reconnect, lost_during_refresh",
					s.Kind, s.ConnID, s.GrantID))
			}
			continue
		}
		doubles += int(fp.DeadTokenReplays)
		if len(c.PendingTokenEnc) > 0 {
			pending++
		}
		held := holds(ring, c, fp)
		if !held {
			wrongToken++
		}
		if c.State != connections.StateHealthy {
			notHealthy++
		} else if now := time.Now(); (!c.ExpiresAt.IsZero() && c.ExpiresAt.Before(now)) ||
			(!c.NextRefreshAt.IsZero() && c.NextRefreshAt.Before(now.Add(-overdue))) {
			stale++
			if len(examples) < 10 {
				examples = append(examples, fmt.Sprintf("%s %s: healthy but next refresh %s, access token expires %s (now %s)", s.Kind, s.ConnID,
					c.NextRefreshAt.UTC().Format(time.TimeOnly), c.ExpiresAt.UTC().Format(time.TimeOnly), now.UTC().Format(time.TimeOnly)))
			}
		}
		if !held || c.State != connections.StateHealthy {
			lost++
			if len(examples) < 10 {
				// The cause and what the logs showed tell a kill-window loss recorded where the
				// workers' logs cannot show it (the operator's API in serve, or a worker killed
				// again right after recording it) from one of tether's own doing.
				examples = append(examples, fmt.Sprintf("%s %s (grant %s): state %s, cause %q, holds current refresh token %t, grant live %t ended %q, dead-token replays %d, a worker's death in the answer-commit window seen in the logs %t, last error %s %s",
					s.Kind, s.ConnID, s.GrantID, c.State, c.FailureCause, held, fp.Live, fp.Ended, fp.DeadTokenReplays, killed[s.ConnID], c.LastErrorCode, c.LastErrorDescription))
			}
		}
	}
	n := len(m.Connections) - len(revoked) - len(disabled)
	figs = append(figs,
		figure{name: "connections checked (not revoked, not disabled)", value: n, want: "info"},
		// While tether runs (--quiet, as fault.sh waits for it to settle) dozens of refreshes
		// are between the provider's rotation and the row's commit at any moment, so only
		// the state is judged then; the tokens are compared once tether is stopped.
		figure{name: "lost (not healthy, or not holding the sandbox's current refresh token)", value: lost, want: "= 0",
			bad:  lost != 0 && !*quiet || notHealthy != 0,
			note: fmt.Sprintf("%d not healthy, %d holding another refresh token; lost to a kill in the answer-commit window not counted here", notHealthy, wrongToken)},
		figure{name: "lost to a SIGKILL between the provider's answer and the commit", value: killLost, want: "info",
			note: "Zoom and Salesforce kill the old token at once: the new one died with the worker; each recorded needs_reconnect (lost_during_refresh), its one confirming replay not counted as a double"},
		figure{name: "stale: healthy, but its access token expired or its refresh overdue", value: stale, want: "= 0", bad: stale != 0,
			note: fmt.Sprintf("overdue = next refresh more than %s ago (the sweep runs every 5 minutes)", overdue)},
		figure{name: "double refreshes (a dead refresh token presented again)", value: doubles, want: "= 0", bad: doubles != 0},
		figure{name: "pending token sets left unsettled", value: pending, want: "= 0", bad: pending != 0},
		figure{name: "revoked grants not needs_reconnect", value: revokedWrong, want: "= 0", bad: revokedWrong != 0,
			note: fmt.Sprintf("of %d revoked; their dead-token replays: %d", len(revoked), revokedReplays)},
		figure{name: "disabled accounts not needs_admin", value: disabledWrong, want: "= 0", bad: disabledWrong != 0,
			note: fmt.Sprintf("of %d disabled", len(disabled))},
		figure{name: "refreshes done at the sandbox", value: int(refreshes), want: "info", note: fmt.Sprintf("%d rotated the refresh token", rotations)},
	)

	requests := make(map[string]int64, len(fps))
	for _, fp := range fps {
		requests[fp.ID] = fp.Requests
	}
	if len(f.Revoked)+len(f.Disabled) > 0 {
		figs = append(figs, callFigures(m, f, requests, time.Now()).figures()...)
	}
	var msgs []mailSummary
	if *sinkURL != "" {
		if err := getJSON(*sinkURL+"/messages", &msgs); err != nil {
			return err
		}
		fr, ex, err := reminderFigures(ctx, st, m, f, msgs, time.Now())
		if err != nil {
			return err
		}
		figs = append(figs, fr...)
		examples = append(examples, ex...)
	}
	if *importOrg != "" && *importID != "" && *sinkURL != "" {
		fi, err := importFigures(ctx, st, *importOrg, *importID, msgs)
		if err != nil {
			return err
		}
		figs = append(figs, fi...)
	}
	// Searching every log for every issued token takes long at full size, and waiting can
	// never take a logged token back: the final check does it, the polls while settling not.
	if *issuedPath != "" && *logs != "" && !*quiet {
		nTok, hits, where, err := tokensInLogs(*issuedPath, *logs)
		if err != nil {
			return err
		}
		figs = append(figs, figure{name: "issued tokens found in process logs", value: hits, want: "= 0", bad: hits != 0, final: true,
			note: fmt.Sprintf("%d issued tokens grepped%s", nTok, where)})
	}

	failed := false
	for _, g := range figs {
		failed = failed || g.bad
	}
	if *quiet {
		if failed {
			var bad []string
			for _, g := range figs {
				if g.bad {
					bad = append(bad, fmt.Sprintf("%s: %d", g.name, g.value))
				}
			}
			fmt.Fprintln(os.Stderr, strings.Join(bad, "; "))
			for _, g := range figs {
				if g.bad && !g.final {
					os.Exit(1)
				}
			}
			os.Exit(3) // only figures waiting cannot change
		}
		return nil
	}
	var ks []string
	for k, v := range states {
		ks = append(ks, fmt.Sprintf("%s %d", k, v))
	}
	sort.Strings(ks)
	fmt.Printf("connection states: %s\n", strings.Join(ks, ", "))
	for _, g := range figs {
		mark := "ok  "
		if g.bad {
			mark = "FAIL"
		}
		if g.want == "info" {
			mark = "    "
		}
		line := fmt.Sprintf("%s %-72s %7d", mark, g.name, g.value)
		if g.want != "info" {
			line += "  (want " + g.want + ")"
		}
		if g.note != "" {
			line += "  " + g.note
		}
		fmt.Println(line)
	}
	for _, e := range examples {
		fmt.Println("  e.g. " + e)
	}
	if failed {
		return errors.New("a figure is wrong (FAIL above)")
	}
	fmt.Println("all figures hold")
	return nil
}

// killWindowLosses reads the workers' logs: the connections whose lost_during_refresh was
// recorded by a retry (retried N >= 1) of a task whose attempt N-1 never logged "task
// done", i.e. whose worker died in the middle of it. Also when the retry of the died
// attempt met a provider fault instead (it logs cause outcome_unknown, carried over from the
// died attempt) and a later task of the same connection proved the grant consumed.
func killWindowLosses(dir string) (map[string]bool, error) {
	type rec struct {
		TaskID     string `json:"task_id"`
		Retried    int    `json:"retried"`
		Connection string `json:"connection"`
		Cause      string `json:"cause"`
		Message    string `json:"message"`
	}
	done := map[string]bool{}      // task id + "#" + attempt
	lostFirst := map[string]bool{} // connections whose loss a first attempt recorded
	type lostAt struct {
		task    string
		retried int
	}
	var lost, carried []lostAt
	byTask := map[string]string{}
	type retryOf struct {
		task    string
		retried int
		conn    string
	}
	var retries []retryOf
	byOperator, err := operatorLosses(dir)
	if err != nil {
		return nil, err
	}
	err = eachLogLine(dir, "worker*.log", func(line []byte) {
		if !bytes.Contains(line, []byte(`"connections:refresh:`)) {
			return
		}
		var r rec
		if json.Unmarshal(line, &r) != nil {
			return
		}
		if r.Retried >= 1 && r.Connection != "" {
			retries = append(retries, retryOf{r.TaskID, r.Retried, r.Connection})
		}
		switch {
		case r.Message == "task done":
			done[r.TaskID+"#"+strconv.Itoa(r.Retried)] = true
		case r.Cause == string(connections.CauseLostDuringRefresh) && r.Retried >= 1:
			lost = append(lost, lostAt{r.TaskID, r.Retried})
			byTask[r.TaskID] = r.Connection
		case r.Cause == string(connections.CauseLostDuringRefresh):
			lostFirst[r.Connection] = true
		case r.Cause == string(connections.CauseOutcomeUnknown) && r.Retried >= 1:
			carried = append(carried, lostAt{r.TaskID, r.Retried})
			byTask[r.TaskID] = r.Connection
		}
	})
	if err != nil {
		return nil, err
	}
	out := map[string]bool{}
	// The operator's API (serve, during faultkit race) may be the one to replay the token a
	// killed attempt rotated: its log line names the connection and the cause; the worker's
	// logs show the died attempt by its retry (retried N >= 1 with no "task done" for N-1).
	died := map[string]bool{}
	for _, r := range retries {
		if !done[r.task+"#"+strconv.Itoa(r.retried-1)] {
			died[r.conn] = true
		}
	}
	for c := range byOperator {
		if died[c] {
			out[c] = true
		}
	}
	for _, l := range lost {
		if !done[l.task+"#"+strconv.Itoa(l.retried-1)] {
			out[byTask[l.task]] = true
		}
	}
	for _, l := range carried {
		if c := byTask[l.task]; lostFirst[c] && !done[l.task+"#"+strconv.Itoa(l.retried-1)] {
			out[c] = true
		}
	}
	return out, nil
}

// operatorLosses reads serve's logs: the connections whose lost_during_refresh an
// operator's refresh recorded.
func operatorLosses(dir string) (map[string]bool, error) {
	out := map[string]bool{}
	err := eachLogLine(dir, "serve*.log", func(line []byte) {
		var r struct {
			By         string `json:"by"`
			Connection string `json:"connection"`
			Cause      string `json:"cause"`
			Message    string `json:"message"`
		}
		if json.Unmarshal(line, &r) == nil && r.Message == "connection upkeep" && r.By == "operator" &&
			r.Cause == string(connections.CauseLostDuringRefresh) {
			out[r.Connection] = true
		}
	})
	return out, err
}

// eachLogLine calls fn with every line of the files in dir matching pattern (the line
// is only valid during the call).
func eachLogLine(dir, pattern string, fn func(line []byte)) error {
	files, err := filepath.Glob(filepath.Join(dir, pattern))
	if err != nil {
		return err
	}
	for _, p := range files {
		fh, err := os.Open(p)
		if err != nil {
			return err
		}
		sc := bufio.NewScanner(fh)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		for sc.Scan() {
			fn(sc.Bytes())
		}
		fh.Close()
		if err := sc.Err(); err != nil {
			return fmt.Errorf("read %s: %w", p, err)
		}
	}
	return nil
}

// holds: c holds the refresh token the sandbox considers current for its live grant.
func holds(ring *vault.Keyring, c connections.Connection, fp sandbox.Fingerprint) bool {
	rt, err := ring.OpenToken(c.RefreshTokenEnc, c.ID)
	return err == nil && fp.Live && sandbox.TokenSHA256(rt.Reveal()) == fp.RefreshSHA256
}

// readState reads the sandbox's fingerprints, then every connection's row.
func readState(ctx context.Context, st *store.Store, sb string, m Manifest) ([]sandbox.Fingerprint, map[string]sandbox.Fingerprint, []connections.Connection, error) {
	var fps []sandbox.Fingerprint
	if err := getJSON(sb+"/admin/fingerprints", &fps); err != nil {
		return nil, nil, nil, err
	}
	byGrant := make(map[string]sandbox.Fingerprint, len(fps))
	for _, fp := range fps {
		byGrant[fp.ID] = fp
	}
	rows := make([]connections.Connection, len(m.Connections))
	for i, s := range m.Connections {
		c, err := st.GetConnection(ctx, s.OrgID, s.ConnID)
		if err != nil {
			return nil, nil, nil, fmt.Errorf("connection %s: %w", s.ConnID, err)
		}
		rows[i] = c
	}
	return fps, byGrant, rows, nil
}

func set(xs []string) map[string]bool {
	out := make(map[string]bool, len(xs))
	for _, x := range xs {
		out[x] = true
	}
	return out
}

// importFigures: the import is done, and each of its invites was sent once and arrived once.
func importFigures(ctx context.Context, st *store.Store, orgID, importID string, msgs []mailSummary) ([]figure, error) {
	imp, err := st.GetImport(ctx, orgID, importID)
	if err != nil {
		return nil, fmt.Errorf("import %s: %w", importID, err)
	}
	var invites []directory.Invite
	after := ""
	for {
		page, err := st.ListInvites(ctx, orgID, store.InviteFilter{ImportID: importID, AfterID: after, Limit: 1000})
		if err != nil {
			return nil, err
		}
		invites = append(invites, page...)
		if len(page) < 1000 {
			break
		}
		after = page[len(page)-1].ID
	}
	got := map[string]int{}
	for _, mm := range msgs {
		for _, to := range mm.To {
			got[strings.ToLower(to)]++
		}
	}
	var dupEmails, missing, sentTwice, unknown, unknownArrived int
	for _, inv := range invites {
		k := got[strings.ToLower(inv.Email)]
		if inv.Delivery() == directory.DeliveryUnknown {
			// Its worker died after the server may have taken the email: tether never sends
			// it again by itself, so it arrived once or not at all.
			unknown++
			if k == 1 {
				unknownArrived++
			}
		} else if k == 0 {
			missing++
		}
		if k > 1 {
			dupEmails += k - 1
		}
		if inv.SentCount > 1 {
			sentTwice++
		}
	}
	// An address invited twice by the import would be a duplicate invite.
	seen := map[string]int{}
	for _, inv := range invites {
		seen[strings.ToLower(inv.Email)]++
	}
	dupInvites := 0
	for _, k := range seen {
		dupInvites += k - 1
	}
	return []figure{
		{name: "import status done", value: boolInt(imp.Status == directory.ImportDone), want: "= 1", bad: imp.Status != directory.ImportDone,
			note: fmt.Sprintf("status %s; found %d, invited %d", imp.Status, imp.Counts.Found, imp.Counts.Invited)},
		{name: "imported users invited", value: len(invites), want: "= import's invited count", bad: len(invites) != imp.Counts.Invited},
		{name: "duplicate invites (same address twice)", value: dupInvites, want: "= 0", bad: dupInvites != 0, final: true},
		{name: "invites sent more than once (SentCount > 1)", value: sentTwice, want: "= 0", bad: sentTwice != 0, final: true},
		{name: "invitation emails missing at the sink (outcome known)", value: missing, want: "= 0", bad: missing != 0},
		{name: "invitations whose send outcome is unknown (never re-sent)", value: unknown, want: "info",
			note: fmt.Sprintf("a worker SIGKILLed after the mail server may have accepted; %d of them did arrive, once", unknownArrived)},
		{name: "duplicate invitation emails at the sink", value: dupEmails, want: "= 0", bad: dupEmails != 0, final: true,
			note: fmt.Sprintf("%d emails received", len(msgs))},
	}, nil
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

// tokensInLogs looks for every issued token in every log file, by a 24-character piece of
// its random tail (so quoting, prefixes and truncation cannot hide it).
func tokensInLogs(issuedPath, dir string) (int, int, string, error) {
	const piece = 24
	b, err := os.ReadFile(issuedPath)
	if err != nil {
		return 0, 0, "", err
	}
	keys := map[string]bool{}
	n := 0
	for _, t := range strings.Split(string(b), "\n") {
		if len(t) < piece+8 {
			continue
		}
		n++
		keys[t[len(t)-piece:]] = true
	}
	files, err := filepath.Glob(filepath.Join(dir, "*"))
	if err != nil {
		return 0, 0, "", err
	}
	hits := 0
	var where []string
	for _, p := range files {
		fh, err := os.Open(p)
		if err != nil {
			return 0, 0, "", err
		}
		r := bufio.NewReaderSize(fh, 1<<20)
		for {
			line, err := r.ReadString('\n')
			for i := 0; i+piece <= len(line); i++ {
				if keys[line[i:i+piece]] {
					hits++
					if len(where) < 3 {
						where = append(where, filepath.Base(p))
					}
					break
				}
			}
			if err == io.EOF {
				break
			}
			if err != nil {
				fh.Close()
				return 0, 0, "", err
			}
		}
		fh.Close()
	}
	w := ""
	if len(where) > 0 {
		w = "; in " + strings.Join(where, ", ")
	}
	return n, hits, w, nil
}
