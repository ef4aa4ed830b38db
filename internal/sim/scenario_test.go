package sim

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aikwatch/aikwatch/internal/testutil"
)

func TestParseScenario(t *testing.T) {
	sc, err := ParseScenario([]byte(`
steps:
  - at: 30s
    host: IFX-KeyId-0123456789012345678901234567890123456789.microsoftaik.azure.net
    mode: withdrawn
  - at: 1m
    host: "*"
    mode: slow
    latency_ms: 250
  - at: 90s
    defaults: {latency_ms: 50}
  - at: 2m
    publish: releases/next.cab
  - at: 0
    host: ekop.intel.com
    mode: reset
`))
	if err != nil {
		t.Fatal(err)
	}
	if len(sc.Steps) != 5 {
		t.Fatalf("%d steps", len(sc.Steps))
	}
	st := sc.Steps[1]
	if st.At != time.Minute || st.Host != "*" || st.Mode != ModeSlow || *st.LatencyMS != 250 || st.Line != 6 {
		t.Errorf("step 2: %+v", st)
	}
	if st := sc.Steps[2]; !st.Defaults || *st.LatencyMS != 50 || st.Mode != "" {
		t.Errorf("step 3: %+v", st)
	}
	if st := sc.Steps[3]; st.Publish != "releases/next.cab" || st.At != 2*time.Minute {
		t.Errorf("step 4: %+v", st)
	}
	// A bare list is accepted too.
	if sc, err := ParseScenario([]byte("- {at: 50ms, host: go.microsoft.com, mode: error_500}\n")); err != nil || len(sc.Steps) != 1 {
		t.Errorf("bare list: %v", err)
	}
}

func TestParseScenarioErrors(t *testing.T) {
	for _, tc := range []struct{ yaml, want string }{
		{"", "empty"},
		{"steps: []", "no steps"},
		{"nope: 1", `unknown key "nope"`},
		{"steps: {at: 1s}", "want a list"},
		{"- at: 1s\n  host: go.microsoft.com\n  mode: ok\n- at: soon\n  host: go.microsoft.com\n  mode: ok", `step 2 (line 4): at: "soon" is not a duration`},
		{"- at: -1s\n  host: go.microsoft.com\n  mode: ok", "step 1 (line 1): at: negative"},
		{"- host: go.microsoft.com\n  mode: ok", "step 1 (line 1): at: missing"},
		{"- at: 1s\n  host: example.com\n  mode: ok", `step 1 (line 1): host "example.com": not a simulated host`},
		{"- at: 1s\n  host: go.microsoft.com\n  mode: sideways", `step 1 (line 1): mode: unknown "sideways"`},
		{"- at: 1s\n  host: go.microsoft.com", "step 1 (line 1): mode: missing"},
		{"- at: 1s\n  host: go.microsoft.com\n  mode: ok\n  latency_ms: soon", "step 1 (line 1): latency_ms"},
		{"- at: 1s\n  host: go.microsoft.com\n  mode: ok\n  latency_ms: -3", "latency_ms: negative"},
		{"- at: 1s\n  host: go.microsoft.com\n  publish: x.cab\n  mode: ok", "exactly one of host, publish, defaults"},
		{"- at: 1s\n  mode: ok", "exactly one of host, publish, defaults"},
		{"- at: 1s\n  publish: x.cab\n  mode: ok", "belong to host or defaults"},
		{"- at: 1s\n  publish: \"\"", "publish: empty path"},
		{"- at: 1s\n  defaults: {}", "defaults: give mode and/or latency_ms"},
		{"- at: 1s\n  defaults: {speed: 3}", `defaults: unknown key "speed"`},
		{"- at: 1s\n  defaults: 3", "defaults: want a mapping"},
		{"- at: 1s\n  defaults: {mode: ok}\n  latency_ms: 3", "inside defaults"},
		{"- at: 1s\n  host: go.microsoft.com\n  host: ftpm.amd.com\n  mode: ok", "step 1 (line 1)"},
		{"- at: 1s\n  hots: go.microsoft.com\n  mode: ok", `step 1 (line 1): unknown key "hots"`},
		{"- [1, 2]", "step 1 (line 1): want a mapping"},
		{"- at: [1s]\n  host: go.microsoft.com\n  mode: ok", "at: want a duration"},
		{"- at: 1s\n  host: [a]\n  mode: ok", "host: want a single value"},
		{"steps: [\n", "scenario"},
	} {
		_, err := ParseScenario([]byte(tc.yaml))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: err = %v, want one containing %q", tc.yaml, err, tc.want)
		}
	}
}

