package main

import (
	"encoding/json"
	"net"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.yaml.in/yaml/v3"

	"tether/worker"
)

// The dashboard and the compose file live at fixed places in the repository.
const (
	dashboardFile = "../../worker/grafana/tether.json"
	composeFile   = "../../docker-compose.yml"
)

// dashboard is the part of a Grafana dashboard these tests read.
type dashboard struct {
	Panels []dashboardPanel `json:"panels"`
}

type dashboardPanel struct {
	Title      string               `json:"title"`
	Datasource struct{ UID string } `json:"datasource"`
	Targets    []struct {
		Expr string `json:"expr"`
	} `json:"targets"`
	Panels []dashboardPanel `json:"panels"` // a collapsed row's
}

func readDashboard(t *testing.T) dashboard {
	t.Helper()
	data, err := os.ReadFile(dashboardFile)
	if err != nil {
		t.Fatal(err)
	}
	var d dashboard
	if err := json.Unmarshal(data, &d); err != nil {
		t.Fatalf("%s is not valid JSON: %v", dashboardFile, err)
	}
	return d
}

// panels returns every panel, rows' included.
func (d dashboard) panels() []dashboardPanel {
	var out []dashboardPanel
	var walk func([]dashboardPanel)
	walk = func(ps []dashboardPanel) {
		for _, p := range ps {
			out = append(out, p)
			walk(p.Panels)
		}
	}
	walk(d.Panels)
	return out
}

var (
	promString   = regexp.MustCompile(`"(?:[^"\\]|\\.)*"`)
	promMatchers = regexp.MustCompile(`\{[^}]*\}`)
	promRange    = regexp.MustCompile(`\[[^\]]*\]`)
	promGrouping = regexp.MustCompile(`\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)`)
	promIdent    = regexp.MustCompile(`[a-zA-Z_:][a-zA-Z0-9_:]*`)
	promKeywords = []string{"and", "or", "unless", "bool", "offset", "by", "without", "on", "ignoring", "group_left", "group_right"}
	descName     = regexp.MustCompile(`fqName: "([^"]+)"`)
)

// queriedMetrics returns the metric names a PromQL expression reads: identifiers left once
// strings, label matchers, ranges and groupings are removed, that are neither functions
// nor keywords.
func queriedMetrics(expr string) []string {
	e := promString.ReplaceAllString(expr, `""`)
	e = promMatchers.ReplaceAllString(e, " ")
	e = promRange.ReplaceAllString(e, " ")
	e = promGrouping.ReplaceAllString(e, " ")
	var out []string
	for _, loc := range promIdent.FindAllStringIndex(e, -1) {
		name := e[loc[0]:loc[1]]
		if loc[0] > 0 && (e[loc[0]-1] == '.' || (e[loc[0]-1] >= '0' && e[loc[0]-1] <= '9')) {
			continue // part of a number (1e3, 0.5)
		}
		if rest := strings.TrimLeft(e[loc[1]:], " "); strings.HasPrefix(rest, "(") || slices.Contains(promKeywords, name) {
			continue
		}
		out = append(out, name)
	}
	return out
}

// registered returns the names of every metric family reg can export: those its
// collectors describe, whether or not they have a sample yet, and those it gathers now
// (a collector that described nothing when registered, as Asynq's queue collector before
// any queue exists, is only seen there).
func registered(t *testing.T, reg *prometheus.Registry) map[string]bool {
	t.Helper()
	ch := make(chan *prometheus.Desc)
	go func() { reg.Describe(ch); close(ch) }()
	names := map[string]bool{}
	for d := range ch {
		m := descName.FindStringSubmatch(d.String())
		if m == nil {
			t.Fatalf("cannot read the name of %s", d)
		}
		names[m[1]] = true
	}
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		names[mf.GetName()] = true
	}
	return names
}

