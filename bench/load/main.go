// Command load is the daemon benchmark's load client: it sends GET requests to a running
// `aikwatch serve` at a constant rate (open loop: one goroutine per request, sent on schedule
// whether or not earlier requests have answered), measures each request's latency from its
// scheduled send time to the end of its body (so a stalled server or client shows up in the
// latencies instead of silently lowering the rate), and reports per endpoint the count, errors
// and p50/p90/p99/max.
//
// While it runs it samples the daemon's resident memory (VmRSS in /proc/PID/status) every
// second and its CPU time per phase, and it scrapes /metrics every 2 s on a separate
// connection (0.5 req/s on top of the load, not in the latencies) to count the sweeps
// completed during the load (changes of aikwatch_sweep_last_completed_timestamp_seconds) and
// the series (lines that are neither comments nor empty), whose smallest and largest counts
// it reports with the families that differ.
//
//	load -base http://127.0.0.1:10944 -pid 1234 -rate 50 -duration 60s \
//	  -phase metrics=/metrics -phase api=/api/v1/status,/api/v1/hosts,/api/v1/trustlist
//
// Each -phase runs for -duration at -rate requests per second in total, its paths taken in
// turn. The report is Markdown on stdout (and JSON with -json FILE).
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"slices"
	"strings"
	"sync"
	"time"
)

// phaseFlag collects repeated -phase NAME=PATH[,PATH...] flags.
type phaseFlag []phase

type phase struct {
	Name  string   `json:"name"`
	Paths []string `json:"paths"`
}

func (p *phaseFlag) String() string { return fmt.Sprint(*p) }

func (p *phaseFlag) Set(v string) error {
	name, paths, ok := strings.Cut(v, "=")
	if !ok || name == "" || paths == "" {
		return fmt.Errorf("-phase %q: want NAME=PATH[,PATH...]", v)
	}
	ph := phase{Name: name}
	for _, s := range strings.Split(paths, ",") {
		if s = strings.TrimSpace(s); s != "" {
			if !strings.HasPrefix(s, "/") {
				return fmt.Errorf("-phase %q: path %q does not start with /", v, s)
			}
			ph.Paths = append(ph.Paths, s)
		}
	}
	if len(ph.Paths) == 0 {
		return fmt.Errorf("-phase %q: no paths", v)
	}
	*p = append(*p, ph)
	return nil
}

func main() {
	var phases phaseFlag
	base := flag.String("base", "", "base URL of the daemon, e.g. http://127.0.0.1:10944 (required)")
	pid := flag.Int("pid", 0, "the daemon's process id, for its RSS and CPU time (0: not sampled)")
	rate := flag.Float64("rate", 50, "requests per second, in total, in every phase")
	dur := flag.Duration("duration", 60*time.Second, "how long each phase runs")
	warmup := flag.Duration("warmup", 5*time.Second, "unrecorded load at the same rate before the first phase")
	steady := flag.Duration("steady", 30*time.Second, "steady RSS: the median of the samples of this last stretch of the run")
	timeout := flag.Duration("timeout", 10*time.Second, "per-request timeout (a timed-out request is an error)")
	jsonOut := flag.String("json", "", "also write the results as JSON to this file")
	flag.Var(&phases, "phase", "NAME=PATH[,PATH...]: a phase of the run (repeatable; default: one phase over /metrics and the API)")
	flag.Parse()
	log := slog.New(slog.NewTextHandler(os.Stderr, nil))
	if *base == "" || *rate <= 0 || *dur <= 0 {
		fmt.Fprintln(os.Stderr, "load: -base is required; -rate and -duration must be positive")
		flag.Usage()
		os.Exit(2)
	}
	if len(phases) == 0 {
		phases.Set("mix=/metrics,/api/v1/status,/api/v1/hosts,/api/v1/trustlist")
	}
	res, err := run(context.Background(), config{
		base: strings.TrimSuffix(*base, "/"), pid: *pid, rate: *rate, duration: *dur, warmup: *warmup,
		steady: *steady, timeout: *timeout, phases: phases, log: log,
	})
	if err != nil {
		log.Error("load", "err", err)
		os.Exit(1)
	}
	if *jsonOut != "" {
		b, _ := json.MarshalIndent(res, "", "  ")
		if err := os.WriteFile(*jsonOut, append(b, '\n'), 0o644); err != nil {
			log.Error("load: -json", "err", err)
			os.Exit(1)
		}
	}
	res.markdown(os.Stdout)
}

