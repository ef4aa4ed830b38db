package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"runtime/debug"
	"sync/atomic"
	"time"

	"github.com/alecthomas/kingpin/v2"
	"github.com/prometheus/exporter-toolkit/web"

	"github.com/aikwatch/aikwatch/alerts"
	"github.com/aikwatch/aikwatch/exporter"
	"github.com/aikwatch/aikwatch/internal/daemon"
	"github.com/aikwatch/aikwatch/internal/netx"
	"github.com/aikwatch/aikwatch/internal/state"
	"github.com/aikwatch/aikwatch/internal/store"
	"github.com/aikwatch/aikwatch/trustlist"
)

// defaultListen is aikwatch's port: the exporters' 9100-9999 range is fully allocated, and
// 10944 is used by no well-known exporter or service.
const defaultListen = ":10944"

// webFlags are the Prometheus-style web flags (exporter-toolkit).
type webFlags struct {
	listen      []string
	configFile  string
	externalURL string
}

func addWebFlags(cmd *kingpin.CmdClause, def string) *webFlags {
	w := &webFlags{}
	cmd.Flag("web.listen-address", "Address to listen on for the status page, the API and /metrics. Repeatable.").Default(def).StringsVar(&w.listen)
	cmd.Flag("web.config.file", "Path to a web configuration file (TLS, basic auth; see exporter-toolkit's web-configuration).").Default("").StringVar(&w.configFile)
	cmd.Flag("web.external-url", "The URL under which people reach the status page (linked from alert messages). Default: the first listen address.").StringVar(&w.externalURL)
	return w
}

// registerServe adds `aikwatch serve`: the daemon.
func (c *cli) registerServe(actions map[string]func(context.Context) error) {
	cmd := c.app.Command("serve", "Watch the trust list, the AIK CA service and the EK services on a schedule; serve the status page, the API and Prometheus metrics.")
	config := cmd.Flag("config", "Configuration file (YAML); see the README for every option. Environment variables AIKWATCH_* override it.").ExistingFile()
	dataDir := cmd.Flag("data-dir", "Data directory (overrides the configuration).").String()
	tlURL := cmd.Flag("trustlist-url", "Where to download TrustedTpm.cab (overrides the configuration).").String()
	wf := addWebFlags(cmd, defaultListen)
	nf := addNetFlags(cmd)
	rf := addRootsFlags(cmd)
	actions[cmd.FullCommand()] = func(ctx context.Context) error {
		cfg, err := daemon.LoadConfig(*config)
		if err != nil {
			return exitCode(2, err)
		}
		if err := cfg.ApplyEnv(os.Getenv); err != nil {
			return exitCode(2, err)
		}
		if *dataDir != "" {
			cfg.DataDir = *dataDir
		}
		if *tlURL != "" {
			cfg.TrustList.URL = *tlURL
		}
		cfg.Network.Resolve = append(cfg.Network.Resolve, nf.resolve...)
		cfg.Network.CAFiles = append(cfg.Network.CAFiles, nf.caFiles...)
		rf.apply(&cfg)
		return c.serve(ctx, cfg, daemon.Options{Logger: c.logger}, wf, nil)
	}
}

