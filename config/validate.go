package config

import (
	"errors"
	"fmt"
	"maps"
	"net"
	"net/mail"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/hibiken/asynq"
	"github.com/robfig/cron/v3"

	"tether/jobs"
	"tether/sync/connect"
	"tether/sync/directory"
	"tether/sync/vault"
)

// Validate checks every value and returns all problems at once (nil when none). Load calls
// it; call it again after changing a Config by hand.
func (c Config) Validate() error {
	var errs []error
	bad := func(field, value, problem string) {
		errs = append(errs, fieldError(varOf(field), value, problem))
	}

	if u := c.DatabaseURL.Reveal(); !hasAnyPrefix(u, "postgres://", "postgresql://", "sqlite:", "file:") {
		bad("DatabaseURL", u, "is not a store URL (want postgres://..., sqlite:PATH or file:PATH)")
	}
	if c.RedisURL.IsSet() {
		if _, err := c.RedisConnOpt(); err != nil {
			bad("RedisURL", c.RedisURL.Reveal(), "is not a Redis URL: "+err.Error())
		}
	}
	if c.EncryptionKeys.IsSet() {
		if _, err := c.Keyring(); err != nil {
			bad("EncryptionKeys", c.EncryptionKeys.Reveal(), "is not a key ring: "+strings.TrimPrefix(err.Error(), "vault: "))
		}
	}
	if t := c.APIToken.Reveal(); t != "" && len(t) < 32 {
		bad("APIToken", t, fmt.Sprintf("is %d characters; a bearer token needs at least 32 (generate one with: openssl rand -hex 24)", len(t)))
	}
	if _, _, err := net.SplitHostPort(c.HTTPAddr); err != nil {
		bad("HTTPAddr", c.HTTPAddr, "is not a listen address (host:port or :port)")
	}
	if c.MetricsAddr != "off" && c.MetricsAddr != "" {
		if _, _, err := net.SplitHostPort(c.MetricsAddr); err != nil {
			bad("MetricsAddr", c.MetricsAddr, "is not a listen address (host:port, :port or off)")
		}
	}
	for _, f := range []struct{ field, value string }{
		{"PublicURL", c.PublicURL},
		{"SalesforceLoginURL", c.SalesforceLoginURL},
		{"SalesforceSandboxLoginURL", c.SalesforceSandboxLoginURL},
		{"GoogleAuthURL", c.GoogleAuthURL},
		{"GoogleTokenURL", c.GoogleTokenURL},
		{"GoogleAPIURL", c.GoogleAPIURL},
		{"MicrosoftLoginURL", c.MicrosoftLoginURL},
		{"MicrosoftGraphURL", c.MicrosoftGraphURL},
		{"ZoomOAuthURL", c.ZoomOAuthURL},
		{"ZoomAPIURL", c.ZoomAPIURL},
	} {
		if u, err := url.Parse(f.value); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			bad(f.field, f.value, "is not an absolute http(s) URL")
		}
	}
	for _, f := range []struct{ field, value string }{
		{"SalesforceBrowserLoginURL", c.SalesforceBrowserLoginURL},
		{"SalesforceSandboxBrowserLoginURL", c.SalesforceSandboxBrowserLoginURL},
		{"MicrosoftBrowserLoginURL", c.MicrosoftBrowserLoginURL},
		{"ZoomBrowserOAuthURL", c.ZoomBrowserOAuthURL},
	} {
		if f.value == "" {
			continue
		}
		if u, err := url.Parse(f.value); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			bad(f.field, f.value, "is not an absolute http(s) URL")
		}
	}
	if s := c.LinkSecret.Reveal(); s != "" && len(s) < 32 {
		bad("LinkSecret", s, fmt.Sprintf("is %d characters; at least 32 are needed (generate one with: openssl rand -base64 48)", len(s)))
	}
	// Lifetimes and intervals that must be positive: zero or negative would make every
	// link, invitation or grace period expire at once.
	for _, f := range []struct {
		field string
		d     time.Duration
	}{{"TeamLinkTTL", c.TeamLinkTTL}, {"ConnectLinkTTL", c.ConnectLinkTTL}, {"InviteTTL", c.InviteTTL}} {
		if f.d < time.Minute {
			bad(f.field, f.d.String(), "must be at least 1m (a lifetime of zero or less expires at once)")
		}
	}
	// The links' own maximums (sync/connect), so a start refuses what every link would.
	for _, f := range []struct {
		field  string
		d, max time.Duration
		whose  string
	}{{"TeamLinkTTL", c.TeamLinkTTL, connect.MaxTeamTTL, "a team link"}, {"ConnectLinkTTL", c.ConnectLinkTTL, connect.MaxPersonalTTL, "a member's link"}} {
		if f.d > f.max {
			bad(f.field, f.d.String(), fmt.Sprintf("is longer than %s may live: at most %s", f.whose, strings.TrimSuffix(f.max.String(), "0m0s")))
		}
	}
	if c.WorkerConcurrency < 1 || c.WorkerConcurrency > 1000 {
		bad("WorkerConcurrency", fmt.Sprint(c.WorkerConcurrency), "must be between 1 and 1000")
	}
	if c.WorkerFetchers < 0 || c.WorkerFetchers > 64 {
		bad("WorkerFetchers", fmt.Sprint(c.WorkerFetchers), "must be between 0 (one per 25 slots of TETHER_WORKER_CONCURRENCY) and 64")
	}
	if _, err := ParseQueues(c.WorkerQueues); err != nil {
		bad("WorkerQueues", c.WorkerQueues, err.Error())
	}
	if c.ShutdownTimeout <= 0 {
		bad("ShutdownTimeout", c.ShutdownTimeout.String(), "must be positive")
	}
	for _, f := range []struct {
		field string
		d     time.Duration
	}{{"HTTPReadHeaderTimeout", c.HTTPReadHeaderTimeout}, {"HTTPReadTimeout", c.HTTPReadTimeout},
		{"HTTPWriteTimeout", c.HTTPWriteTimeout}, {"HTTPIdleTimeout", c.HTTPIdleTimeout}} {
		if f.d < 100*time.Millisecond || f.d > time.Hour {
			bad(f.field, f.d.String(), "must be between 100ms and 1h (for example 30s): without it a client can hold a connection open forever")
		}
	}
	if c.HTTPReadHeaderTimeout > c.HTTPReadTimeout {
		bad("HTTPReadHeaderTimeout", c.HTTPReadHeaderTimeout.String(), "must not exceed TETHER_HTTP_READ_TIMEOUT ("+c.HTTPReadTimeout.String()+"), which bounds the headers too")
	}
	if c.HTTPMaxUnauthenticated < 1 || c.HTTPMaxUnauthenticated > 100000 {
		bad("HTTPMaxUnauthenticated", fmt.Sprint(c.HTTPMaxUnauthenticated), "must be between 1 and 100000")
	}
	if c.RefreshWindow < time.Minute || c.RefreshWindow > time.Hour {
		bad("RefreshWindow", c.RefreshWindow.String(), "must be between 1m and 1h")
	}
	if c.SalesforceSession < 15*time.Minute || c.SalesforceSession > 24*time.Hour {
		bad("SalesforceSession", c.SalesforceSession.String(), "must be between 15m and 24h (Salesforce allows 15 minutes to 24 hours)")
	}
	if c.EventRetention < time.Hour {
		bad("EventRetention", c.EventRetention.String(), "must be at least 1h")
	}
	if _, err := cron.ParseStandard(c.PruneSchedule); err != nil {
		bad("PruneSchedule", c.PruneSchedule, "is not a 5-field cron expression: "+err.Error())
	}
	if _, err := cron.ParseStandard(c.PermissionsSchedule); err != nil {
		bad("PermissionsSchedule", c.PermissionsSchedule, "is not a 5-field cron expression: "+err.Error())
	}
	if _, err := cron.ParseStandard(c.ReconcileSchedule); err != nil {
		bad("ReconcileSchedule", c.ReconcileSchedule, "is not a 5-field cron expression: "+err.Error())
	}
	if c.ImportPause <= 0 {
		bad("ImportPause", c.ImportPause.String(), "must be positive")
	}
	switch {
	case c.Mailer != "smtp" && c.Mailer != "log" && c.Mailer != "dir":
		bad("Mailer", c.Mailer, "is not one of smtp, dir, log")
	case c.Mailer == "dir" && c.MailDir == "":
		bad("MailDir", "", "is not set; TETHER_MAILER=dir writes each email into it (example: TETHER_MAIL_DIR=./mail)")
	}
	// NaN fails both comparisons, so test for the good range rather than the bad one.
	if !(c.SalesforceUsageWarnShare > 0 && c.SalesforceUsageWarnShare <= 1) {
		bad("SalesforceUsageWarnShare", fmt.Sprint(c.SalesforceUsageWarnShare), "must be a share above 0 and at most 1 (0.8 means 80% of the daily API allocation)")
	}
	switch c.LogLevel {
	case "debug", "info", "warn", "error":
	default:
		bad("LogLevel", c.LogLevel, "is not one of debug, info, warn, error")
	}
	switch c.LogFormat {
	case "json", "console":
	default:
		bad("LogFormat", c.LogFormat, "is not one of json, console")
	}
	if c.SMTPURL.IsSet() {
		u, err := url.Parse(c.SMTPURL.Reveal())
		if err != nil || (u.Scheme != "smtp" && u.Scheme != "smtps" && u.Scheme != "smtp+insecure" && u.Scheme != "smtp+plain") || u.Hostname() == "" {
			bad("SMTPURL", c.SMTPURL.Reveal(), "is not an SMTP URL (want smtp:// (STARTTLS required), smtps:// or, for a local mail sink only, smtp+insecure://host:port)")
		}
	}
	if _, err := mail.ParseAddress(c.MailFrom); err != nil {
		bad("MailFrom", c.MailFrom, "is not a mail address")
	}
	if c.AdminUser == "" || strings.Contains(c.AdminUser, ":") {
		bad("AdminUser", c.AdminUser, "must be non-empty and contain no colon")
	}
	return errors.Join(errs...)
}