type config struct {
	base     string
	pid      int
	rate     float64
	duration time.Duration
	warmup   time.Duration
	steady   time.Duration
	timeout  time.Duration
	phases   []phase
	log      *slog.Logger
}

// Stats summarise one endpoint's latencies in one phase.
type Stats struct {
	Phase  string `json:"phase"`
	Path   string `json:"path"`
	Count  int    `json:"count"`
	Errors int    `json:"errors"`
	Bytes  int64  `json:"bytes_per_answer"` // median answer size
	// LagP99 and LagMax are the client's own delay in starting requests after their scheduled
	// time: large values mean the load client itself was starved of CPU.
	LagP99 float64 `json:"send_lag_p99_ms"`
	LagMax float64 `json:"send_lag_max_ms"`
	P50    float64 `json:"p50_ms"`
	P90    float64 `json:"p90_ms"`
	P99    float64 `json:"p99_ms"`
	Max    float64 `json:"max_ms"`
	// FirstError is one of the errors, for the report.
	FirstError string `json:"first_error,omitempty"`
}

// Result is the whole run.
type Result struct {
	Base           string            `json:"base"`
	Rate           float64           `json:"rate_per_s"`
	Duration       string            `json:"phase_duration"`
	Phases         []phase           `json:"phases"`
	Stats          []Stats           `json:"stats"`
	SteadyRSSMB    float64           `json:"steady_rss_mb"`
	PeakRSSMB      float64           `json:"peak_rss_mb"` // VmHWM: the peak since the daemon started
	MaxSampledMB   float64           `json:"max_sampled_rss_mb"`
	RSSSamples     int               `json:"rss_samples"`
	IdleRSSMB      float64           `json:"idle_rss_mb"` // the first sample, before the warm-up
	Steady         string            `json:"steady_window"`
	PhaseSummaries []PhaseSummary    `json:"phase_summaries"`
	Series         int               `json:"series"`     // at the end of the run
	SeriesMin      int               `json:"series_min"` // over the monitor's scrapes (every 2 s)
	SeriesMax      int               `json:"series_max"`
	SeriesScrapes  int               `json:"series_scrapes"`
	GoMem          map[string]string `json:"go_runtime_end"` // the daemon's own go_memstats_* at the end
	SeriesChanged  []string          `json:"series_changed"` // families whose count differs between the min and max scrapes
	Sweeps         int               `json:"sweeps_completed"`
	SweepSeconds   []string          `json:"sweep_durations_s"`
	LoadAvgBefore  string            `json:"loadavg_before"`
	LoadAvgAfter   string            `json:"loadavg_after"`
	Cores          int               `json:"cores"`
}

// PhaseSummary is the daemon's side of one phase.
type PhaseSummary struct {
	Phase       string  `json:"phase"`
	Seconds     float64 `json:"seconds"`
	SteadyRSSMB float64 `json:"steady_rss_mb"` // median of the samples of the phase's last -steady
	MaxRSSMB    float64 `json:"max_rss_mb"`
	DaemonCPU   float64 `json:"daemon_cpu_percent"` // of one core
	// MachineBusy is the share of all cores' time spent not idle (steal included), from
	// /proc/stat; CPUPressure the share of time some runnable task waited for a CPU, from
	// /proc/pressure/cpu (-1: not available). Both say how contended the shared machine was.
	MachineBusy float64 `json:"machine_busy_percent"`
	CPUPressure float64 `json:"cpu_pressure_some_percent"`
	Sweeps      int     `json:"sweeps_completed"`
}

type rssSample struct {
	at time.Time
	mb float64
}

// sweep is a sweep completion the monitor saw.
type sweep struct {
	seen     time.Time
	duration string // seconds, as /metrics gives it
}

