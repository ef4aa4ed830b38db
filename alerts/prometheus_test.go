package alerts_test

// Tests of the Prometheus rules for Alertmanager users in alerts/prometheus/: promtool checks
// and unit tests, that every rule has a firing and a quiet test case and a runbook section, the
// example Alertmanager configuration (amtool), and the rules evaluated by a real Prometheus over
// what the real exporter emits.

import (
	"bytes"
	"context"
	"fmt"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"
	"go.uber.org/goleak"
	"gopkg.in/yaml.v3"

	"github.com/aikwatch/aikwatch/exporter"
	"github.com/aikwatch/aikwatch/internal/state"
	"github.com/aikwatch/aikwatch/internal/testutil"
	"github.com/aikwatch/aikwatch/probes"
	"github.com/aikwatch/aikwatch/trustlist"
)

// The files under test, relative to the repository root.
const (
	promRulesFile   = "alerts/prometheus/aikwatch-rules.yml"
	promTestsFile   = "alerts/prometheus/aikwatch-rules.test.yml"
	promAMExample   = "alerts/prometheus/alertmanager.example.yml"
	promRunbookFile = "docs/runbook.md"
	promRunbookURL  = "https://github.com/aikwatch/aikwatch/blob/main/docs/runbook.md#"
)

// promPath returns the absolute path of a repository file.
func promPath(rel string) string {
	return filepath.Join(testutil.RepoRoot(), filepath.FromSlash(rel))
}

// promRun runs a tool with a deadline and returns its combined output.
func promRun(t *testing.T, dir, bin string, args ...string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	if ctx.Err() != nil {
		return string(out), fmt.Errorf("%s %s: %w", filepath.Base(bin), strings.Join(args, " "), ctx.Err())
	}
	return string(out), err
}

func TestPrometheusRulesCheck(t *testing.T) {
	promtool := testutil.RequireTool(t, "promtool")
	out, err := promRun(t, testutil.RepoRoot(), promtool, "check", "rules", promRulesFile)
	if err != nil {
		t.Fatalf("promtool check rules %s: %v\n%s", promRulesFile, err, out)
	}
	if !strings.Contains(out, "SUCCESS") {
		t.Errorf("promtool check rules did not report SUCCESS:\n%s", out)
	}
}

func TestPrometheusRulesUnitTests(t *testing.T) {
	promtool := testutil.RequireTool(t, "promtool")
	// promtool resolves rule_files relative to the test file's directory.
	dir := filepath.Dir(promPath(promTestsFile))
	out, err := promRun(t, dir, promtool, "test", "rules", filepath.Base(promTestsFile))
	if err != nil {
		t.Fatalf("promtool test rules %s: %v\n%s", promTestsFile, err, out)
	}
	if !strings.Contains(out, "SUCCESS") {
		t.Errorf("promtool test rules did not report SUCCESS:\n%s", out)
	}
}

// promRuleFile is the part of a Prometheus rule file the checks read.
type promRuleFile struct {
	Groups []struct {
		Name  string `yaml:"name"`
		Rules []struct {
			Alert       string            `yaml:"alert"`
			Record      string            `yaml:"record"`
			Expr        string            `yaml:"expr"`
			Labels      map[string]string `yaml:"labels"`
			Annotations map[string]string `yaml:"annotations"`
		} `yaml:"rules"`
	} `yaml:"groups"`
}

// promRule is one rule of the rule file, where it is.
type promRule struct {
	group, alert, record string
	index                int // in its group
	labels, annotations  map[string]string
}

func (r promRule) String() string {
	name := r.alert
	if name == "" {
		name = r.record
	}
	return fmt.Sprintf("%s (group %s, rule %d)", name, r.group, r.index+1)
}

// staticLabels are the labels of r whose value is not a template.
func (r promRule) staticLabels() map[string]string {
	out := map[string]string{}
	for k, v := range r.labels {
		if !strings.Contains(v, "{{") {
			out[k] = v
		}
	}
	return out
}

