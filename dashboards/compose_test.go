package dashboards_test

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/url"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/aikwatch/aikwatch/internal/testutil"
)

// composeFile is the part of docker-compose.yml the tests read.
type composeFile struct {
	Services map[string]composeService `yaml:"services"`
	Volumes  map[string]any            `yaml:"volumes"`
	Secrets  map[string]struct {
		File string `yaml:"file"`
	} `yaml:"secrets"`
}

type composeService struct {
	Image string `yaml:"image"`
	Build *struct {
		Context    string `yaml:"context"`
		Dockerfile string `yaml:"dockerfile"`
	} `yaml:"build"`
	Command     []string          `yaml:"command"`
	Environment map[string]string `yaml:"environment"`
	Volumes     []string          `yaml:"volumes"`
	Secrets     []yaml.Node       `yaml:"secrets"`
	Ports       []string          `yaml:"ports"`
}

// interpolation is a Compose variable reference: ${VAR}, ${VAR:-default} or ${VAR-default}.
var interpolation = regexp.MustCompile(`\$\{([A-Za-z_][A-Za-z0-9_]*)(?::?-([^}]*))?\}`)

// defaults resolves Compose interpolation as with an empty environment: each reference
// becomes its default.
func defaults(s string) string {
	return interpolation.ReplaceAllString(s, "$2")
}

// mount is a file or directory a container sees.
type mount struct {
	host      string // absolute path in the repository; "" for a named volume
	volume    string // the named volume
	container string
}

// loadCompose parses docker-compose.yml.
func loadCompose(t *testing.T) *composeFile {
	t.Helper()
	b, err := os.ReadFile(repoPath("docker-compose.yml"))
	if err != nil {
		t.Fatal(err)
	}
	var c composeFile
	if err := yaml.Unmarshal(b, &c); err != nil {
		t.Fatalf("docker-compose.yml: %v", err)
	}
	return &c
}

// repoPath returns the absolute path of a slash-separated path relative to the repository.
func repoPath(rel string) string {
	return filepath.Join(testutil.RepoRoot(), filepath.FromSlash(rel))
}

// mounts returns what the service's containers see from the host: its volumes and its secrets
// (at /run/secrets/NAME or their absolute target).
func (c *composeFile) mounts(t *testing.T, name string) []mount {
	t.Helper()
	svc := c.Services[name]
	var out []mount
	for _, v := range svc.Volumes {
		parts := strings.Split(defaults(v), ":")
		if len(parts) < 2 || len(parts) > 3 {
			t.Errorf("service %s: volume %q: want SOURCE:TARGET[:MODE]", name, v)
			continue
		}
		if len(parts) == 3 && parts[2] != "ro" && parts[2] != "rw" {
			t.Errorf("service %s: volume %q: mode %q", name, v, parts[2])
		}
		if !path.IsAbs(parts[1]) {
			t.Errorf("service %s: volume %q: the target is not absolute", name, v)
		}
		m := mount{container: path.Clean(parts[1])}
		if strings.HasPrefix(parts[0], ".") || strings.HasPrefix(parts[0], "/") {
			m.host = repoPath(parts[0])
		} else {
			m.volume = parts[0]
		}
		out = append(out, m)
	}
	for _, n := range svc.Secrets {
		var source, target string
		switch n.Kind {
		case yaml.ScalarNode:
			source = n.Value
		case yaml.MappingNode:
			var s struct {
				Source string `yaml:"source"`
				Target string `yaml:"target"`
			}
			if err := n.Decode(&s); err != nil {
				t.Errorf("service %s: secret: %v", name, err)
				continue
			}
			source, target = s.Source, s.Target
		}
		if target == "" {
			target = source
		}
		if !path.IsAbs(target) {
			target = "/run/secrets/" + target
		}
		sec, ok := c.Secrets[source]
		if !ok {
			t.Errorf("service %s: secret %q is not declared under secrets:", name, source)
			continue
		}
		out = append(out, mount{host: repoPath(defaults(sec.File)), container: target})
	}
	return out
}