type sample struct {
	lat time.Duration // from the scheduled send time to the end of the body
	lag time.Duration // from the scheduled send time to the request's goroutine running: the client's own delay
	n   int64
	err error
}

func run(ctx context.Context, c config) (*Result, error) {
	client := &http.Client{
		Timeout: c.timeout,
		Transport: &http.Transport{
			MaxIdleConns:        256,
			MaxIdleConnsPerHost: 256,
			IdleConnTimeout:     90 * time.Second,
			DisableCompression:  true, // measure the server's work, not gzip's (Prometheus scrapes with gzip; see BENCHMARKS.md)
		},
	}
	monitor := &http.Client{Timeout: c.timeout, Transport: &http.Transport{DisableCompression: true}}
	res := &Result{Base: c.base, Rate: c.rate, Duration: c.duration.String(), Phases: c.phases,
		LoadAvgBefore: loadavg(), Cores: numCPU()}

	if _, err := scrape(ctx, monitor, c.base); err != nil {
		return nil, fmt.Errorf("first scrape of %s/metrics: %w", c.base, err)
	}

	// The RSS sampler and the sweep monitor run for the whole run.
	mctx, stopMonitors := context.WithCancel(ctx)
	var wg sync.WaitGroup
	var mu sync.Mutex // guards rss and sweeps
	var rss []rssSample
	var rssErr error
	if c.pid > 0 {
		wg.Go(func() {
			t := time.NewTicker(time.Second)
			defer t.Stop()
			for {
				kb, err := procStatusKB(c.pid, "VmRSS")
				if err != nil {
					rssErr = err
					return
				}
				mu.Lock()
				rss = append(rss, rssSample{at: time.Now(), mb: float64(kb) / 1024})
				mu.Unlock()
				select {
				case <-mctx.Done():
					return
				case <-t.C:
				}
			}
		})
	}
	var sweeps []sweep
	var lo, hi *scrapeResult // the monitor's scrapes with the fewest and the most series
	scrapes := 0
	var monErr error
	wg.Go(func() {
		t := time.NewTicker(2 * time.Second)
		defer t.Stop()
		last := ""
		for first := true; ; first = false {
			m, err := scrape(mctx, monitor, c.base)
			if err != nil && mctx.Err() == nil {
				monErr = err
			}
			if err == nil {
				mu.Lock()
				scrapes++
				if lo == nil || m.series < lo.series {
					lo = &m
				}
				if hi == nil || m.series > hi.series {
					hi = &m
				}
				if ts := m.sweep["aikwatch_sweep_last_completed_timestamp_seconds"]; ts != last {
					if !first {
						sweeps = append(sweeps, sweep{seen: time.Now(), duration: m.sweep["aikwatch_sweep_last_duration_seconds"]})
					}
					last = ts
				}
				mu.Unlock()
			}
			select {
			case <-mctx.Done():
				return
			case <-t.C:
			}
		}
	})

	if c.warmup > 0 {
		all := phase{Name: "warmup"}
		for _, p := range c.phases {
			all.Paths = append(all.Paths, p.Paths...)
		}
		c.log.Info("warm-up", "duration", c.warmup, "rate", c.rate)
		load(ctx, client, c.base, all, c.rate, c.warmup)
	}
	type window struct {
		from, to   time.Time
		cpu0, cpu1 float64
		cpuErr     error
		m0, m1     machine
	}
	var windows []window
	for _, p := range c.phases {
		c.log.Info("phase", "name", p.Name, "paths", p.Paths, "rate", c.rate, "duration", c.duration)
		w := window{from: time.Now()}
		w.cpu0, w.cpuErr = procCPUSeconds(c.pid)
		w.m0 = readMachine()
		samples := load(ctx, client, c.base, p, c.rate, c.duration)
		w.to = time.Now()
		w.m1 = readMachine()
		if w.cpuErr == nil {
			w.cpu1, w.cpuErr = procCPUSeconds(c.pid)
		}
		windows = append(windows, w)
		for _, path := range p.Paths {
			res.Stats = append(res.Stats, summarise(p.Name, path, samples[path]))
		}
	}
	stopMonitors()
	wg.Wait()
	if rssErr != nil {
		return nil, fmt.Errorf("sampling the daemon's RSS: %w", rssErr)
	}
	if monErr != nil {
		c.log.Warn("the sweep monitor missed a scrape", "err", monErr)
	}

	for i, w := range windows {
		ps := PhaseSummary{Phase: c.phases[i].Name, Seconds: w.to.Sub(w.from).Seconds()}
		ps.MachineBusy, ps.CPUPressure = w.m1.since(w.m0, w.to.Sub(w.from))
		if w.cpuErr == nil {
			ps.DaemonCPU = 100 * (w.cpu1 - w.cpu0) / ps.Seconds
		}
		var in, last []float64
		for _, s := range rss {
			if !s.at.Before(w.from) && !s.at.After(w.to) {
				in = append(in, s.mb)
				if !s.at.Before(w.to.Add(-c.steady)) {
					last = append(last, s.mb)
				}
			}
		}
		if len(in) > 0 {
			ps.SteadyRSSMB, ps.MaxRSSMB = median(last), slices.Max(in)
		}
		for _, s := range sweeps {
			if !s.seen.Before(w.from) && !s.seen.After(w.to) {
				ps.Sweeps++
			}
		}
		res.PhaseSummaries = append(res.PhaseSummaries, ps)
	}
	if c.pid > 0 && len(rss) > 0 {
		res.RSSSamples, res.IdleRSSMB, res.Steady = len(rss), rss[0].mb, c.steady.String()
		var last []float64
		for _, s := range rss {
			if !s.at.Before(rss[len(rss)-1].at.Add(-c.steady)) {
				last = append(last, s.mb)
			}
		}
		res.SteadyRSSMB = median(last)
		for _, s := range rss {
			res.MaxSampledMB = max(res.MaxSampledMB, s.mb)
		}
		hwm, err := procStatusKB(c.pid, "VmHWM")
		if err != nil {
			return nil, fmt.Errorf("the daemon's peak RSS: %w", err)
		}
		res.PeakRSSMB = float64(hwm) / 1024
	}
	res.Sweeps = len(sweeps)
	for _, s := range sweeps {
		res.SweepSeconds = append(res.SweepSeconds, s.duration)
	}
	final, err := scrape(ctx, monitor, c.base)
	if err != nil {
		return nil, fmt.Errorf("counting the series: %w", err)
	}
	res.Series = final.series
	res.GoMem = map[string]string{}
	for _, k := range []string{"go_memstats_heap_alloc_bytes", "go_memstats_heap_inuse_bytes", "go_memstats_next_gc_bytes",
		"go_memstats_sys_bytes", "go_goroutines"} {
		res.GoMem[k] = final.sweep[k]
	}
	if lo != nil && hi != nil {
		res.SeriesMin, res.SeriesMax, res.SeriesScrapes = lo.series, hi.series, scrapes
		for name, n := range hi.families {
			if lo.families[name] != n {
				res.SeriesChanged = append(res.SeriesChanged, fmt.Sprintf("%s %d→%d", name, lo.families[name], n))
			}
		}
		for name, n := range lo.families {
			if _, ok := hi.families[name]; !ok {
				res.SeriesChanged = append(res.SeriesChanged, fmt.Sprintf("%s %d→0", name, n))
			}
		}
		slices.Sort(res.SeriesChanged)
	}
	res.LoadAvgAfter = loadavg()
	return res, nil
}

