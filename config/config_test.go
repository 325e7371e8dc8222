package config

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"maps"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	"github.com/spf13/pflag"
)

func getenv(m map[string]string) func(string) string {
	return func(k string) string { return m[k] }
}

func TestLoadDefaults(t *testing.T) {
	t.Parallel()
	cfg, err := Load(getenv(nil), nil)
	if err != nil {
		t.Fatalf("Load with no environment: %v", err)
	}
	if got := cfg.DatabaseURL.Reveal(); got != "sqlite:tether.db" {
		t.Errorf("DatabaseURL default = %q, want a SQLite file", got)
	}
	if cfg.RedisURL.IsSet() {
		t.Errorf("RedisURL has a default; worker must refuse to start without one")
	}
	if cfg.WorkerConcurrency != 10 || cfg.ShutdownTimeout != 25*time.Second || cfg.EventRetention != 2160*time.Hour {
		t.Errorf("defaults: concurrency %d, shutdown %s, retention %s", cfg.WorkerConcurrency, cfg.ShutdownTimeout, cfg.EventRetention)
	}
	if cfg.SalesforceUsageWarnShare != 0.8 || cfg.PermissionsSchedule != "41 4 * * *" {
		t.Errorf("defaults: usage warn share %v, permissions schedule %q", cfg.SalesforceUsageWarnShare, cfg.PermissionsSchedule)
	}
	if err := cfg.RequireRedis("worker"); err == nil || !strings.Contains(err.Error(), "TETHER_REDIS_URL") {
		t.Errorf("RequireRedis without a URL = %v, want an error naming TETHER_REDIS_URL", err)
	}
	if err := cfg.RequireEncryptionKeys("worker"); err == nil || !strings.Contains(err.Error(), "TETHER_ENCRYPTION_KEYS") {
		t.Errorf("RequireEncryptionKeys without keys = %v, want an error naming TETHER_ENCRYPTION_KEYS", err)
	}
}

// Links must open where serve listens: with only the listen address changed, the default
// public URL follows it; a set TETHER_PUBLIC_URL is never second-guessed.
func TestPublicURLFollowsTheListenAddressWhenUnset(t *testing.T) {
	t.Parallel()
	fs := pflag.NewFlagSet("test", pflag.ContinueOnError)
	BindFlags(fs)
	if err := fs.Parse([]string{"--http-addr=127.0.0.1:7070"}); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		env  map[string]string
		fs   *pflag.FlagSet
		want string
	}{
		{"defaults", nil, nil, "http://localhost:8080"},
		{"port only", map[string]string{"TETHER_HTTP_ADDR": ":18080"}, nil, "http://localhost:18080"},
		{"every interface", map[string]string{"TETHER_HTTP_ADDR": "0.0.0.0:9000"}, nil, "http://localhost:9000"},
		{"loopback", map[string]string{"TETHER_HTTP_ADDR": "127.0.0.1:18080"}, nil, "http://127.0.0.1:18080"},
		{"IPv6", map[string]string{"TETHER_HTTP_ADDR": "[::1]:18080"}, nil, "http://[::1]:18080"},
		{"flag", nil, fs, "http://127.0.0.1:7070"},
		{"set explicitly", map[string]string{"TETHER_HTTP_ADDR": ":18080", "TETHER_PUBLIC_URL": "https://tether.example.com"}, nil, "https://tether.example.com"},
	} {
		cfg, err := Load(getenv(tc.env), tc.fs)
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if cfg.PublicURL != tc.want {
			t.Errorf("%s: PublicURL = %q, want %q", tc.name, cfg.PublicURL, tc.want)
		}
	}
}

