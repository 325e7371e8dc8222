package main

import (
	"cmp"
	"fmt"
	"strings"
	"sync"

	"github.com/hibiken/asynq"
	"github.com/redis/go-redis/v9"

	"tether/connectors/email"
	"tether/connectors/oauth"
	"tether/connectors/verify"
	"tether/jobs"
	"tether/sync/connections"
	"tether/sync/members"
	"tether/sync/orgs"
	"tether/sync/reminders"
	"tether/worker"
	"tether/worker/redislock"
	"tether/worker/redisstash"
)

// app holds what a process builds once and shares between its components (worker,
// scheduler, HTTP server, a CLI verb): one OAuth client with every configured provider,
// one mailer, one team-token service, one Redis client per role, one task queue client
// and inspector, one import service. Each is built on first use, so a verb that needs
// none of them never dials anything; close releases all of them. Safe for concurrent use.
type app struct {
	d *deps // the process's configuration, store and key ring

	mu        sync.Mutex
	importsMu sync.Mutex     // held while the import service is built (it takes mu itself)
	built     map[string]int // constructions per dependency, for the once-per-process test
	closers   []func()

	oauth     *oauth.Client
	mailer    *email.Mailer
	tokens    *connections.Tokens
	redis     map[string]redis.UniversalClient
	coalesced redis.UniversalClient // the tokens' client, autopipelined
	queue     *asynq.Client
	inspector *asynq.Inspector
	imports   *importParts
	orgs      *orgs.Service
	verify    *verify.Verifier
	upkeepM   *worker.ConnectionMetrics
	upkeepS   *connections.Upkeep
	sessions  *connections.SessionLearner
	providers []string // names of the OAuth client's providers, in registration order
	members   *members.Service
	remind    *reminders.Service
}

// Redis client roles: each is one client (one pool) per process.
const (
	redisTokens  = "tokens"  // refresh locks and the token stash
	redisConnect = "connect" // connect-flow sessions
	redisProbe   = "probe"   // /readyz
	redisQueue   = "queue"   // an import page's invitation sends, queued in one pipeline
)

// newApp returns the lazily-built dependencies of the process whose configuration,
// store and key ring d holds. d must not change once anything is built.
func newApp(d *deps) *app {
	return &app{d: d, built: map[string]int{}, redis: map[string]redis.UniversalClient{}}
}

// count records one construction of what; the caller holds mu.
func (a *app) count(what string) { a.built[what]++ }

// constructions returns how many times each dependency was built.
func (a *app) constructions() map[string]int {
	a.mu.Lock()
	defer a.mu.Unlock()
	out := make(map[string]int, len(a.built))
	for k, v := range a.built {
		out[k] = v
	}
	return out
}

// close releases everything built, newest first.
func (a *app) close() {
	a.mu.Lock()
	defer a.mu.Unlock()
	for i := len(a.closers) - 1; i >= 0; i-- {
		a.closers[i]()
	}
	a.closers = nil
}

// oauthClient is the process's OAuth client, holding every provider whose client id is
// set (Salesforce, Google, Microsoft, Zoom).
func (a *app) oauthClient() (*oauth.Client, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.oauth != nil {
		return a.oauth, nil
	}
	cfg := a.d.cfg
	var ps []oauth.Provider
	add := func(p oauth.Provider, id, secret string) {
		if id != "" {
			p.ClientID, p.ClientSecret = id, secret
			ps = append(ps, p)
			a.providers = append(a.providers, p.Name)
		}
	}
	add(oauth.Salesforce(cfg.SalesforceLoginURL), cfg.SalesforceClientID, cfg.SalesforceClientSecret.Reveal())
	add(oauth.Google(strings.TrimSuffix(strings.TrimRight(cfg.GoogleTokenURL, "/"), "/token")), cfg.GoogleClientID, cfg.GoogleClientSecret.Reveal())
	add(oauth.Microsoft(cfg.MicrosoftLoginURL), cfg.MicrosoftClientID, cfg.MicrosoftClientSecret.Reveal())
	add(oauth.Zoom(cfg.ZoomOAuthURL), cfg.ZoomClientID, cfg.ZoomClientSecret.Reveal())
	oc, err := oauth.New(oauth.Config{Providers: ps})
	if err != nil {
		return nil, fmt.Errorf("oauth client: %w", err)
	}
	a.count("oauth")
	a.oauth = oc
	return oc, nil
}

