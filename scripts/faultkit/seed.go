package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hibiken/asynq"

	"tether/connectors/sandbox"
	"tether/connectors/sandbox/sfdc"
	"tether/jobs"
	"tether/sync/connections"
	"tether/sync/directory"
	"tether/sync/store"
	"tether/sync/vault"
)

// Seeded is one connection seed wrote, as the manifest records it.
type Seeded struct {
	ConnID       string           `json:"conn_id"`
	OrgID        string           `json:"org_id"`
	MembershipID string           `json:"membership_id"`
	Kind         connections.Kind `json:"kind"`
	Provider     sandbox.Provider `json:"provider"`
	GrantID      string           `json:"grant_id"`
	Subject      string           `json:"subject"` // the provider's user id (SetUserActive takes it)
}

// Manifest is what seed leaves for chaos and check.
type Manifest struct {
	ConnOrg     string   `json:"conn_org"`
	ImportOrg   string   `json:"import_org,omitempty"`
	Connections []Seeded `json:"connections"`
}

// Fixed seeds of the generated Salesforce orgs, so every run sees the same users.
const (
	connSFSeed   = 1201
	importSFSeed = 1202
)

func runSeed(args []string) error {
	fs := flag.NewFlagSet("seed", flag.ExitOnError)
	sb := fs.String("sandbox", "", "sandbox base URL (http://127.0.0.1:PORT)")
	n := fs.Int("connections", 100, "connections to seed, spread evenly over salesforce, google_calendar, microsoft_calendar and zoom")
	importUsers := fs.Int("import-users", 0, "generated users in the Salesforce org of the import (0: no import org)")
	connOrg := fs.String("conn-org", "", "tether org the connections belong to (tether org create)")
	importOrg := fs.String("import-org", "", "tether org of the import; gets a team Salesforce connection")
	ttl := fs.Duration("access-ttl", 12*time.Minute, "access-token lifetime the sandbox's apps give")
	manifest := fs.String("manifest", "", "write the manifest (JSON) here")
	parallel := fs.Int("parallel", 8, "grants and store writes at once")
	window := fs.Duration("refresh-window", 14*time.Minute, "first refresh this long before expiry (1 minute of jitter), so refreshes start at once")
	_ = fs.Parse(args)
	if *sb == "" || *connOrg == "" || *manifest == "" {
		return errors.New("--sandbox, --conn-org and --manifest are required")
	}
	dbURL, keys := os.Getenv("TETHER_DATABASE_URL"), os.Getenv("TETHER_ENCRYPTION_KEYS")
	loginURL := os.Getenv("TETHER_SALESFORCE_LOGIN_URL")
	if dbURL == "" || keys == "" || loginURL == "" {
		return errors.New("TETHER_DATABASE_URL, TETHER_ENCRYPTION_KEYS and TETHER_SALESFORCE_LOGIN_URL must be set (fault.sh exports them)")
	}
	ring, err := vault.ParseKeyring(keys)
	if err != nil {
		return err
	}
	redisOpt, err := asynq.ParseRedisURI(os.Getenv("TETHER_REDIS_URL"))
	if err != nil {
		return fmt.Errorf("TETHER_REDIS_URL: %w", err)
	}
	client := asynq.NewClient(redisOpt)
	defer client.Close()
	// Scheduled at once, as a connect flow does, so the first refreshes need no sweep.
	w := writer{sched: jobs.ConnectionQueue{Client: client},
		policy: connections.Policy{RefreshWindow: *window, RefreshJitter: time.Minute, SalesforceSession: *ttl}}
	ctx := context.Background()
	st, err := store.Open(ctx, dbURL)
	if err != nil {
		return err
	}
	defer st.Close()

	// Apps with short access tokens (refreshes happen during the run) and Salesforce
	// refresh-token rotation on; Google keeps its refresh token, Microsoft and Zoom rotate.
	apps := sandbox.DefaultApps()
	for i := range apps {
		apps[i].AccessTokenTTL = sandbox.Duration(*ttl)
		if apps[i].Provider == sandbox.Salesforce {
			apps[i].RotateRefreshTokens = true
		}
	}
	per := (*n + 3) / 4
	sfOrg := sfdc.GenerateOrg(connSFSeed, per+per/5+20) // about 10% are inactive and cannot consent
	scen := sandbox.Scenario{Apps: apps, Salesforce: &sfdc.Scenario{Orgs: []sfdc.OrgSpec{sfOrg}}}
	var imp sfdc.OrgSpec
	if *importUsers > 0 {
		imp = sfdc.GenerateOrg(importSFSeed, *importUsers)
		scen.Salesforce.Orgs = append(scen.Salesforce.Orgs, imp)
	}
	var sfUsers []string
	for _, u := range sfOrg.Users[1:] { // [0] is the team user
		if u.IsActive == nil || *u.IsActive {
			sfUsers = append(sfUsers, u.Username)
		}
	}
	if len(sfUsers) < per {
		return fmt.Errorf("generated Salesforce org has %d active users, need %d", len(sfUsers), per)
	}
	for i := 0; i < per; i++ {
		email := "rep" + strconv.Itoa(i) + "@fault.example"
		scen.Users = append(scen.Users,
			sandbox.User{Provider: sandbox.Google, ID: strconv.Itoa(100000000000 + i), Email: email},
			sandbox.User{Provider: sandbox.Microsoft, ID: fmt.Sprintf("0000fa17-0000-4000-8000-%012d", i), Email: email},
			sandbox.User{Provider: sandbox.Zoom, ID: "zfault" + strconv.Itoa(i), Email: email})
	}
	if err := postJSON(*sb+"/admin/scenario", scen, nil); err != nil {
		return fmt.Errorf("load scenario: %w", err)
	}

	type job struct {
		i    int
		kind connections.Kind
	}
	kinds := []connections.Kind{connections.KindSalesforce, connections.KindGoogleCalendar, connections.KindMicrosoftCalendar, connections.KindZoom}
	members := make([]string, per)
	err = runPool(per, *parallel, func(i int) error {
		u, err := st.CreateUser(ctx, directory.User{Email: "rep" + strconv.Itoa(i) + "@fault.example", Name: "Rep " + strconv.Itoa(i)})
		if err != nil {
			return fmt.Errorf("user %d: %w", i, err)
		}
		// Role chat needs Salesforce (one connection, so its break is the rep's to fix;
		// calendar and conferencing each have two that meet them) and a photo, given, so
		// what a member is reminded of is what the run broke.
		mem, err := st.CreateMembership(ctx, *connOrg, directory.Membership{UserID: u.ID, Role: directory.RoleChat,
			Status: directory.MembershipActive, PhotoURL: "https://fault.example/photos/rep" + strconv.Itoa(i) + ".png"})
		members[i] = mem.ID
		return err
	})
	if err != nil {
		return err
	}
	// The org's admin: reminders about problems only an admin can fix (a disabled
	// account) go to them, and a notify without one fails.
	admin, err := st.CreateUser(ctx, directory.User{Email: "admin@fault.example", Name: "Fault Admin"})
	if err != nil {
		return fmt.Errorf("admin user: %w", err)
	}
	if _, err := st.CreateMembership(ctx, *connOrg, directory.Membership{UserID: admin.ID, Role: directory.RoleAdmin, Status: directory.MembershipActive}); err != nil {
		return fmt.Errorf("admin membership: %w", err)
	}
	var todo []job
	for i := 0; i < per; i++ {
		for _, k := range kinds {
			if len(todo) < *n {
				todo = append(todo, job{i, k})
			}
		}
	}
	out := make([]Seeded, len(todo))
	var done atomic.Int64
	err = runPool(len(todo), *parallel, func(x int) error {
		j := todo[x]
		s, err := w.seedOne(ctx, st, ring, *sb, loginURL, *connOrg, members[j.i], j.kind, j.i, sfUsers[j.i])
		if err != nil {
			return fmt.Errorf("connection %d %s: %w", j.i, j.kind, err)
		}
		out[x] = s
		if d := done.Add(1); d%1000 == 0 {
			fmt.Fprintf(os.Stderr, "seed: %d connections\n", d)
		}
		return nil
	})
	if err != nil {
		return err
	}

	m := Manifest{ConnOrg: *connOrg, Connections: out}
	if *importOrg != "" && *importUsers > 0 {
		if err := w.seedTeam(ctx, st, ring, *sb, loginURL, *importOrg, sfdc.TeamUsername(imp.Domain)); err != nil {
			return fmt.Errorf("team connection of the import org: %w", err)
		}
		m.ImportOrg = *importOrg
	}
	b, _ := json.Marshal(m)
	if err := os.WriteFile(*manifest, b, 0o600); err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "seed: %d connections over %d members written; manifest %s\n", len(out), per, *manifest)
	return nil
}