// Every metric the dashboard queries is one tether registers (tether all registers the
// union of worker, scheduler and serve), and every connection upkeep metric is graphed.
func TestDashboardQueriesRegisteredMetrics(t *testing.T) {
	_, apps := startAll(t)
	if len(apps) != 1 {
		t.Fatalf("tether all created %d apps, want 1", len(apps))
	}
	// Asynq's queue collector describes its metrics only once a queue exists in Redis: queue
	// a reconcile run, as POST /v1/reconcile does.
	if _, err := worker.ReconcileNow(t.Context(), apps[0].queueClient(), time.Now()); err != nil {
		t.Fatal(err)
	}
	var names map[string]bool
	for deadline := time.Now().Add(15 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		if names = registered(t, apps[0].d.reg); names["asynq_queue_size"] || time.Now().After(deadline) {
			break
		}
	}
	d := readDashboard(t)
	queried := map[string]bool{}
	for _, p := range d.panels() {
		for _, tg := range p.Targets {
			ms := queriedMetrics(tg.Expr)
			if len(ms) == 0 {
				t.Errorf("panel %q: no metric found in %q", p.Title, tg.Expr)
			}
			for _, m := range ms {
				base := m
				for _, suffix := range []string{"_bucket", "_sum", "_count"} {
					if b, ok := strings.CutSuffix(m, suffix); ok && names[b] {
						base = b
					}
				}
				if !names[base] {
					t.Errorf("panel %q queries %s, which tether does not register", p.Title, m)
				}
				queried[base] = true
			}
		}
	}
	for name := range names {
		if strings.HasPrefix(name, "tether_connection") && !queried[name] {
			t.Errorf("%s is registered but on no panel of %s", name, dashboardFile)
		}
	}
	if len(queried) == 0 {
		t.Fatal("the dashboard queries nothing")
	}
}

// yamlMap reads key of m as a map, failing the test when it is not one.
func yamlMap(t *testing.T, m map[string]any, key string) map[string]any {
	t.Helper()
	v, ok := m[key].(map[string]any)
	if !ok {
		t.Fatalf("%s: %q is %T, want a mapping", composeFile, key, m[key])
	}
	return v
}

func yamlList(t *testing.T, m map[string]any, key string) []any {
	t.Helper()
	v, ok := m[key].([]any)
	if !ok {
		t.Fatalf("%s: %q is %T, want a list", composeFile, key, m[key])
	}
	return v
}

// port is the port of a Go listen address (":9090") or host:port.
func port(t *testing.T, addr string) string {
	t.Helper()
	_, p, err := net.SplitHostPort(addr)
	if err != nil {
		t.Fatalf("address %q: %v", addr, err)
	}
	return p
}

// composeConfig parses the content of the compose file's inline config name.
func composeConfig(t *testing.T, configs map[string]any, name string) map[string]any {
	t.Helper()
	content, ok := yamlMap(t, configs, name)["content"].(string)
	if !ok {
		t.Fatalf("%s: config %s has no inline content", composeFile, name)
	}
	var out map[string]any
	if err := yaml.Unmarshal([]byte(content), &out); err != nil {
		t.Fatalf("%s: config %s is not valid YAML: %v", composeFile, name, err)
	}
	return out
}