// severities are the severities r can give its alerts: its static severity, or the ones its
// severity template can produce.
func (r promRule) severities() []string {
	s := r.labels["severity"]
	if !strings.Contains(s, "{{") {
		return []string{s}
	}
	var out []string
	for _, sev := range []string{"critical", "warning", "info"} {
		if strings.Contains(s, "}}"+sev+"{{") {
			out = append(out, sev)
		}
	}
	return out
}

// promTestFile is the part of a promtool unit-test file the checks read.
type promTestFile struct {
	RuleFiles []string `yaml:"rule_files"`
	Tests     []struct {
		Name          string `yaml:"name"`
		AlertRuleTest []struct {
			EvalTime  string `yaml:"eval_time"`
			Alertname string `yaml:"alertname"`
			ExpAlerts []struct {
				ExpLabels      map[string]string `yaml:"exp_labels"`
				ExpAnnotations map[string]string `yaml:"exp_annotations"`
			} `yaml:"exp_alerts"`
		} `yaml:"alert_rule_test"`
		PromQLExprTest []struct {
			Expr       string `yaml:"expr"`
			ExpSamples []struct {
				Labels string `yaml:"labels"`
			} `yaml:"exp_samples"`
		} `yaml:"promql_expr_test"`
	} `yaml:"tests"`
}

// promLoadYAML decodes a YAML file of the repository into v (keys v does not name are ignored).
func promLoadYAML(t *testing.T, rel string, v any) {
	t.Helper()
	b, err := os.ReadFile(promPath(rel))
	if err != nil {
		t.Fatal(err)
	}
	dec := yaml.NewDecoder(bytes.NewReader(b))
	if err := dec.Decode(v); err != nil {
		t.Fatalf("%s: %v", rel, err)
	}
}

// promLoadRules returns every rule of the rule file.
func promLoadRules(t *testing.T) []promRule {
	t.Helper()
	var f promRuleFile
	promLoadYAML(t, promRulesFile, &f)
	var out []promRule
	for _, g := range f.Groups {
		for i, r := range g.Rules {
			out = append(out, promRule{group: g.Name, alert: r.Alert, record: r.Record, index: i,
				labels: r.Labels, annotations: r.Annotations})
		}
	}
	if len(out) == 0 {
		t.Fatalf("%s: no rules", promRulesFile)
	}
	return out
}

// Every alerting rule has a severity, a summary, a description and its runbook URL.
func TestPrometheusRulesLabelsAndAnnotations(t *testing.T) {
	for _, r := range promLoadRules(t) {
		if r.alert == "" {
			continue
		}
		if len(r.severities()) == 0 {
			t.Errorf("%s: severity label %q gives no severity among critical, warning, info", r, r.labels["severity"])
		}
		for _, a := range []string{"summary", "description"} {
			if strings.TrimSpace(r.annotations[a]) == "" {
				t.Errorf("%s: no %s annotation", r, a)
			}
		}
		if want := promRunbookURL + strings.ToLower(r.alert); r.annotations["runbook_url"] != want {
			t.Errorf("%s: runbook_url = %q, want %q", r, r.annotations["runbook_url"], want)
		}
	}
}

