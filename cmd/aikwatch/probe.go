package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/aikwatch/aikwatch/probes"
	"github.com/aikwatch/aikwatch/trustlist"
)

// probeReport is the JSON output of `aikwatch probe`.
type probeReport struct {
	Results []probes.Result `json:"results"`
	Summary probeSummary    `json:"summary"`
}

// probeSummary counts a sweep's outcomes.
type probeSummary struct {
	Total           int                   `json:"total"`
	OK              int                   `json:"ok"`
	Failing         int                   `json:"failing"`
	ByStatus        map[probes.Status]int `json:"by_status"`
	DurationSeconds float64               `json:"duration_seconds"` // wall time of the sweep
}

// registerProbe adds `aikwatch probe`: one sweep of the AIK CA service.
func (c *cli) registerProbe(actions map[string]func(context.Context) error) {
	cmd := c.app.Command("probe", "Probe the AIK CA service once: GetCACaps then GetCACertChain on every AIK host of the trust list and every --host. Exit 0 when all are ok, 1 when any fails, 2 on usage or trust-list errors.")
	src := cmd.Flag("trustlist", "Trust list whose AIK hosts to probe: a .cab, a .zip/.tar.gz mirror, a directory or an https:// URL. Default: Microsoft's download link, unless only --host is given.").PlaceHolder("SOURCE").String()
	hosts := cmd.Flag("host", "AIK CA host a fleet depends on, in any case, with or without .microsoftaik.azure.net (IFX-KeyId-<40 hex>). Repeatable.").PlaceHolder("HOST").Strings()
	vendors := cmd.Flag("vendor", "Probe only hosts of this vendor (IFX, INTC, AMD, ...; any case). Repeatable.").PlaceHolder("VENDOR").Strings()
	conc := cmd.Flag("concurrency", "Probes in flight at once.").Default(fmt.Sprint(probes.DefaultConcurrency)).Int()
	timeout := cmd.Flag("timeout", "Time allowed for one host's probe (both requests).").Default(probes.DefaultAIKTimeout.String()).Duration()
	maxSize := cmd.Flag("max-size", "Largest trust-list source accepted, in bytes.").Default(fmt.Sprint(trustlist.DefaultMaxSourceSize)).Int64()
	out := outputFlag(cmd)
	nf := addNetFlags(cmd)

	actions[cmd.FullCommand()] = func(ctx context.Context) error {
		oneShot()
		if *conc < 1 {
			return exitCode(2, fmt.Errorf("--concurrency %d: want at least 1", *conc))
		}
		if *timeout <= 0 {
			return exitCode(2, fmt.Errorf("--timeout %s: want a positive duration", *timeout))
		}
		source := *src
		if source == "" && len(*hosts) == 0 {
			source = trustlist.DefaultURL
		}
		dl, err := nf.options(downloadTimeout).Client()
		if err != nil {
			return exitCode(2, err)
		}
		client, err := nf.options(0).Client()
		if err != nil {
			return exitCode(2, err)
		}
		defer client.CloseIdleConnections()

		var targets []probes.Target
		if source != "" {
			o := trustlist.Options{MaxSourceSize: *maxSize, Fetcher: &trustlist.Fetcher{Client: dl, MaxSize: *maxSize}}
			if targets, err = c.trustlistTargets(ctx, source, o); err != nil {
				return exitCode(2, err)
			}
		}
		if targets, err = addFleetHosts(targets, *hosts); err != nil {
			return exitCode(2, err)
		}
		if targets, err = filterVendors(targets, *vendors); err != nil {
			return exitCode(2, err)
		}

		p := &probes.AIKProber{Client: client, Timeout: *timeout}
		start := time.Now()
		res := probes.Sweep(ctx, p, targets, probes.SweepOptions{Concurrency: *conc, OnResult: func(r probes.Result) {
			c.logger.Debug("probed", "host", r.Host, "status", r.Status, "http", r.HTTPStatus, "seconds", r.DurationSeconds, "error", r.Error)
		}})
		rep := probeReport{Results: res, Summary: summarize(res, time.Since(start))}
		if *out == "json" {
			err = writeJSON(c.stdout, rep)
		} else {
			err = renderProbe(c.stdout, rep)
		}
		if err != nil {
			return err
		}
		if rep.Summary.Failing > 0 {
			return exitCode(1, nil)
		}
		return nil
	}
}