func providerOf(k connections.Kind) sandbox.Provider {
	switch k {
	case connections.KindSalesforce, connections.KindSalesforceTeam:
		return sandbox.Salesforce
	case connections.KindGoogleCalendar:
		return sandbox.Google
	case connections.KindMicrosoftCalendar, connections.KindTeams:
		return sandbox.Microsoft
	}
	return sandbox.Zoom
}

var kindScopes = map[connections.Kind][]string{
	connections.KindSalesforce:        {"api", "refresh_token", "id"},
	connections.KindSalesforceTeam:    {"api", "refresh_token", "id"},
	connections.KindGoogleCalendar:    {"openid", "email", "profile", "https://www.googleapis.com/auth/calendar"},
	connections.KindMicrosoftCalendar: {"openid", "profile", "email", "offline_access", "User.Read", "Calendars.ReadWrite", "OnlineMeetings.ReadWrite"},
	connections.KindZoom:              {"user:read:user", "meeting:write:meeting"},
}

// seedOne mints a grant at the sandbox (as if the rep had allowed) and writes the
// connection as the connect flow's callback does.
func (w writer) seedOne(ctx context.Context, st *store.Store, ring *vault.Keyring, sb, loginURL, orgID, membershipID string,
	kind connections.Kind, i int, sfUser string) (Seeded, error) {
	p := providerOf(kind)
	subject := ""
	switch p {
	case sandbox.Salesforce:
		subject = sfUser
	case sandbox.Google:
		subject = strconv.Itoa(100000000000 + i)
	case sandbox.Microsoft:
		subject = fmt.Sprintf("0000fa17-0000-4000-8000-%012d", i)
	default:
		subject = "zfault" + strconv.Itoa(i)
	}
	var t sandbox.Tokens
	if err := postJSON(sb+"/admin/grants", sandbox.GrantRequest{Provider: p, Subject: subject, Scopes: kindScopes[kind]}, &t); err != nil {
		return Seeded{}, err
	}
	c, err := w.writeConnection(ctx, st, ring, sb, loginURL, orgID, membershipID, kind, subject, t)
	if err != nil {
		return Seeded{}, err
	}
	if p == sandbox.Salesforce {
		subject = t.UserID
	}
	return Seeded{ConnID: c.ID, OrgID: orgID, MembershipID: membershipID, Kind: kind, Provider: p, GrantID: t.GrantID, Subject: subject}, nil
}