func TestFlagsWinOverEnvironment(t *testing.T) {
	t.Parallel()
	fs := pflag.NewFlagSet("test", pflag.ContinueOnError)
	BindFlags(fs)
	if err := fs.Parse([]string{"--concurrency=3", "--redis-url=redis://flag:6379/2"}); err != nil {
		t.Fatal(err)
	}
	cfg, err := Load(getenv(map[string]string{
		"TETHER_WORKER_CONCURRENCY": "7",
		"TETHER_REDIS_URL":          "redis://env:6379/1",
		"TETHER_LOG_LEVEL":          "debug",
	}), fs)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.WorkerConcurrency != 3 {
		t.Errorf("WorkerConcurrency = %d, want the flag's 3", cfg.WorkerConcurrency)
	}
	if cfg.RedisURL.Reveal() != "redis://flag:6379/2" {
		t.Errorf("RedisURL = %q, want the flag's", cfg.RedisURL.Reveal())
	}
	if cfg.LogLevel != "debug" {
		t.Errorf("LogLevel = %q, want the environment's debug (no flag given)", cfg.LogLevel)
	}
	opt, err := cfg.RedisConnOpt()
	if err != nil {
		t.Fatal(err)
	}
	if o, ok := opt.(asynq.RedisClientOpt); !ok || o.Addr != "flag:6379" || o.DB != 2 {
		t.Errorf("RedisConnOpt = %#v, want flag:6379 DB 2", opt)
	}
}

// A worker's queues: unset is every queue at its default weight; a bare name keeps its
// weight, name=N sets it, and what is left out is named.
func TestWorkerQueues(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		env, flag string
		want      map[string]int
		left      []string
	}{
		{"", "", nil, nil},
		{"connections", "", map[string]int{"connections": 4}, []string{"critical", "default", "low"}},
		{" critical=10 , connections ", "", map[string]int{"critical": 10, "connections": 4}, []string{"default", "low"}},
		{"critical,connections,default,low=3", "", map[string]int{"critical": 6, "connections": 4, "default": 3, "low": 3}, nil},
		{"low", "connections=2", map[string]int{"connections": 2}, []string{"critical", "default", "low"}},
	} {
		fs := pflag.NewFlagSet("test", pflag.ContinueOnError)
		BindFlags(fs)
		var args []string
		if c.flag != "" {
			args = []string{"--queues=" + c.flag}
		}
		if err := fs.Parse(args); err != nil {
			t.Fatal(err)
		}
		cfg, err := Load(getenv(map[string]string{"TETHER_WORKER_QUEUES": c.env}), fs)
		if err != nil {
			t.Fatalf("%q %q: %v", c.env, c.flag, err)
		}
		if got := cfg.Queues(); !maps.Equal(got, c.want) || (got == nil) != (c.want == nil) {
			t.Errorf("%q %q: Queues() = %v, want %v", c.env, c.flag, got, c.want)
		}
		if got := cfg.QueuesLeftOut(); !slices.Equal(got, c.left) {
			t.Errorf("%q %q: QueuesLeftOut() = %v, want %v", c.env, c.flag, got, c.left)
		}
		err = cfg.RequireAllQueues("all")
		if len(c.left) == 0 && err != nil {
			t.Errorf("%q %q: RequireAllQueues: %v", c.env, c.flag, err)
		}
		named := "TETHER_WORKER_QUEUES: "
		if c.flag != "" {
			named = "--queues (TETHER_WORKER_QUEUES): "
		}
		if len(c.left) > 0 && (err == nil || !strings.Contains(err.Error(), named) ||
			!strings.Contains(err.Error(), "leaves out "+strings.Join(c.left, ", ")+"; tether all") ||
			!strings.Contains(err.Error(), "=critical=6,connections=8,default=3,low=1")) {
			t.Errorf("%q %q: RequireAllQueues = %v, want it to name the variable and %v", c.env, c.flag, err, c.left)
		}
	}
}

