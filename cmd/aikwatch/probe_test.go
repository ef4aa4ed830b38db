package main

import (
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aikwatch/aikwatch/internal/sim"
	"github.com/aikwatch/aikwatch/internal/simtest"
	"github.com/aikwatch/aikwatch/internal/testutil"
	"github.com/aikwatch/aikwatch/probes"
)

// probeSim starts the simulator on the Nov-2024 release and returns it with the network flags
// that reach it (a "*=ADDR" resolve rule and its CA file).
func probeSim(t *testing.T) (*sim.Sim, []string) {
	t.Helper()
	s, ca := simtest.Start(t, testutil.ReadTestdata(t, "trustedtpm", "TrustedTpm-2024-11-21.cab"))
	return s, []string{"--resolve", "*=" + s.Addr(), "--ca-file", ca}
}

// probeJSON decodes `aikwatch probe -o json` output.
func probeJSON(t *testing.T, out string) probeReport {
	t.Helper()
	var rep probeReport
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatalf("probe JSON: %v\n%s", err, out)
	}
	return rep
}

func TestProbeCommandNov(t *testing.T) {
	s, net := probeSim(t)
	// The smallest vendor with at least 3 hosts keeps the sweeps short (the full release is
	// swept in the probes package's tests).
	byVendor := map[string][]string{}
	for _, h := range s.AIKHosts() {
		v := strings.ToUpper(strings.SplitN(h, "-", 2)[0])
		byVendor[v] = append(byVendor[v], h)
	}
	vendor := ""
	for v, hs := range byVendor {
		if len(hs) >= 3 && (vendor == "" || len(hs) < len(byVendor[vendor])) {
			vendor = v
		}
	}
	withdrawn := byVendor[vendor][1]
	if err := s.SetMode(withdrawn, sim.ModeWithdrawn, 0); err != nil {
		t.Fatal(err)
	}
	// The trust list comes from the simulated download link (Microsoft's default URL), over
	// the same network options.
	code, out, stderr := runCLI(t, append([]string{"probe", "-o", "json", "--vendor", vendor}, net...)...)
	if code != 1 {
		t.Fatalf("exit %d, want 1 (one host withdrawn): %s", code, stderr)
	}
	rep := probeJSON(t, out)
	if rep.Summary.Total != len(byVendor[vendor]) || rep.Summary.Failing != 1 || rep.Summary.OK != rep.Summary.Total-1 {
		t.Errorf("summary %+v, want %d hosts, 1 failing", rep.Summary, len(byVendor[vendor]))
	}
	var raw map[string][]map[string]any
	json.Unmarshal([]byte(out), &raw)
	for _, r := range raw["results"] {
		if r["host"] == withdrawn {
			if r["status"] != "withdrawn" || r["http_status"] != float64(404) {
				t.Errorf("withdrawn host: %v", r)
			}
			continue
		}
		for _, k := range []string{"host", "vendor", "id_kind", "id", "status", "http_status", "duration_seconds", "phases", "capabilities", "aik_ca", "chain", "server_cert_not_after", "started_at"} {
			if _, ok := r[k]; !ok {
				t.Errorf("%v: no %q", r["host"], k)
			}
		}
		if aik, _ := r["aik_ca"].(map[string]any); aik != nil && aik["matches_trust_list"] != true && r["id"] != "6ea5bcbda0be52890507175a3c12e8a3b8386f0cc" {
			t.Errorf("%v: aik_ca %v", r["host"], aik)
		}
	}

	// Text, from a file: failures first, then the summary.
	code, out, stderr = runCLI(t, append([]string{"probe", "--trustlist", testutil.NovCab, "--vendor", strings.ToLower(vendor)}, net...)...)
	if code != 1 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if !strings.HasPrefix(lines[0], "STATUS") || !strings.HasPrefix(lines[1], "withdrawn") || !strings.Contains(lines[1], withdrawn) {
		t.Errorf("table head:\n%s\n%s", lines[0], lines[1])
	}
	for _, l := range lines[2 : len(lines)-2] {
		f := strings.Fields(l)
		if f[0] != "ok" || f[2] != vendor {
			t.Errorf("row %q", l)
		}
	}
	if last := lines[len(lines)-1]; !strings.Contains(last, " ok, 1 failing (1 withdrawn) in ") {
		t.Errorf("summary %q", last)
	}
}