// Every alerting rule has a unit-test case where it fires (with every severity it can give,
// labels and annotations checked) and one where it does not; every recording rule has an
// expression test.
func TestPrometheusRulesEveryRuleTested(t *testing.T) {
	rules := promLoadRules(t)
	var tf promTestFile
	promLoadYAML(t, promTestsFile, &tf)
	if !slices.Contains(tf.RuleFiles, filepath.Base(promRulesFile)) {
		t.Errorf("%s: rule_files %v does not load %s", promTestsFile, tf.RuleFiles, filepath.Base(promRulesFile))
	}
	for _, r := range rules {
		if r.record != "" {
			tested := false
			for _, tc := range tf.Tests {
				for _, e := range tc.PromQLExprTest {
					if strings.Contains(e.Expr, r.record) && len(e.ExpSamples) > 0 {
						tested = true
					}
				}
			}
			if !tested {
				t.Errorf("%s: no promql_expr_test evaluates the recording rule with expected samples", r)
			}
			continue
		}
		static := r.staticLabels()
		firing := map[string]bool{} // severities seen firing
		quiet := false
		for _, tc := range tf.Tests {
			for _, c := range tc.AlertRuleTest {
				if c.Alertname != r.alert {
					continue
				}
				if len(c.ExpAlerts) == 0 {
					quiet = true
				}
			next:
				for _, a := range c.ExpAlerts {
					for k, v := range static {
						if a.ExpLabels[k] != v {
							continue next
						}
					}
					sev := a.ExpLabels["severity"]
					if !slices.Contains(r.severities(), sev) {
						continue
					}
					for _, k := range []string{"summary", "description", "runbook_url"} {
						if strings.TrimSpace(a.ExpAnnotations[k]) == "" {
							t.Errorf("%s: test %q at %s expects an alert without checking its %s annotation", r, tc.Name, c.EvalTime, k)
						}
					}
					firing[sev] = true
				}
			}
		}
		for _, sev := range r.severities() {
			if !firing[sev] {
				t.Errorf("%s: no test case where it fires with severity %s (and labels %v)", r, sev, static)
			}
		}
		if !quiet {
			t.Errorf("%s: no test case where it does not fire (exp_alerts: [])", r)
		}
	}
}

// promAnchor returns the anchor GitHub gives a Markdown heading.
func promAnchor(heading string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(strings.TrimSpace(heading)) {
		switch {
		case r == ' ':
			b.WriteRune('-')
		case r == '-' || r == '_' || r >= 'a' && r <= 'z' || r >= '0' && r <= '9':
			b.WriteRune(r)
		}
	}
	return b.String()
}

// Every alert has a section in the runbook whose anchor is its lower-case name.
func TestPrometheusRunbookHasEveryAlert(t *testing.T) {
	b, err := os.ReadFile(promPath(promRunbookFile))
	if err != nil {
		t.Fatal(err)
	}
	anchors := map[string]bool{}
	for _, m := range regexp.MustCompile(`(?m)^#{1,6}[ \t]+(.+?)[ \t]*#*[ \t]*$`).FindAllStringSubmatch(string(b), -1) {
		anchors[promAnchor(m[1])] = true
	}
	seen := map[string]bool{}
	for _, r := range promLoadRules(t) {
		if r.alert == "" || seen[r.alert] {
			continue
		}
		seen[r.alert] = true
		if !anchors[strings.ToLower(r.alert)] {
			t.Errorf("%s: no section with anchor #%s in %s", r, strings.ToLower(r.alert), promRunbookFile)
		}
	}
}

// promAMConfig is the part of an Alertmanager configuration the checks read.
type promAMConfig struct {
	Route        promAMRoute `yaml:"route"`
	InhibitRules []struct {
		SourceMatchers []string `yaml:"source_matchers"`
		TargetMatchers []string `yaml:"target_matchers"`
		Equal          []string `yaml:"equal"`
	} `yaml:"inhibit_rules"`
	Receivers []struct {
		Name         string `yaml:"name"`
		SlackConfigs []struct {
			APIURL     string `yaml:"api_url"`
			APIURLFile string `yaml:"api_url_file"`
		} `yaml:"slack_configs"`
	} `yaml:"receivers"`
}

type promAMRoute struct {
	GroupBy        []string      `yaml:"group_by"`
	RepeatInterval string        `yaml:"repeat_interval"`
	Matchers       []string      `yaml:"matchers"`
	Routes         []promAMRoute `yaml:"routes"`
}