// trustlistTargets loads a release and returns its AIK hosts, each with the certificates the
// release ships for it. A signature that is not valid is logged, not fatal: the hosts are
// probed either way.
func (c *cli) trustlistTargets(ctx context.Context, source string, o trustlist.Options) ([]probes.Target, error) {
	if st, err := os.Stat(source); err == nil && st.IsDir() {
		s, err := trustlist.Load(ctx, source, o)
		if err != nil {
			return nil, err
		}
		return probes.TargetsFromSnapshot(s), nil
	}
	data, err := trustlist.ReadSource(ctx, source, o)
	if err != nil {
		return nil, err
	}
	sigc := make(chan trustlist.Signature, 1)
	go func() { sigc <- trustlist.VerifySignature(data, o) }()
	files, _, err := trustlist.ReadFiles(ctx, data, source, o)
	sig := <-sigc
	if err != nil {
		return nil, fmt.Errorf("%s: %w", source, err)
	}
	if sig.Status != trustlist.SignatureValid {
		c.logger.Warn("trust list signature is not valid; probing its hosts anyway", "source", source, "status", sig.Status, "reason", sig.Reason, "detail", sig.Detail)
	}
	s, err := trustlist.Index(files)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", source, err)
	}
	if len(s.AIKHosts) == 0 {
		return nil, fmt.Errorf("%s: the trust list names no AIK CA host", source)
	}
	return probes.WithExpectedCerts(probes.TargetsFromSnapshot(s), files), nil
}

// addFleetHosts marks the targets named by --host as fleet hosts and appends those the trust
// list does not name.
func addFleetHosts(targets []probes.Target, hosts []string) ([]probes.Target, error) {
	for _, h := range hosts {
		t, err := probes.TargetFromHost(h)
		if err != nil {
			return nil, fmt.Errorf("--host %q: %w", h, err)
		}
		i := slices.IndexFunc(targets, func(x probes.Target) bool { return x.Host == t.Host })
		if i >= 0 {
			targets[i].Fleet = true
			continue
		}
		targets = append(targets, t)
	}
	return targets, nil
}

// filterVendors keeps the targets of the given vendors (any case); none given keeps all.
func filterVendors(targets []probes.Target, vendors []string) ([]probes.Target, error) {
	if len(vendors) == 0 {
		return targets, nil
	}
	want := map[string]bool{}
	for _, v := range vendors {
		want[strings.ToUpper(strings.TrimSpace(v))] = true
	}
	var out []probes.Target
	seen := map[string]bool{}
	for _, t := range targets {
		seen[t.Vendor] = true
		if want[t.Vendor] {
			out = append(out, t)
		}
	}
	if len(out) == 0 {
		known := make([]string, 0, len(seen))
		for v := range seen {
			known = append(known, v)
		}
		sort.Strings(known)
		return nil, fmt.Errorf("--vendor %s: no AIK host of that vendor (vendors: %s)", strings.Join(vendors, ","), strings.Join(known, " "))
	}
	return out, nil
}

func summarize(res []probes.Result, wall time.Duration) probeSummary {
	s := probeSummary{Total: len(res), ByStatus: map[probes.Status]int{}, DurationSeconds: wall.Seconds()}
	for _, r := range res {
		s.ByStatus[r.Status]++
		if r.OK() {
			s.OK++
		} else {
			s.Failing++
		}
	}
	return s
}

// renderProbe prints a sweep for people: failures first, then the rest, then a summary.
func renderProbe(w io.Writer, rep probeReport) error {
	res := slices.Clone(rep.Results)
	sort.SliceStable(res, func(i, j int) bool {
		a, b := res[i], res[j]
		if a.OK() != b.OK() {
			return !a.OK()
		}
		if a.Status != b.Status {
			return a.Status < b.Status
		}
		return a.Host < b.Host
	})
	tw := newTab(w)
	fmt.Fprintln(tw, "STATUS\tHOST\tVENDOR\tHTTP\tDURATION\tERROR")
	for _, r := range res {
		code := "-"
		if r.HTTPStatus != 0 {
			code = fmt.Sprint(r.HTTPStatus)
		}
		host := r.Host
		if r.Fleet {
			host += " (fleet)"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", r.Status, host, orDash(r.Vendor), code,
			time.Duration(r.DurationSeconds*float64(time.Second)).Round(time.Millisecond), errExcerpt(r.Error, 100))
	}
	if err := tw.Flush(); err != nil {
		return fmt.Errorf("writing table: %w", err)
	}
	line := fmt.Sprintf("%d ok, %d failing", rep.Summary.OK, rep.Summary.Failing)
	if rep.Summary.Failing > 0 {
		var parts []string
		for st, n := range rep.Summary.ByStatus {
			if st != probes.StatusOK {
				parts = append(parts, fmt.Sprintf("%d %s", n, st))
			}
		}
		sort.Strings(parts)
		line += " (" + strings.Join(parts, ", ") + ")"
	}
	_, err := fmt.Fprintf(w, "\n%s in %s\n", line, time.Duration(rep.Summary.DurationSeconds*float64(time.Second)).Round(time.Millisecond))
	return err
}

func errExcerpt(s string, n int) string {
	if s == "" {
		return "-"
	}
	if len(s) > n {
		return strings.ToValidUTF8(s[:n], "") + "..."
	}
	return s
}