// A bad value given by flag is named by the flag the person typed (and its variable).
func TestFlagErrorsNameTheFlag(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		flags []string
		want  []string
	}{
		{[]string{"--shutdown-timeout=-3s"}, []string{
			`--shutdown-timeout (TETHER_SHUTDOWN_TIMEOUT): "-3s" must be positive; example: --shutdown-timeout=`,
			`TETHER_LOG_LEVEL: "loud" is not one of`, // from the environment: the variable
		}},
		{[]string{"--concurrency=ten"}, []string{`--concurrency (TETHER_WORKER_CONCURRENCY): "ten" is not a whole number`}},
	} {
		fs := pflag.NewFlagSet("test", pflag.ContinueOnError)
		BindFlags(fs)
		if err := fs.Parse(c.flags); err != nil {
			t.Fatal(err)
		}
		_, err := Load(getenv(map[string]string{"TETHER_LOG_LEVEL": "loud"}), fs)
		if err == nil {
			t.Fatalf("Load accepted %v", c.flags)
		}
		for _, want := range c.want {
			if !strings.Contains(err.Error(), want) {
				t.Errorf("%v: error %q does not contain %q", c.flags, err, want)
			}
		}
	}
}

// Each bad value must produce an error naming the variable, the problem and an example.
func TestValidationErrorsNameVariableProblemAndExample(t *testing.T) {
	t.Parallel()
	tests := []struct {
		env     map[string]string
		varName string // variable the error must name
		problem string // words the problem must contain
	}{
		{map[string]string{"TETHER_WORKER_CONCURRENCY": "ten"}, "TETHER_WORKER_CONCURRENCY", "not a whole number"},
		{map[string]string{"TETHER_WORKER_CONCURRENCY": "0"}, "TETHER_WORKER_CONCURRENCY", "between 1 and 1000"},
		{map[string]string{"TETHER_WORKER_FETCHERS": "-1"}, "TETHER_WORKER_FETCHERS", "between 0"},
		{map[string]string{"TETHER_WORKER_FETCHERS": "65"}, "TETHER_WORKER_FETCHERS", "and 64"},
		{map[string]string{"TETHER_WORKER_QUEUES": "conections"}, "TETHER_WORKER_QUEUES", `"conections" is not one of tether's queues (connections, critical, default, low)`},
		{map[string]string{"TETHER_WORKER_QUEUES": "critical,conections=2"}, "TETHER_WORKER_QUEUES", `names "conections", which is not one of tether's queues (connections, critical, default, low)`},
		{map[string]string{"TETHER_WORKER_QUEUES": "conections=2"}, "TETHER_WORKER_QUEUES", `names "conections", which is not one of tether's queues`},
		{map[string]string{"TETHER_WORKER_QUEUES": "connections=0"}, "TETHER_WORKER_QUEUES", `gives connections the weight "0"; a weight is a whole number from 1 to 100`},
		{map[string]string{"TETHER_WORKER_QUEUES": "low,low=2"}, "TETHER_WORKER_QUEUES", "names low twice"},
		{map[string]string{"TETHER_WORKER_QUEUES": "critical,,low"}, "TETHER_WORKER_QUEUES", "has an empty entry"},
		{map[string]string{"TETHER_SHUTDOWN_TIMEOUT": "25"}, "TETHER_SHUTDOWN_TIMEOUT", "not a duration"},
		{map[string]string{"TETHER_EVENT_RETENTION": "90d"}, "TETHER_EVENT_RETENTION", "not a duration"},
		{map[string]string{"TETHER_REDIS_URL": "localhost:6379"}, "TETHER_REDIS_URL", "not a Redis URL"},
		{map[string]string{"TETHER_REDIS_URL": "redis-cluster://a:1,b"}, "TETHER_REDIS_URL", "not host:port"},
		{map[string]string{"TETHER_DATABASE_URL": "mysql://x"}, "TETHER_DATABASE_URL", "not a store URL"},
		{map[string]string{"TETHER_ENCRYPTION_KEYS": "k1"}, "TETHER_ENCRYPTION_KEYS", "want id:base64key"},
		{map[string]string{"TETHER_ENCRYPTION_KEYS": "k1:c2hvcnQ="}, "TETHER_ENCRYPTION_KEYS", "want 32"},
		{map[string]string{"TETHER_PRUNE_SCHEDULE": "daily"}, "TETHER_PRUNE_SCHEDULE", "cron"},
		{map[string]string{"TETHER_PERMISSIONS_SCHEDULE": "@every day"}, "TETHER_PERMISSIONS_SCHEDULE", "cron"},
		{map[string]string{"TETHER_SALESFORCE_USAGE_WARN_SHARE": "80%"}, "TETHER_SALESFORCE_USAGE_WARN_SHARE", "not a number"},
		{map[string]string{"TETHER_SALESFORCE_USAGE_WARN_SHARE": "0"}, "TETHER_SALESFORCE_USAGE_WARN_SHARE", "above 0 and at most 1"},
		{map[string]string{"TETHER_SALESFORCE_USAGE_WARN_SHARE": "80"}, "TETHER_SALESFORCE_USAGE_WARN_SHARE", "above 0 and at most 1"},
		{map[string]string{"TETHER_SALESFORCE_USAGE_WARN_SHARE": "NaN"}, "TETHER_SALESFORCE_USAGE_WARN_SHARE", "above 0 and at most 1"},
		{map[string]string{"TETHER_LOG_LEVEL": "loud"}, "TETHER_LOG_LEVEL", "not one of"},
		{map[string]string{"TETHER_HTTP_ADDR": "8080"}, "TETHER_HTTP_ADDR", "listen address"},
		{map[string]string{"TETHER_HTTP_IDLE_TIMEOUT": "0s"}, "TETHER_HTTP_IDLE_TIMEOUT", "between 100ms and 1h"},
		{map[string]string{"TETHER_HTTP_READ_TIMEOUT": "-1s"}, "TETHER_HTTP_READ_TIMEOUT", "between 100ms and 1h"},
		{map[string]string{"TETHER_HTTP_WRITE_TIMEOUT": "48h"}, "TETHER_HTTP_WRITE_TIMEOUT", "between 100ms and 1h"},
		{map[string]string{"TETHER_HTTP_READ_HEADER_TIMEOUT": "1m", "TETHER_HTTP_READ_TIMEOUT": "30s"}, "TETHER_HTTP_READ_HEADER_TIMEOUT", "must not exceed TETHER_HTTP_READ_TIMEOUT"},
		{map[string]string{"TETHER_HTTP_MAX_UNAUTHENTICATED": "0"}, "TETHER_HTTP_MAX_UNAUTHENTICATED", "between 1 and 100000"},
		{map[string]string{"TETHER_GOOGLE_TOKEN_URL": "/token"}, "TETHER_GOOGLE_TOKEN_URL", "absolute http(s) URL"},
		{map[string]string{"TETHER_SMTP_URL": "mail.example.com"}, "TETHER_SMTP_URL", "not an SMTP URL"},
		{map[string]string{"TETHER_MAIL_FROM": "nobody"}, "TETHER_MAIL_FROM", "not a mail address"},
		{map[string]string{"TETHER_MAILER": "file"}, "TETHER_MAILER", "not one of smtp, dir, log"},
		{map[string]string{"TETHER_MAILER": "dir"}, "TETHER_MAIL_DIR", "TETHER_MAILER=dir writes each email into it"},
		{map[string]string{"TETHER_INVITE_TTL": "0s"}, "TETHER_INVITE_TTL", "must be at least 1m"},
		{map[string]string{"TETHER_INVITE_TTL": "-72h"}, "TETHER_INVITE_TTL", "must be at least 1m"},
		{map[string]string{"TETHER_CONNECT_LINK_TTL": "-1m"}, "TETHER_CONNECT_LINK_TTL", "must be at least 1m"},
		{map[string]string{"TETHER_TEAM_LINK_TTL": "0s"}, "TETHER_TEAM_LINK_TTL", "must be at least 1m"},
		{map[string]string{"TETHER_TEAM_LINK_TTL": "25h"}, "TETHER_TEAM_LINK_TTL", "longer than a team link may live: at most 24h"},
		{map[string]string{"TETHER_CONNECT_LINK_TTL": "900h"}, "TETHER_CONNECT_LINK_TTL", "longer than a member's link may live: at most 720h"},
		{map[string]string{"TETHER_SHUTDOWN_TIMEOUT": "-5s"}, "TETHER_SHUTDOWN_TIMEOUT", "must be positive"},
	}
	for _, tt := range tests {
		t.Run(tt.varName+"="+fmt.Sprint(tt.env[tt.varName]), func(t *testing.T) {
			_, err := Load(getenv(tt.env), nil)
			if err == nil {
				t.Fatalf("Load accepted %v", tt.env)
			}
			var fe *FieldError
			if !errors.As(err, &fe) {
				t.Fatalf("error %v is not a *FieldError", err)
			}
			msg := err.Error()
			for _, want := range []string{tt.varName + ":", tt.problem, "example: " + tt.varName + "="} {
				if !strings.Contains(msg, want) {
					t.Errorf("error %q does not contain %q", msg, want)
				}
			}
		})
	}
}