func TestProbeCommandFleetHosts(t *testing.T) {
	s, net := probeSim(t)
	ok := s.AIKHosts()[0]
	short := strings.ToUpper(strings.TrimSuffix(ok, ".microsoftaik.azure.net"))
	// Only --host: no trust list is downloaded (the simulator's request counters stay at 0
	// for the download hosts) and the exit code follows the probes.
	code, out, stderr := runCLI(t, append([]string{"probe", "--host", short, "-o", "json"}, net...)...)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	rep := probeJSON(t, out)
	if len(rep.Results) != 1 || rep.Results[0].Host != ok || !rep.Results[0].Fleet || rep.Results[0].Status != probes.StatusOK {
		t.Errorf("results %+v", rep.Results)
	}
	for _, h := range s.Hosts() {
		if strings.HasSuffix(h.Host, "microsoft.com") && h.Requests != 0 {
			t.Errorf("%s got %d requests: the trust list was downloaded", h.Host, h.Requests)
		}
	}
	unknown := "IFX-KeyId-00000000000000000000000000000000deadbeef"
	code, out, _ = runCLI(t, append([]string{"probe", "--host", unknown, "--host", ok}, net...)...)
	if code != 1 || !strings.Contains(out, "withdrawn") || !strings.Contains(out, "1 ok, 1 failing") {
		t.Errorf("exit %d:\n%s", code, out)
	}
}

func TestProbeCommandUsageErrors(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"probe", "--host", "example.com"}, `--host "example.com"`},
		{[]string{"probe", "--host", "IFX-KeyId-00", "--resolve", "nope"}, `resolve rule "nope"`},
		{[]string{"probe", "--trustlist", filepath.Join(t.TempDir(), "missing.cab")}, "missing.cab"},
		{[]string{"probe", "--trustlist", testutil.NovCab, "--vendor", "XYZ"}, "--vendor XYZ: no AIK host"},
		{[]string{"probe", "--host", "IFX-KeyId-00", "--concurrency", "0"}, "--concurrency 0"},
		{[]string{"probe", "--host", "IFX-KeyId-00", "--ca-file", filepath.Join(t.TempDir(), "none.pem")}, "none.pem"},
		{[]string{"trustlist", "--resolve", "a=b=c:d", "show", testutil.NovCab}, `resolve rule "a=b=c:d"`},
	} {
		code, _, stderr := runCLI(t, tc.args...)
		if code != 2 || !strings.Contains(stderr, tc.want) {
			t.Errorf("%v: exit %d, stderr %q, want 2 and %q", tc.args, code, stderr, tc.want)
		}
	}
}

func TestTrustlistShowThroughResolve(t *testing.T) {
	_, net := probeSim(t)
	args := append([]string{"trustlist"}, net...)
	code, out, stderr := runCLI(t, append(args, "show", "-o", "json", "https://go.microsoft.com/fwlink/?linkid=2097925")...)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	if !strings.Contains(out, `"version_date": "2024-11-21"`) {
		t.Errorf("show via the simulated download link:\n%.300s", out)
	}
	// Without the simulator's CA the download fails verification.
	code, _, stderr = runCLI(t, "trustlist", "--resolve", net[1], "show", "https://go.microsoft.com/fwlink/?linkid=2097925")
	if code != 2 || !strings.Contains(stderr, "certificate") {
		t.Errorf("untrusted simulator: exit %d: %s", code, stderr)
	}
}