func (w writer) writeConnection(ctx context.Context, st *store.Store, ring *vault.Keyring, sb, loginURL, orgID, membershipID string,
	kind connections.Kind, subject string, t sandbox.Tokens) (connections.Connection, error) {
	now := time.Now()
	c, err := st.EnsureConnection(ctx, orgID, membershipID, kind, now)
	if err != nil {
		return c, err
	}
	if c.AccessTokenEnc, err = ring.SealToken(vault.NewToken(t.AccessToken), c.ID); err != nil {
		return c, err
	}
	if c.RefreshTokenEnc, err = ring.SealToken(vault.NewToken(t.RefreshToken), c.ID); err != nil {
		return c, err
	}
	c.Scopes = t.Scopes
	c.ProviderAccountID = subject
	if providerOf(kind) == sandbox.Salesforce {
		c.ProviderAccountID, c.ProviderOrgID = t.UserID, t.OrgID
		c.InstanceURL, c.LoginURL = sb+"/salesforce", loginURL
	}
	c = connections.Connected(c, t.Expiry, 0, now, w.policy, rand.Float64())
	written, err := st.UpdateConnection(ctx, orgID, c, now)
	if err != nil {
		return written, err
	}
	d := connections.DueOf(written)
	return written, w.sched.Schedule(ctx, connections.DueOp(d, written.NextRefreshAt, w.policy), d, written.NextRefreshAt)
}

// writer writes connections as the connect flow does: sealed, then scheduled.
type writer struct {
	sched  connections.Scheduler
	policy connections.Policy
}

// seedTeam gives the import org its team-level Salesforce connection.
func (w writer) seedTeam(ctx context.Context, st *store.Store, ring *vault.Keyring, sb, loginURL, orgID, username string) error {
	var t sandbox.Tokens
	if err := postJSON(sb+"/admin/grants", sandbox.GrantRequest{Provider: sandbox.Salesforce, Subject: username, Scopes: kindScopes[connections.KindSalesforceTeam]}, &t); err != nil {
		return err
	}
	_, err := w.writeConnection(ctx, st, ring, sb, loginURL, orgID, "", connections.KindSalesforceTeam, username, t)
	return err
}

// runPool calls fn(0..n-1) on parallel goroutines and returns the first error.
func runPool(n, parallel int, fn func(i int) error) error {
	var next atomic.Int64
	var first error
	var once sync.Once
	var wg sync.WaitGroup
	for w := 0; w < parallel; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1) - 1)
				if i >= n {
					return
				}
				if err := fn(i); err != nil {
					once.Do(func() { first = err })
					next.Store(int64(n))
					return
				}
			}
		}()
	}
	wg.Wait()
	return first
}

var httpc = &http.Client{Timeout: 60 * time.Second}

func postJSON(url string, in, out any) error {
	b, err := json.Marshal(in)
	if err != nil {
		return err
	}
	res, err := httpc.Post(url, "application/json", bytes.NewReader(b))
	if err != nil {
		return err
	}
	defer res.Body.Close()
	raw, _ := io.ReadAll(res.Body)
	if res.StatusCode/100 != 2 {
		return fmt.Errorf("POST %s: %d %s", url, res.StatusCode, bytes.TrimSpace(raw))
	}
	if out != nil {
		return json.Unmarshal(raw, out)
	}
	return nil
}

func getJSON(url string, out any) error {
	res, err := httpc.Get(url)
	if err != nil {
		return err
	}
	defer res.Body.Close()
	raw, _ := io.ReadAll(res.Body)
	if res.StatusCode/100 != 2 {
		return fmt.Errorf("GET %s: %d %s", url, res.StatusCode, bytes.TrimSpace(raw))
	}
	return json.Unmarshal(raw, out)
}