func TestAllProblemsReportedAtOnce(t *testing.T) {
	t.Parallel()
	_, err := Load(getenv(map[string]string{"TETHER_LOG_LEVEL": "loud", "TETHER_LOG_FORMAT": "xml"}), nil)
	if err == nil || !strings.Contains(err.Error(), "TETHER_LOG_LEVEL") || !strings.Contains(err.Error(), "TETHER_LOG_FORMAT") {
		t.Fatalf("want both variables named, got %v", err)
	}
}

func TestSecretsNeverPrinted(t *testing.T) {
	t.Parallel()
	const pw = "hunter2-very-secret"
	cfg, err := Load(getenv(map[string]string{
		"TETHER_ADMIN_PASSWORD":           pw,
		"TETHER_SALESFORCE_CLIENT_SECRET": pw,
		"TETHER_REDIS_URL":                "redis://:" + pw + "@localhost:6379/0",
	}), nil)
	if err != nil {
		t.Fatal(err)
	}
	js, err := json.Marshal(cfg)
	if err != nil {
		t.Fatal(err)
	}
	for _, out := range []string{fmt.Sprint(cfg), fmt.Sprintf("%+v", cfg), fmt.Sprintf("%#v", cfg), string(js)} {
		if strings.Contains(out, pw) {
			t.Errorf("secret printed in %q", out)
		}
	}
	if cfg.AdminPassword.Reveal() != pw {
		t.Errorf("Reveal lost the value")
	}
	// A bad secret's value is not echoed in the error either.
	_, err = Load(getenv(map[string]string{"TETHER_ENCRYPTION_KEYS": "k1:" + pw}), nil)
	if err == nil || strings.Contains(err.Error(), pw) {
		t.Errorf("bad key ring error = %v; want an error without the value", err)
	}
	_, err = Load(getenv(map[string]string{"TETHER_REDIS_URL": "redis://:" + pw + "@host:notaport"}), nil)
	if err == nil || strings.Contains(err.Error(), pw) {
		t.Errorf("bad Redis URL error = %v; want an error without the password", err)
	}
}

