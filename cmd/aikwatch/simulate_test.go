package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aikwatch/aikwatch/internal/authenticode"
	"github.com/aikwatch/aikwatch/internal/sim"
	"github.com/aikwatch/aikwatch/internal/testutil"
	"github.com/aikwatch/aikwatch/trustlist"
)

// lockedBuffer is a bytes.Buffer safe for one writer and concurrent readers.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

var bannerAddr = regexp.MustCompile(`(?m)^  https\s+(\S+)`)

func TestSimulateCLI(t *testing.T) {
	dir := t.TempDir()
	caFile, ekDir := filepath.Join(dir, "ca.pem"), filepath.Join(dir, "eks")
	scen := filepath.Join(dir, "scenario.yaml")
	host := "amd-keyid-12fb8b78860586207cb1433c9253cdaf9ecaace5.microsoftaik.azure.net"
	if err := os.WriteFile(scen, []byte("- {at: 0, host: go.microsoft.com, mode: throttled}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var out, errb lockedBuffer
	codec := make(chan int, 1)
	go func() {
		codec <- run(ctx, []string{"simulate", "--listen", "127.0.0.1:0", "--control-addr", "127.0.0.1:0",
			"--trustlist", testutil.NovCab, "--ca-out", caFile, "--ek-out", ekDir, "--scenario", scen}, &out, &errb)
	}()
	var addr string
	deadline := time.Now().Add(60 * time.Second)
	for addr == "" {
		if m := bannerAddr.FindStringSubmatch(out.String()); m != nil && strings.Contains(out.String(), "Try:") {
			addr = m[1]
			break
		}
		select {
		case code := <-codec:
			t.Fatalf("simulate exited %d early: %s", code, errb.String())
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("no banner: %s / %s", out.String(), errb.String())
		}
	}
	for _, w := range []string{"control     http://127.0.0.1:", "ca file     " + caFile, "--resolve '*=" + addr + "'", "curl --cacert " + caFile, "ek intel", "ek amd"} {
		if !strings.Contains(out.String(), w) {
			t.Errorf("banner lacks %q:\n%s", w, out.String())
		}
	}

	// The CA file lets a client verify the simulator's names.
	pem, err := os.ReadFile(caFile)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		t.Fatal("ca file holds no certificate")
	}
	tr := &http.Transport{
		TLSClientConfig: &tls.Config{RootCAs: pool},
		DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
			return (&net.Dialer{}).DialContext(ctx, network, addr)
		},
	}
	defer tr.CloseIdleConnections()
	c := &http.Client{Transport: tr, Timeout: 20 * time.Second}
	resp, err := c.Get("https://" + host + "/templates/Aik/scep?operation=GetCACaps")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(body), "POSTPKIOperation") {
		t.Errorf("GetCACaps: %d %s", resp.StatusCode, body)
	}
	// The scenario ran: go.microsoft.com is throttled.
	for i := 0; ; i++ {
		resp, err = c.Get("https://go.microsoft.com/fwlink/?linkid=2097925")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode == http.StatusTooManyRequests {
			break
		}
		if i > 200 {
			t.Fatalf("scenario not applied: fwlink answers %d", resp.StatusCode)
		}
		time.Sleep(10 * time.Millisecond)
	}
	for _, f := range []string{"ek-intel.pem", "ek-intel-pub.pem", "ek-intel-chain.pem", "ek-amd.pem", "ek-amd-pub.pem", "ek-amd-chain.pem"} {
		if b, err := os.ReadFile(filepath.Join(ekDir, f)); err != nil || !bytes.Contains(b, []byte("-----BEGIN ")) {
			t.Errorf("--ek-out %s: %v", f, err)
		}
	}
	cancel()
	select {
	case code := <-codec:
		if code != 0 {
			t.Errorf("exit %d: %s", code, errb.String())
		}
	case <-time.After(30 * time.Second):
		t.Fatal("simulate did not stop after cancellation")
	}
	if !strings.Contains(errb.String(), "simulator stopping") {
		t.Errorf("log lacks the stop: %s", errb.String())
	}
}

