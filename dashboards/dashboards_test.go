package dashboards_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/aikwatch/aikwatch/internal/testutil"
)

// dsRef is how every panel and query names its data source: the dashboard's "datasource"
// variable, so that one JSON works in any Grafana whatever its Prometheus is called.
var dsRef = datasource{Type: "prometheus", UID: "${datasource}"}

// dashboardFiles are the dashboards this directory ships; each must be there.
var dashboardFiles = []string{"aikwatch-overview.json", "aikwatch-hosts.json"}

type datasource struct {
	Type string `json:"type"`
	UID  string `json:"uid"`
}

type dashboard struct {
	file          string
	UID           string  `json:"uid"`
	Title         string  `json:"title"`
	SchemaVersion int     `json:"schemaVersion"`
	Panels        []panel `json:"panels"`
	Templating    struct {
		List []variable `json:"list"`
	} `json:"templating"`
	raw []byte
}

type panel struct {
	ID          int         `json:"id"`
	Type        string      `json:"type"`
	Title       string      `json:"title"`
	Description string      `json:"description"`
	Datasource  *datasource `json:"datasource"`
	GridPos     struct {
		H int `json:"h"`
		W int `json:"w"`
		X int `json:"x"`
		Y int `json:"y"`
	} `json:"gridPos"`
	Targets     []target `json:"targets"`
	Panels      []panel  `json:"panels"` // a collapsed row's
	FieldConfig struct {
		Defaults struct {
			Mappings []mapping `json:"mappings"`
		} `json:"defaults"`
	} `json:"fieldConfig"`
}

type target struct {
	RefID        string      `json:"refId"`
	Expr         string      `json:"expr"`
	LegendFormat string      `json:"legendFormat"`
	Format       string      `json:"format"`
	Instant      bool        `json:"instant"`
	Datasource   *datasource `json:"datasource"`
}

// mapping is a value mapping; Options' shape depends on Type.
type mapping struct {
	Type    string          `json:"type"`
	Options json.RawMessage `json:"options"`
}

type variable struct {
	Name       string          `json:"name"`
	Type       string          `json:"type"`
	Query      json.RawMessage `json:"query"`
	Definition string          `json:"definition"`
	Datasource *datasource     `json:"datasource"`
	IncludeAll bool            `json:"includeAll"`
	AllValue   string          `json:"allValue"`
}

// queryText returns a query variable's query, which Grafana stores as a string or as an
// object with a "query" member.
func (v variable) queryText() (string, error) {
	var s string
	if err := json.Unmarshal(v.Query, &s); err == nil {
		return s, nil
	}
	var o struct {
		Query string `json:"query"`
	}
	if err := json.Unmarshal(v.Query, &o); err != nil {
		return "", fmt.Errorf("variable %s: query is neither a string nor an object: %w", v.Name, err)
	}
	return o.Query, nil
}

// allPanels returns the dashboard's panels, a collapsed row's included, rows excluded.
func (d *dashboard) allPanels() []panel {
	var out []panel
	var walk func([]panel)
	walk = func(ps []panel) {
		for _, p := range ps {
			if p.Type != "row" {
				out = append(out, p)
			}
			walk(p.Panels)
		}
	}
	walk(d.Panels)
	return out
}

// panel returns the panel titled title or fails the test.
func (d *dashboard) panel(t *testing.T, title string) panel {
	t.Helper()
	for _, p := range d.allPanels() {
		if p.Title == title {
			return p
		}
	}
	t.Fatalf("%s: no panel titled %q", d.file, title)
	return panel{}
}

// loadDashboards reads and decodes every *.json of this directory.
func loadDashboards(t *testing.T) []*dashboard {
	t.Helper()
	files, err := filepath.Glob("*.json")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range dashboardFiles {
		if !slices.Contains(files, want) {
			t.Errorf("dashboard %s is missing", want)
		}
	}
	var out []*dashboard
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		d := &dashboard{file: f, raw: b}
		if err := json.Unmarshal(b, d); err != nil {
			t.Fatalf("%s: not a valid dashboard JSON: %v", f, err)
		}
		out = append(out, d)
	}
	return out
}