func TestRedisTopologies(t *testing.T) {
	t.Parallel()
	tests := []struct {
		url  string
		want string // type of asynq.RedisConnOpt
	}{
		{"redis://localhost:6379/3", "asynq.RedisClientOpt"},
		{"rediss://:pw@redis.example:6380/0", "asynq.RedisClientOpt"},
		{"redis-sentinel://s1:26379,s2:26379?master=mymaster", "asynq.RedisFailoverClientOpt"},
		{"redis-cluster://:pw@n1:6379,n2:6379", "asynq.RedisClusterClientOpt"},
	}
	for _, tt := range tests {
		cfg := Config{RedisURL: Secret(tt.url)}
		opt, err := cfg.RedisConnOpt()
		if err != nil {
			t.Errorf("%s: %v", tt.url, err)
			continue
		}
		if got := fmt.Sprintf("%T", opt); got != tt.want {
			t.Errorf("%s: got %s, want %s", tt.url, got, tt.want)
		}
	}
}

// A Redis on the same host through its Unix socket: the path, the database and the
// password reach the client; a path written after two slashes is refused with the form.
func TestRedisSocketURL(t *testing.T) {
	t.Parallel()
	opt, err := Config{RedisURL: Secret("redis-socket://:s3cret@/run/redis/redis.sock?db=4")}.RedisConnOpt()
	if err != nil {
		t.Fatal(err)
	}
	o, ok := opt.(asynq.RedisClientOpt)
	if !ok || o.Network != "unix" || o.Addr != "/run/redis/redis.sock" || o.DB != 4 || o.Password != "s3cret" {
		t.Fatalf("RedisConnOpt = %#v, want unix /run/redis/redis.sock DB 4 with the password", opt)
	}
	for _, raw := range []string{"redis-socket://run/redis/redis.sock", "redis-socket://redis.sock"} {
		_, err := Config{RedisURL: Secret(raw)}.RedisConnOpt()
		if err == nil || !strings.Contains(err.Error(), "redis-socket:///run/redis/redis.sock") {
			t.Errorf("%s: %v, want a refusal showing the three slashes", raw, err)
		}
	}
	_, err = Load(getenv(map[string]string{"TETHER_REDIS_URL": "redis-socket://redis.sock"}), nil)
	if err == nil || !strings.Contains(err.Error(), "TETHER_REDIS_URL") || !strings.Contains(err.Error(), "three slashes") {
		t.Errorf("Load: %v, want TETHER_REDIS_URL named with the form", err)
	}
}