// outMailer is the process's mailer: the mail directory under TETHER_MAILER=dir, else the
// SMTP server of TETHER_SMTP_URL; nil when neither is set. Each message names its own
// sender, so one mailer serves invitations, reminders and alerts.
func (a *app) outMailer() (*email.Mailer, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	cfg := a.d.cfg
	if a.mailer != nil || (cfg.Mailer != "dir" && !cfg.SMTPURL.IsSet()) {
		return a.mailer, nil
	}
	from := cmp.Or(cfg.MailFrom, cfg.InviteFrom)
	var sc email.Config
	if cfg.Mailer == "dir" {
		sc = email.Config{Dir: cfg.MailDir, From: from}
		a.d.log.Warn().Str("dir", cfg.MailDir).Msg("TETHER_MAILER=dir: emails are written to files in TETHER_MAIL_DIR, not sent")
	} else {
		var err error
		if sc, err = smtpConfig(cfg.SMTPURL.Reveal(), from); err != nil {
			return nil, err
		}
	}
	m, err := email.New(sc)
	if err != nil {
		return nil, fmt.Errorf("mailer: %w", err)
	}
	a.count("mailer")
	a.mailer = m
	return m, nil
}

// stashPrefix starts the keys of the token stash (pending token sets a refresh could not
// write to the database).
const stashPrefix = "tether:stash:"

// coalescedTokens is the tokens' Redis client behind an autopipeliner
// (redislock.Coalesced): the lock, the stash it reads and the next refresh's enqueue share
// batches across concurrent refreshes.
func (a *app) coalescedTokens() (redis.UniversalClient, error) {
	rdb := a.redisClient(redisTokens)
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.coalesced != nil {
		return a.coalesced, nil
	}
	c, err := redislock.Coalesced(rdb)
	if err != nil {
		return nil, err
	}
	a.coalesced = c
	if c != rdb {
		// Added after rdb's closer, so it runs first (closers run in reverse).
		a.closers = append(a.closers, func() { _ = c.Close() })
	}
	return c, nil
}

// tokenStash is the token stash, on the tokens' Redis client.
func (a *app) tokenStash() *redisstash.Stash {
	return redisstash.New(a.redisClient(redisTokens), stashPrefix)
}

// redisClient is the process's Redis client for role.
func (a *app) redisClient(role string) redis.UniversalClient {
	a.mu.Lock()
	defer a.mu.Unlock()
	if c, ok := a.redis[role]; ok {
		return c
	}
	c := a.d.redis.MakeRedisClient().(redis.UniversalClient)
	a.count("redis:" + role)
	a.redis[role] = c
	a.closers = append(a.closers, func() { _ = c.Close() })
	return c
}

// queueClient is the process's Asynq client: every producer enqueues through it.
func (a *app) queueClient() *asynq.Client {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.queueClientLocked()
}

// queueClientLocked is queueClient for a caller holding mu.
func (a *app) queueClientLocked() *asynq.Client {
	if a.queue == nil {
		a.queue = asynq.NewClient(a.d.redis)
		a.count("queue")
		q := a.queue
		a.closers = append(a.closers, func() { _ = q.Close() })
	}
	return a.queue
}

// queueInspector is the process's Asynq inspector.
func (a *app) queueInspector() *asynq.Inspector {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.inspector == nil {
		a.inspector = asynq.NewInspector(a.d.redis)
		a.count("inspector")
		in := a.inspector
		a.closers = append(a.closers, func() { _ = in.Close() })
	}
	return a.inspector
}

