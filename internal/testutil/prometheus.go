package testutil

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Bounds of the Prometheus harness.
const (
	promReadyWait   = 20 * time.Second // bound on Prometheus answering /-/ready
	promStopWait    = 10 * time.Second // SIGTERM to SIGKILL
	promHTTPTimeout = 5 * time.Second  // per API request
	promStartTries  = 3                // ports tried when the one picked is taken meanwhile
)

// Prometheus is a real Prometheus server (the external program) a test started on a loopback
// port, with its own configuration and storage in a temporary directory.
type Prometheus struct {
	tb      testing.TB
	cmd     *exec.Cmd
	base    string // http://127.0.0.1:port
	started time.Time
	log     *syncBuffer
	exited  chan struct{} // closed when the process has exited
	client  *http.Client
	stop    sync.Once
}

// Sample is one sample of an instant query result: its labels (nil for a scalar) and its
// value as Prometheus wrote it.
type Sample struct {
	Metric map[string]string
	Value  string
}

// PromAlert is one alert of Prometheus' /api/v1/alerts.
type PromAlert struct {
	Labels      map[string]string `json:"labels"`
	Annotations map[string]string `json:"annotations"`
	State       string            `json:"state"`
}

// PromRuleGroup is one rule group of Prometheus' /api/v1/rules.
type PromRuleGroup struct {
	Name  string     `json:"name"`
	Rules []PromRule `json:"rules"`
}

// PromRule is one rule of a PromRuleGroup, with the outcome of its last evaluation.
type PromRule struct {
	Name           string    `json:"name"`
	Health         string    `json:"health"`
	LastError      string    `json:"lastError"`
	LastEvaluation time.Time `json:"lastEvaluation"`
}

// PrometheusScrapeConfig returns a Prometheus configuration scraping target (host:port) as job
// every interval (also the scrape timeout and the rule evaluation interval), loading
// ruleFiles (paths, relative ones to the configuration's directory).
func PrometheusScrapeConfig(job, target string, interval time.Duration, ruleFiles ...string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "global:\n  scrape_interval: %[1]s\n  scrape_timeout: %[1]s\n  evaluation_interval: %[1]s\n", interval)
	if len(ruleFiles) > 0 {
		b.WriteString("rule_files:\n")
		for _, f := range ruleFiles {
			fmt.Fprintf(&b, "  - %q\n", f)
		}
	}
	fmt.Fprintf(&b, "scrape_configs:\n  - job_name: %q\n    static_configs:\n      - targets: [%q]\n", job, target)
	return b.String()
}

// StartPrometheus starts the prometheus program (skipping the test locally, failing it in CI,
// when it is missing) with configuration configYAML, on a free loopback port, and waits
// (bounded) until it is ready. ruleFiles (file name → content) are written next to the
// configuration, so configYAML can load them by name. The server is stopped when the test
// ends, or earlier by Stop; its log is in failure messages.
func StartPrometheus(tb testing.TB, configYAML string, ruleFiles map[string]string) *Prometheus {
	tb.Helper()
	bin := RequireTool(tb, "prometheus")
	dir := tb.TempDir()
	for name, content := range ruleFiles {
		if name != filepath.Base(name) || name == "." || name == ".." {
			tb.Fatalf("StartPrometheus: rule file name %q is not a plain file name", name)
		}
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o600); err != nil {
			tb.Fatalf("StartPrometheus: writing rule file %s: %v", name, err)
		}
	}
	cfg := filepath.Join(dir, "prometheus.yml")
	if err := os.WriteFile(cfg, []byte(configYAML), 0o600); err != nil {
		tb.Fatalf("StartPrometheus: writing the configuration: %v", err)
	}
	var last error
	for attempt := range promStartTries {
		addr, err := freeLoopbackAddr()
		if err != nil {
			tb.Fatalf("StartPrometheus: finding a free loopback port: %v", err)
		}
		p := &Prometheus{tb: tb, base: "http://" + addr, log: &syncBuffer{}, exited: make(chan struct{}),
			client: &http.Client{Timeout: promHTTPTimeout}}
		p.cmd = exec.Command(bin,
			"--config.file="+cfg,
			"--storage.tsdb.path="+filepath.Join(dir, "data"+strconv.Itoa(attempt)),
			"--web.listen-address="+addr,
			"--log.level=warn")
		p.cmd.Stdout, p.cmd.Stderr = p.log, p.log
		p.started = time.Now()
		if err := p.cmd.Start(); err != nil {
			tb.Fatalf("StartPrometheus: starting %s: %v", bin, err)
		}
		go func() {
			_ = p.cmd.Wait()
			close(p.exited)
		}()
		tb.Cleanup(p.Stop)
		if last = p.waitReady(promReadyWait); last == nil {
			return p
		}
		p.Stop()
		// Gone because the port was taken between picking and listening: try another.
		if !strings.Contains(p.log.String(), "address already in use") {
			break
		}
	}
	tb.Fatalf("StartPrometheus: prometheus did not start: %v", last)
	return nil
}