func TestParseScenarioFile(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "jun.cab"), readCab(t, testutil.JunCab), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "junk.cab"), []byte("MSCF not really"), 0o600); err != nil {
		t.Fatal(err)
	}
	write := func(s string) string {
		p := filepath.Join(dir, "scenario.yaml")
		if err := os.WriteFile(p, []byte(s), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	sc, err := ParseScenarioFile(write("- {at: 1s, publish: jun.cab}\n"))
	if err != nil || len(sc.Steps[0].PublishBytes) == 0 {
		t.Fatalf("publish relative to the file: %v", err)
	}
	if _, err := ParseScenarioFile(write("- {at: 1s, host: go.microsoft.com, mode: ok}\n- {at: 2s, publish: missing.cab}\n")); err == nil || !strings.Contains(err.Error(), "step 2 (line 2): publish") {
		t.Errorf("missing file: %v", err)
	}
	if _, err := ParseScenarioFile(write("- {at: 1s, publish: junk.cab}\n")); err == nil || !strings.Contains(err.Error(), "step 1 (line 1): publish junk.cab") {
		t.Errorf("junk cab: %v", err)
	}
	if _, err := ParseScenarioFile(filepath.Join(dir, "none.yaml")); err == nil {
		t.Error("missing scenario file accepted")
	}
}

func TestRunScenario(t *testing.T) {
	s := startSim(t)
	host := novOnlyHost(t)
	sc, err := ParseScenario([]byte(`
- at: 50ms
  host: ` + novHost + `
  mode: throttled
- at: 0
  defaults: {latency_ms: 1}
- at: 50ms
  host: "FTPM.AMD.COM"
  mode: error_500
`))
	if err != nil {
		t.Fatal(err)
	}
	sc.Steps = append(sc.Steps, Step{At: 60 * time.Millisecond, PublishBytes: readCab(t, testutil.JunCab)})
	if err := s.RunScenario(t.Context(), sc); err != nil {
		t.Fatal(err)
	}
	if st := s.HostState(novHost); st.Mode != ModeThrottled || st.LatencyMS != 1 {
		t.Errorf("%s: %+v", novHost, st)
	}
	if st := s.HostState(HostAMDEK); st.Mode != ModeError500 {
		t.Errorf("%s: %+v", HostAMDEK, st)
	}
	code, _, _ := get(t, s.Client(), "GET", "https://"+host+SCEPPath+"?operation=GetCACaps", nil)
	if code != 404 {
		t.Errorf("Nov-only host after the scenario published Jun: %d", code)
	}

	// A cancelled context stops a scenario that is waiting.
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() {
		done <- s.RunScenario(ctx, &Scenario{Steps: []Step{{At: time.Hour, Host: novHost, Mode: ModeOK}}})
	}()
	cancel()
	if err := <-done; err != context.Canceled {
		t.Errorf("cancelled scenario: %v", err)
	}
	// A failing step is reported with its index, and the others still run.
	err = s.RunScenario(t.Context(), &Scenario{Steps: []Step{
		{Publish: filepath.Join(t.TempDir(), "missing.cab")},
		{Host: HostFwlink, Mode: ModeReset},
	}})
	if err == nil || !strings.Contains(err.Error(), "step 1: publish") {
		t.Errorf("failing step: %v", err)
	}
	if s.HostState(HostFwlink).Mode != ModeReset {
		t.Error("step after a failing one did not run")
	}
	if err := s.RunScenario(t.Context(), &Scenario{}); err == nil {
		t.Error("empty scenario accepted")
	}
}

// TestRunScenarioClose: closing the simulator ends a waiting scenario.
func TestRunScenarioClose(t *testing.T) {
	s, err := New(Config{TrustList: readCab(t, testutil.NovCab)})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() {
		done <- s.RunScenario(context.Background(), &Scenario{Steps: []Step{{At: time.Hour, Host: novHost, Mode: ModeOK}}})
	}()
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err == nil {
		t.Error("scenario survived Close")
	}
}