// hostPath returns the repository file a container path of the service comes from.
func (c *composeFile) hostPath(t *testing.T, service, p string) (string, bool) {
	t.Helper()
	for _, m := range c.mounts(t, service) {
		if m.host == "" {
			continue
		}
		if p == m.container {
			return m.host, true
		}
		if rest, ok := strings.CutPrefix(p, m.container+"/"); ok {
			return filepath.Join(m.host, filepath.FromSlash(rest)), true
		}
	}
	return "", false
}

// flag returns the value of --name=value in a command.
func flag(cmd []string, name string) string {
	for _, a := range cmd {
		if v, ok := strings.CutPrefix(a, "--"+name+"="); ok {
			return v
		}
	}
	return ""
}

func TestComposeFile(t *testing.T) {
	c := loadCompose(t)
	for _, name := range []string{"aikwatch", "prometheus", "alertmanager", "grafana"} {
		if _, ok := c.Services[name]; !ok {
			t.Errorf("docker-compose.yml: no service %q", name)
		}
	}
	pinned := regexp.MustCompile(`^[a-z0-9./_-]+:v?[0-9]+\.[0-9]+\.[0-9]+$`)
	for name, svc := range c.Services {
		img := defaults(svc.Image)
		switch {
		case svc.Build != nil:
			// Built here: the tag names the local build.
			if i := strings.LastIndex(img, ":"); img == "" || i < 0 || img[i+1:] == "latest" || img[i+1:] == "" {
				t.Errorf("service %s: image %q: want a tag other than latest for the local build", name, svc.Image)
			}
			if _, err := os.Stat(repoPath(path.Join(svc.Build.Context, svc.Build.Dockerfile))); err != nil {
				t.Errorf("service %s: build: %v", name, err)
			}
		case !pinned.MatchString(img):
			t.Errorf("service %s: image %q: want a pinned version (NAME:X.Y.Z), never latest", name, svc.Image)
		}
		for _, m := range c.mounts(t, name) {
			if m.host != "" {
				if _, err := os.Stat(m.host); err != nil {
					t.Errorf("service %s: mounts %s, which is not in the repository: %v", name, m.host, err)
				}
			} else if _, ok := c.Volumes[m.volume]; !ok {
				t.Errorf("service %s: named volume %q is not declared under volumes:", name, m.volume)
			}
		}
		for _, p := range svc.Ports {
			if !strings.HasPrefix(defaults(p), "127.0.0.1:") {
				t.Errorf("service %s: port %q is not published on 127.0.0.1 by default", name, p)
			}
		}
		for k, v := range svc.Environment {
			if strings.Contains(k, "SLACK") && v != "" && !interpolation.MatchString(v) {
				t.Errorf("service %s: %s is hard-coded (%q): pass it through from the environment", name, k, v)
			}
		}
	}
	for name, s := range c.Secrets {
		p := repoPath(defaults(s.File))
		if fi, err := os.Stat(p); err != nil {
			t.Errorf("secret %s: %v", name, err)
		} else if fi.Size() != 0 {
			t.Errorf("secret %s: the default file %s must be the empty placeholder", name, p)
		}
	}

	// aikwatch serves where Prometheus scrapes it, and the command is serve with its data in
	// the volume.
	aw := c.Services["aikwatch"]
	if len(aw.Command) < 3 || !slices.Equal(aw.Command[:3], []string{"serve", "--data-dir", "/var/lib/aikwatch"}) {
		t.Errorf("aikwatch: command %q, want serve --data-dir /var/lib/aikwatch ...", aw.Command)
	}
	checkFlags(t, "aikwatch command", aw.Command)
	if !slices.ContainsFunc(aw.Ports, func(p string) bool { return strings.HasSuffix(p, ":10944:10944") }) {
		t.Errorf("aikwatch: ports %v do not publish 10944", aw.Ports)
	}
}

