package exporter_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"
	"go.uber.org/goleak"

	"github.com/aikwatch/aikwatch/exporter"
	"github.com/aikwatch/aikwatch/internal/state"
	"github.com/aikwatch/aikwatch/internal/testutil"
)

// A real Prometheus server scrapes the registry over loopback and answers queries on what it
// scraped.
func TestPrometheusScrapesRegistry(t *testing.T) {
	bin := testutil.RequireTool(t, "prometheus")
	leaks := goleak.IgnoreCurrent()
	f := metricsNovFixture(t)
	st := f.st
	if metricsRace {
		// Under -race a scrape of the full state can outlast the 1 s scrape timeout; scrape a
		// slice of it (the withdrawn and the timed-out host included) instead.
		small := *f.st
		small.Hosts, small.EKCAs = small.Hosts[:40], small.EKCAs[:40]
		st = &small
	}

	reg := exporter.NewRegistry(func() *state.State { return st }, metricsOptions(f))
	srv := httptest.NewServer(promhttp.HandlerFor(reg, promhttp.HandlerOpts{ErrorHandling: promhttp.HTTPErrorOnError}))
	client := &http.Client{Timeout: 5 * time.Second}
	defer func() {
		srv.Close()
		client.CloseIdleConnections()
		goleak.VerifyNone(t, leaks)
	}()

	prom := metricsStartPrometheus(t, bin, srv.Listener.Addr().String())
	defer prom.stop(t)

	// Wait (bounded) until Prometheus has scraped the target successfully.
	deadline := time.Now().Add(metricsPromWait)
	for {
		res, err := prom.query(client, `up{job="aikwatch"}`)
		if err == nil && len(res) == 1 && res[0].value() == "1" {
			break
		}
		select {
		case <-prom.exited:
			t.Fatalf("prometheus exited before scraping the target (last query: %v)\n%s", err, prom.log.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("the target was not up after %s (last query: %v, %v; targets: %s)\n%s",
				metricsPromWait, res, err, prom.targets(client), prom.log.String())
		}
		time.Sleep(200 * time.Millisecond)
	}

	res, err := prom.query(client, "aikwatch_trustlist_info")
	if err != nil || len(res) != 1 {
		t.Fatalf("aikwatch_trustlist_info: %v, %v", res, err)
	}
	if got := res[0].Metric["sha256"]; got != f.snap.SHA256 || res[0].Metric["version_date"] != "2024-11-21" || res[0].value() != "1" {
		t.Errorf("aikwatch_trustlist_info = %v %v, want sha256 %s, version_date 2024-11-21, value 1", res[0].Metric, res[0].Value, f.snap.SHA256)
	}
	for _, c := range []struct{ query, want string }{
		{`count(aikwatch_aik_host_up)`, strconv.Itoa(len(st.Hosts))},
		{`sum(aikwatch_aik_host_up)`, strconv.Itoa(len(st.Hosts) - 2)},
		{fmt.Sprintf(`aikwatch_aik_host_up{host=%q, fleet="true"}`, f.withdrawn), "0"},
		{fmt.Sprintf(`aikwatch_aik_host_status{host=%q, status="withdrawn"}`, f.withdrawn), "1"},
		{`count(aikwatch_ek_ca_not_after_timestamp_seconds)`, strconv.Itoa(len(st.EKCAs))},
		{`aikwatch_deploy_verdict{verdict="no-go"}`, "1"},
		{`aikwatch_trustlist_signature_valid`, "1"},
	} {
		res, err := prom.query(client, c.query)
		if err != nil || len(res) != 1 || res[0].value() != c.want {
			t.Errorf("%s = %v (%v), want one sample of %s", c.query, res, err, c.want)
		}
	}
	if res, err := prom.query(client, `scrape_samples_scraped{job="aikwatch"}`); err == nil && len(res) == 1 {
		t.Logf("Prometheus scraped %s samples per scrape", res[0].value())
	}
	if res, err := prom.query(client, `scrape_duration_seconds{job="aikwatch"}`); err == nil && len(res) == 1 {
		t.Logf("the last scrape took %s s", res[0].value())
	}
}

// Scrape settings of the test server.
const (
	metricsPromInterval = time.Second      // also the scrape timeout
	metricsPromWait     = 30 * time.Second // bound on Prometheus' first successful scrape
)

// metricsPrometheus is a running Prometheus server.
type metricsPrometheus struct {
	cmd    *exec.Cmd
	base   string // http://127.0.0.1:port
	log    *metricsSyncBuffer
	exited chan struct{} // closed when the process has exited
}

// metricsStartPrometheus starts Prometheus scraping target every metricsPromInterval, on a free loopback
// port (retrying with another port when the one picked was taken meanwhile).
func metricsStartPrometheus(t *testing.T, bin, target string) *metricsPrometheus {
	t.Helper()
	dir := t.TempDir()
	cfg := filepath.Join(dir, "prometheus.yml")
	conf := fmt.Sprintf(`global:
  scrape_interval: %[1]s
  scrape_timeout: %[1]s
scrape_configs:
  - job_name: aikwatch
    static_configs:
      - targets: [%[2]q]
`, metricsPromInterval, target)
	if err := os.WriteFile(cfg, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	var last error
	for attempt := range 3 {
		port, err := metricsFreePort()
		if err != nil {
			t.Fatalf("finding a free port: %v", err)
		}
		p := &metricsPrometheus{base: "http://" + net.JoinHostPort("127.0.0.1", strconv.Itoa(port)),
			log: &metricsSyncBuffer{}, exited: make(chan struct{})}
		p.cmd = exec.Command(bin,
			"--config.file="+cfg,
			"--storage.tsdb.path="+filepath.Join(dir, fmt.Sprintf("data%d", attempt)),
			"--web.listen-address="+net.JoinHostPort("127.0.0.1", strconv.Itoa(port)),
			"--log.level=warn")
		p.cmd.Stdout, p.cmd.Stderr = p.log, p.log
		if err := p.cmd.Start(); err != nil {
			t.Fatalf("starting %s: %v", bin, err)
		}
		go func() {
			_ = p.cmd.Wait()
			close(p.exited)
		}()
		// Ready, or gone (the port was taken between picking and listening).
		ready := p.waitReady(15 * time.Second)
		if ready == nil {
			return p
		}
		last = ready
		p.stop(t)
		if !strings.Contains(p.log.String(), "address already in use") {
			break
		}
	}
	t.Fatalf("prometheus did not start: %v", last)
	return nil
}

// waitReady polls /-/ready until Prometheus answers 200, exits, or d passes.
func (p *metricsPrometheus) waitReady(d time.Duration) error {
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

// stop ends Prometheus (SIGTERM, then SIGKILL after 10 s) and waits for it to exit.
func (p *metricsPrometheus) stop(t *testing.T) {
	select {
	case <-p.exited:
		return
	default:
	}
	_ = p.cmd.Process.Signal(os.Interrupt)
	select {
	case <-p.exited:
	case <-time.After(10 * time.Second):
		_ = p.cmd.Process.Kill()
		<-p.exited
		t.Logf("prometheus did not stop on SIGINT; killed")
	}
}

// targets returns Prometheus' view of its targets (health, last error), for failure messages.
func (p *metricsPrometheus) targets(client *http.Client) string {
	resp, err := client.Get(p.base + "/api/v1/targets")
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

// metricsSample is one sample of an instant-vector query result.
type metricsSample struct {
	Metric map[string]string `json:"metric"`
	Value  []any             `json:"value"` // [unix time, "value"]
}

func (s metricsSample) value() string {
	if len(s.Value) != 2 {
		return ""
	}
	v, _ := s.Value[1].(string)
	return v
}

// query runs an instant query through Prometheus' HTTP API.
func (p *metricsPrometheus) query(client *http.Client, q string) ([]metricsSample, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, p.base+"/api/v1/query?query="+url.QueryEscape(q), nil)
	if err != nil {
		return nil, err
	}
	resp, err := client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	var body struct {
		Status string `json:"status"`
		Error  string `json:"error"`
		Data   struct {
			ResultType string          `json:"resultType"`
			Result     []metricsSample `json:"result"`
		} `json:"data"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		return nil, fmt.Errorf("query %q: HTTP %d: decoding: %w", q, resp.StatusCode, err)
	}
	if body.Status != "success" {
		return nil, fmt.Errorf("query %q: %s", q, body.Error)
	}
	if body.Data.ResultType != "vector" {
		return nil, fmt.Errorf("query %q: result type %q, want vector", q, body.Data.ResultType)
	}
	return body.Data.Result, nil
}

// metricsFreePort returns a loopback TCP port that was free a moment ago.
func metricsFreePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	addr, ok := l.Addr().(*net.TCPAddr)
	if !ok {
		return 0, errors.New("not a TCP address")
	}
	return addr.Port, nil
}

// metricsSyncBuffer is a bytes.Buffer safe for a child process's output copier and the test.
type metricsSyncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *metricsSyncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *metricsSyncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