// serve runs the daemon and its web server until ctx ends. ready, when set, receives the
// listeners' addresses once they accept connections.
func (c *cli) serve(ctx context.Context, cfg daemon.Config, o daemon.Options, wf *webFlags, ready func([]string)) error {
	if os.Getenv("GOMEMLIMIT") == "" {
		// A soft limit: the daemon's steady heap is a few tens of MB; collect before growing
		// past this rather than after.
		debug.SetMemoryLimit(64 << 20)
	}
	var listeners []net.Listener
	var addrs []string
	closeAll := func() {
		for _, l := range listeners {
			l.Close()
		}
	}
	for _, a := range wf.listen {
		l, err := net.Listen("tcp", a)
		if err != nil {
			closeAll()
			return exitCode(2, fmt.Errorf("listen %s: %w", a, err))
		}
		listeners = append(listeners, l)
		addrs = append(addrs, l.Addr().String())
	}

	// The alerts evaluate every state change; the engine exists once the daemon does.
	var eng atomic.Pointer[alerts.Engine]
	next := o.OnChange
	o.OnChange = func(s *state.State) {
		if next != nil {
			next(s)
		}
		if e := eng.Load(); e != nil {
			if err := e.Evaluate(s); err != nil {
				c.logger.Warn("alerts: evaluation failed", "err", err)
			}
		}
	}
	d, err := daemon.New(cfg, o)
	if err != nil {
		closeAll()
		return exitCode(2, err)
	}
	defer d.Close()
	e, err := c.alertEngine(cfg, d, wf, addrs)
	if err != nil {
		closeAll()
		return exitCode(2, err)
	}
	defer e.Close() // before d.Close: deferred later, runs first
	eng.Store(e)

	mux := http.NewServeMux()
	ah := e.Handler()
	for _, p := range []string{alerts.PathAlerts, alerts.PathAlerts + "/", alerts.PathSilences, alerts.PathSilences + "/", alerts.PathOutbox} {
		mux.Handle(p, ah)
	}
	mux.Handle("/", exporter.NewHandler(exporter.Options{
		State:        d.State,
		Fleet:        d.Fleet(),
		Metrics:      exporter.NewMetricsHandler(d.State, exporter.CollectorOptions{Fleet: d.Fleet(), Version: version}, c.logger),
		History:      storeHistory{d.Store()},
		Refresh:      d.TriggerRefresh,
		ReportCanary: d.ReportCanary,
		ForgetCanary: d.ForgetCanary,
		Version:      version,
		Logger:       c.logger,
	}))
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	falseFlag := false
	flags := &web.FlagConfig{WebListenAddresses: &wf.listen, WebSystemdSocket: &falseFlag, WebConfigFile: &wf.configFile}
	errc := make(chan error, 1)
	go func() { errc <- web.ServeMultiple(listeners, srv, flags, c.logger) }()
	if err := d.Start(ctx); err != nil {
		return exitCode(2, err)
	}
	if err := e.Evaluate(d.State()); err != nil {
		c.logger.Warn("alerts: evaluation failed", "err", err)
	}
	e.Start(ctx)
	c.logger.Info("aikwatch serving", "addresses", addrs, "data_dir", cfg.DataDir, "trustlist", cfg.TrustList.URL,
		"fleet_hosts", len(d.Fleet().Hosts), "fleet_vendors", d.Fleet().Vendors)
	if ready != nil {
		ready(addrs)
	}
	select {
	case <-ctx.Done():
	case err := <-errc:
		if err != nil && !errors.Is(err, http.ErrServerClosed) {
			return exitCode(2, fmt.Errorf("web server: %w", err))
		}
	}
	shutdown, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := srv.Shutdown(shutdown); err != nil {
		c.logger.Warn("web server shutdown", "err", err)
	}
	return nil
}

// alertEngine builds the alert engine over the daemon's store, delivering to Slack when the
// AIKWATCH_SLACK_* variables configure it and this instance has not switched it off.
func (c *cli) alertEngine(cfg daemon.Config, d *daemon.Daemon, wf *webFlags, addrs []string) (*alerts.Engine, error) {
	var ns []alerts.Notifier
	sc, ok, err := alerts.SlackConfigFromEnv(os.Getenv)
	if err != nil {
		return nil, err
	}
	switch {
	case ok && cfg.Alerts.SlackEnabled():
		sc.Logger = c.logger.With("component", "slack")
		// The daemon's network options apply to Slack too (a proxy's CA, a test double).
		hc, err := netx.Options{Resolve: cfg.Network.Resolve, CAFiles: cfg.Network.CAFiles}.Client()
		if err != nil {
			return nil, err
		}
		n, err := alerts.NewSlack(sc, hc)
		if err != nil {
			return nil, err
		}
		ns = append(ns, n)
		c.logger.Info("alerts are delivered to Slack", "slack", sc)
	case ok:
		c.logger.Info("Slack is configured but this instance's Slack delivery is switched off (alerts.slack: false)")
	default:
		c.logger.Info("no Slack configured (AIKWATCH_SLACK_WEBHOOK_URL, or AIKWATCH_SLACK_TOKEN with AIKWATCH_SLACK_CHANNEL): alerts are kept but not sent")
	}
	ac := cfg.Alerts.Config
	ac.Fleet, ac.State = d.Fleet(), d.State
	if ac.StatusURL == "" {
		ac.StatusURL = wf.externalURL
	}
	if ac.StatusURL == "" && len(addrs) > 0 {
		ac.StatusURL = "http://" + addrs[0] + "/"
	}
	return alerts.NewEngine(d.Store(), ac, ns, c.logger.With("component", "alerts"), nil)
}

// storeHistory adapts the store to the API's history.
type storeHistory struct{ s *store.Store }

func (h storeHistory) Releases() ([]exporter.ReleaseInfo, error) {
	recs, err := h.s.Releases()
	if err != nil {
		return nil, err
	}
	out := make([]exporter.ReleaseInfo, 0, len(recs))
	for _, r := range recs {
		out = append(out, exporter.ReleaseInfo{SHA256: r.SHA256, VersionDate: trustlist.DateString(r.VersionDate),
			Size: r.Size, Source: r.Source, FetchedAt: r.FetchedAt, CommittedAt: r.CommittedAt, Signature: r.Signature})
	}
	return out, nil
}

func (h storeHistory) Diffs(limit int) ([]exporter.DiffInfo, error) {
	ds, err := h.s.Diffs(limit)
	if err != nil {
		return nil, err
	}
	out := make([]exporter.DiffInfo, 0, len(ds))
	for _, d := range ds {
		di := exporter.DiffInfo{At: d.At, Diff: d.Diff}
		if d.Diff != nil {
			di.From, di.To = d.Diff.From, d.Diff.To
		}
		out = append(out, di)
	}
	return out, nil
}
