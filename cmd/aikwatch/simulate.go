package main

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"strings"

	"github.com/aikwatch/aikwatch/internal/sim"
)

// defaultSimTrustList is where `aikwatch simulate` looks for a trust list when --trustlist is
// not given: the real Nov-2024 release in the repository's test data, relative to the working
// directory.
var defaultSimTrustList = filepath.Join("testdata", "trustedtpm", "TrustedTpm-2024-11-21.cab")

// simTrustList returns the trust list to serve and where it came from: the file given, else
// the default release if it is reachable. This is the one place to plug in a generated
// default later.
func simTrustList(path string) ([]byte, string, error) {
	if path != "" {
		b, err := os.ReadFile(path)
		if err != nil {
			return nil, "", fmt.Errorf("--trustlist: %w", err)
		}
		return b, path, nil
	}
	b, err := os.ReadFile(defaultSimTrustList)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, "", fmt.Errorf("no trust list: give --trustlist FILE (a TrustedTpm.cab); the default %s is not reachable from %s", defaultSimTrustList, cwd())
	}
	if err != nil {
		return nil, "", fmt.Errorf("default trust list: %w", err)
	}
	return b, defaultSimTrustList, nil
}

func cwd() string {
	d, err := os.Getwd()
	if err != nil {
		return "the working directory"
	}
	return d
}

// registerSimulate adds `aikwatch simulate`.
func (c *cli) registerSimulate(actions map[string]func(context.Context) error) {
	cmd := c.app.Command("simulate", "Simulate Microsoft's AIK CA service, the trust-list download and the fTPM EK certificate services on loopback over real HTTPS, with fault injection (control API and scenarios). Runs until interrupted.")
	listen := cmd.Flag("listen", "HTTPS listen address (port 0: any free port).").Default("127.0.0.1:8443").String()
	control := cmd.Flag("control-addr", "Control API listen address, plain HTTP (port 0: any free port; empty: no control API).").Default("127.0.0.1:8444").String()
	tl := cmd.Flag("trustlist", "Trust list (TrustedTpm.cab) to serve. Default: "+defaultSimTrustList+" if present.").PlaceHolder("FILE").String()
	caOut := cmd.Flag("ca-out", "Write the simulator's CA certificate (PEM) to FILE, for --ca-file / curl --cacert.").PlaceHolder("FILE").String()
	ekOut := cmd.Flag("ek-out", "Write the generated EK certificates, public keys and chains to DIR (ek-<vendor>.pem, ek-<vendor>-pub.pem, ek-<vendor>-chain.pem).").PlaceHolder("DIR").String()
	scenario := cmd.Flag("scenario", "YAML scenario of timed mode changes and releases to publish (validated at start).").PlaceHolder("FILE").ExistingFile()

	actions[cmd.FullCommand()] = func(ctx context.Context) error {
		data, from, err := simTrustList(*tl)
		if err != nil {
			return exitCode(2, err)
		}
		var sc *sim.Scenario
		if *scenario != "" {
			if sc, err = sim.ParseScenarioFile(*scenario); err != nil {
				return exitCode(2, err)
			}
		}
		s, err := sim.New(sim.Config{Addr: *listen, ControlAddr: *control, TrustList: data, Logger: c.logger})
		if err != nil {
			return exitCode(2, fmt.Errorf("%s: %w", from, err))
		}
		if err := s.Start(); err != nil {
			return exitCode(2, err)
		}
		defer s.Close()
		if *caOut != "" {
			if err := os.WriteFile(*caOut, s.CACertPEM(), 0o644); err != nil {
				return exitCode(2, fmt.Errorf("--ca-out: %w", err))
			}
		}
		if *ekOut != "" {
			if _, err := s.WriteEKFiles(*ekOut); err != nil {
				return exitCode(2, fmt.Errorf("--ek-out: %w", err))
			}
		}
		c.simBanner(s, from, *caOut, *ekOut)
		c.logger.Info("simulator running", "https", s.Addr(), "control", s.ControlURL(), "ca_file", *caOut, "trustlist", from)

		done := make(chan error, 1)
		if sc != nil {
			go func() { done <- s.RunScenario(ctx, sc) }()
		} else {
			close(done)
		}
		<-ctx.Done()
		if err := <-done; err != nil && !errors.Is(err, context.Canceled) {
			c.logger.Error("scenario", "err", err)
		}
		c.logger.Info("simulator stopping")
		if err := s.Close(); err != nil {
			return exitCode(1, fmt.Errorf("closing the simulator: %w", err))
		}
		return nil
	}
}

// simBanner prints where the simulator listens and how to point a client at it.
func (c *cli) simBanner(s *sim.Sim, from, caFile, ekDir string) {
	w := c.stdout
	addr := s.Addr()
	ip, port, _ := net.SplitHostPort(addr)
	ca := caFile
	if ca == "" {
		ca = "ca.pem"
	}
	aik := s.AIKHosts()
	fmt.Fprintf(w, "aikwatch simulator\n")
	fmt.Fprintf(w, "  https       %s  (*%s, %s)\n", addr, sim.AIKSuffix, strings.Join(sim.ServiceHosts, ", "))
	if u := s.ControlURL(); u != "" {
		fmt.Fprintf(w, "  control     %s  (GET /hosts, PUT /hosts/{host} {\"mode\":\"withdrawn\"}, PUT /defaults, PUT /trustlist)\n", u)
	}
	if caFile != "" {
		fmt.Fprintf(w, "  ca file     %s\n", caFile)
	} else {
		fmt.Fprintf(w, "  ca file     (none written: use --ca-out FILE)\n")
	}
	if ekDir != "" {
		fmt.Fprintf(w, "  ek files    %s\n", ekDir)
	}
	fmt.Fprintf(w, "  trust list  %s (sha256 %s), %d AIK hosts served\n", from, s.TrustListSHA256(), len(aik))
	for _, ek := range s.EKs() {
		fmt.Fprintf(w, "  ek %-8s %s  (AIK host %s)\n", ek.Vendor, ek.URL, ek.AIKHost)
	}
	fmt.Fprintf(w, "Try:\n")
	fmt.Fprintf(w, "  aikwatch probe --resolve '*=%s' --ca-file %s --trustlist '%s'\n", addr, ca, sim.FwlinkURL)
	if len(aik) > 0 {
		fmt.Fprintf(w, "  curl --cacert %s --resolve %s:%s:%s 'https://%s:%s%s?operation=GetCACaps'\n", ca, aik[0], port, ip, aik[0], port, sim.SCEPPath)
	}
}