// URL returns the server's base URL, http://127.0.0.1:port.
func (p *Prometheus) URL() string { return p.base }

// Started returns when the process was started.
func (p *Prometheus) Started() time.Time { return p.started }

// Log returns what the process has written so far.
func (p *Prometheus) Log() string { return p.log.String() }

// Stop ends the server (SIGTERM, SIGKILL if it has not exited 10 s later), waits for the
// process and closes the harness's idle connections. It may be called more than once; the
// test's cleanup calls it too.
func (p *Prometheus) Stop() {
	p.stop.Do(func() {
		defer p.client.CloseIdleConnections()
		select {
		case <-p.exited:
			return
		default:
		}
		if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
			_ = p.cmd.Process.Kill()
		}
		select {
		case <-p.exited:
		case <-time.After(promStopWait):
			_ = p.cmd.Process.Kill()
			<-p.exited
			p.tb.Logf("prometheus did not stop on SIGTERM within %s; killed", promStopWait)
		}
	})
}

// waitReady polls /-/ready until Prometheus answers 200, exits, or d passes.
func (p *Prometheus) waitReady(d time.Duration) error {
	client := &http.Client{Timeout: time.Second}
	defer client.CloseIdleConnections()
	deadline := time.Now().Add(d)
	for {
		resp, err := client.Get(p.base + "/-/ready")
		if err == nil {
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
			err = fmt.Errorf("HTTP %d", resp.StatusCode)
		}
		select {
		case <-p.exited:
			return fmt.Errorf("prometheus exited: %s", p.log.String())
		default:
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("prometheus not ready after %s (%v): %s", d, err, p.log.String())
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// WaitFor polls cond until it reports done, failing the test when Prometheus exits first or
// d passes; the failure message names what was awaited and holds cond's last detail,
// Prometheus' view of its targets and its log.
func (p *Prometheus) WaitFor(tb testing.TB, what string, d time.Duration, cond func() (done bool, detail string)) {
	tb.Helper()
	deadline := time.Now().Add(d)
	for {
		done, detail := cond()
		if done {
			return
		}
		select {
		case <-p.exited:
			tb.Fatalf("prometheus exited while waiting for %s (last: %s)\n%s", what, detail, p.log.String())
		default:
		}
		if time.Now().After(deadline) {
			tb.Fatalf("no %s after %s (last: %s; targets: %s)\n%s", what, d, detail, p.targets(), p.log.String())
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// targets returns Prometheus' view of its targets (health, last error), for failure messages.
func (p *Prometheus) targets() string {
	resp, err := p.client.Get(p.base + "/api/v1/targets")
	if err != nil {
		return err.Error()
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 4096))
	if err != nil {
		return err.Error()
	}
	return string(b)
}

// Query runs an instant query now and returns its vector (a scalar as one sample without
// labels).
func (p *Prometheus) Query(ctx context.Context, q string) ([]Sample, error) {
	return p.query(ctx, url.Values{"query": {q}})
}

// QueryAt runs an instant query evaluated at the moment at, like Query.
func (p *Prometheus) QueryAt(ctx context.Context, q string, at time.Time) ([]Sample, error) {
	return p.query(ctx, url.Values{"query": {q}, "time": {strconv.FormatFloat(float64(at.UnixMilli())/1000, 'f', 3, 64)}})
}

func (p *Prometheus) query(ctx context.Context, params url.Values) ([]Sample, error) {
	q := params.Get("query")
	var data struct {
		ResultType string          `json:"resultType"`
		Result     json.RawMessage `json:"result"`
	}
	if err := p.get(ctx, "/api/v1/query", params, &data); err != nil {
		return nil, fmt.Errorf("query %q: %w", q, err)
	}
	switch data.ResultType {
	case "vector":
		var vec []struct {
			Metric map[string]string `json:"metric"`
			Value  [2]any            `json:"value"`
		}
		if err := json.Unmarshal(data.Result, &vec); err != nil {
			return nil, fmt.Errorf("query %q: decoding the vector: %w", q, err)
		}
		out := make([]Sample, 0, len(vec))
		for _, v := range vec {
			s, err := newSample(v.Metric, v.Value)
			if err != nil {
				return nil, fmt.Errorf("query %q: %w", q, err)
			}
			out = append(out, s)
		}
		return out, nil
	case "scalar":
		var v [2]any
		if err := json.Unmarshal(data.Result, &v); err != nil {
			return nil, fmt.Errorf("query %q: decoding the scalar: %w", q, err)
		}
		s, err := newSample(nil, v)
		if err != nil {
			return nil, fmt.Errorf("query %q: %w", q, err)
		}
		return []Sample{s}, nil
	default:
		return nil, fmt.Errorf("query %q: result type %q, want vector or scalar", q, data.ResultType)
	}
}

// newSample decodes a [timestamp, "value"] pair.
func newSample(labels map[string]string, v [2]any) (Sample, error) {
	text, ok := v[1].(string)
	if !ok {
		return Sample{}, fmt.Errorf("sample value %v is not a string", v[1])
	}
	return Sample{Metric: labels, Value: text}, nil
}

// Alerts returns the server's active alerts (pending and firing).
func (p *Prometheus) Alerts(ctx context.Context) ([]PromAlert, error) {
	var data struct {
		Alerts []PromAlert `json:"alerts"`
	}
	err := p.get(ctx, "/api/v1/alerts", nil, &data)
	return data.Alerts, err
}

// Rules returns the server's rule groups with the outcome of each rule's last evaluation.
func (p *Prometheus) Rules(ctx context.Context) ([]PromRuleGroup, error) {
	var data struct {
		Groups []PromRuleGroup `json:"groups"`
	}
	err := p.get(ctx, "/api/v1/rules", nil, &data)
	return data.Groups, err
}

// get calls a Prometheus API endpoint and decodes the data of its answer into v.
func (p *Prometheus) get(ctx context.Context, path string, params url.Values, v any) error {
	u := p.base + path
	if len(params) > 0 {
		u += "?" + params.Encode()
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	resp, err := p.client.Do(req)
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	defer resp.Body.Close()
	var body struct {
		Status string          `json:"status"`
		Error  string          `json:"error"`
		Data   json.RawMessage `json:"data"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		return fmt.Errorf("%s: HTTP %d: decoding: %w", path, resp.StatusCode, err)
	}
	if body.Status != "success" {
		return fmt.Errorf("%s: HTTP %d: prometheus: %s", path, resp.StatusCode, body.Error)
	}
	if err := json.Unmarshal(body.Data, v); err != nil {
		return fmt.Errorf("%s: decoding data: %w", path, err)
	}
	return nil
}

// freeLoopbackAddr returns a loopback address whose port was free a moment ago.
func freeLoopbackAddr() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer l.Close()
	addr, ok := l.Addr().(*net.TCPAddr)
	if !ok {
		return "", errors.New("not a TCP address")
	}
	return addr.String(), nil
}

// syncBuffer is a bytes.Buffer safe for a child process's output copier and the test.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
