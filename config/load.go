package config

import (
	"errors"
	"fmt"
	"net"
	"reflect"
	"strings"

	"github.com/caarlos0/env/v11"
	"github.com/spf13/pflag"
)

// Var describes one configuration variable, for documentation and error messages.
type Var struct {
	Name    string // full variable name, TETHER_...
	Field   string // Config field name
	Default string // "" when none
	Example string
	Doc     string
	Secret  bool
	Flag    string // command-line flag overriding it, "" when none
}

// flags maps the flags BindFlags registers to the variables they override. Only settings
// people change per run get a flag; everything else is environment only.
var flagVars = []struct{ flag, field, usage string }{
	{"database-url", "DatabaseURL", "store `URL`: postgres://... or sqlite:PATH (overrides TETHER_DATABASE_URL)"},
	{"redis-url", "RedisURL", "Redis `URL` (overrides TETHER_REDIS_URL)"},
	{"http-addr", "HTTPAddr", "serve listen `HOST:PORT` (overrides TETHER_HTTP_ADDR)"},
	{"metrics-addr", "MetricsAddr", "worker/scheduler probe and metrics listen `HOST:PORT`, or off (overrides TETHER_METRICS_ADDR; unset: worker :9090, scheduler :9091)"},
	{"concurrency", "WorkerConcurrency", "`N` tasks a worker runs at once (overrides TETHER_WORKER_CONCURRENCY)"},
	{"queues", "WorkerQueues", "`LIST` of queues a worker serves, each name or name=weight, such as connections or critical=6,connections=4 (overrides TETHER_WORKER_QUEUES; unset: all four)"},
	{"shutdown-timeout", "ShutdownTimeout", "grace period for in-flight tasks on SIGTERM, a `duration` such as 25s (overrides TETHER_SHUTDOWN_TIMEOUT)"},
	{"log-level", "LogLevel", "`level`: debug, info, warn or error (overrides TETHER_LOG_LEVEL)"},
	{"log-format", "LogFormat", "`format`: json or console (overrides TETHER_LOG_FORMAT)"},
}

// Vars lists every variable Config reads, in declaration order.
func Vars() []Var {
	t := reflect.TypeOf(Config{})
	flagOf := map[string]string{}
	for _, f := range flagVars {
		flagOf[f.field] = f.flag
	}
	vars := make([]Var, 0, t.NumField())
	for i := range t.NumField() {
		f := t.Field(i)
		name, ok := f.Tag.Lookup("env")
		if !ok {
			continue
		}
		vars = append(vars, Var{
			Name:    Prefix + name,
			Field:   f.Name,
			Default: f.Tag.Get("envDefault"),
			Example: f.Tag.Get("example"),
			Doc:     f.Tag.Get("doc"),
			Secret:  f.Type == reflect.TypeOf(Secret("")),
			Flag:    flagOf[f.Name],
		})
	}
	return vars
}

// BindFlags registers the configuration flags on fs (typically a command's persistent
// flags). Load gives a flag that was set precedence over its variable.
func BindFlags(fs *pflag.FlagSet) {
	for _, f := range flagVars {
		fs.String(f.flag, "", f.usage)
	}
}

// Load reads the configuration from getenv and from the flags of fs that were set (fs may
// be nil), applies defaults and validates it. The error, when not nil, lists every bad
// variable (errors.As to *FieldError for each).
func Load(getenv func(string) string, fs *pflag.FlagSet) (Config, error) {
	vars := Vars()
	environ := make(map[string]string, len(vars))
	byField := make(map[string]Var, len(vars))
	for _, v := range vars {
		byField[v.Field] = v
		if val := getenv(v.Name); val != "" {
			environ[v.Name] = val
		}
	}
	fromFlag := map[string]string{} // variable -> the flag that set it
	if fs != nil {
		for _, f := range flagVars {
			if fl := fs.Lookup(f.flag); fl != nil && fl.Changed {
				environ[byField[f.field].Name] = fl.Value.String()
				fromFlag[byField[f.field].Name] = f.flag
			}
		}
	}

	var cfg Config
	if err := env.ParseWithOptions(&cfg, env.Options{Environment: environ, Prefix: Prefix}); err != nil {
		return Config{}, nameFlags(parseErrors(err, byField, environ), fromFlag)
	}
	if _, set := environ[Prefix+"PUBLIC_URL"]; !set {
		cfg.PublicURL = publicURLOf(cfg.HTTPAddr, cfg.PublicURL)
	}
	cfg.fromFlag = fromFlag
	if err := cfg.Validate(); err != nil {
		return Config{}, nameFlags(err, fromFlag)
	}
	return cfg, nil
}

