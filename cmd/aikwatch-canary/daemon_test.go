package main

import (
	"context"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aikwatch/aikwatch/canary"
	"github.com/aikwatch/aikwatch/exporter"
	"github.com/aikwatch/aikwatch/internal/daemon"
	"github.com/aikwatch/aikwatch/internal/state"
)

// TestAgainstRealDaemon runs the canary end to end against the daemon's real API (the
// exporter's handler over the daemon's store, as `aikwatch serve` wires them): the report is
// accepted, stored, weighed in the verdict, and a withdrawn AIK CA seen by the canary makes
// the verdict no-go.
func TestAgainstRealDaemon(t *testing.T) {
	cfg := daemon.DefaultConfig()
	cfg.DataDir = t.TempDir()
	d, err := daemon.New(cfg, daemon.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	srv := httptest.NewServer(exporter.NewHandler(exporter.Options{State: d.State, ReportCanary: d.ReportCanary,
		ForgetCanary: d.ForgetCanary}))
	t.Cleanup(srv.Close)

	args := append([]string{"run", "--once", "--server", srv.URL, "--name", "lab-intel-1", "--checks", "tpm,enroll_aik,clock"},
		fakeTools(t, certreqOK, 0)...)
	if code, out, errOut := runCmd(t, context.Background(), args...); code != exitOK {
		t.Fatalf("passing run: exit %d\n%s\n%s", code, out, errOut)
	}
	c, ok := d.State().Canary("lab-intel-1")
	if !ok || !c.OK || c.Vendor() != "INTC" || len(c.Report.Checks) != 3 {
		t.Fatalf("daemon state after a passing run: %+v", c)
	}

	notFound, err := os.ReadFile(filepath.Join("..", "..", "canary", "testdata", "certreq-getcacaps-notfound.txt"))
	if err != nil {
		t.Fatal(err)
	}
	args = append([]string{"run", "--once", "--server", srv.URL, "--name", "lab-intel-1", "--checks", "tpm,enroll_aik,clock"},
		fakeTools(t, string(notFound), 1)...)
	if code, out, errOut := runCmd(t, context.Background(), args...); code != exitFailing {
		t.Fatalf("failing run: exit %d\n%s\n%s", code, out, errOut)
	}
	c, _ = d.State().Canary("lab-intel-1")
	if c.OK || c.Failures != 1 {
		t.Fatalf("daemon state after a failing run: %+v", c)
	}
	var enroll canary.Check
	for _, ch := range c.Report.Checks {
		if ch.Name == canary.CheckEnrollAIK {
			enroll = ch
		}
	}
	if enroll.Status != canary.StatusNotFound || enroll.HRESULT != "0x80190194" {
		t.Errorf("enrollment check as stored: %+v", enroll)
	}
	a := state.Assess(d.State(), state.AssessOptions{})
	found := false
	for _, r := range a.Reasons {
		if r.Verdict == state.NoGo && strings.Contains(r.Message, "canary lab-intel-1: enroll_aik check failed") {
			found = true
		}
	}
	if !found {
		t.Errorf("the verdict does not name the canary's failed enrollment as no-go: %+v", a.Reasons)
	}
}
