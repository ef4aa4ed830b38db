package main

import (
	"fmt"
	"io"
	"strconv"
	"strings"
)

// goalMs is the latency goal for /metrics and the API (p99, milliseconds), and
// goalRSSMB its steady-RSS goal.
const (
	goalMs    = 20
	goalRSSMB = 80
)

// markdown writes the results as the table BENCHMARKS.md shows.
func (r *Result) markdown(w io.Writer) {
	fmt.Fprintf(w, "| phase | endpoint | requests | errors | answer KB | p50 ms | p90 ms | p99 ms | max ms | p99 ≤ %d ms | client send lag p99 / max ms |\n", goalMs)
	fmt.Fprintln(w, "|---|---|---:|---:|---:|---:|---:|---:|---:|---|---:|")
	for _, s := range r.Stats {
		verdict := "met"
		if s.P99 > goalMs || s.Errors > 0 {
			verdict = "**MISSED**"
		}
		fmt.Fprintf(w, "| %s | `%s` | %d | %d | %.1f | %.1f | %.1f | %.1f | %.1f | %s | %.1f / %.1f |\n",
			s.Phase, s.Path, s.Count, s.Errors, float64(s.Bytes)/1024, s.P50, s.P90, s.P99, s.Max, verdict, s.LagP99, s.LagMax)
	}
	fmt.Fprintln(w)
	if len(r.PhaseSummaries) > 0 {
		fmt.Fprintf(w, "| phase | seconds | daemon CPU %% of a core | steady RSS MB (median of its last %s) | max RSS MB | sweeps completed | machine busy %% | CPU pressure %% |\n", r.Steady)
		fmt.Fprintln(w, "|---|---:|---:|---:|---:|---:|---:|---:|")
		for _, p := range r.PhaseSummaries {
			fmt.Fprintf(w, "| %s | %.0f | %.0f | %.1f | %.1f | %d | %.0f | %.0f |\n",
				p.Phase, p.Seconds, p.DaemonCPU, p.SteadyRSSMB, p.MaxRSSMB, p.Sweeps, p.MachineBusy, p.CPUPressure)
		}
		fmt.Fprintln(w)
	}
	if r.RSSSamples > 0 {
		verdict := "met"
		if r.SteadyRSSMB > goalRSSMB {
			verdict = "**MISSED**"
		}
		fmt.Fprintf(w, "- daemon RSS: %.1f MB idle before the load; steady %.1f MB (median of the run's last %s; goal ≤ %d MB: %s), "+
			"highest of %d one-second samples %.1f MB, peak since start (VmHWM) %.1f MB\n",
			r.IdleRSSMB, r.SteadyRSSMB, r.Steady, goalRSSMB, verdict, r.RSSSamples, r.MaxSampledMB, r.PeakRSSMB)
	}
	fmt.Fprintf(w, "- series on /metrics: %d at the end; %d to %d over %d scrapes (every 2 s) during the run\n", r.Series, r.SeriesMin, r.SeriesMax, r.SeriesScrapes)
	if len(r.SeriesChanged) > 0 {
		fmt.Fprintf(w, "- series counts that changed between the smallest and the largest scrape: %s\n", strings.Join(r.SeriesChanged, ", "))
	}
	if len(r.GoMem) > 0 {
		mb := func(k string) string {
			v, err := strconv.ParseFloat(r.GoMem[k], 64)
			if err != nil {
				return "?"
			}
			return fmt.Sprintf("%.1f", v/(1<<20))
		}
		fmt.Fprintf(w, "- the daemon's Go runtime at the end (its /metrics): heap in use %s MB, live+garbage heap %s MB, next GC at %s MB, from the OS %s MB; %s goroutines\n",
			mb("go_memstats_heap_inuse_bytes"), mb("go_memstats_heap_alloc_bytes"), mb("go_memstats_next_gc_bytes"), mb("go_memstats_sys_bytes"), r.GoMem["go_goroutines"])
	}
	fmt.Fprintf(w, "- sweeps completed during the load: %d (durations s: %s)\n", r.Sweeps, strings.Join(r.SweepSeconds, ", "))
	fmt.Fprintln(w, "- machine busy: share of all cores' time not idle (steal included, /proc/stat); CPU pressure: share of the time some runnable task waited for a CPU (/proc/pressure/cpu \"some\"); client send lag: how late the load client itself started requests (its own CPU starvation)")
	fmt.Fprintf(w, "- load average before / after: %s / %s on %d cores\n", r.LoadAvgBefore, r.LoadAvgAfter, r.Cores)
	for _, s := range r.Stats {
		if s.FirstError != "" {
			fmt.Fprintf(w, "- first error on %s `%s`: %s\n", s.Phase, s.Path, s.FirstError)
		}
	}
}