// The example Alertmanager configuration is valid, sends to Slack through a secret file, groups
// by alert and vendor, and its inhibit rules name alerts that exist.
func TestPrometheusAlertmanagerExample(t *testing.T) {
	var c promAMConfig
	promLoadYAML(t, promAMExample, &c)
	if !slices.Equal(c.Route.GroupBy, []string{"alertname", "vendor"}) {
		t.Errorf("route.group_by = %v, want [alertname vendor]", c.Route.GroupBy)
	}
	if c.Route.RepeatInterval != "24h" {
		t.Errorf("route.repeat_interval = %q, want 24h", c.Route.RepeatInterval)
	}
	slack := 0
	for _, r := range c.Receivers {
		for _, s := range r.SlackConfigs {
			slack++
			if s.APIURL != "" || s.APIURLFile == "" {
				t.Errorf("receiver %s: the webhook URL must come from api_url_file, not api_url", r.Name)
			}
		}
	}
	if slack == 0 {
		t.Error("no slack_configs in the example")
	}
	alerts := map[string]bool{}
	for _, r := range promLoadRules(t) {
		if r.alert != "" {
			alerts[r.alert] = true
		}
	}
	name := regexp.MustCompile(`^alertname\s*=~?\s*"?([^"]+)"?$`)
	check := func(where string, matchers []string) {
		for _, m := range matchers {
			if sm := name.FindStringSubmatch(m); sm != nil {
				for _, a := range strings.Split(sm[1], "|") {
					if !alerts[a] {
						t.Errorf("%s: matcher %q names %q, which is not an alert of %s", where, m, a, promRulesFile)
					}
				}
			}
		}
	}
	if len(c.InhibitRules) == 0 {
		t.Error("no inhibit_rules in the example")
	}
	for i, ir := range c.InhibitRules {
		check(fmt.Sprintf("inhibit_rules[%d].source_matchers", i), ir.SourceMatchers)
		check(fmt.Sprintf("inhibit_rules[%d].target_matchers", i), ir.TargetMatchers)
	}
	var walk func(string, promAMRoute)
	walk = func(where string, r promAMRoute) {
		check(where+".matchers", r.Matchers)
		for i, sub := range r.Routes {
			walk(fmt.Sprintf("%s.routes[%d]", where, i), sub)
		}
	}
	walk("route", c.Route)

	amtool := testutil.RequireTool(t, "amtool")
	out, err := promRun(t, testutil.RepoRoot(), amtool, "check-config", promAMExample)
	if err != nil {
		t.Fatalf("amtool check-config %s: %v\n%s", promAMExample, err, out)
	}
	if !strings.Contains(out, "SUCCESS") {
		t.Errorf("amtool check-config did not report SUCCESS:\n%s", out)
	}
}