// A Grafana variable reference: $name, ${name}, ${name:format} or [[name]]. Numeric names
// ($1 in label_replace) are not variables.
var varRef = regexp.MustCompile(`\$\{([A-Za-z0-9_]+)(?::[A-Za-z0-9_]+)?\}|\$([A-Za-z_][A-Za-z0-9_]*)|\[\[([A-Za-z0-9_]+)\]\]`)

// builtinVars are Grafana's global variables, with plausible values.
var builtinVars = map[string]string{
	"__rate_interval": "2m", "__interval": "30s", "__interval_ms": "30000",
	"__range": "1h", "__range_s": "3600", "__range_ms": "3600000",
}

// sampleValues are the values of the dashboard variables that have no "All" value.
var sampleValues = map[string]string{"job": "aikwatch"}

// substitute replaces the Grafana variables in expr: global ones by plausible values, the
// dashboard's by their "All" value (the default) or their value in sampleValues. It returns
// an error naming any variable the dashboard does not define.
func substitute(d *dashboard, expr string) (string, error) {
	vars := map[string]variable{}
	for _, v := range d.Templating.List {
		vars[v.Name] = v
	}
	var bad []string
	out := varRef.ReplaceAllStringFunc(expr, func(m string) string {
		sm := varRef.FindStringSubmatch(m)
		name := sm[1] + sm[2] + sm[3]
		if v, ok := builtinVars[name]; ok {
			return v
		}
		v, ok := vars[name]
		if !ok {
			bad = append(bad, name)
			return m
		}
		if v.IncludeAll && v.AllValue != "" {
			return v.AllValue
		}
		if s, ok := sampleValues[name]; ok {
			return s
		}
		bad = append(bad, name+" (no sample value)")
		return m
	})
	if len(bad) > 0 {
		return "", fmt.Errorf("undefined variables %v", bad)
	}
	return out, nil
}

// labelValuesQuery matches a label_values(selector, label) variable query.
var labelValuesQuery = regexp.MustCompile(`^\s*label_values\(\s*(.*)\s*,\s*([A-Za-z_][A-Za-z0-9_]*)\s*\)\s*$`)

// promExpr is one PromQL expression of a dashboard, Grafana variables substituted.
type promExpr struct {
	where string // dashboard, panel and query, for messages
	d     *dashboard
	panel string
	ref   string
	raw   string // as in the JSON
	expr  string // substituted
	label string // for variable queries: the label whose values are asked
}

// expressions returns every PromQL expression of the dashboards: the panels' queries and the
// selectors of the label_values variable queries.
func expressions(t *testing.T, ds []*dashboard) []promExpr {
	t.Helper()
	var out []promExpr
	for _, d := range ds {
		for _, p := range d.allPanels() {
			for _, tg := range p.Targets {
				e, err := substitute(d, tg.Expr)
				if err != nil {
					t.Errorf("%s, panel %q, query %s: %v", d.file, p.Title, tg.RefID, err)
					continue
				}
				out = append(out, promExpr{where: fmt.Sprintf("%s, panel %q, query %s", d.file, p.Title, tg.RefID),
					d: d, panel: p.Title, ref: tg.RefID, raw: tg.Expr, expr: e})
			}
		}
		for _, v := range d.Templating.List {
			if v.Type != "query" {
				continue
			}
			q, err := v.queryText()
			if err != nil {
				t.Errorf("%s: %v", d.file, err)
				continue
			}
			m := labelValuesQuery.FindStringSubmatch(q)
			if m == nil {
				t.Errorf("%s, variable %s: query %q is not label_values(selector, label)", d.file, v.Name, q)
				continue
			}
			e, err := substitute(d, m[1])
			if err != nil {
				t.Errorf("%s, variable %s: %v", d.file, v.Name, err)
				continue
			}
			out = append(out, promExpr{where: fmt.Sprintf("%s, variable %s", d.file, v.Name), d: d,
				raw: q, expr: e, label: m[2]})
		}
	}
	return out
}

