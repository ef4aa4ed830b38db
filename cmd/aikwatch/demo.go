package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/aikwatch/aikwatch/internal/authenticode"
	"github.com/aikwatch/aikwatch/internal/daemon"
	"github.com/aikwatch/aikwatch/internal/netx"
	"github.com/aikwatch/aikwatch/internal/sim"
	"github.com/aikwatch/aikwatch/trustlist"
)

// demoRelease is the real release the demo starts from when the repository's testdata is at hand.
const demoRelease = "testdata/trustedtpm/TrustedTpm-2024-11-21.cab"

// registerDemo adds `aikwatch demo`: the simulator and the daemon in one process, offline.
func (c *cli) registerDemo(actions map[string]func(context.Context) error) {
	cmd := c.app.Command("demo", "Run the simulator of Microsoft's services and the daemon watching it, in one process, offline. A built-in scenario withdraws an AIK CA at the service after a minute, then publishes a trust-list release that removes it.")
	wf := addWebFlags(cmd, "127.0.0.1:10944")
	control := cmd.Flag("sim.control-address", "Listen address of the simulator's control API (inject faults: PUT /hosts/{host} {\"mode\":\"withdrawn\"}).").Default("127.0.0.1:10945").String()
	scenario := cmd.Flag("scenario", "builtin, none, or a scenario YAML file (see internal/sim).").Default("builtin").String()
	delay := cmd.Flag("scenario.delay", "When the built-in scenario withdraws the AIK CA at the service; the new release follows as long again after.").Default("1m").Duration()
	sweep := cmd.Flag("sweep-interval", "How often the daemon sweeps the AIK hosts.").Default("15s").Duration()
	dataDir := cmd.Flag("data-dir", "Data directory (default: a temporary directory, removed at exit).").String()
	tl := cmd.Flag("trustlist", "Release the simulator starts with (default: the real Nov-2024 cab from testdata/ when present, else a generated one).").String()
	actions[cmd.FullCommand()] = func(ctx context.Context) error {
		return c.demo(ctx, demoOptions{web: wf, control: *control, scenario: *scenario, delay: *delay, sweep: *sweep, dataDir: *dataDir, trustList: *tl})
	}
}

type demoOptions struct {
	web       *webFlags
	control   string
	scenario  string
	delay     time.Duration
	sweep     time.Duration
	dataDir   string
	trustList string
	ready     func(base string, s *sim.Sim) // tests
}