func TestComposeDemoAlternative(t *testing.T) {
	b, err := os.ReadFile(repoPath("docker-compose.yml"))
	if err != nil {
		t.Fatal(err)
	}
	// The commented demo command must be a valid command line for `aikwatch demo`.
	demo := regexp.MustCompile(`(?m)^\s*# command: (\[.*"demo".*\])$`).FindSubmatch(b)
	if demo == nil {
		t.Fatal("docker-compose.yml: no commented `command: [\"demo\", ...]` alternative")
	}
	var args []string
	if err := yaml.Unmarshal(demo[1], &args); err != nil {
		t.Fatalf("demo command %s: %v", demo[1], err)
	}
	checkFlags(t, "demo command", args)
	if i := slices.Index(args, "--web.listen-address"); i < 0 || i+1 >= len(args) || !strings.HasPrefix(args[i+1], "0.0.0.0:10944") {
		t.Errorf("demo command %q: want --web.listen-address 0.0.0.0:10944 (the demo listens on 127.0.0.1 by default)", args)
	}
}

// checkFlags checks that every --flag of an aikwatch command line is declared by the CLI
// (a Flag("name", ...) call in cmd/aikwatch).
func checkFlags(t *testing.T, what string, args []string) {
	t.Helper()
	files, err := filepath.Glob(repoPath("cmd/aikwatch/*.go"))
	if err != nil {
		t.Fatal(err)
	}
	var src []byte
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		src = append(src, b...)
	}
	for _, a := range args {
		f, ok := strings.CutPrefix(a, "--")
		if !ok {
			continue
		}
		f, _, _ = strings.Cut(f, "=")
		if !bytes.Contains(src, []byte(`Flag("`+f+`"`)) {
			t.Errorf("%s: --%s is not a flag of aikwatch", what, f)
		}
	}
}

// TestPrometheusConfig runs promtool check config on deploy/prometheus/prometheus.yml, with
// its rule files (container paths) rewritten to the repository files compose mounts there,
// and checks that its targets are compose services.
func TestPrometheusConfig(t *testing.T) {
	c := loadCompose(t)
	svc := c.Services["prometheus"]
	cfgPath := flag(svc.Command, "config.file")
	host, ok := c.hostPath(t, "prometheus", cfgPath)
	if !ok {
		t.Fatalf("prometheus: --config.file=%s is not mounted from the repository", cfgPath)
	}
	b, err := os.ReadFile(host)
	if err != nil {
		t.Fatal(err)
	}
	var cfg map[string]any
	if err := yaml.Unmarshal(b, &cfg); err != nil {
		t.Fatalf("%s: %v", host, err)
	}
	rules, _ := cfg["rule_files"].([]any)
	if len(rules) == 0 {
		t.Fatalf("%s: no rule_files", host)
	}
	for i, r := range rules {
		p, _ := r.(string)
		hp, ok := c.hostPath(t, "prometheus", p)
		if !ok {
			t.Errorf("%s: rule file %s is not mounted into the prometheus container", host, p)
			continue
		}
		rules[i] = hp
	}
	if _, ok := c.hostPath(t, "prometheus", "/etc/prometheus/rules/aikwatch-rules.yml"); !ok {
		t.Errorf("alerts/prometheus/aikwatch-rules.yml is not mounted into prometheus")
	}

	// Targets: job aikwatch scrapes the aikwatch service's port; the Alertmanager is the
	// alertmanager service.
	var parsed struct {
		Alerting struct {
			Alertmanagers []struct {
				StaticConfigs []struct {
					Targets []string `yaml:"targets"`
				} `yaml:"static_configs"`
			} `yaml:"alertmanagers"`
		} `yaml:"alerting"`
		ScrapeConfigs []struct {
			JobName       string `yaml:"job_name"`
			StaticConfigs []struct {
				Targets []string `yaml:"targets"`
			} `yaml:"static_configs"`
		} `yaml:"scrape_configs"`
	}
	if err := yaml.Unmarshal(b, &parsed); err != nil {
		t.Fatal(err)
	}
	var targets, ams []string
	for _, sc := range parsed.ScrapeConfigs {
		for _, s := range sc.StaticConfigs {
			for _, tg := range s.Targets {
				targets = append(targets, sc.JobName+"="+tg)
			}
		}
	}
	for _, a := range parsed.Alerting.Alertmanagers {
		for _, s := range a.StaticConfigs {
			ams = append(ams, s.Targets...)
		}
	}
	if !slices.Contains(targets, "aikwatch=aikwatch:10944") {
		t.Errorf("%s: no job aikwatch scraping aikwatch:10944 (targets %v)", host, targets)
	}
	if !slices.Equal(ams, []string{"alertmanager:9093"}) {
		t.Errorf("%s: alertmanagers %v, want the alertmanager service", host, ams)
	}
	for _, tg := range append(targets, ams...) {
		_, hp, _ := strings.Cut(tg, "=")
		if hp == "" {
			hp = tg
		}
		h, _, err := net.SplitHostPort(hp)
		if _, ok := c.Services[h]; err != nil || (!ok && h != "localhost") {
			t.Errorf("%s: target %s is not a compose service", host, tg)
		}
	}

	promtool := testutil.RequireTool(t, "promtool")
	out, err := yaml.Marshal(cfg)
	if err != nil {
		t.Fatal(err)
	}
	tmp := filepath.Join(t.TempDir(), "prometheus.yml")
	if err := os.WriteFile(tmp, out, 0o600); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	res, err := exec.CommandContext(ctx, promtool, "check", "config", tmp).CombinedOutput()
	if err != nil {
		t.Fatalf("promtool check config (rule files rewritten to %v): %v\n%s", rules, err, res)
	}
	if !strings.Contains(string(res), "SUCCESS") {
		t.Errorf("promtool check config: %s", res)
	}
}