func TestDashboardsStructure(t *testing.T) {
	ds := loadDashboards(t)
	uids, titles := map[string]string{}, map[string]string{}
	for _, d := range ds {
		if d.UID == "" || len(d.UID) > 40 {
			t.Errorf("%s: uid %q: want a fixed uid of 1 to 40 characters", d.file, d.UID)
		}
		if prev, ok := uids[d.UID]; ok {
			t.Errorf("%s: uid %q already used by %s", d.file, d.UID, prev)
		}
		uids[d.UID] = d.file
		if d.Title == "" {
			t.Errorf("%s: no title", d.file)
		}
		if prev, ok := titles[d.Title]; ok {
			t.Errorf("%s: title %q already used by %s", d.file, d.Title, prev)
		}
		titles[d.Title] = d.file
		if d.SchemaVersion < 39 {
			t.Errorf("%s: schemaVersion %d, want 39 or later", d.file, d.SchemaVersion)
		}
		var id struct {
			ID any `json:"id"`
		}
		_ = json.Unmarshal(d.raw, &id)
		if id.ID != nil {
			t.Errorf("%s: id %v: want null (Grafana assigns it; a fixed id clashes on import)", d.file, id.ID)
		}

		vars := map[string]variable{}
		for _, v := range d.Templating.List {
			vars[v.Name] = v
			if v.Type == "query" && (v.Datasource == nil || *v.Datasource != dsRef) {
				t.Errorf("%s, variable %s: datasource %+v, want %+v", d.file, v.Name, v.Datasource, dsRef)
			}
		}
		if v, ok := vars["datasource"]; !ok || v.Type != "datasource" || string(v.Query) != `"prometheus"` {
			t.Errorf("%s: want a variable \"datasource\" of type datasource for prometheus, have %+v", d.file, v)
		}
		for _, name := range []string{"job", "instance"} {
			if v, ok := vars[name]; !ok || v.Type != "query" {
				t.Errorf("%s: want a query variable %q", d.file, name)
			}
		}

		ids := map[int]string{}
		type cell struct{ x, y int }
		used := map[cell]string{}
		var all []panel
		var walk func([]panel)
		walk = func(ps []panel) {
			for _, p := range ps {
				all = append(all, p)
				walk(p.Panels)
			}
		}
		walk(d.Panels)
		for _, p := range all {
			name := fmt.Sprintf("%s, panel %d %q", d.file, p.ID, p.Title)
			if prev, ok := ids[p.ID]; ok || p.ID <= 0 {
				t.Errorf("%s: id %d not unique and positive (also %s)", name, p.ID, prev)
			}
			ids[p.ID] = p.Title
			if p.Title == "" {
				t.Errorf("%s: no title", name)
			}
			g := p.GridPos
			if g.W <= 0 || g.H <= 0 || g.X < 0 || g.Y < 0 || g.X+g.W > 24 {
				t.Errorf("%s: gridPos %+v outside the 24-column grid", name, g)
			}
		overlap:
			for x := g.X; x < g.X+g.W; x++ {
				for y := g.Y; y < g.Y+g.H; y++ {
					if prev, ok := used[cell{x, y}]; ok {
						t.Errorf("%s: overlaps panel %q at x=%d y=%d", name, prev, x, y)
						break overlap
					}
					used[cell{x, y}] = p.Title
				}
			}
			if p.Type == "row" {
				continue
			}
			if p.Description == "" {
				t.Errorf("%s: no description (say what it shows and from which metric)", name)
			}
			if p.Datasource == nil || *p.Datasource != dsRef {
				t.Errorf("%s: datasource %+v, want %+v", name, p.Datasource, dsRef)
			}
			if len(p.Targets) == 0 {
				t.Errorf("%s: no query", name)
			}
			refs := map[string]bool{}
			for _, tg := range p.Targets {
				if tg.Datasource == nil || *tg.Datasource != dsRef {
					t.Errorf("%s, query %s: datasource %+v, want %+v", name, tg.RefID, tg.Datasource, dsRef)
				}
				if tg.RefID == "" || refs[tg.RefID] {
					t.Errorf("%s: refId %q empty or repeated", name, tg.RefID)
				}
				refs[tg.RefID] = true
				if strings.TrimSpace(tg.Expr) == "" {
					t.Errorf("%s, query %s: empty expression", name, tg.RefID)
				}
				if p.Type == "table" && (tg.Format != "table" || !tg.Instant) {
					t.Errorf("%s, query %s: a table's queries are instant and in table format", name, tg.RefID)
				}
			}
		}
	}

	// Links between the dashboards name existing uids.
	link := regexp.MustCompile(`/d/([A-Za-z0-9_-]+)`)
	for _, d := range ds {
		for _, m := range link.FindAllStringSubmatch(string(d.raw), -1) {
			if _, ok := uids[m[1]]; !ok {
				t.Errorf("%s: links to /d/%s, which no dashboard here has as uid", d.file, m[1])
			}
		}
	}
}

