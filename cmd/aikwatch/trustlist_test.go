package main

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aikwatch/aikwatch/internal/testutil"
)

// runCLI runs the command line in-process and returns its exit code, stdout and stderr.
func runCLI(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var out, errb bytes.Buffer
	code := run(context.Background(), args, &out, &errb)
	return code, out.String(), errb.String()
}

func TestTrustlistShowJSON(t *testing.T) {
	code, out, stderr := runCLI(t, "trustlist", "show", "--output", "json", testutil.NovCab)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	var v map[string]any
	if err := json.Unmarshal([]byte(out), &v); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"sha256", "version_date", "signature", "members", "certificates", "unparseable", "aik_hosts", "ek_cas"} {
		if _, ok := v[k]; !ok {
			t.Errorf("show JSON has no %q", k)
		}
	}
	if v["version_date"] != "2024-11-21" || v["members"] != float64(2193) {
		t.Errorf("version_date %v members %v", v["version_date"], v["members"])
	}
	sig := v["signature"].(map[string]any)
	for _, k := range []string{"status", "signer", "timestamp"} {
		if _, ok := sig[k]; !ok {
			t.Errorf("signature has no %q", k)
		}
	}
	host := v["aik_hosts"].([]any)[0].(map[string]any)
	for _, k := range []string{"host", "vendor", "id_kind", "id", "files", "latest_not_after"} {
		if _, ok := host[k]; !ok {
			t.Errorf("aik_hosts[0] has no %q", k)
		}
	}
	ek := v["ek_cas"].([]any)[0].(map[string]any)
	for _, k := range []string{"path", "vendor_folder", "role", "subject", "ski", "not_after", "aik_host"} {
		if _, ok := ek[k]; !ok {
			t.Errorf("ek_cas[0] has no %q", k)
		}
	}
	un := v["unparseable"].([]any)
	if len(un) != 6 {
		t.Errorf("unparseable: %d", len(un))
	}
}

func TestTrustlistShowText(t *testing.T) {
	code, out, stderr := runCLI(t, "trustlist", "show", testutil.NovCab)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	for _, want := range []string{"Signature  valid, signed by Microsoft Corporation", "AIK hosts by vendor (332)", "NTZ-keyid-6ea5bcbda0be52890507175a3c12e8a3b8386f0cc.cer", "malformed serial number"} {
		if !strings.Contains(out, want) {
			t.Errorf("show text lacks %q", want)
		}
	}
}

func TestTrustlistDiff(t *testing.T) {
	code, out, stderr := runCLI(t, "trustlist", "diff", "-o", "json", testutil.JunCab, testutil.NovCab)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	var d struct {
		From, To                map[string]string
		Added, Removed, Changed []map[string]string
		AIKHostsWithdrawn       []string `json:"aik_hosts_withdrawn"`
		AIKHostsAdded           []string `json:"aik_hosts_added"`
		EKCAsRemoved            []any    `json:"ek_cas_removed"`
		EKCAsAdded              []any    `json:"ek_cas_added"`
		Changelog               []any
		ChangelogMismatches     []any `json:"changelog_mismatches"`
	}
	if err := json.Unmarshal([]byte(out), &d); err != nil {
		t.Fatal(err)
	}
	if len(d.Added) != 216 || len(d.Removed) != 0 || d.From["version_date"] != "2024-06-11" || d.To["version_date"] != "2024-11-21" {
		t.Errorf("diff: %d added %d removed, %v -> %v", len(d.Added), len(d.Removed), d.From, d.To)
	}
	if d.AIKHostsWithdrawn == nil || d.EKCAsRemoved == nil || d.ChangelogMismatches == nil {
		t.Error("empty lists must be [] in JSON, not null")
	}
	code, out, _ = runCLI(t, "trustlist", "diff", testutil.JunCab, testutil.NovCab)
	if code != 0 || !strings.Contains(out, "AIK hosts WITHDRAWN (0)") || !strings.Contains(out, "Members: 216 added, 0 removed, 1 changed") {
		t.Errorf("diff text (exit %d):\n%s", code, out)
	}
	if strings.Index(out, "WITHDRAWN") > strings.Index(out, "AIK hosts added") {
		t.Error("withdrawn hosts must come first")
	}
}