// TestAlertmanagerMounts checks that every file alertmanager.example.yml reads (the Slack
// webhook URL file, the templates) is mounted where it looks for it.
func TestAlertmanagerMounts(t *testing.T) {
	c := loadCompose(t)
	cfgPath := flag(c.Services["alertmanager"].Command, "config.file")
	host, ok := c.hostPath(t, "alertmanager", cfgPath)
	if !ok {
		t.Fatalf("alertmanager: --config.file=%s is not mounted from the repository", cfgPath)
	}
	b, err := os.ReadFile(host)
	if err != nil {
		t.Fatal(err)
	}
	var cfg struct {
		Templates []string `yaml:"templates"`
		Receivers []struct {
			Name         string           `yaml:"name"`
			SlackConfigs []map[string]any `yaml:"slack_configs"`
		} `yaml:"receivers"`
	}
	if err := yaml.Unmarshal(b, &cfg); err != nil {
		t.Fatalf("%s: %v", host, err)
	}
	var files []string
	for _, r := range cfg.Receivers {
		for _, s := range r.SlackConfigs {
			if f, ok := s["api_url_file"].(string); ok {
				files = append(files, f)
			}
		}
	}
	if len(files) == 0 {
		t.Fatalf("%s: no slack_configs with api_url_file", host)
	}
	for _, tpl := range cfg.Templates {
		if !path.IsAbs(tpl) {
			tpl = path.Join(path.Dir(cfgPath), tpl) // relative to the configuration file
		}
		files = append(files, tpl)
	}
	for _, f := range files {
		hp, ok := c.hostPath(t, "alertmanager", f)
		if !ok {
			t.Errorf("%s reads %s, which docker-compose.yml does not mount into alertmanager", host, f)
			continue
		}
		if _, err := os.Stat(hp); err != nil {
			t.Errorf("alertmanager's %s: %v", f, err)
		}
	}
}