// docMetrics reads the metrics and their labels from docs/metrics.md's tables.
func docMetrics(t *testing.T) map[string][]string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(testutil.RepoRoot(), "docs", "metrics.md"))
	if err != nil {
		t.Fatal(err)
	}
	row := regexp.MustCompile("(?m)^\\| `(aikwatch_[a-z0-9_]+)` \\| [a-z]+ \\|([^|]*)\\|")
	tick := regexp.MustCompile("`([a-z0-9_]+)`")
	out := map[string][]string{}
	for _, m := range row.FindAllStringSubmatch(string(b), -1) {
		var labels []string
		for _, l := range tick.FindAllStringSubmatch(m[2], -1) {
			labels = append(labels, l[1])
		}
		out[m[1]] = labels
	}
	if len(out) < 40 {
		t.Fatalf("docs/metrics.md: found %d metrics in its tables; has its layout changed?", len(out))
	}
	return out
}

var (
	metricName  = regexp.MustCompile(`\baikwatch_[a-z0-9_]+`)
	selector    = regexp.MustCompile(`\b(aikwatch_[a-z0-9_]+)\{([^}]*)\}`)
	matcher     = regexp.MustCompile(`([A-Za-z_][A-Za-z0-9_]*)\s*(?:=~|!~|!=|=)\s*"`)
	grouping    = regexp.MustCompile(`\b(?:by|without|on|ignoring|group_left|group_right)\s*\(([^)]*)\)`)
	labelCreate = regexp.MustCompile(`label_replace\(`)
	legendRef   = regexp.MustCompile(`\{\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*\}\}`)
)

// createdLabels returns the labels label_replace calls in expr write: the second argument of
// each.
func createdLabels(expr string) []string {
	var out []string
	for _, loc := range labelCreate.FindAllStringIndex(expr, -1) {
		// Skip the first argument (balanced parentheses), then read the quoted second one.
		depth, i := 1, loc[1]
		for ; i < len(expr) && depth > 0; i++ {
			switch expr[i] {
			case '(':
				depth++
			case ')':
				depth--
			case ',':
				if depth == 1 {
					rest := strings.TrimSpace(expr[i+1:])
					if strings.HasPrefix(rest, `"`) {
						if end := strings.Index(rest[1:], `"`); end >= 0 {
							out = append(out, rest[1:1+end])
						}
					}
					depth = 0
				}
			}
		}
	}
	return out
}

// TestDashboardsMetricsDocumented checks every metric a dashboard uses is in docs/metrics.md,
// every label a selector matches on is one of that metric's (or job, instance), and every
// label used in a grouping or a legend is a label some aikwatch metric has or the expression
// creates.
func TestDashboardsMetricsDocumented(t *testing.T) {
	ds := loadDashboards(t)
	docs := docMetrics(t)
	known := map[string]bool{"job": true, "instance": true}
	for _, ls := range docs {
		for _, l := range ls {
			known[l] = true
		}
	}
	for _, e := range expressions(t, ds) {
		for _, m := range metricName.FindAllString(e.raw, -1) {
			if _, ok := docs[m]; !ok {
				t.Errorf("%s: metric %s is not in docs/metrics.md", e.where, m)
			}
		}
		for _, s := range selector.FindAllStringSubmatch(e.raw, -1) {
			labels, ok := docs[s[1]]
			if !ok {
				continue
			}
			for _, l := range matcher.FindAllStringSubmatch(s[2], -1) {
				if l[1] != "job" && l[1] != "instance" && !slices.Contains(labels, l[1]) {
					t.Errorf("%s: %s has no label %q (docs/metrics.md: %v)", e.where, s[1], l[1], labels)
				}
			}
		}
		created := createdLabels(e.raw)
		for _, g := range grouping.FindAllStringSubmatch(e.raw, -1) {
			for _, l := range strings.Split(g[1], ",") {
				l = strings.TrimSpace(l)
				if l != "" && !known[l] && !slices.Contains(created, l) {
					t.Errorf("%s: groups or matches on %q, a label no aikwatch metric has", e.where, l)
				}
			}
		}
	}
	for _, d := range ds {
		for _, p := range d.allPanels() {
			for _, tg := range p.Targets {
				created := createdLabels(tg.Expr)
				for _, m := range legendRef.FindAllStringSubmatch(tg.LegendFormat, -1) {
					if !known[m[1]] && !slices.Contains(created, m[1]) {
						t.Errorf("%s, panel %q, query %s: legend uses {{%s}}, a label no aikwatch metric has", d.file, p.Title, tg.RefID, m[1])
					}
				}
			}
		}
	}
}

