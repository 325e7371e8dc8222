package main

import (
	"errors"
	"fmt"
	"net"
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

// explainRedis turns a failure to reach Redis, which the drivers report as several
// layers (the operation, asynq's code, the command, the dial), into one sentence naming
// the URL (password redacted) and the variable. Other errors pass unchanged.
func explainRedis(err error, rawURL string) error {
	var op *net.OpError
	if err == nil || rawURL == "" || !errors.As(err, &op) || op.Op != "dial" {
		return err
	}
	msg := err.Error()
	for _, host := range redisHosts(rawURL) {
		if strings.Contains(msg, host) {
			e := fmt.Errorf("cannot reach Redis at %s (TETHER_REDIS_URL or --redis-url): %v; check that it is running and that the URL is right", redactURL(rawURL), op.Err)
			// What was done before Redis failed (an import or audit stored, queued later by
			// the reconciler) matters to the user as much as the cause.
			var m interface{ Message() string }
			if errors.As(err, &m) {
				e = fmt.Errorf("%w. %s", e, m.Message())
			}
			return e
		}
	}
	return err
}

// redisHosts are the host:port entries of a redis://, rediss://, redis-sentinel:// or
// redis-cluster:// URL.
func redisHosts(raw string) []string {
	_, rest, ok := strings.Cut(raw, "://")
	if !ok {
		return nil
	}
	if at := strings.LastIndex(rest, "@"); at >= 0 {
		rest = rest[at+1:]
	}
	rest, _, _ = strings.Cut(rest, "/")
	rest, _, _ = strings.Cut(rest, "?")
	return strings.Split(rest, ",")
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
