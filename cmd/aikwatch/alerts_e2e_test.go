package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aikwatch/aikwatch/internal/daemon"
	"github.com/aikwatch/aikwatch/internal/sim"
	"github.com/aikwatch/aikwatch/internal/slacktest"
)

// TestAlertsEndToEnd runs `serve` against the simulator with Slack (bot token) pointed at the
// fake Slack through the environment: a fleet host switched to withdrawn produces one Slack
// message, switched back a resolved message in its thread. The latency from the fault to the
// message is logged (BENCHMARKS.md).
func TestAlertsEndToEnd(t *testing.T) {
	s, simCA := e2eSim(t)
	slack := slacktest.New(slacktest.Options{})
	defer slack.Close()
	slackCA := filepath.Join(t.TempDir(), "slack-ca.pem")
	if err := os.WriteFile(slackCA, slack.CACertPEM(), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("AIKWATCH_SLACK_TOKEN", slack.Token())
	t.Setenv("AIKWATCH_SLACK_CHANNEL", slack.Channel())
	t.Setenv("AIKWATCH_SLACK_API_URL", slack.APIURL())

	const sweep = time.Second
	cfg := daemon.DefaultConfig()
	cfg.DataDir = t.TempDir()
	cfg.Network = daemon.NetworkConfig{
		Resolve: []string{slacktest.APIHost + "=" + slack.Addr(), "*=" + s.Addr()},
		CAFiles: []string{simCA, slackCA},
	}
	cfg.Schedule = daemon.ScheduleConfig{TrustList: "@every 1h", Sweep: "@every 1s", EKServices: "@every 1h", EKCAs: "@every 1h"}
	cfg.Probes.Timeout = 5 * time.Second
	cfg.Fleet.Hosts = []string{e2eHost}
	cfg.Alerts.ConsecutiveSweeps = 2

	ctx, cancel := context.WithCancel(context.Background())
	var out, errb bytes.Buffer
	c := newCLI(&out, &errb)
	addrc := make(chan string, 1)
	done := make(chan error, 1)
	go func() {
		done <- c.serve(ctx, cfg, daemon.Options{Logger: c.logger}, &webFlags{listen: []string{"127.0.0.1:0"}}, func(a []string) { addrc <- a[0] })
	}()
	base := "http://" + <-addrc
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("serve: %v", err)
		}
	}()
	waitFor(t, "the first full state", 60*time.Second, func() bool { code, _ := get(t, base+"/-/ready"); return code == 200 })
	before := len(slack.Messages())

	withdrawn := time.Now()
	if err := s.SetMode(e2eHost, sim.ModeWithdrawn, 0); err != nil {
		t.Fatal(err)
	}
	var firing slacktest.Message
	waitFor(t, "the Slack message for the withdrawn host", 90*time.Second, func() bool {
		for _, m := range slack.Messages()[before:] {
			if strings.Contains(m.Text+string(m.Blocks), e2eHost) && strings.Contains(m.Text+string(m.Blocks), "AIKEndpointWithdrawn") {
				firing = m
				return true
			}
		}
		return false
	})
	latency := time.Since(withdrawn)
	t.Logf("withdrawn at the service -> Slack message: %s (budget: sweep interval %s x %d + 1 s = %s, plus the sweep's own duration)",
		latency.Round(time.Millisecond), sweep, cfg.Alerts.ConsecutiveSweeps, sweep*time.Duration(cfg.Alerts.ConsecutiveSweeps)+time.Second)

	if err := s.SetMode(e2eHost, sim.ModeOK, 0); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the resolved message in the thread", 90*time.Second, func() bool {
		for _, m := range slack.Messages() {
			if m.ThreadTS == firing.TS && strings.Contains(strings.ToLower(m.Text+string(m.Blocks)), "resolved") {
				return true
			}
		}
		return false
	})
	// One message per event: the firing one was not repeated.
	n := 0
	for _, m := range slack.Messages() {
		if m.ThreadTS == "" && strings.Contains(m.Text+string(m.Blocks), "AIKEndpointWithdrawn") {
			n++
		}
	}
	if n != 1 {
		t.Errorf("%d top-level AIKEndpointWithdrawn messages, want 1", n)
	}
}