// TestDashboardsPromQLSyntax has promtool parse every expression, as the expression of a
// recording rule in a generated rules file.
func TestDashboardsPromQLSyntax(t *testing.T) {
	promtool := testutil.RequireTool(t, "promtool")
	exprs := expressions(t, loadDashboards(t))
	type rule struct {
		Record string `yaml:"record"`
		Expr   string `yaml:"expr"`
	}
	type group struct {
		Name  string `yaml:"name"`
		Rules []rule `yaml:"rules"`
	}
	var file struct {
		Groups []group `yaml:"groups"`
	}
	for i, e := range exprs {
		// One group per expression, named after where it comes from, so that promtool's error
		// says which panel is wrong.
		file.Groups = append(file.Groups, group{Name: fmt.Sprintf("%d: %s", i, e.where),
			Rules: []rule{{Record: fmt.Sprintf("dash:test_%d", i), Expr: e.expr}}})
	}
	b, err := yaml.Marshal(file)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "dashboards-rules.yml")
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, promtool, "check", "rules", path).CombinedOutput()
	if err != nil {
		t.Fatalf("promtool check rules on the dashboards' %d expressions: %v\n%s", len(exprs), err, out)
	}
	if want := fmt.Sprintf("SUCCESS: %d rules found", len(exprs)); !strings.Contains(string(out), want) {
		t.Errorf("promtool check rules: want %q in\n%s", want, out)
	}
}

// TestDashboardsSubstitute covers the variable substitution the other tests rely on.
func TestDashboardsSubstitute(t *testing.T) {
	d := &dashboard{}
	d.Templating.List = []variable{{Name: "job", Type: "query"}, {Name: "host", Type: "query", IncludeAll: true, AllValue: ".+"}}
	got, err := substitute(d, `rate(x{job=~"$job", host=~"${host}", i="[[host]]"}[$__rate_interval]) and label_replace(y, "a", "$1", "b", "(.*)")`)
	if err != nil {
		t.Fatal(err)
	}
	if want := `rate(x{job=~"aikwatch", host=~".+", i=".+"}[2m]) and label_replace(y, "a", "$1", "b", "(.*)")`; got != want {
		t.Errorf("substitute:\n got %s\nwant %s", got, want)
	}
	if _, err := substitute(d, `x{a="$nope"}`); err == nil || !strings.Contains(err.Error(), "nope") {
		t.Errorf("undefined variable: err %v, want one naming it", err)
	}
	if got := createdLabels(`label_replace(max by (a) (x), "fleet_mark", " (fleet)", "fleet", "true")`); !slices.Equal(got, []string{"fleet_mark"}) {
		t.Errorf("createdLabels = %v", got)
	}
}

// mappingText returns the text a panel's value mappings give value, "" when none does.
func mappingText(p panel, value string) string {
	for _, m := range p.FieldConfig.Defaults.Mappings {
		if m.Type != "value" {
			continue
		}
		var opts map[string]struct {
			Text string `json:"text"`
		}
		if json.Unmarshal(m.Options, &opts) != nil {
			continue
		}
		if o, ok := opts[value]; ok {
			return o.Text
		}
	}
	return ""
}

// sortedKeys returns m's keys, sorted.
func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