// MetricsListenAddr is where process ("worker" or "scheduler") serves its probes and
// /metrics: MetricsAddr when set, else :9090 for the worker and :9091 for the scheduler,
// so the two can share a host without setting anything. "off" means no listener.
func (c Config) MetricsListenAddr(process string) string {
	switch {
	case c.MetricsAddr != "":
		return c.MetricsAddr
	case process == "scheduler":
		return ":9091"
	default:
		return ":9090"
	}
}

// ParseQueues reads a TETHER_WORKER_QUEUES list: comma-separated names of tether's
// queues, each optionally =weight (1 to 100; a bare name keeps its default weight). An
// empty list means nil: every queue at its default weight. Its error says what is wrong
// and names the queues there are.
func ParseQueues(list string) (map[string]int, error) {
	if strings.TrimSpace(list) == "" {
		return nil, nil
	}
	known := jobs.Queues()
	names := slices.Sorted(maps.Keys(known))
	out := map[string]int{}
	for item := range strings.SplitSeq(list, ",") {
		item = strings.TrimSpace(item)
		name, weight, hasWeight := strings.Cut(item, "=")
		name = strings.TrimSpace(name)
		w, ok := known[name]
		switch {
		case item == "":
			return nil, fmt.Errorf("has an empty entry; list queue names separated by commas (%s)", strings.Join(names, ", "))
		case !ok && !hasWeight && item == strings.TrimSpace(list):
			return nil, fmt.Errorf("is not one of tether's queues (%s)", strings.Join(names, ", "))
		case !ok:
			return nil, fmt.Errorf("names %q, which is not one of tether's queues (%s)", name, strings.Join(names, ", "))
		case out[name] != 0:
			return nil, fmt.Errorf("names %s twice", name)
		}
		if hasWeight {
			n, err := strconv.Atoi(strings.TrimSpace(weight))
			if err != nil || n < 1 || n > 100 {
				return nil, fmt.Errorf("gives %s the weight %q; a weight is a whole number from 1 to 100", name, strings.TrimSpace(weight))
			}
			w = n
		}
		out[name] = w
	}
	return out, nil
}