// docker-compose.yml runs Prometheus scraping serve, every worker and every scheduler on
// the addresses they listen on, and Grafana provisioned with that Prometheus and the
// dashboard file. (There is no Docker engine in CI: this reads the file as Compose does.)
func TestComposeProvisionsMonitoring(t *testing.T) {
	data, err := os.ReadFile(composeFile)
	if err != nil {
		t.Fatal(err)
	}
	var compose map[string]any
	if err := yaml.Unmarshal(data, &compose); err != nil {
		t.Fatalf("%s is not valid YAML: %v", composeFile, err)
	}
	services := yamlMap(t, compose, "services")
	configs := yamlMap(t, compose, "configs")
	env := func(service, name string) string {
		t.Helper()
		v, _ := yamlMap(t, yamlMap(t, services, service), "environment")[name].(string)
		if v == "" {
			t.Fatalf("%s: service %s does not set %s", composeFile, service, name)
		}
		return v
	}
	// Every config a service mounts is defined.
	for name, s := range services {
		cs, _ := s.(map[string]any)["configs"].([]any)
		for _, c := range cs {
			src, _ := c.(map[string]any)["source"].(string)
			if _, ok := configs[src]; !ok {
				t.Errorf("%s: service %s mounts config %q, which is not defined", composeFile, name, src)
			}
		}
	}

	// Prometheus scrapes each tether process where it serves /metrics.
	want := map[string]string{
		"serve":     port(t, env("serve", "TETHER_HTTP_ADDR")),
		"worker":    port(t, env("worker", "TETHER_METRICS_ADDR")),
		"scheduler": port(t, env("scheduler", "TETHER_METRICS_ADDR")),
	}
	prom := composeConfig(t, configs, "prometheus")
	scraped := map[string]string{}
	for _, sc := range yamlList(t, prom, "scrape_configs") {
		sc := sc.(map[string]any)
		if mp, ok := sc["metrics_path"]; ok && mp != "/metrics" {
			t.Errorf("scrape job %v reads %v, not /metrics", sc["job_name"], mp)
		}
		for _, st := range asList(sc["static_configs"]) {
			for _, target := range asList(st.(map[string]any)["targets"]) {
				host, p, err := net.SplitHostPort(target.(string))
				if err != nil {
					t.Fatalf("scrape target %v: %v", target, err)
				}
				scraped[host] = p
			}
		}
		for _, dns := range asList(sc["dns_sd_configs"]) {
			dns := dns.(map[string]any)
			for _, n := range asList(dns["names"]) {
				p, _ := dns["port"].(int)
				scraped[n.(string)] = strconv.Itoa(p)
			}
		}
	}
	for service, p := range want {
		if _, ok := services[service]; !ok {
			t.Fatalf("%s has no service %s", composeFile, service)
		}
		if scraped[service] != p {
			t.Errorf("Prometheus scrapes %s on port %q, want %s (where it serves /metrics)", service, scraped[service], p)
		}
	}
	promSvc := yamlMap(t, services, "prometheus")
	if !slices.ContainsFunc(asList(promSvc["configs"]), func(c any) bool {
		return c.(map[string]any)["source"] == "prometheus" && c.(map[string]any)["target"] == "/etc/prometheus/prometheus.yml"
	}) {
		t.Error("the prometheus service does not mount its config at /etc/prometheus/prometheus.yml")
	}

	// Grafana: the data source is that Prometheus, and the dashboard file is mounted where
	// the dashboard provider reads.
	grafana := yamlMap(t, services, "grafana")
	ds := yamlList(t, composeConfig(t, configs, "grafana-datasource"), "datasources")[0].(map[string]any)
	if ds["type"] != "prometheus" || ds["url"] != "http://prometheus:9090" {
		t.Errorf("Grafana's data source is %v at %v, want prometheus at http://prometheus:9090", ds["type"], ds["url"])
	}
	for _, p := range readDashboard(t).panels() {
		if len(p.Targets) > 0 && p.Datasource.UID != ds["uid"] {
			t.Errorf("panel %q uses data source %q, not the provisioned %v", p.Title, p.Datasource.UID, ds["uid"])
		}
	}
	provider := yamlList(t, composeConfig(t, configs, "grafana-dashboards"), "providers")[0].(map[string]any)
	dir, _ := provider["options"].(map[string]any)["path"].(string)
	mounted := false
	for _, v := range asList(grafana["volumes"]) {
		src, dst, _ := strings.Cut(strings.TrimSuffix(v.(string), ":ro"), ":")
		if filepath.Clean(filepath.Join("../..", src)) == filepath.Clean(dashboardFile) {
			mounted = path.Dir(dst) == dir
		}
	}
	if !mounted {
		t.Errorf("grafana does not mount %s into the provider's folder %s", dashboardFile, dir)
	}
}

func asList(v any) []any { l, _ := v.([]any); return l }