// publicURLOf is the link base when TETHER_PUBLIC_URL is unset: serve on this machine at
// its listen port, so links printed by the CLI or mailed by the worker open where serve
// listens when only TETHER_HTTP_ADDR was changed. fallback is kept for an address that
// does not parse (Validate names it).
func publicURLOf(httpAddr, fallback string) string {
	host, port, err := net.SplitHostPort(httpAddr)
	if err != nil || port == "" {
		return fallback
	}
	if ip := net.ParseIP(host); host == "" || (ip != nil && ip.IsUnspecified()) {
		host = "localhost"
	}
	return "http://" + net.JoinHostPort(host, port)
}

// nameFlags marks each FieldError of err whose value came from a flag, so its message
// names the flag the person typed.
func nameFlags(err error, fromFlag map[string]string) error {
	var fe *FieldError
	if errors.As(err, &fe) {
		fe.Flag = fromFlag[fe.Var]
	}
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		for _, e := range j.Unwrap() {
			nameFlags(e, fromFlag)
		}
	}
	return err
}

// parseErrors turns the env parser's errors (which name the struct field) into FieldErrors
// (which name the variable).
func parseErrors(err error, byField map[string]Var, environ map[string]string) error {
	var agg env.AggregateError
	if !errors.As(err, &agg) {
		return fmt.Errorf("load config: %w", err)
	}
	var out []error
	for _, e := range agg.Errors {
		var pe env.ParseError
		if !errors.As(e, &pe) {
			out = append(out, fmt.Errorf("load config: %w", e))
			continue
		}
		v, ok := byField[pe.Name]
		if !ok {
			out = append(out, fmt.Errorf("load config: %w", e))
			continue
		}
		out = append(out, fieldError(v, environ[v.Name], problemFor(pe)))
	}
	return errors.Join(out...)
}

func problemFor(pe env.ParseError) string {
	switch pe.Type.String() {
	case "int":
		return "is not a whole number"
	case "float64":
		return "is not a number (a decimal like 0.8)"
	case "time.Duration":
		return "is not a duration (a number with a unit: ms, s, m or h)"
	default:
		return "cannot be parsed: " + strings.TrimPrefix(pe.Err.Error(), "env: ")
	}
}

// FieldError is one bad configuration value. Its message names the variable, says what is
// wrong and shows an example of a good value; a secret's value is never echoed.
type FieldError struct {
	Var     string // TETHER_...
	Flag    string // the flag that set the value ("redis-url"), "" when it came from Var
	Value   string // as given; [redacted] for secrets
	Problem string // "is not a Redis URL (want redis://...)"
	Example string
}

func (e *FieldError) Error() string {
	var b strings.Builder
	if e.Flag != "" {
		fmt.Fprintf(&b, "--%s (%s): ", e.Flag, e.Var)
	} else {
		b.WriteString(e.Var)
		b.WriteString(": ")
	}
	if e.Value != "" {
		fmt.Fprintf(&b, "%q ", e.Value)
	}
	b.WriteString(e.Problem)
	switch {
	case e.Example != "" && e.Flag != "":
		fmt.Fprintf(&b, "; example: --%s=%s", e.Flag, e.Example)
	case e.Example != "":
		fmt.Fprintf(&b, "; example: %s=%s", e.Var, e.Example)
	}
	return b.String()
}

func fieldError(v Var, value, problem string) *FieldError {
	if v.Secret && value != "" {
		value = redacted
	}
	return &FieldError{Var: v.Name, Value: value, Problem: problem, Example: v.Example}
}

// varOf returns the Var of a Config field; it panics on a typo, which tests catch.
func varOf(field string) Var {
	for _, v := range Vars() {
		if v.Field == field {
			return v
		}
	}
	panic("config: no field " + field)
}