// Queues is the worker's queues and weights from WorkerQueues (nil: all at their default
// weights). Validate has checked the list.
func (c Config) Queues() map[string]int {
	q, _ := ParseQueues(c.WorkerQueues)
	return q
}

// QueuesLeftOut is which of tether's queues WorkerQueues leaves out (none when unset).
func (c Config) QueuesLeftOut() []string {
	q := c.Queues()
	if q == nil {
		return nil
	}
	var left []string
	for _, name := range slices.Sorted(maps.Keys(jobs.Queues())) {
		if _, ok := q[name]; !ok {
			left = append(left, name)
		}
	}
	return left
}

// RequireAllQueues returns an error naming TETHER_WORKER_QUEUES when it leaves out one of
// tether's queues: verb ("all") runs the only worker its Redis may have, so a queue left
// out would never run.
func (c Config) RequireAllQueues(verb string) error {
	left := c.QueuesLeftOut()
	if len(left) == 0 {
		return nil
	}
	v := varOf("WorkerQueues")
	v.Example = "critical=6,connections=8,default=3,low=1" // every queue, other weights
	return nameFlags(fieldError(v, c.WorkerQueues, fmt.Sprintf("leaves out %s; tether %s may be the only worker on its Redis, so their tasks would never run. "+
		"Unset it and drop --queues (every queue), or give a queue a worker of its own with tether worker --queues", strings.Join(left, ", "), verb)), c.fromFlag)
}

