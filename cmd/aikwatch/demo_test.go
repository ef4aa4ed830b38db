package main

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"github.com/aikwatch/aikwatch/internal/sim"
)

// TestDemoBuiltinScenario runs `aikwatch demo` in-process with the generated release and a
// fast built-in scenario: the fleet host is withdrawn at the service (no-go), then a signed
// release without it is published, verified against the simulator's roots and diffed.
func TestDemoBuiltinScenario(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	var out, errb bytes.Buffer
	c := newCLI(&out, &errb)
	type started struct {
		base string
		s    *sim.Sim
	}
	ready := make(chan started, 1)
	done := make(chan error, 1)
	go func() {
		done <- c.demo(ctx, demoOptions{web: &webFlags{listen: []string{"127.0.0.1:0"}}, control: "127.0.0.1:0", scenario: "builtin",
			delay: 2 * time.Second, sweep: time.Second, trustList: "", ready: func(base string, s *sim.Sim) { ready <- started{base, s} }})
	}()
	var st started
	select {
	case st = <-ready:
	case err := <-done:
		t.Fatalf("demo ended: %v\n%s", err, errb.String())
	}
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("demo: %v", err)
		}
	}()
	if !strings.Contains(out.String(), "status page") || !strings.Contains(out.String(), "Scenario:") {
		t.Errorf("banner:\n%s", out.String())
	}
	waitFor(t, "the withdrawn fleet host to make the verdict no-go", 60*time.Second, func() bool {
		_, body := get(t, st.base+"/api/v1/status")
		return strings.Contains(body, `"verdict":"no-go"`)
	})
	waitFor(t, "the demo canary to see the withdrawal", 60*time.Second, func() bool {
		_, body := get(t, st.base+"/api/v1/canaries/demo-device")
		return strings.Contains(body, `"status":"not_found"`) && strings.Contains(body, `"hresult":"0x80190194"`)
	})
	waitFor(t, "the release without the withdrawn AIK CA", 60*time.Second, func() bool {
		_, body := get(t, st.base+"/api/v1/trustlist/history")
		return strings.Contains(body, `"aik_hosts_withdrawn":["amd-keyid-`)
	})
	if _, body := get(t, st.base+"/api/v1/trustlist"); !strings.Contains(body, `"status":"valid"`) {
		t.Errorf("the simulator's release is not verified as valid: %.400s", body)
	}
}
