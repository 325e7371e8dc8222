package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"tether/config"
)

// cliRoutes are the HTTP routes that do what a Redis-needing CLI verb does, for the
// person running `tether all` on its embedded Redis, which no other process can reach.
var cliRoutes = map[string]string{
	"invite import":       "POST /v1/orgs/{org}/imports",
	"invite emails":       "POST /v1/orgs/{org}/imports",
	"invite status":       "GET /v1/orgs/{org}/imports/{id}",
	"invite resend":       "POST /v1/orgs/{org}/imports/{id}/resend (an import's unsent invitations)",
	"permissions check":   "POST /v1/orgs/{org}/permission-audits",
	"reconcile":           "POST /v1/reconcile",
	"connections refresh": "POST /v1/orgs/{org}/connections/{id}/refresh",
	"connections verify":  "POST /v1/orgs/{org}/connections/{id}/verify",
	"connections sweep":   "POST /v1/connections/sweep",
	"keys status":         "GET /v1/keys",
	"keys reseal":         "POST /v1/keys/reseal",
	"members set":         "PATCH /v1/orgs/{org}/members/{member}",
	"members recompute":   "POST /v1/orgs/{org}/members/recompute",
	"org set --policy":    "PATCH /v1/orgs/{org} with a policy",
	"org reminders":       "PATCH /v1/orgs/{org}/reminder-settings",
}

// requireRedisCLI is RequireRedis for a CLI verb: without TETHER_REDIS_URL the verb
// cannot reach the embedded Redis of a running `tether all` either, so the error says so
// and points to the HTTP route that does the same.
func requireRedisCLI(cfg config.Config, verb string) error {
	if cfg.RedisURL.IsSet() {
		return nil
	}
	route := cliRoutes[verb]
	if route == "" {
		return cfg.RequireRedis(verb)
	}
	return fmt.Errorf("TETHER_REDIS_URL: is not set; tether %s needs Redis and cannot reach the embedded Redis of a running `tether all` (it lives inside that process): set TETHER_REDIS_URL to the Redis your workers use, or call tether's HTTP API instead: %s", verb, route)
}

// queueingDeps builds deps for a verb that queues work: it refuses before changing
// anything when TETHER_REDIS_URL is unset or Redis does not answer (in seconds, not after
// a Sentinel client's half minute of retries), so no row says work is queued that never
// was. Call cleanup when done.
func queueingDeps(cmd *cobra.Command, e env, verb string, o depsOptions) (d deps, cleanup func(), err error) {
	ctx := cmd.Context()
	cfg, err := loadConfig(cmd, e)
	if err != nil {
		return deps{}, nil, err
	}
	if err := requireRedisCLI(cfg, verb); err != nil {
		return deps{}, nil, err
	}
	d, cleanup, err = buildDeps(ctx, e, cfg, o)
	if err != nil {
		return deps{}, nil, err
	}
	if err := reachable(ctx, d); err != nil {
		cleanup()
		return deps{}, nil, err
	}
	return d, cleanup, nil
}