func TestTrustlistVerifyExitCodes(t *testing.T) {
	if code, out, _ := runCLI(t, "trustlist", "verify", testutil.NovCab); code != 0 || !strings.Contains(out, "valid") {
		t.Errorf("real cab: exit %d %s", code, out)
	}
	data, err := os.ReadFile(testutil.NovCab)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	flipped := bytes.Clone(data)
	flipped[100000] ^= 0x01
	tampered := filepath.Join(dir, "tampered.cab")
	os.WriteFile(tampered, flipped, 0o644)
	if code, out, _ := runCLI(t, "trustlist", "verify", tampered); code != 1 || !strings.Contains(out, "INVALID") {
		t.Errorf("tampered cab: exit %d %s", code, out)
	}
	if code, _, stderr := runCLI(t, "trustlist", "verify", filepath.Join(dir, "missing.cab")); code != 2 || !strings.Contains(stderr, "missing.cab") {
		t.Errorf("missing file: exit %d %s", code, stderr)
	}
	html := filepath.Join(dir, "portal.cab")
	os.WriteFile(html, []byte("<html><head><title>Login</title></head></html>"), 0o644)
	if code, _, stderr := runCLI(t, "trustlist", "verify", html); code != 2 || !strings.Contains(stderr, "HTML page") {
		t.Errorf("html: exit %d %s", code, stderr)
	}
	if code, _, stderr := runCLI(t, "trustlist", "show", html); code != 2 || !strings.Contains(stderr, "HTML page") {
		t.Errorf("show html: exit %d %s", code, stderr)
	}
}

func TestTrustlistURLSource(t *testing.T) {
	data, err := os.ReadFile(testutil.NovCab)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/fwlink":
			http.Redirect(w, r, "/download/TrustedTpm.cab", http.StatusFound)
		case "/download/TrustedTpm.cab":
			w.Write(data)
		case "/portal":
			w.Header().Set("Content-Type", "text/html")
			w.Write([]byte("<!doctype html><html><head><title>Guest Wi-Fi</title></head><body>accept</body></html>"))
		default:
			http.NotFound(w, r)
		}
	}))
	defer srv.Close()
	if code, out, stderr := runCLI(t, "trustlist", "show", "-o", "json", srv.URL+"/fwlink"); code != 0 || !strings.Contains(out, `"members": 2193`) {
		t.Errorf("URL: exit %d %s", code, stderr)
	}
	if code, _, stderr := runCLI(t, "trustlist", "show", srv.URL+"/portal"); code != 2 || !strings.Contains(stderr, "Guest Wi-Fi") {
		t.Errorf("portal: exit %d %s", code, stderr)
	}
	if code, _, stderr := runCLI(t, "trustlist", "show", "--max-size", "1000", srv.URL+"/fwlink"); code != 2 || !strings.Contains(stderr, "size limit") {
		t.Errorf("size cap: exit %d %s", code, stderr)
	}
	if code, _, stderr := runCLI(t, "trustlist", "show", srv.URL+"/nothing"); code != 2 || !strings.Contains(stderr, "404") {
		t.Errorf("404: exit %d %s", code, stderr)
	}
}

func TestTrustlistExtract(t *testing.T) {
	dir := t.TempDir()
	if code, _, stderr := runCLI(t, "trustlist", "extract", testutil.NovCab, dir); code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	n := 0
	filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err == nil && d.Type().IsRegular() {
			n++
		}
		return nil
	})
	if n != 2193 {
		t.Errorf("extracted %d files, want 2193", n)
	}
	if _, err := os.Stat(filepath.Join(dir, "Microsoft", "IntermediateCA", "NTZ-keyid-6ea5bcbda0be52890507175a3c12e8a3b8386f0cc.cer")); err != nil {
		t.Error(err)
	}
}