var update = flag.Bool("update", false, "rewrite ../.env.example from the Config tags")

// .env.example must document every variable, with its default when it has one.
func TestEnvExampleDocumentsEveryVariable(t *testing.T) {
	t.Parallel()
	if *update {
		if err := os.WriteFile("../.env.example", []byte(EnvExample()), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	b, err := os.ReadFile("../.env.example")
	if err != nil {
		t.Fatal(err)
	}
	text := string(b)
	if text != EnvExample() {
		t.Errorf(".env.example is stale: run go test ./config -update")
	}
	for _, v := range Vars() {
		if !strings.Contains(text, v.Name+"=") {
			t.Errorf(".env.example does not mention %s", v.Name)
		}
		if v.Example == "" || v.Doc == "" {
			t.Errorf("%s has no example or doc tag", v.Name)
		}
	}
	// Every example must itself pass validation.
	ex := map[string]string{}
	for _, v := range Vars() {
		ex[v.Name] = v.Example
	}
	if _, err := Load(getenv(ex), nil); err != nil {
		t.Errorf("the examples do not validate: %v", err)
	}
}

// README.md's configuration table must name every variable.
func TestReadmeListsEveryVariable(t *testing.T) {
	t.Parallel()
	b, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range Vars() {
		if !strings.Contains(string(b), "`"+v.Name+"`") {
			t.Errorf("README.md's configuration table lacks %s", v.Name)
		}
	}
}

// Unset, worker and scheduler listen on different ports so one of each runs on a host as
// documented; a value set applies to both, and off stays off.
func TestMetricsListenAddrDefaults(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		env, process, want string
	}{
		{"", "worker", ":9090"},
		{"", "scheduler", ":9091"},
		{"127.0.0.1:9200", "scheduler", "127.0.0.1:9200"},
		{"off", "worker", "off"},
	} {
		cfg, err := Load(getenv(map[string]string{"TETHER_METRICS_ADDR": tt.env}), nil)
		if err != nil {
			t.Fatal(err)
		}
		if got := cfg.MetricsListenAddr(tt.process); got != tt.want {
			t.Errorf("TETHER_METRICS_ADDR=%q: %s listens on %q, want %q", tt.env, tt.process, got, tt.want)
		}
	}
}