// teamTokens is the process's token service for every connection (the team Salesforce
// session, and each member's Salesforce, calendar and conferencing connections): the
// store, the key ring, the one OAuth client (each kind refreshes at its provider,
// Salesforce at the connection's own login host), a Redis lock and stash so one refresh
// per connection runs at a time across processes, the connection metrics when the
// process has a registry, and the queue that schedules each connection's next refresh.
func (a *app) teamTokens() (*connections.Tokens, error) {
	if a.d.store == nil || a.d.keyring == nil {
		return nil, fmt.Errorf("connections need the store and the key ring")
	}
	oc, err := a.oauthClient()
	if err != nil {
		return nil, err
	}
	var metrics connections.Metrics
	if a.d.reg != nil {
		m, err := a.connectionMetrics()
		if err != nil {
			return nil, err
		}
		metrics = m
	}
	rdb, err := a.coalescedTokens()
	if err != nil {
		return nil, err
	}
	sessions, err := a.sessionLearner()
	if err != nil {
		return nil, err
	}
	// A refresh or verification that changes a member's connection state recomputes the
	// member's Action Required reasons, then queues a reminder when one is due.
	obs, err := a.observer()
	if err != nil {
		return nil, err
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.tokens != nil {
		return a.tokens, nil
	}
	// A kind whose provider has no client id fails its refresh as misconfigured (the
	// refresher has no provider for it); a still-valid access token keeps working.
	refresher := oauth.ConnectionRefresher{Client: oc, Providers: map[connections.Kind]string{}}
	for _, k := range []connections.Kind{connections.KindSalesforceTeam, connections.KindSalesforce,
		connections.KindGoogleCalendar, connections.KindMicrosoftCalendar, connections.KindTeams, connections.KindZoom} {
		if _, ok := oc.Provider(k.Provider()); ok {
			refresher.Providers[k] = k.Provider()
		}
	}
	policy := a.policy()
	log := a.d.log
	// The lock reads the stashed pending set in the round trip that takes it.
	stash := redisstash.New(rdb, stashPrefix)
	locker := redislock.NewWithStash(rdb, "tether:lock:", stash)
	var r connections.Refresher = refresher
	if wrapRefresher != nil {
		r = wrapRefresher(r)
	}
	p := connections.TokensParams{
		Store:     a.d.store,
		Keys:      a.d.keyring,
		Refresher: r,
		Locker:    refreshLocker(locker, a.d.log),
		Stash:     stash,
		Policy:    policy,
		Metrics:   metrics,
		Scheduler: jobs.ConnectionQueue{Client: asynq.NewClientFromRedisClient(rdb)},
		Observer:  obs,
		ObserverErrors: func(orgID, membershipID string, err error) {
			log.Warn().Err(err).Str("org", orgID).Str("membership", membershipID).
				Msg("Action Required not recomputed or reminder not queued after a connection changed; the next change or `tether members recompute` repairs it")
		},
	}
	if sessions != nil {
		p.SessionTimeout, p.LearnSession = sessions.Known, sessions.Learn
	}
	t, err := connections.NewTokens(p)
	if err != nil {
		return nil, err
	}
	a.count("tokens")
	a.tokens = t
	return t, nil
}

// policy is the health machine's timings as configured (refresh window, the Salesforce
// session assumed while an org's is not known); the rest are the defaults.
func (a *app) policy() connections.Policy {
	p := connections.DefaultPolicy()
	p.RefreshWindow, p.SalesforceSession = a.d.cfg.RefreshWindow, a.d.cfg.SalesforceSession
	return p
}

// sessionLearner is the process's learner of Salesforce orgs' session timeouts (the
// connect flow and every refresh share it, so its cache and once-a-day claim are one);
// nil when no Salesforce app is configured.
func (a *app) sessionLearner() (*connections.SessionLearner, error) {
	if a.d.store == nil {
		return nil, fmt.Errorf("the Salesforce session learner needs the store")
	}
	oc, err := a.oauthClient()
	if err != nil {
		return nil, err
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.sessions != nil {
		return a.sessions, nil
	}
	if _, ok := oc.Provider("salesforce"); !ok {
		return nil, nil
	}
	log := a.d.log
	l, err := connections.NewSessionLearner(connections.SessionLearnerParams{Store: a.d.store,
		Introspector: oauth.SalesforceSessions{Client: oc},
		Errors: func(orgID string, err error) {
			log.Warn().Err(err).Str("org", orgID).
				Msg("Salesforce session timeout not learned; refreshes keep the known timeout or TETHER_SALESFORCE_SESSION_TIMEOUT")
		}})
	if err != nil {
		return nil, err
	}
	a.count("sessions")
	a.sessions = l
	return l, nil
}

// wrapRefresher is nil in tether itself; only a test binary sets it (killhook_test.go:
// a worker that dies between the provider's answer and the commit), so no build of
// tether carries the hook.
var wrapRefresher func(connections.Refresher) connections.Refresher

// upkeep is the process's connection upkeep: refresh, verify and the sweep, over
// teamTokens and the verifier.
func (a *app) upkeep() (*connections.Upkeep, error) {
	t, err := a.teamTokens()
	if err != nil {
		return nil, err
	}
	v, err := a.verifier()
	if err != nil {
		return nil, err
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.upkeepS != nil {
		return a.upkeepS, nil
	}
	// The sweep queues through the tokens' scheduler (the process's queue client).
	u, err := connections.NewUpkeep(connections.UpkeepParams{Tokens: t, Due: a.d.store, Verifier: v, List: a.d.store, Zones: reminders.LearntZones{Store: a.d.store, Zones: memberZones{a}}})
	if err != nil {
		return nil, err
	}
	a.count("upkeep")
	a.upkeepS = u
	return u, nil
}

// importParts is the process's invite import (service, directories, store view), its
// sends queued through queueClient.
func (a *app) importParts() (importParts, error) {
	a.importsMu.Lock()
	defer a.importsMu.Unlock()
	if a.imports != nil {
		return *a.imports, nil
	}
	p, err := buildImportService(*a.d, a.queueClient(), a.redisClient(redisQueue))
	if err != nil {
		return importParts{}, err
	}
	a.mu.Lock()
	a.count("imports")
	a.mu.Unlock()
	a.imports = &p
	return p, nil
}

// orgService is the process's org service: /v1/orgs and /v1/users, and the demo's org.
// (The org and user verbs build their own on a store of their own: they need no Redis.)
func (a *app) orgService() (*orgs.Service, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.orgs != nil {
		return a.orgs, nil
	}
	if a.d.store == nil {
		return nil, fmt.Errorf("the org service needs the store")
	}
	ms, err := a.memberServiceLocked()
	if err != nil {
		return nil, err
	}
	svc, err := orgs.New(orgs.Config{Store: a.d.store, Members: ms, SalesforceSessionDefault: a.d.cfg.SalesforceSession})
	if err != nil {
		return nil, err
	}
	a.count("orgs")
	a.orgs = svc
	return svc, nil
}

// verifier is the process's connections.Verifier: one cheap call per connection kind at
// TETHER_GOOGLE_API_URL, TETHER_MICROSOFT_GRAPH_URL and TETHER_ZOOM_API_URL (Salesforce:
// each connection's own instance). It holds no credentials, only the API hosts.
func (a *app) verifier() (*verify.Verifier, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.verify != nil {
		return a.verify, nil
	}
	cfg := a.d.cfg
	v, err := verify.New(verify.Config{GoogleAPIURL: cfg.GoogleAPIURL, GraphURL: cfg.MicrosoftGraphURL, ZoomAPIURL: cfg.ZoomAPIURL})
	if err != nil {
		return nil, err
	}
	a.count("verifier")
	a.verify = v
	return v, nil
}

// connectionMetrics is the process's connections.Metrics: refreshes and verifications by
// provider and outcome, refresh latency and grants lost during a refresh, registered on
// the process's registry with a zero series for every configured provider.
func (a *app) connectionMetrics() (*worker.ConnectionMetrics, error) {
	if _, err := a.oauthClient(); err != nil { // for the provider names
		return nil, err
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.upkeepM != nil {
		return a.upkeepM, nil
	}
	if a.d.reg == nil {
		return nil, fmt.Errorf("connection metrics need the process's metrics registry")
	}
	m, err := worker.NewConnectionMetrics(a.d.reg, a.providers)
	if err != nil {
		return nil, fmt.Errorf("connection metrics: %w", err)
	}
	a.count("connection-metrics")
	a.upkeepM = m
	return m, nil
}
