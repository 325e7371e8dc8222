// Package config loads tether's configuration from TETHER_* environment variables and
// command-line flags (flags win), and validates it with errors that name the variable, say
// what is wrong with its value and show a good one.
//
// It is the only package that reads the environment: callers pass a getenv function, so
// tests inject a map.
package config

import (
	"time"
)

// Prefix is the prefix of every environment variable tether reads.
const Prefix = "TETHER_"

// Config is tether's whole configuration. Each field's env tag names its variable (without
// the TETHER_ prefix), envDefault its default, doc says what it is for and example shows a
// good value; .env.example documents the same list and a test keeps the two in step.
//
// Field names must stay unique: errors from the env parser name the field, and Load maps
// the name back to its variable.
type Config struct {
	DatabaseURL Secret `env:"DATABASE_URL" envDefault:"sqlite:tether.db" example:"postgres://tether:secret@localhost:5432/tether?sslmode=disable" doc:"Store: postgres://... for PostgreSQL, sqlite:PATH for a SQLite file (the default, in the working directory)."`
	RedisURL    Secret `env:"REDIS_URL" example:"redis://localhost:6379/0" doc:"Redis for the queues: redis://, rediss:// (TLS), redis-socket:///path/to/redis.sock?db=0 (a Unix socket on this host), redis-sentinel://host1:26379,host2:26379?master=mymaster, or redis-cluster://host1:6379,host2:6379. Required by worker, scheduler and serve; demo and all fall back to an embedded, non-durable Redis when unset."`

	EncryptionKeys Secret `env:"ENCRYPTION_KEYS" example:"k2:ICEiIyQlJicoKSorLC0uLzAxMjM0NTY3ODk6Ozw9Pj8=,k1:AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=" doc:"Key ring for tokens at rest: comma-separated id:base64(32 random bytes); the first key encrypts, all decrypt. Generate one with: openssl rand -base64 32. Required by worker, serve and all."`

	HTTPAddr    string `env:"HTTP_ADDR" envDefault:":8080" example:":8080" doc:"Listen address of tether serve (admin API, /monitoring, /metrics, /healthz, /readyz)."`
	MetricsAddr string `env:"METRICS_ADDR" example:"127.0.0.1:9090" doc:"Listen address of the small /healthz, /readyz and /metrics listener that tether worker and tether scheduler run; off disables it. Unset means :9090 for worker and :9091 for scheduler, so one of each runs on a host as is; every further worker or scheduler on the same host needs its own (--metrics-addr :9092)."`
	PublicURL   string `env:"PUBLIC_URL" envDefault:"http://localhost:8080" example:"https://tether.example.com" doc:"Base URL people reach tether serve at; used in Join, connect and reminder links. Unset: http://localhost:PORT (or the host) of TETHER_HTTP_ADDR, so only a public address needs it."`

	HTTPReadHeaderTimeout  time.Duration `env:"HTTP_READ_HEADER_TIMEOUT" envDefault:"10s" example:"5s" doc:"tether serve: how long a client may take to send a request's headers."`
	HTTPReadTimeout        time.Duration `env:"HTTP_READ_TIMEOUT" envDefault:"30s" example:"15s" doc:"tether serve: how long a client may take to send a whole request, body included; a slow or stalled upload is cut off after it."`
	HTTPWriteTimeout       time.Duration `env:"HTTP_WRITE_TIMEOUT" envDefault:"60s" example:"30s" doc:"tether serve: how long writing a response may take, counted from the end of the request headers."`
	HTTPIdleTimeout        time.Duration `env:"HTTP_IDLE_TIMEOUT" envDefault:"60s" example:"30s" doc:"tether serve: how long an idle keep-alive connection stays open waiting for its next request."`
	HTTPMaxUnauthenticated int           `env:"HTTP_MAX_UNAUTHENTICATED" envDefault:"64" example:"128" doc:"tether serve: requests without credentials (Join links, OAuth callbacks, the /monitoring login) served at once; more get 503 at once."`

	AdminUser     string `env:"ADMIN_USER" envDefault:"admin" example:"admin" doc:"User name for the admin API (HTTP basic auth) and the /monitoring login form."`
	AdminPassword Secret `env:"ADMIN_PASSWORD" example:"a-long-random-password" doc:"Password for the admin API and /monitoring. When unset those routes answer 503 and the rest of serve works."`
	APIToken      Secret `env:"API_TOKEN" example:"tk_3f9c1e…(32+ random characters)" doc:"Bearer token for the /v1 admin JSON API (Authorization: Bearer …), for programs; the admin user and password work there too. At least 32 characters."`

	WorkerConcurrency int           `env:"WORKER_CONCURRENCY" envDefault:"10" example:"20" doc:"Tasks one worker process runs at once."`
	WorkerFetchers    int           `env:"WORKER_FETCHERS" envDefault:"0" example:"4" doc:"Asynq servers one worker process runs, sharing TETHER_WORKER_CONCURRENCY. Each fetches one task at a time (a Redis round trip each), so on a busy machine one cannot keep many slots busy. 0 means one per 25 slots; at most TETHER_WORKER_CONCURRENCY."`
	WorkerQueues      string        `env:"WORKER_QUEUES" example:"connections" doc:"Queues one worker process serves, each as name or name=weight: unset means critical=6,connections=4,default=3,low=1. A name without =N keeps that weight. A worker given connections alone keeps a backlog of refreshes on slots of its own and fetches without asking the other queues first; every queue still needs some worker (tether worker names the ones it leaves out when it starts). tether all serves every queue."`
	ShutdownTimeout   time.Duration `env:"SHUTDOWN_TIMEOUT" envDefault:"25s" example:"25s" doc:"On SIGTERM/SIGINT, how long in-flight tasks get to finish before they are put back in their queue (they are retried, never lost). Keep it below your orchestrator's kill grace period."`
	EventRetention    time.Duration `env:"EVENT_RETENTION" envDefault:"2160h" example:"720h" doc:"Audit events older than this are deleted by the daily events:prune task (2160h = 90 days)."`
	// Connection upkeep (issue 14): the defaults behind the health machine's schedule.
	RefreshWindow       time.Duration `env:"REFRESH_WINDOW" envDefault:"10m" example:"10m" doc:"Connections are refreshed this long before their access token expires (with up to 2 minutes of jitter)."`
	SalesforceSession   time.Duration `env:"SALESFORCE_SESSION_TIMEOUT" envDefault:"2h" example:"2h" doc:"The session timeout assumed for a Salesforce connection whose org's timeout is not known: Salesforce token answers carry no expires_in."`
	PruneSchedule       string        `env:"PRUNE_SCHEDULE" envDefault:"17 3 * * *" example:"17 3 * * *" doc:"When events:prune runs: a 5-field cron expression in UTC."`
	PermissionsSchedule string        `env:"PERMISSIONS_SCHEDULE" envDefault:"41 4 * * *" example:"41 4 * * *" doc:"When the daily permission audit runs for every org with a team-level Salesforce connection: a 5-field cron expression in UTC."`
	ReconcileSchedule   string        `env:"RECONCILE_SCHEDULE" envDefault:"*/5 * * * *" example:"*/5 * * * *" doc:"When the reconciler runs (5-field cron, UTC): it queues again the task of every queued, running or paused import and of every pending invite never sent that has no task in Redis (lost with a Redis restart or never queued). Every worker also runs it once at start."`
	ImportPause         time.Duration `env:"IMPORT_PAUSE" envDefault:"15m" example:"30m" doc:"How long an import waits before it tries again when the org's Salesforce API allocation is spent or past the budget share; the wait spends none of the import's retries."`

	LogLevel  string `env:"LOG_LEVEL" envDefault:"info" example:"debug" doc:"debug, info, warn or error."`
	LogFormat string `env:"LOG_FORMAT" envDefault:"json" example:"console" doc:"json (one object a line) or console (for people)."`

	SalesforceClientID               string  `env:"SALESFORCE_CLIENT_ID" example:"3MVG9...connected-app-consumer-key" doc:"Salesforce connected app consumer key."`
	SalesforceClientSecret           Secret  `env:"SALESFORCE_CLIENT_SECRET" example:"the-consumer-secret" doc:"Salesforce connected app consumer secret."`
	SalesforceLoginURL               string  `env:"SALESFORCE_LOGIN_URL" envDefault:"https://login.salesforce.com" example:"http://localhost:8090/salesforce" doc:"Salesforce OAuth base (authorize and token endpoints live under /services/oauth2/). Point it at the sandbox to emulate Salesforce."`
	SalesforceSandboxLoginURL        string  `env:"SALESFORCE_SANDBOX_LOGIN_URL" envDefault:"https://test.salesforce.com" example:"http://localhost:8090/salesforce" doc:"Salesforce OAuth base of orgs whose Salesforce is a sandbox (tether org create --salesforce-login sandbox)."`
	SalesforceBrowserLoginURL        string  `env:"SALESFORCE_BROWSER_LOGIN_URL" example:"http://localhost:8090/salesforce" doc:"Salesforce login host as the person's browser reaches it, when it differs from TETHER_SALESFORCE_LOGIN_URL (which tether itself calls); docker compose sets both. Empty means the same."`
	SalesforceSandboxBrowserLoginURL string  `env:"SALESFORCE_SANDBOX_BROWSER_LOGIN_URL" example:"http://localhost:8090/salesforce" doc:"Browser-facing twin of TETHER_SALESFORCE_SANDBOX_LOGIN_URL. Empty means the same."`
	SalesforceUsageWarnShare         float64 `env:"SALESFORCE_USAGE_WARN_SHARE" envDefault:"0.8" example:"0.8" doc:"Share of an org's daily Salesforce API allocation (above 0, at most 1) past which the permission audit's api_usage check warns."`

	GoogleClientID     string `env:"GOOGLE_CLIENT_ID" example:"1234-abc.apps.googleusercontent.com" doc:"Google OAuth client id (Calendar)."`
	GoogleClientSecret Secret `env:"GOOGLE_CLIENT_SECRET" example:"GOCSPX-the-secret" doc:"Google OAuth client secret."`
	GoogleAuthURL      string `env:"GOOGLE_AUTH_URL" envDefault:"https://accounts.google.com/o/oauth2/v2/auth" example:"http://localhost:8090/google/o/oauth2/v2/auth" doc:"Google authorization endpoint."`
	GoogleTokenURL     string `env:"GOOGLE_TOKEN_URL" envDefault:"https://oauth2.googleapis.com/token" example:"http://localhost:8090/google/token" doc:"Google token endpoint."`
	GoogleAPIURL       string `env:"GOOGLE_API_URL" envDefault:"https://www.googleapis.com" example:"http://localhost:8090/google" doc:"Google API base (Calendar, tokeninfo)."`

	MicrosoftClientID        string `env:"MICROSOFT_CLIENT_ID" example:"00000000-0000-0000-0000-000000000000" doc:"Microsoft identity platform application (client) id (Outlook calendar, Teams)."`
	MicrosoftClientSecret    Secret `env:"MICROSOFT_CLIENT_SECRET" example:"the-client-secret-value" doc:"Microsoft client secret value."`
	MicrosoftLoginURL        string `env:"MICROSOFT_LOGIN_URL" envDefault:"https://login.microsoftonline.com/common" example:"http://localhost:8090/microsoft/common" doc:"Microsoft identity base including the tenant; /oauth2/v2.0/authorize and /oauth2/v2.0/token live under it."`
	MicrosoftBrowserLoginURL string `env:"MICROSOFT_BROWSER_LOGIN_URL" example:"http://localhost:8090/microsoft/common" doc:"Browser-facing twin of TETHER_MICROSOFT_LOGIN_URL (where the authorize page is). Empty means the same."`
	MicrosoftGraphURL        string `env:"MICROSOFT_GRAPH_URL" envDefault:"https://graph.microsoft.com" example:"http://localhost:8090/microsoft" doc:"Microsoft Graph API base (/v1.0/...)."`

	ZoomClientID        string `env:"ZOOM_CLIENT_ID" example:"aBcDeFgHiJkLmN" doc:"Zoom OAuth app client id."`
	ZoomClientSecret    Secret `env:"ZOOM_CLIENT_SECRET" example:"the-client-secret" doc:"Zoom OAuth app client secret."`
	ZoomOAuthURL        string `env:"ZOOM_OAUTH_URL" envDefault:"https://zoom.us" example:"http://localhost:8090/zoom" doc:"Zoom OAuth base (/oauth/authorize, /oauth/token)."`
	ZoomBrowserOAuthURL string `env:"ZOOM_BROWSER_OAUTH_URL" example:"http://localhost:8090/zoom" doc:"Browser-facing twin of TETHER_ZOOM_OAUTH_URL (where the authorize page is). Empty means the same."`
	ZoomAPIURL          string `env:"ZOOM_API_URL" envDefault:"https://api.zoom.us" example:"http://localhost:8090/zoom" doc:"Zoom API base (/v2/...)."`

	LinkSecret     Secret        `env:"LINK_SECRET" example:"(48 random bytes, base64: openssl rand -base64 48)" doc:"Signs connect links (team Salesforce and personal connections). At least 32 characters. Required by serve, worker (reminder emails carry connect links) and all, and by the verbs that print links; changing it voids every link not yet used."`
	TeamLinkTTL    time.Duration `env:"TEAM_LINK_TTL" envDefault:"30m" example:"1h" doc:"How long a team-level Salesforce connect link works (tether org connect-salesforce); at most 24h."`
	ConnectLinkTTL time.Duration `env:"CONNECT_LINK_TTL" envDefault:"168h" example:"72h" doc:"How long a personal connect link works (tether members connect-link); at most 720h (30 days)."`

	Mailer      string        `env:"MAILER" envDefault:"smtp" example:"dir" doc:"How invitation and reminder emails leave: smtp sends them through SMTP_URL, which worker and all then require; dir writes each as an .eml file into MAIL_DIR, to open or grep for its links (for trials); log only logs each email's recipient and subject and sends nothing."`
	MailDir     string        `env:"MAIL_DIR" example:"./mail" doc:"Directory TETHER_MAILER=dir writes emails into (created if missing; files readable by their owner only, since their links are credentials). Required with MAILER=dir."`
	SMTPURL     Secret        `env:"SMTP_URL" example:"smtp://user:password@localhost:1025" doc:"Mail server for invitations and reconnect reminders: smtp:// (STARTTLS required: a server that does not offer it fails the send), smtps:// (TLS from the first byte) or smtp+insecure:// (no TLS at all, only for a local mail sink; smtp+plain:// is the same)."`
	MailFrom    string        `env:"MAIL_FROM" envDefault:"tether <tether@localhost>" example:"Acme Sales <no-reply@acme.example>" doc:"From address of the mail tether sends."`
	SlackAPIURL string        `env:"SLACK_API_URL" envDefault:"https://slack.com/api/" example:"http://127.0.0.1:8095/" doc:"Slack Web API base (ending in /) for reminder direct messages of orgs that set a bot token (tether org reminders ORG --slack-token-file FILE). Only tests and demos change it."`
	InviteFrom  string        `env:"INVITE_FROM" example:"Acme Sales <invite@acme.example>" doc:"From address of invitation emails. Empty means MAIL_FROM."`
	InviteTTL   time.Duration `env:"INVITE_TTL" envDefault:"168h" example:"72h" doc:"How long an invitation's Join link works after its email is sent."`

	fromFlag map[string]string // variable -> the flag that set it (Load), for errors found later
}