func (c *cli) demo(ctx context.Context, o demoOptions) error {
	if o.sweep < time.Second {
		return exitCode(2, fmt.Errorf("--sweep-interval %s: want at least 1s", o.sweep))
	}
	var cab []byte
	switch {
	case o.trustList != "":
		b, err := os.ReadFile(o.trustList)
		if err != nil {
			return exitCode(2, fmt.Errorf("--trustlist: %w", err))
		}
		cab = b
	default:
		if b, err := os.ReadFile(demoRelease); err == nil {
			cab = b
		}
	}
	s, err := sim.New(sim.Config{Addr: "127.0.0.1:0", ControlAddr: o.control, TrustList: cab, Logger: c.logger.With("component", "sim")})
	if err != nil {
		return exitCode(2, err)
	}
	if err := s.Start(); err != nil {
		return exitCode(2, err)
	}
	defer s.Close()

	dir := o.dataDir
	if dir == "" {
		tmp, err := os.MkdirTemp("", "aikwatch-demo-")
		if err != nil {
			return exitCode(2, err)
		}
		defer os.RemoveAll(tmp)
		dir = tmp
	}
	caFile := filepath.Join(dir, "sim-ca.pem")
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return exitCode(2, err)
	}
	if err := os.WriteFile(caFile, s.CACertPEM(), 0o600); err != nil {
		return exitCode(2, err)
	}

	// The victim: a fleet host of the release in force, withdrawn by the built-in scenario.
	hosts := s.AIKHosts()
	if len(hosts) == 0 {
		return exitCode(2, errors.New("the simulator serves no AIK host"))
	}
	victim := hosts[0]
	for _, h := range hosts {
		if len(h) > 4 && h[:4] == "amd-" {
			victim = h
			break
		}
	}

	cfg := daemon.DefaultConfig()
	cfg.DataDir = filepath.Join(dir, "data")
	cfg.TrustList.URL = trustlist.DefaultURL
	cfg.Network = daemon.NetworkConfig{Resolve: []string{"*=" + s.Addr()}, CAFiles: []string{caFile}}
	every := fmt.Sprintf("@every %s", o.sweep)
	cfg.Schedule = daemon.ScheduleConfig{TrustList: every, Sweep: every, EKServices: every, EKCAs: "@every 1h"}
	cfg.Probes.Timeout = 5 * time.Second
	cfg.Fleet.Hosts = []string{victim}

	// Trust Microsoft's roots and the simulator's own signing roots (its releases are signed by it).
	roots, err := withSimRoots(s)
	if err != nil {
		return exitCode(2, err)
	}

	var sc *sim.Scenario
	switch o.scenario {
	case "none":
	case "builtin":
		sc = builtinScenario(victim, o.delay)
	default:
		if sc, err = sim.ParseScenarioFile(o.scenario); err != nil {
			return exitCode(2, err)
		}
	}

	return c.serve(ctx, cfg, daemon.Options{Logger: c.logger, Roots: &roots}, o.web, func(addrs []string) {
		base := "http://" + addrs[0]
		fmt.Fprintf(c.stdout, `aikwatch demo: the simulator of Microsoft's services and the daemon watching it, offline.

  status page     %[1]s/
  metrics         %[1]s/metrics
  API             %[1]s/api/v1/status   %[1]s/api/v1/hosts   %[1]s/api/v1/trustlist/history
  simulator       https://%[2]s (control API %[3]s)
  fleet host      %[4]s
  canary          %[1]s/api/v1/canaries   (a simulated Windows device on that host; aikwatch-canary on a real one)
  data            %[5]s

Try:
  go run ./cmd/aikwatch check --server %[1]s
  curl -X PUT -d '{"mode":"hang"}' %[3]s/hosts/%[4]s    # inject a fault (modes: ok withdrawn bad_request error_500 throttled slow hang reset tls_error)
`, base, s.Addr(), s.ControlURL(), victim, dir)
		if sc != nil {
			fmt.Fprintln(c.stdout, "\nScenario:")
			for _, st := range sc.Steps {
				fmt.Fprintf(c.stdout, "  after %-6s %s\n", st.At, describeStep(st))
			}
			go func() {
				if err := s.RunScenario(ctx, sc); err != nil && !errors.Is(err, context.Canceled) {
					c.logger.Warn("demo scenario", "err", err)
				}
			}()
		}
		if client, err := (netx.Options{Resolve: cfg.Network.Resolve, CAFiles: cfg.Network.CAFiles}).Client(); err != nil {
			c.logger.Warn("demo canary not started", "err", err)
		} else {
			go runDemoCanary(ctx, base, victim, client, o.sweep, c.logger.With("component", "demo-canary"))
		}
		if o.ready != nil {
			o.ready(base, s)
		}
	})
}

// builtinScenario withdraws victim at the service after delay, then publishes a release
// without it as long again after.
func builtinScenario(victim string, delay time.Duration) *sim.Scenario {
	if delay <= 0 {
		delay = time.Minute
	}
	return &sim.Scenario{Steps: []sim.Step{
		{At: delay, Host: victim, Mode: sim.ModeWithdrawn},
		{At: 2 * delay, WithdrawRelease: []string{victim}},
	}}
}

func describeStep(st sim.Step) string {
	switch {
	case len(st.WithdrawRelease) > 0:
		return fmt.Sprintf("a new trust-list release removes the AIK CA of %v", st.WithdrawRelease)
	case st.Publish != "":
		return "publish " + st.Publish
	case st.Host != "":
		return fmt.Sprintf("%s answers %s", st.Host, st.Mode)
	default:
		return fmt.Sprintf("every host answers %s", st.Mode)
	}
}

// withSimRoots returns Microsoft's roots plus the simulator's code-signing and timestamp roots.
func withSimRoots(s *sim.Sim) (authenticode.Roots, error) {
	csPEM, tsPEM := s.SigningRootsPEM()
	cs, err := authenticode.ParseCertificates(csPEM)
	if err != nil {
		return authenticode.Roots{}, fmt.Errorf("simulator roots: %w", err)
	}
	ts, err := authenticode.ParseCertificates(tsPEM)
	if err != nil {
		return authenticode.Roots{}, fmt.Errorf("simulator roots: %w", err)
	}
	return authenticode.DefaultRoots().With(cs, ts), nil
}