// TestGrafanaProvisioning checks the provisioned data source points at the prometheus service
// and the dashboard provider at the mounted dashboards/ directory.
func TestGrafanaProvisioning(t *testing.T) {
	c := loadCompose(t)
	dir, ok := c.hostPath(t, "grafana", "/etc/grafana/provisioning/datasources")
	if !ok {
		t.Fatal("grafana: /etc/grafana/provisioning/datasources is not mounted")
	}
	var dsCfg struct {
		APIVersion  int `yaml:"apiVersion"`
		Datasources []struct {
			Type      string `yaml:"type"`
			URL       string `yaml:"url"`
			IsDefault bool   `yaml:"isDefault"`
		} `yaml:"datasources"`
	}
	readYAML(t, filepath.Join(dir, "prometheus.yml"), &dsCfg)
	if dsCfg.APIVersion != 1 || len(dsCfg.Datasources) != 1 || dsCfg.Datasources[0].Type != "prometheus" || !dsCfg.Datasources[0].IsDefault {
		t.Errorf("datasources: %+v: want one default prometheus data source (apiVersion 1)", dsCfg)
	} else if u, err := url.Parse(dsCfg.Datasources[0].URL); err != nil || u.Port() != "9090" {
		t.Errorf("data source URL %q: want the prometheus service on 9090", dsCfg.Datasources[0].URL)
	} else if _, ok := c.Services[u.Hostname()]; !ok {
		t.Errorf("data source URL %q: %s is not a compose service", dsCfg.Datasources[0].URL, u.Hostname())
	}

	dir, ok = c.hostPath(t, "grafana", "/etc/grafana/provisioning/dashboards")
	if !ok {
		t.Fatal("grafana: /etc/grafana/provisioning/dashboards is not mounted")
	}
	var dbCfg struct {
		APIVersion int `yaml:"apiVersion"`
		Providers  []struct {
			Type    string `yaml:"type"`
			Options struct {
				Path string `yaml:"path"`
			} `yaml:"options"`
		} `yaml:"providers"`
	}
	readYAML(t, filepath.Join(dir, "aikwatch.yml"), &dbCfg)
	if dbCfg.APIVersion != 1 || len(dbCfg.Providers) != 1 || dbCfg.Providers[0].Type != "file" {
		t.Fatalf("dashboard providers: %+v: want one file provider (apiVersion 1)", dbCfg)
	}
	p := dbCfg.Providers[0].Options.Path
	hp, ok := c.hostPath(t, "grafana", p)
	if !ok {
		t.Fatalf("dashboard provider path %s is not mounted into grafana", p)
	}
	for _, f := range dashboardFiles {
		if _, err := os.Stat(filepath.Join(hp, f)); err != nil {
			t.Errorf("dashboard provider path %s: %v", p, err)
		}
	}
	if home := c.Services["grafana"].Environment["GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH"]; home != "" {
		if hp, ok := c.hostPath(t, "grafana", home); !ok {
			t.Errorf("home dashboard %s is not mounted", home)
		} else if _, err := os.Stat(hp); err != nil {
			t.Errorf("home dashboard %s: %v", home, err)
		}
	}
}

func readYAML(t *testing.T, p string, v any) {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.Unmarshal(b, v); err != nil {
		t.Fatalf("%s: %v", p, err)
	}
}

