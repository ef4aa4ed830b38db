package daemon

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/aikwatch/aikwatch/internal/sim"
	"github.com/aikwatch/aikwatch/internal/simtest"
	"github.com/aikwatch/aikwatch/internal/state"
	"github.com/aikwatch/aikwatch/internal/testutil"
	"github.com/aikwatch/aikwatch/probes"
	"github.com/aikwatch/aikwatch/trustlist"
)

const novAMD = "amd-keyid-12fb8b78860586207cb1433c9253cdaf9ecaace5.microsoftaik.azure.net"

// startSim runs the simulator with the real Nov-2024 release and returns it with a daemon
// configuration that reaches it through the production --resolve/--ca-file paths.
func startSim(t *testing.T) (*sim.Sim, Config) {
	t.Helper()
	s, ca := simtest.Start(t, testutil.ReadTestdata(t, "trustedtpm", "TrustedTpm-2024-11-21.cab"))
	cfg := DefaultConfig()
	cfg.DataDir = t.TempDir()
	cfg.Network = NetworkConfig{Resolve: []string{"*=" + s.Addr()}, CAFiles: []string{ca}}
	cfg.Schedule = ScheduleConfig{TrustList: "@every 1h", Sweep: "@every 1h", EKServices: "@every 1h", EKCAs: "@every 1h"}
	cfg.Probes.Timeout = 5 * time.Second
	cfg.Fleet.Hosts = []string{novAMD}
	return s, cfg
}

