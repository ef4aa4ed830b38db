package main

import (
	"bytes"
	"context"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/aikwatch/aikwatch/canary"
	"github.com/aikwatch/aikwatch/internal/daemon"
)

// TestServeWebConfig checks that --web.config.file (exporter-toolkit) protects every endpoint
// with basic auth.
func TestServeWebConfig(t *testing.T) {
	hash, err := bcrypt.GenerateFromPassword([]byte("s3cret"), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	webCfg := filepath.Join(dir, "web.yml")
	os.WriteFile(webCfg, []byte("basic_auth_users:\n  admin: "+string(hash)+"\n"), 0o600)
	cfg := daemon.DefaultConfig()
	cfg.DataDir = filepath.Join(dir, "data")
	cfg.TrustList.URL = "https://127.0.0.1:1/unreachable" // nothing is fetched in this test
	cfg.EK.Services = nil

	ctx, cancel := context.WithCancel(context.Background())
	c := newCLI(&bytes.Buffer{}, &bytes.Buffer{})
	addrc := make(chan string, 1)
	done := make(chan error, 1)
	go func() {
		done <- c.serve(ctx, cfg, daemon.Options{Logger: c.logger}, &webFlags{listen: []string{"127.0.0.1:0"}, configFile: webCfg},
			func(a []string) { addrc <- a[0] })
	}()
	base := "http://" + <-addrc
	defer func() { cancel(); <-done }()
	for _, path := range []string{"/", "/metrics", "/api/v1/status"} {
		if code, _ := get(t, base+path); code != http.StatusUnauthorized {
			t.Errorf("%s without credentials: %d, want 401", path, code)
		}
		req, _ := http.NewRequest(http.MethodGet, base+path, nil)
		req.SetBasicAuth("admin", "s3cret")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode == http.StatusUnauthorized {
			t.Errorf("%s with credentials: 401", path)
		}
	}

	// A Windows canary reports through the same basic auth: refused without the password,
	// accepted with it.
	t0 := time.Now().UTC()
	rep := &canary.Report{Version: canary.ReportVersion, Canary: "lab-1", Started: t0, Finished: t0,
		Checks: []canary.Check{{Name: canary.CheckTPM, Status: canary.StatusOK, Message: "ready"}}}
	for _, pw := range []string{"wrong", "s3cret"} {
		r, err := canary.NewReporter(canary.ReporterOptions{Server: base, User: "admin", Password: pw, RetryBudget: time.Second})
		if err != nil {
			t.Fatal(err)
		}
		err = r.Send(ctx, rep)
		if pw == "wrong" && (err == nil || !strings.Contains(err.Error(), "401")) {
			t.Errorf("report with a wrong password: %v", err)
		}
		if pw == "s3cret" && err != nil {
			t.Errorf("report with the password: %v", err)
		}
	}
	req, _ := http.NewRequest(http.MethodGet, base+"/api/v1/canaries/lab-1", nil)
	req.SetBasicAuth("admin", "s3cret")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Errorf("the canary's report is not in the daemon: %d", resp.StatusCode)
	}
}