// TestDockerfile checks the build and runtime settings the compose file and the README rely on.
func TestDockerfile(t *testing.T) {
	b, err := os.ReadFile(repoPath("Dockerfile"))
	if err != nil {
		t.Fatal(err)
	}
	var stages [][]string // instructions per stage, continuation lines joined
	var cur strings.Builder
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		if s, ok := strings.CutSuffix(line, "\\"); ok {
			cur.WriteString(s + " ")
			continue
		}
		cur.WriteString(line)
		ins := cur.String()
		cur.Reset()
		if strings.HasPrefix(ins, "FROM ") {
			stages = append(stages, nil)
		}
		if len(stages) == 0 {
			t.Fatalf("Dockerfile: %q before the first FROM", ins)
		}
		stages[len(stages)-1] = append(stages[len(stages)-1], ins)
	}
	if len(stages) != 2 {
		t.Fatalf("Dockerfile: %d stages, want 2 (build, runtime)", len(stages))
	}
	has := func(stage []string, re string) bool {
		r := regexp.MustCompile(re)
		return slices.ContainsFunc(stage, r.MatchString)
	}
	build, run := stages[0], stages[1]
	for _, re := range []string{`^FROM golang:1\.26 AS build$`,
		`CGO_ENABLED=0 go build -trimpath -ldflags "-s -w -X main\.version=\$\{VERSION\}".* \./cmd/aikwatch`} {
		if !has(build, re) {
			t.Errorf("Dockerfile build stage: nothing matches %s", re)
		}
	}
	for _, re := range []string{`^FROM gcr\.io/distroless/static`, `^USER [1-9][0-9]*:[1-9][0-9]*$`, `^EXPOSE 10944$`,
		`^VOLUME /var/lib/aikwatch$`, `^ENTRYPOINT \["/usr/local/bin/aikwatch"\]$`,
		`^CMD \["serve", "--data-dir", "/var/lib/aikwatch"\]$`} {
		if !has(run, re) {
			t.Errorf("Dockerfile runtime stage: nothing matches %s", re)
		}
	}
	main, err := os.ReadFile(repoPath("cmd/aikwatch/main.go"))
	if err != nil {
		t.Fatal(err)
	}
	if !regexp.MustCompile(`(?m)^var version = `).Match(main) {
		t.Error("cmd/aikwatch/main.go has no `var version`: -X main.version would set nothing")
	}
	serve, err := os.ReadFile(repoPath("cmd/aikwatch/serve.go"))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(serve, []byte(`defaultListen = ":10944"`)) {
		t.Error("cmd/aikwatch/serve.go: the default listen address is no longer :10944 (EXPOSE, compose and prometheus.yml use it)")
	}
}

// dockerignore is the .dockerignore patterns, in the subset of the syntax the file may use:
// paths relative to the context (a leading / is the same), '*' and '?' within one element, no
// '**' and no exceptions.
type dockerignore []string

func loadDockerignore(t *testing.T) dockerignore {
	t.Helper()
	b, err := os.ReadFile(repoPath(".dockerignore"))
	if err != nil {
		t.Fatal(err)
	}
	var out dockerignore
	for _, l := range strings.Split(string(b), "\n") {
		l = strings.TrimSpace(l)
		if l == "" || strings.HasPrefix(l, "#") {
			continue
		}
		if strings.HasPrefix(l, "!") || strings.Contains(l, "**") {
			t.Fatalf(".dockerignore: %q: exceptions and ** are beyond what this test models; extend it", l)
		}
		if _, err := path.Match(l, ""); err != nil {
			t.Fatalf(".dockerignore: %q: %v", l, err)
		}
		out = append(out, path.Clean(strings.TrimPrefix(l, "/")))
	}
	return out
}

// excluded reports whether rel (slash-separated, relative to the context) or a directory
// above it matches a pattern.
func (d dockerignore) excluded(rel string) bool {
	for p := rel; p != "." && p != "/"; p = path.Dir(p) {
		for _, pat := range d {
			if ok, _ := path.Match(pat, p); ok {
				return true
			}
		}
	}
	return false
}