// load sends GETs for p's paths in turn at rate per second for d and returns each path's
// samples. The send times are fixed in advance (start + i/rate); each request runs in its own
// goroutine and its latency counts from its scheduled time.
func load(ctx context.Context, client *http.Client, base string, p phase, rate float64, d time.Duration) map[string][]sample {
	interval := time.Duration(float64(time.Second) / rate)
	n := int(d / interval)
	out := make([]sample, n)
	var wg sync.WaitGroup
	start := time.Now().Add(interval)
	for i := range n {
		at := start.Add(time.Duration(i) * interval)
		if w := time.Until(at); w > 0 {
			time.Sleep(w)
		}
		path := p.Paths[i%len(p.Paths)]
		wg.Go(func() {
			lag := time.Since(at)
			n, err := get(ctx, client, base+path)
			out[i] = sample{lat: time.Since(at), lag: lag, n: n, err: err}
		})
	}
	wg.Wait()
	byPath := map[string][]sample{}
	for i, s := range out {
		path := p.Paths[i%len(p.Paths)]
		byPath[path] = append(byPath[path], s)
	}
	return byPath
}

// get fetches url and reads the whole body; anything but 200 is an error.
func get(ctx context.Context, client *http.Client, url string) (int64, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return 0, err
	}
	resp, err := client.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	n, err := io.Copy(io.Discard, resp.Body)
	if err != nil {
		return n, fmt.Errorf("reading the body: %w", err)
	}
	if resp.StatusCode != http.StatusOK {
		return n, fmt.Errorf("status %s", resp.Status)
	}
	return n, nil
}