// A real Prometheus scrapes the real exporter (serving a state built from the Nov-2024 trust
// list) and evaluates the rules: every rule evaluates without error, and exactly the expected
// alerts fire, with their labels and templated annotations.
func TestPrometheusRulesOnExporterMetrics(t *testing.T) {
	testutil.RequireTool(t, "prometheus")
	leaks := goleak.IgnoreCurrent()
	st, fleet, hosts := promState(t)
	rules, err := os.ReadFile(promPath(promRulesFile))
	if err != nil {
		t.Fatal(err)
	}

	reg := exporter.NewRegistry(func() *state.State { return st }, exporter.CollectorOptions{Fleet: fleet, Version: "test"})
	srv := httptest.NewServer(promhttp.HandlerFor(reg, promhttp.HandlerOpts{ErrorHandling: promhttp.HTTPErrorOnError}))
	defer func() {
		srv.Close()
		goleak.VerifyNone(t, leaks)
	}()
	// Prometheus loads the rules, scrapes the exporter as job "aikwatch" and evaluates every second.
	rulesName := filepath.Base(promRulesFile)
	prom := testutil.StartPrometheus(t, testutil.PrometheusScrapeConfig("aikwatch", srv.Listener.Addr().String(), time.Second, rulesName),
		map[string]string{rulesName: string(rules)})
	defer prom.Stop()
	ctx := t.Context()

	type key struct{ alert, subject, severity, state string }
	want := []key{
		{"AIKEndpointWithdrawn", hosts.withdrawn, "critical", "firing"},
		{"AIKEndpointDown", hosts.down, "critical", "firing"},
		{"AIKEndpointThrottled", hosts.throttled, "warning", "firing"},
		{"AIKCAExpiring", hosts.expiring, "critical", "firing"},
		{"EKServiceDown", "qualcomm", "warning", "firing"},
	}
	sort.Slice(want, func(i, j int) bool { return fmt.Sprint(want[i]) < fmt.Sprint(want[j]) })

	// Wait (bounded) until every group has been evaluated after a successful scrape and the
	// firing alerts are the expected ones.
	var alerts []testutil.PromAlert
	var groups []testutil.PromRuleGroup
	prom.WaitFor(t, "evaluation of every rule with the expected alerts", 45*time.Second, func() (bool, string) {
		var errA, errR error
		alerts, errA = prom.Alerts(ctx)
		groups, errR = prom.Rules(ctx)
		var got []key
		for _, a := range alerts {
			subject := a.Labels["host"]
			if subject == "" {
				subject = a.Labels["service"]
			}
			got = append(got, key{a.Labels["alertname"], subject, a.Labels["severity"], a.State})
		}
		sort.Slice(got, func(i, j int) bool { return fmt.Sprint(got[i]) < fmt.Sprint(got[j]) })
		evaluated := errR == nil && len(groups) > 0
		for _, g := range groups {
			for _, r := range g.Rules {
				evaluated = evaluated && !r.LastEvaluation.IsZero() && r.LastEvaluation.After(prom.Started())
			}
		}
		return errA == nil && evaluated && slices.Equal(got, want),
			fmt.Sprintf("alerts %v (%v), want %v; rules evaluated: %v (%v)", got, errA, want, evaluated, errR)
	})

	for _, g := range groups {
		for _, r := range g.Rules {
			if r.Health != "ok" || r.LastError != "" {
				t.Errorf("group %s, rule %s: health %q, error %q", g.Name, r.Name, r.Health, r.LastError)
			}
		}
	}
	for _, a := range alerts {
		if a.Labels["alertname"] == "AIKEndpointDown" {
			if want := "AIK CA host " + hosts.down + " (" + hosts.downVendor + ") is failing: timeout"; a.Annotations["summary"] != want {
				t.Errorf("AIKEndpointDown summary = %q, want %q", a.Annotations["summary"], want)
			}
		}
		if a.Labels["alertname"] == "AIKEndpointWithdrawn" {
			if a.Labels["fleet"] != "true" || !strings.Contains(a.Annotations["description"], "although the trust list in force still has its AIK CA") {
				t.Errorf("AIKEndpointWithdrawn: labels %v, description %q", a.Labels, a.Annotations["description"])
			}
		}
	}
}

// promHosts names the hosts of the state promState builds that should alert.
type promHosts struct {
	withdrawn, down, throttled, expiring string
	downVendor                           string // the vendor code of down
}

