package main

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"strings"

	"github.com/spf13/cobra"
)

// redisURLOf is the Redis URL the command ran with: --redis-url if given, else
// TETHER_REDIS_URL.
func redisURLOf(root *cobra.Command, getenv func(string) string) string {
	if f := root.PersistentFlags().Lookup("redis-url"); f != nil && f.Changed {
		return f.Value.String()
	}
	return getenv("TETHER_REDIS_URL")
}

// explainRedis turns a failure to use Redis, which the drivers report as several layers
// (the operation, asynq's code, the command, the dial), into one sentence naming the URL
// (password redacted), the setting and the fix: unreachable, too slow, or refusing
// tether's credentials. Other errors pass unchanged.
func explainRedis(err error, rawURL string) error {
	if err == nil || rawURL == "" {
		return err
	}
	e, ok := redisSentence(rawURL, err)
	if !ok {
		return err
	}
	// What was done before Redis failed (an import or audit stored, queued later by the
	// reconciler) matters to the user as much as the cause.
	var m interface{ Message() string }
	if errors.As(err, &m) {
		e = fmt.Errorf("%w. %s", e, m.Message())
	}
	return e
}

// redisSentence is the one sentence for a Redis at rawURL that failed with err; ok is
// false when err is not about reaching or logging in to Redis.
func redisSentence(rawURL string, err error) (error, bool) {
	where := redactURL(rawURL)
	msg := err.Error()
	var (
		op *net.OpError
		ne net.Error
	)
	switch {
	case strings.Contains(msg, "NOAUTH"):
		return fmt.Errorf("Redis at %s requires a password and TETHER_REDIS_URL (or --redis-url) gives none: put it in the URL, redis://:PASSWORD@host:port/db", where), true
	case strings.Contains(msg, "WRONGPASS"), strings.Contains(msg, "invalid password"),
		strings.Contains(msg, "AUTH") && strings.Contains(msg, "without any password configured"):
		return fmt.Errorf("Redis at %s refused the user or password in TETHER_REDIS_URL (or --redis-url): correct them in the URL", where), true
	case errors.As(err, &ne) && ne.Timeout():
		return fmt.Errorf("Redis at %s (TETHER_REDIS_URL or --redis-url) did not answer in time: check that it is running, reachable from here and not overloaded", where), true
	case strings.Contains(msg, "all sentinels specified in configuration are unreachable") && strings.Contains(msg, "redis: nil"):
		// A sentinel that answers nil for the master name does not know it: go-redis
		// counts that among the "unreachable".
		return fmt.Errorf("no sentinel at %s (TETHER_REDIS_URL or --redis-url) knows a master named %q: set ?master= to the name in their sentinel monitor lines", where, sentinelMaster(rawURL)), true
	case errors.As(err, &op) && op.Op == "dial":
		for _, host := range redisHosts(rawURL) {
			if strings.Contains(msg, host) {
				return fmt.Errorf("cannot reach Redis at %s (TETHER_REDIS_URL or --redis-url): %v; check that it is running and that the URL is right", where, op.Err), true
			}
		}
	}
	return err, false
}

// redisHosts are the host:port entries of a redis://, rediss://, redis-sentinel:// or
// redis-cluster:// URL, or the socket path of a redis-socket:// one, as a dial error
// names them.
func redisHosts(raw string) []string {
	scheme, rest, ok := strings.Cut(raw, "://")
	if !ok {
		return nil
	}
	if scheme == "redis-socket" {
		if u, err := url.Parse(raw); err == nil && u.Path != "" {
			return []string{u.Path}
		}
		return nil
	}
	if at := strings.LastIndex(rest, "@"); at >= 0 {
		rest = rest[at+1:]
	}
	rest, _, _ = strings.Cut(rest, "/")
	rest, _, _ = strings.Cut(rest, "?")
	return strings.Split(rest, ",")
}

// sentinelMaster is the master= of a redis-sentinel:// URL.
func sentinelMaster(raw string) string {
	_, q, _ := strings.Cut(raw, "?")
	v, _ := url.ParseQuery(q)
	return v.Get("master")
}

// redactURL replaces the password of a URL's userinfo with xxxxx; it handles the
// comma-separated host lists url.Parse refuses. "" (an embedded Redis) reads as such.
func redactURL(raw string) string {
	if raw == "" {
		return "the embedded Redis"
	}
	i := strings.Index(raw, "://")
	at := strings.LastIndex(raw, "@")
	if i < 0 || at < i {
		return raw
	}
	user, _, hasPassword := strings.Cut(raw[i+3:at], ":")
	if !hasPassword {
		return raw
	}
	return raw[:i+3] + user + ":xxxxx" + raw[at:]
}