func summarise(phaseName, path string, ss []sample) Stats {
	st := Stats{Phase: phaseName, Path: path, Count: len(ss)}
	var lat, lags []float64
	var sizes []float64
	for _, s := range ss {
		lags = append(lags, float64(s.lag)/float64(time.Millisecond))
		if s.err != nil {
			st.Errors++
			if st.FirstError == "" {
				st.FirstError = s.err.Error()
			}
		} else {
			sizes = append(sizes, float64(s.n))
		}
		// Failed requests count in the latencies too: a timeout is a very slow answer.
		lat = append(lat, float64(s.lat)/float64(time.Millisecond))
	}
	if len(lat) == 0 {
		return st
	}
	slices.Sort(lat)
	st.P50, st.P90, st.P99, st.Max = quantile(lat, 0.50), quantile(lat, 0.90), quantile(lat, 0.99), lat[len(lat)-1]
	st.Bytes = int64(median(sizes))
	slices.Sort(lags)
	st.LagP99, st.LagMax = quantile(lags, 0.99), lags[len(lags)-1]
	return st
}

// quantile is the nearest-rank quantile of sorted values.
func quantile(sorted []float64, q float64) float64 {
	i := int(float64(len(sorted))*q+0.999999) - 1
	return sorted[min(max(i, 0), len(sorted)-1)]
}

func median(v []float64) float64 {
	if len(v) == 0 {
		return 0
	}
	s := slices.Sorted(slices.Values(v))
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

// scrapeResult is what the monitor reads from one scrape of /metrics.
type scrapeResult struct {
	sweep    map[string]string // the unlabelled aikwatch_sweep_* and go_memstats_* samples
	series   int               // samples: the lines that are neither empty nor comments
	families map[string]int    // samples by metric name
}

// scrape fetches /metrics and counts its series.
func scrape(ctx context.Context, client *http.Client, base string) (scrapeResult, error) {
	r := scrapeResult{sweep: map[string]string{}, families: map[string]int{}}
	body, err := fetch(ctx, client, base+"/metrics")
	if err != nil {
		return r, err
	}
	for line := range bytes.Lines(body) {
		line = bytes.TrimSpace(line)
		if len(line) == 0 || line[0] == '#' {
			continue
		}
		r.series++
		name := line
		if i := bytes.IndexAny(line, "{ "); i >= 0 {
			name = line[:i]
		}
		r.families[string(name)]++
		if bytes.HasPrefix(line, []byte("aikwatch_sweep_")) || bytes.HasPrefix(line, []byte("go_memstats_")) ||
			bytes.HasPrefix(line, []byte("go_goroutines ")) {
			if name, val, ok := strings.Cut(string(line), " "); ok {
				r.sweep[name] = val
			}
		}
	}
	return r, nil
}

func fetch(ctx context.Context, client *http.Client, url string) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, err
	}
	resp, err := client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, fmt.Errorf("%s: reading the body: %w", url, err)
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("%s: status %s", url, resp.Status)
	}
	return body, nil
}