// RequireRedis returns an error naming TETHER_REDIS_URL when it is unset; verb is the
// command that needs it ("worker").
func (c Config) RequireRedis(verb string) error {
	if c.RedisURL.IsSet() {
		return nil
	}
	return fieldError(varOf("RedisURL"), "", fmt.Sprintf("is not set; tether %s needs a durable Redis (only demo and all fall back to an embedded one)", verb))
}

// RequireLinkSecret returns an error naming TETHER_LINK_SECRET when it is unset.
func (c Config) RequireLinkSecret(verb string) error {
	if c.LinkSecret.IsSet() {
		return nil
	}
	return fieldError(varOf("LinkSecret"), "", fmt.Sprintf("is not set; tether %s signs connect links with it (generate one with: openssl rand -base64 48)", verb))
}

// RequireMailer returns an error naming TETHER_SMTP_URL when verb would send invitation
// emails (it runs invites:send) but has no way to: TETHER_MAILER is smtp and
// TETHER_SMTP_URL is unset.
func (c Config) RequireMailer(verb string) error {
	if c.Mailer == "log" || c.Mailer == "dir" || c.SMTPURL.IsSet() {
		return nil
	}
	return fieldError(varOf("SMTPURL"), "", fmt.Sprintf("is not set; tether %s runs invites:send and would drop every invitation email. "+
		"Set TETHER_SMTP_URL to your mail server, or for a trial TETHER_MAILER=dir with TETHER_MAIL_DIR to write each email to a file "+
		"(or TETHER_MAILER=log to only log its recipient and subject)", verb))
}

// RequireEncryptionKeys returns an error naming TETHER_ENCRYPTION_KEYS when it is unset.
func (c Config) RequireEncryptionKeys(verb string) error {
	if c.EncryptionKeys.IsSet() {
		return nil
	}
	return fieldError(varOf("EncryptionKeys"), "", fmt.Sprintf("is not set; tether %s stores OAuth tokens and must encrypt them (generate a key with: openssl rand -base64 32)", verb))
}

// RedisConnOpt turns RedisURL into Asynq connection options: redis:// and rediss:// give a
// single server, redis-socket:// one on the same host through its Unix socket,
// redis-sentinel:// a Sentinel-managed primary (failover), redis-cluster:// a Redis
// Cluster. It returns an error when RedisURL is unset or malformed.
func (c Config) RedisConnOpt() (asynq.RedisConnOpt, error) {
	raw := c.RedisURL.Reveal()
	if raw == "" {
		return nil, errors.New("not set")
	}
	if rest, ok := strings.CutPrefix(raw, "redis-cluster://"); ok {
		// url.Parse rejects a comma-separated host list, so split userinfo by hand.
		var opt asynq.RedisClusterClientOpt
		if at := strings.LastIndex(rest, "@"); at >= 0 {
			user, pass, _ := strings.Cut(rest[:at], ":")
			opt.Username, opt.Password = user, pass
			rest = rest[at+1:]
		}
		rest, _, _ = strings.Cut(rest, "/")
		for _, a := range strings.Split(rest, ",") {
			if _, _, err := net.SplitHostPort(a); err != nil {
				return nil, fmt.Errorf("cluster node %q is not host:port", a)
			}
			opt.Addrs = append(opt.Addrs, a)
		}
		return opt, nil
	}
	if u, err := url.Parse(raw); err == nil && u.Scheme == "redis-socket" && u.Host != "" {
		// redis-socket://run/redis.sock would dial /redis.sock: "run" parses as a host.
		return nil, errors.New("a redis-socket:// URL takes the socket's absolute path after three slashes, as in redis-socket:///run/redis/redis.sock?db=0")
	}
	opt, err := asynq.ParseRedisURI(raw)
	if err != nil {
		// asynq's message may quote the URL, which can carry a password.
		return nil, errors.New(redisURLForms)
	}
	return opt, nil
}

const redisURLForms = "want redis://[:password@]host:port[/db], rediss://..., redis-socket://[:password@]/path/to/redis.sock[?db=N], redis-sentinel://host:port,...?master=name or redis-cluster://host:port,..."

// Keyring parses EncryptionKeys. Its errors never contain key material.
func (c Config) Keyring() (*vault.Keyring, error) {
	return vault.ParseKeyring(c.EncryptionKeys.Reveal())
}

func hasAnyPrefix(s string, prefixes ...string) bool {
	for _, p := range prefixes {
		if strings.HasPrefix(s, p) {
			return true
		}
	}
	return false
}

// SalesforceHosts are the Salesforce login bases for production and sandbox orgs, the one
// answer the connect flow, the CLI and the API use.
func (c Config) SalesforceHosts() directory.SalesforceHosts {
	return directory.SalesforceHosts{Production: c.SalesforceLoginURL, Sandbox: c.SalesforceSandboxLoginURL}
}