// TestDockerBuildContext copies what .dockerignore lets into the build context and checks
// that `go list` sees there the same packages, Go files and embedded files of ./cmd/aikwatch
// as in the repository: the Dockerfile's go build would find everything it needs. (No Docker
// engine is needed; the image itself is not built.)
func TestDockerBuildContext(t *testing.T) {
	goBin := testutil.RequireTool(t, "go")
	di := loadDockerignore(t)
	for _, keep := range []string{"go.mod", "go.sum", "cmd/aikwatch/main.go", "exporter/web/page.css"} {
		if di.excluded(keep) {
			t.Errorf(".dockerignore excludes %s", keep)
		}
	}
	for _, drop := range []string{".git/HEAD", "testdata/trustedtpm/TrustedTpm-2024-11-21.cab", "aikwatch", "probes.test"} {
		if !di.excluded(drop) {
			t.Errorf(".dockerignore lets %s into the build context", drop)
		}
	}

	root := testutil.RepoRoot()
	ctxDir := t.TempDir()
	var size int64
	err := filepath.WalkDir(root, func(p string, e fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(root, p)
		if err != nil || rel == "." {
			return err
		}
		if di.excluded(filepath.ToSlash(rel)) {
			if e.IsDir() {
				return filepath.SkipDir
			}
			return nil
		}
		dst := filepath.Join(ctxDir, rel)
		if e.IsDir() {
			return os.MkdirAll(dst, 0o755)
		}
		if !e.Type().IsRegular() {
			return nil
		}
		n, err := copyFile(dst, p)
		size += n
		return err
	})
	if err != nil {
		t.Fatalf("copying the build context: %v", err)
	}
	t.Logf("build context: %.1f MB", float64(size)/1e6)

	list := func(dir string) (map[string]string, error) {
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		defer cancel()
		cmd := exec.CommandContext(ctx, goBin, "list", "-deps", "-e",
			"-f", `{{if not .Standard}}{{.ImportPath}} go={{join .GoFiles ","}} embed={{join .EmbedFiles ","}} err={{if .Error}}{{.Error}}{{end}}{{range .DepsErrors}}{{.}};{{end}}{{end}}`,
			"./cmd/aikwatch")
		cmd.Dir = dir
		cmd.Env = append(os.Environ(), "GOFLAGS=-mod=readonly", "GOPROXY=off", "GOWORK=off", "GOTOOLCHAIN=local", "CGO_ENABLED=0")
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		if err != nil {
			return nil, fmt.Errorf("go list in %s: %w\n%s", dir, err, stderr.String())
		}
		pkgs := map[string]string{}
		for _, l := range strings.Split(strings.TrimSpace(string(out)), "\n") {
			if l == "" {
				continue
			}
			ip, rest, _ := strings.Cut(l, " ")
			pkgs[ip] = rest
		}
		return pkgs, nil
	}
	want, err := list(root)
	if err != nil {
		t.Fatal(err)
	}
	got, err := list(ctxDir)
	if err != nil {
		t.Fatal(err)
	}
	for ip, w := range want {
		if strings.Contains(w, "err=") && !strings.HasSuffix(w, "err=") {
			t.Logf("in the repository itself, %s: %s", ip, w)
		}
		if g, ok := got[ip]; !ok {
			t.Errorf("build context: package %s missing", ip)
		} else if g != w {
			t.Errorf("build context: package %s differs:\n repo    %s\n context %s", ip, w, g)
		}
	}
	if len(want) < 10 {
		t.Errorf("go list found only %d non-standard packages for ./cmd/aikwatch: %v", len(want), want)
	}
}

func copyFile(dst, src string) (int64, error) {
	in, err := os.Open(src)
	if err != nil {
		return 0, err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o644)
	if err != nil {
		return 0, err
	}
	n, err := io.Copy(out, in)
	if cerr := out.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return n, fmt.Errorf("copying %s: %w", src, err)
	}
	return n, nil
}

// TestComposeConfig has Docker Compose itself validate the file when it is installed (it is
// not in CI: there is no Docker there).
func TestComposeConfig(t *testing.T) {
	docker, err := exec.LookPath("docker")
	if err != nil {
		t.Skip("docker not installed")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := exec.CommandContext(ctx, docker, "compose", "version").Run(); err != nil {
		t.Skip("docker compose not available")
	}
	cmd := exec.CommandContext(ctx, docker, "compose", "-f", repoPath("docker-compose.yml"), "config", "--quiet")
	cmd.Dir = testutil.RepoRoot()
	out, err := cmd.CombinedOutput()
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		t.Fatalf("docker compose config: %v\n%s", err, out)
	} else if err != nil {
		t.Fatal(err)
	}
}