// promState builds a daemon state from the Nov-2024 trust list at the current time: every host
// probed ok with an AIK CA valid for a year, except a withdrawn fleet host, a host timing out,
// a throttled host and a fleet host whose AIK CA expires in 3 days; the Qualcomm EK service
// failing; the EK CAs as checked now.
func promState(t *testing.T) (*state.State, state.Fleet, promHosts) {
	t.Helper()
	ctx := context.Background()
	snap, err := trustlist.Load(ctx, testutil.NovCab, trustlist.Options{})
	if err != nil {
		t.Fatalf("loading %s: %v", testutil.NovCab, err)
	}
	cab, err := os.ReadFile(testutil.NovCab)
	if err != nil {
		t.Fatal(err)
	}
	files, _, err := trustlist.ReadFiles(ctx, cab, filepath.Base(testutil.NovCab), trustlist.Options{})
	if err != nil {
		t.Fatalf("reading the members of %s: %v", testutil.NovCab, err)
	}
	if len(snap.AIKHosts) < 4 {
		t.Fatalf("%s: %d AIK hosts", testutil.NovCab, len(snap.AIKHosts))
	}
	now := time.Now().UTC()
	hs := promHosts{withdrawn: snap.AIKHosts[0].Host, down: snap.AIKHosts[1].Host,
		throttled: snap.AIKHosts[2].Host, expiring: snap.AIKHosts[3].Host, downVendor: snap.AIKHosts[1].Vendor}
	fleet := state.Fleet{Hosts: []string{hs.withdrawn, hs.expiring}}
	st := &state.State{
		Release:      snap,
		ReleaseSince: now.Add(-48 * time.Hour),
		Refresh: state.RefreshStatus{LastAttempt: now.Add(-5 * time.Minute), LastSuccess: now.Add(-5 * time.Minute),
			OK: true, NotModified: true, Source: trustlist.DefaultURL, NextScheduled: now.Add(time.Hour)},
		LastSweep: state.SweepStatus{Started: now.Add(-2 * time.Minute), Finished: now.Add(-90 * time.Second)},
		EKCAs:     probes.EKCACheck(snap, files, now, 0),
		EKCAsAt:   now.Add(-time.Hour),
	}
	// EK CAs expiring or recently expired would make time-dependent alerts (after their `for:`,
	// longer than this test); keep them out.
	for i := range st.EKCAs {
		if left := st.EKCAs[i].NotAfter.Sub(now); left > -60*24*time.Hour && left < 60*24*time.Hour {
			st.EKCAs[i].NotAfter = now.Add(365 * 24 * time.Hour)
		}
	}
	for _, h := range snap.AIKHosts {
		s := state.HostState{Host: h.Host, Vendor: h.Vendor, IDKind: h.IDKind, ID: h.ID, InTrustList: true,
			Fleet: fleet.HasHost(h.Host, h.Vendor), Status: probes.StatusOK, Since: now.Add(-72 * time.Hour), LastOK: now.Add(-100 * time.Second)}
		r := &probes.Result{Host: h.Host, Vendor: h.Vendor, Status: probes.StatusOK, HTTPStatus: 200, DurationSeconds: 0.2,
			AIKCA: &probes.AIKCA{Subject: "CN=" + h.Host, NotAfter: now.Add(365 * 24 * time.Hour)}}
		switch h.Host {
		case hs.withdrawn:
			s.Status, s.Failures = probes.StatusWithdrawn, 3
			r.Status, r.HTTPStatus, r.AIKCA = probes.StatusWithdrawn, 404, nil
		case hs.down:
			s.Status, s.Failures = probes.StatusTimeout, 2
			r.Status, r.HTTPStatus, r.AIKCA, r.DurationSeconds = probes.StatusTimeout, 0, nil, 10
		case hs.throttled:
			s.Status, s.Failures = probes.StatusThrottled, 2
			r.Status, r.HTTPStatus, r.AIKCA = probes.StatusThrottled, 429, nil
		case hs.expiring:
			r.AIKCA.NotAfter = now.Add(3 * 24 * time.Hour)
		}
		s.Last = r
		st.Hosts = append(st.Hosts, s)
		st.LastSweep.Probed++
	}
	for _, svc := range []string{probes.EKServiceIntel, probes.EKServiceAMD, probes.EKServiceQualcomm} {
		e := state.EKServiceState{Name: svc, URL: "https://" + svc + ".example/", OK: true, Since: now.Add(-time.Hour),
			Last: &probes.EKResult{Service: svc, Mode: probes.EKModeReachability, Status: probes.EKStatusReachable, HTTPStatus: 404, DurationSeconds: 0.2}}
		if svc == probes.EKServiceQualcomm {
			e.OK, e.Failures = false, 2
			e.Last.Status, e.Last.HTTPStatus, e.Last.Error = probes.EKStatusConnectError, 0, "connection refused"
		}
		st.EKServices = append(st.EKServices, e)
	}
	return st, fleet, hs
}