func TestDaemonAgainstSimulator(t *testing.T) {
	s, cfg := startSim(t)
	ctx := context.Background()
	d, err := New(cfg, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { d.Close() }()
	if err := d.RunOnce(ctx); err != nil {
		t.Fatal(err)
	}
	st := d.State()
	if st.Release == nil || st.Release.SHA256 != s.TrustListSHA256() || st.Release.Signature.Status != trustlist.SignatureValid {
		t.Fatalf("release %+v", st.Release)
	}
	if len(st.Hosts) != 332 || st.LastSweep.Probed != 332 || st.LastSweep.Failing != 0 {
		t.Fatalf("hosts %d, sweep %+v", len(st.Hosts), st.LastSweep)
	}
	if len(st.EKServices) != 3 || len(st.EKCAs) != len(st.Release.EKCAs) {
		t.Errorf("ek services %d, ek cas %d", len(st.EKServices), len(st.EKCAs))
	}
	if h, _ := st.Host(novAMD); !h.Fleet || h.Status != probes.StatusOK {
		t.Errorf("fleet host %+v", h)
	}

	// A fleet host withdrawn at the service: no-go after one sweep.
	if err := s.SetMode(novAMD, sim.ModeWithdrawn, 0); err != nil {
		t.Fatal(err)
	}
	if err := d.Sweep(ctx); err != nil {
		t.Fatal(err)
	}
	h, _ := d.State().Host(novAMD)
	if h.Status != probes.StatusWithdrawn || h.Failures != 1 || h.Since.IsZero() {
		t.Errorf("withdrawn host %+v", h)
	}
	a := state.Assess(d.State(), state.AssessOptions{Fleet: d.Fleet()})
	if a.Verdict != state.NoGo || a.Reasons[0].Host != novAMD {
		t.Errorf("verdict %s %+v", a.Verdict, a.Reasons)
	}

	// A tampered release is refused; the previous one stays in force, the refusal is visible.
	good := d.State().Release.SHA256
	tampered := bytes.Clone(s.TrustList())
	tampered[200000] ^= 0xff
	if err := s.Publish(tampered); err != nil {
		t.Fatal(err)
	}
	if err := d.Refresh(ctx); err == nil || !strings.Contains(err.Error(), "signature invalid") {
		t.Errorf("refresh of a tampered release: %v", err)
	}
	st = d.State()
	if st.Release.SHA256 != good || st.Refresh.Refused == nil || st.Refresh.OK {
		t.Errorf("after refusal: release %s refresh %+v", st.Release.SHA256, st.Refresh)
	}

	// A new good release (the older Jun-2024 one, as if Microsoft withdrew 31 hosts).
	if err := s.Publish(testutil.ReadTestdata(t, "trustedtpm", "TrustedTpm-2024-06-11.cab")); err != nil {
		t.Fatal(err)
	}
	if err := d.Refresh(ctx); err != nil {
		t.Fatal(err)
	}
	st = d.State()
	if trustlist.DateString(st.Release.VersionDate) != "2024-06-11" || len(st.Changes) != 1 || len(st.Changes[0].Diff.AIKHostsWithdrawn) != 31 {
		t.Fatalf("after new release: %s, %d changes", trustlist.DateString(st.Release.VersionDate), len(st.Changes))
	}
	if len(st.Hosts) != 301 {
		t.Errorf("hosts after the release withdrew 31: %d", len(st.Hosts))
	}
	recs, err := d.Store().Releases()
	if err != nil || len(recs) != 2 {
		t.Errorf("store releases %d %v", len(recs), err)
	}

	// A restart restores everything from the store.
	if err := d.Close(); err != nil {
		t.Fatal(err)
	}
	d2, err := New(cfg, Options{})
	if err != nil {
		t.Fatal(err)
	}
	d = d2
	st2 := d.State()
	if st2.Release.SHA256 != st.Release.SHA256 || len(st2.Hosts) != len(st.Hosts) || len(st2.Changes) != 1 || st2.Refresh.LastSuccess.IsZero() {
		t.Errorf("restored state differs: %s hosts %d changes %d", st2.Release.SHA256, len(st2.Hosts), len(st2.Changes))
	}
	if h, _ := st2.Host(novAMD); h.Status != probes.StatusWithdrawn {
		t.Errorf("restored host %+v", h)
	}
}

func TestDaemonNotModified(t *testing.T) {
	_, cfg := startSim(t)
	d, err := New(cfg, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	ctx := context.Background()
	if err := d.Refresh(ctx); err != nil {
		t.Fatal(err)
	}
	since := d.State().ReleaseSince
	if err := d.Refresh(ctx); err != nil {
		t.Fatal(err)
	}
	st := d.State()
	if !st.Refresh.NotModified || !st.ReleaseSince.Equal(since) {
		t.Errorf("second refresh: %+v", st.Refresh)
	}
}

func TestConfig(t *testing.T) {
	c := DefaultConfig()
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	p := filepath.Join(dir, "c.yml")
	os.WriteFile(p, []byte("data_dir: /var/lib/aikwatch\nschedule:\n  sweep: '@every 5m'\nfleet:\n  vendors: [IFX]\n  hosts: [IFX-KeyId-090CAAE1858A3C3A3B6D4DF8978916FB205FCA90]\n"), 0o600)
	c, err := LoadConfig(p)
	if err != nil {
		t.Fatal(err)
	}
	if c.DataDir != "/var/lib/aikwatch" || c.Schedule.Sweep != "@every 5m" || c.Schedule.TrustList != "@every 6h" || c.Fleet.Vendors[0] != "IFX" {
		t.Errorf("%+v", c)
	}
	env := map[string]string{"AIKWATCH_FLEET_VENDORS": "AMD, INTC", "AIKWATCH_PROBE_TIMEOUT": "3s"}
	if err := c.ApplyEnv(func(k string) string { return env[k] }); err != nil {
		t.Fatal(err)
	}
	if len(c.Fleet.Vendors) != 3 || c.Probes.Timeout != 3*time.Second {
		t.Errorf("env: %+v", c)
	}
	for _, bad := range []string{"nonsense_key: 1\n", "schedule:\n  sweep: 'every day'\n", "fleet:\n  hosts: [example.com]\n", "probes:\n  concurrency: 0\n"} {
		os.WriteFile(p, []byte(bad), 0o600)
		if _, err := LoadConfig(p); err == nil {
			t.Errorf("config %q accepted", bad)
		}
	}
}

// TestREADMEConfig keeps the README's configuration example loadable.
func TestREADMEConfig(t *testing.T) {
	readme, err := os.ReadFile(filepath.Join(testutil.RepoRoot(), "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	_, after, ok := strings.Cut(string(readme), "```yaml\ndata_dir:")
	if !ok {
		t.Fatal("README.md has no configuration example starting with data_dir")
	}
	block, _, _ := strings.Cut("data_dir:"+after, "```")
	p := filepath.Join(t.TempDir(), "aikwatch.yml")
	os.WriteFile(p, []byte(block), 0o600)
	c, err := LoadConfig(p)
	if err != nil {
		t.Fatalf("README configuration example: %v", err)
	}
	if def := DefaultConfig(); c.Schedule != def.Schedule || c.Probes != def.Probes || c.Retention != def.Retention {
		t.Errorf("the README's defaults differ from DefaultConfig: %+v", c)
	}
}