// TestSimulateCLIGenerated: without --trustlist the simulator serves the release it generates,
// signed with the roots --signing-roots-out writes, from any working directory.
func TestSimulateCLIGenerated(t *testing.T) {
	dir := t.TempDir()
	t.Chdir(dir)
	caFile, rootsDir := filepath.Join(dir, "ca.pem"), filepath.Join(dir, "roots")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var out, errb lockedBuffer
	codec := make(chan int, 1)
	go func() {
		codec <- run(ctx, []string{"simulate", "--listen", "127.0.0.1:0", "--control-addr", "",
			"--ca-out", caFile, "--signing-roots-out", rootsDir}, &out, &errb)
	}()
	var addr string
	for deadline := time.Now().Add(60 * time.Second); addr == ""; {
		if m := bannerAddr.FindStringSubmatch(out.String()); m != nil && strings.Contains(out.String(), "Try:") {
			addr = m[1]
			break
		}
		select {
		case code := <-codec:
			t.Fatalf("simulate exited %d early: %s", code, errb.String())
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("no banner: %s / %s", out.String(), errb.String())
		}
	}
	csFile, tsFile := filepath.Join(rootsDir, "codesigning-root.pem"), filepath.Join(rootsDir, "timestamp-root.pem")
	for _, w := range []string{"trust list  generated by the simulator", "signing     code signing root " + csFile + ", timestamp root " + tsFile} {
		if !strings.Contains(out.String(), w) {
			t.Errorf("banner lacks %q:\n%s", w, out.String())
		}
	}
	pem, err := os.ReadFile(caFile)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(pem)
	tr := &http.Transport{
		TLSClientConfig: &tls.Config{RootCAs: pool},
		DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
			return (&net.Dialer{}).DialContext(ctx, network, addr)
		},
	}
	defer tr.CloseIdleConnections()
	roots, err := authenticode.LoadRoots([]string{csFile}, []string{tsFile})
	if err != nil {
		t.Fatal(err)
	}
	snap, err := trustlist.Load(ctx, sim.FwlinkURL, trustlist.Options{Roots: &roots,
		Fetcher: &trustlist.Fetcher{Client: &http.Client{Transport: tr, Timeout: 20 * time.Second}}})
	if err != nil {
		t.Fatal(err)
	}
	if snap.Signature.Status != trustlist.SignatureValid || len(snap.AIKHosts) < 10 {
		t.Errorf("generated release: signature %+v, %d AIK hosts", snap.Signature, len(snap.AIKHosts))
	}
	cancel()
	select {
	case code := <-codec:
		if code != 0 {
			t.Errorf("exit %d: %s", code, errb.String())
		}
	case <-time.After(30 * time.Second):
		t.Fatal("simulate did not stop after cancellation")
	}
}

func TestSimulateCLIErrors(t *testing.T) {
	t.Chdir(t.TempDir())
	code, _, stderr := runCLI(t, "simulate", "--trustlist", "missing.cab")
	if code != 2 || !strings.Contains(stderr, "--trustlist") {
		t.Errorf("missing trust list: exit %d: %s", code, stderr)
	}
	if err := os.WriteFile("bad.yaml", []byte("- {at: 1s, host: go.microsoft.com, mode: sideways}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	code, _, stderr = runCLI(t, "simulate", "--trustlist", testutil.NovCab, "--scenario", "bad.yaml")
	if code != 2 || !strings.Contains(stderr, "step 1 (line 1): mode") {
		t.Errorf("bad scenario: exit %d: %s", code, stderr)
	}
	if err := os.WriteFile("page.html", []byte("<html><title>Portal</title></html>"), 0o600); err != nil {
		t.Fatal(err)
	}
	code, _, stderr = runCLI(t, "simulate", "--trustlist", "page.html", "--listen", "127.0.0.1:0", "--control-addr", "")
	if code != 2 || !strings.Contains(stderr, "HTML") {
		t.Errorf("HTML trust list: exit %d: %s", code, stderr)
	}
}
