package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aikwatch/aikwatch/canary"
)

// daemonStub records the reports posted to it and answers the clock check.
type daemonStub struct {
	*httptest.Server
	mu      sync.Mutex
	reports []canary.Report
	got     chan struct{}
	status  int // the POST answer; 0 means 200
}

func newDaemonStub(t *testing.T) *daemonStub {
	d := &daemonStub{got: make(chan struct{}, 100)}
	d.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch {
		case r.Method == http.MethodGet && r.URL.Path == "/-/healthy":
			_, _ = io.WriteString(w, "healthy\n")
		case r.Method == http.MethodPost && r.URL.Path == "/api/v1/canaries":
			var rep canary.Report
			if err := json.NewDecoder(r.Body).Decode(&rep); err != nil {
				w.WriteHeader(http.StatusBadRequest)
				_, _ = io.WriteString(w, `{"error":"decoding: `+err.Error()+`"}`)
				return
			}
			d.mu.Lock()
			status := d.status
			d.mu.Unlock()
			if status != 0 {
				w.WriteHeader(status)
				_, _ = io.WriteString(w, `{"error":"invalid canary report: checks[0]: something"}`)
				return
			}
			if err := rep.Validate(); err != nil {
				w.WriteHeader(http.StatusBadRequest)
				_, _ = io.WriteString(w, `{"error":"invalid canary report: `+err.Error()+`"}`)
				return
			}
			d.mu.Lock()
			d.reports = append(d.reports, rep)
			d.mu.Unlock()
			d.got <- struct{}{}
			_, _ = io.WriteString(w, `{"status":"accepted"}`)
		default:
			http.NotFound(w, r)
		}
	}))
	t.Cleanup(d.Close)
	return d
}

func (d *daemonStub) last(t *testing.T) canary.Report {
	t.Helper()
	d.mu.Lock()
	defer d.mu.Unlock()
	if len(d.reports) == 0 {
		t.Fatal("no report posted")
	}
	return d.reports[len(d.reports)-1]
}

// fakeTools writes stand-ins for tpmtool, PowerShell and certreq; certreq prints certreqOut
// and exits with certreqExit. It returns the flags that select them.
func fakeTools(t *testing.T, certreqOut string, certreqExit int) []string {
	t.Helper()
	if runtime.GOOS == "windows" {
		t.Skip("the stand-ins are shell scripts")
	}
	dir := t.TempDir()
	tpm, err := os.ReadFile(filepath.Join("..", "..", "canary", "testdata", "tpmtool-intel-ok.txt"))
	if err != nil {
		t.Fatal(err)
	}
	write := func(name, body string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte("#!/bin/sh\n"+body), 0o755); err != nil {
			t.Fatal(err)
		}
		return p
	}
	tpmFile := filepath.Join(dir, "tpm.txt")
	if err := os.WriteFile(tpmFile, tpm, 0o644); err != nil {
		t.Fatal(err)
	}
	crFile := filepath.Join(dir, "certreq.txt")
	if err := os.WriteFile(crFile, []byte(certreqOut), 0o644); err != nil {
		t.Fatal(err)
	}
	return []string{
		"--tpmtool", write("tpmtool", "cat "+tpmFile+"\n"),
		"--powershell", write("powershell", "echo 'Get-TpmEndorsementKeyInfo : not here'; exit 1\n"),
		"--certreq", write("certreq", `[ "$4" = "" ] || exit 99`+"\ncat "+crFile+"\nexit "+strconv.Itoa(certreqExit)+"\n"),
	}
}

func runCmd(t *testing.T, ctx context.Context, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var o, e bytes.Buffer
	code = run(ctx, args, &o, &e)
	return code, o.String(), e.String()
}

const certreqOK = "Certificate retrieved(Issued) Issued  SCEPDispositionSuccess\r\n-----BEGIN CERTIFICATE-----\r\nMIIB\r\n-----END CERTIFICATE-----\r\n"

func TestOnceAllPass(t *testing.T) {
	d := newDaemonStub(t)
	args := append([]string{"run", "--once", "--server", d.URL, "--name", "lab-intel-1", "--checks", "tpm,enroll_aik,clock"}, fakeTools(t, certreqOK, 0)...)
	code, out, errOut := runCmd(t, context.Background(), args...)
	if code != exitOK {
		t.Fatalf("exit %d\n%s\n%s", code, out, errOut)
	}
	rep := d.last(t)
	var names []string
	for _, c := range rep.Checks {
		names = append(names, c.Name+"="+c.Status)
	}
	if !slices.Equal(names, []string{"tpm=ok", "enroll_aik=ok", "clock=ok"}) || rep.Canary != "lab-intel-1" ||
		rep.Agent != "aikwatch-canary/"+version || rep.IntervalSeconds != 0 || rep.TPM == nil || rep.TPM.ManufacturerID != "INTC" {
		t.Errorf("report %+v", rep)
	}
	for _, want := range []string{"canary lab-intel-1", "TPM:    INTC 2.0", "tpm         ok", "enroll_aik  ok", "clock       ok", "0 of 3 checks failing; report sent to " + d.URL} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
}

func TestOnceFailingJSON(t *testing.T) {
	d := newDaemonStub(t)
	notFound, err := os.ReadFile(filepath.Join("..", "..", "canary", "testdata", "certreq-getcacaps-notfound.txt"))
	if err != nil {
		t.Fatal(err)
	}
	args := append([]string{"run", "--once", "--server", d.URL + "/", "--name", "lab-2", "--output", "json"}, fakeTools(t, string(notFound), 1)...)
	code, out, errOut := runCmd(t, context.Background(), args...)
	if code != exitFailing {
		t.Fatalf("exit %d\n%s\n%s", code, out, errOut)
	}
	var printed canary.Report
	if err := json.Unmarshal([]byte(out), &printed); err != nil {
		t.Fatalf("stdout is not the JSON report: %v\n%s", err, out)
	}
	posted := d.last(t)
	if len(printed.Checks) != 4 || len(posted.Checks) != 4 {
		t.Fatalf("printed %+v posted %+v", printed.Checks, posted.Checks)
	}
	enroll := posted.Checks[2]
	if enroll.Name != canary.CheckEnrollAIK || enroll.Status != canary.StatusNotFound || enroll.HRESULT != "0x80190194" ||
		!strings.Contains(enroll.Message, "withdrawn or unknown key id") || !strings.Contains(enroll.Output, "GetCACaps: Not Found") {
		t.Errorf("enroll %+v", enroll)
	}
	if ek := posted.Checks[1]; ek.Status != canary.StatusCommandFailed {
		t.Errorf("ek %+v", ek)
	}
}

func TestDryRunAndRefusal(t *testing.T) {
	d := newDaemonStub(t)
	tools := fakeTools(t, certreqOK, 0)
	// --dry-run: checked, the clock too, nothing posted.
	code, out, _ := runCmd(t, context.Background(), append([]string{"run", "--once", "--dry-run", "--server", d.URL, "--name", "x", "--checks", "tpm,clock"}, tools...)...)
	if code != exitOK || !strings.Contains(out, "report not sent (--dry-run)") || !strings.Contains(out, "clock") || len(d.got) != 0 {
		t.Errorf("dry run: exit %d\n%s", code, out)
	}
	// No server: no clock check.
	code, out, _ = runCmd(t, context.Background(), append([]string{"run", "--once", "--name", "x"}, tools...)...)
	if code != exitFailing || strings.Contains(out, "clock") || !strings.Contains(out, "report not sent (no --server)") {
		t.Errorf("no server: exit %d\n%s", code, out)
	}
	// The daemon refuses the report: a clear error, exit 2.
	d.mu.Lock()
	d.status = http.StatusBadRequest
	d.mu.Unlock()
	code, out, _ = runCmd(t, context.Background(), append([]string{"run", "--once", "--server", d.URL, "--name", "x", "--checks", "tpm"}, tools...)...)
	if code != exitUnknown || !strings.Contains(out, "report NOT delivered: the daemon answered HTTP 400: invalid canary report") {
		t.Errorf("refused: exit %d\n%s", code, out)
	}
	// Only the clock, and no server: nothing to do.
	code, out, _ = runCmd(t, context.Background(), "run", "--once", "--name", "x", "--checks", "clock")
	if code != exitUnknown || !strings.Contains(out, "NOT delivered: no check ran") {
		t.Errorf("clock only: exit %d\n%s", code, out)
	}
}

func TestLoop(t *testing.T) {
	d := newDaemonStub(t)
	old := minInterval
	minInterval = time.Millisecond
	defer func() { minInterval = old }()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan int)
	var out, errOut bytes.Buffer
	go func() {
		done <- run(ctx, append([]string{"run", "--interval", "20ms", "--server", d.URL, "--name", "looper", "--checks", "tpm,clock"}, fakeTools(t, certreqOK, 0)...), &out, &errOut)
	}()
	for range 3 {
		select {
		case <-d.got:
		case <-time.After(10 * time.Second):
			t.Fatal("no report")
		}
	}
	cancel()
	select {
	case code := <-done:
		if code != exitOK {
			t.Errorf("exit %d", code)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("did not stop")
	}
	if rep := d.last(t); rep.IntervalSeconds != 0.02 || rep.Canary != "looper" {
		t.Errorf("report %+v", rep)
	}
}

func TestFlags(t *testing.T) {
	for _, tc := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"--version"}, exitOK, ""},
		{[]string{"--help"}, exitOK, ""},
		{[]string{"run", "--once", "--checks", "tpm,bogus"}, exitUnknown, `unknown check "bogus"`},
		{[]string{"run", "--once", "--checks", ","}, exitUnknown, "no check chosen"},
		{[]string{"run", "--once", "--name", "has space"}, exitUnknown, "--name"},
		{[]string{"run", "--interval", "1s", "--name", "x"}, exitUnknown, "at least"},
		{[]string{"run", "--once", "--name", "x", "--server", "ftp://x"}, exitUnknown, "server URL"},
		{[]string{"run", "--once", "--output", "xml"}, exitUnknown, "try --help"},
		{[]string{"nope"}, exitUnknown, "try --help"},
	} {
		code, _, errOut := runCmd(t, context.Background(), tc.args...)
		if code != tc.code || !strings.Contains(errOut, tc.want) {
			t.Errorf("%v: exit %d, stderr %q", tc.args, code, errOut)
		}
	}
	for range 100 {
		if j := jitter(time.Hour); j < 54*time.Minute || j > 66*time.Minute {
			t.Fatal(j)
		}
	}
}

// TestBinary builds the command with a version and runs it as a process.
func TestBinary(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the command")
	}
	if runtime.GOOS == "windows" {
		t.Skip("uses shell stand-ins")
	}
	d := newDaemonStub(t)
	bin := filepath.Join(t.TempDir(), "aikwatch-canary")
	build := exec.Command("go", "build", "-o", bin, "-ldflags", "-X main.version=1.2.3", ".")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	out, err := exec.Command(bin, "--version").CombinedOutput()
	if err != nil || strings.TrimSpace(string(out)) != "1.2.3" {
		t.Errorf("--version: %q %v", out, err)
	}
	cmd := exec.Command(bin, append([]string{"run", "--once", "--server", d.URL, "--name", "bin-1", "--checks", "tpm,enroll_aik"}, fakeTools(t, certreqOK, 0)...)...)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("run: %v\n%s", err, out)
	}
	if rep := d.last(t); rep.Agent != "aikwatch-canary/1.2.3" || len(rep.Checks) != 2 {
		t.Errorf("report %+v", rep)
	}
	cmd = exec.Command(bin, "run", "--once", "--name", "bin-1", "--checks", "tpm", "--tpmtool", "/bin/false")
	if err := cmd.Run(); err == nil {
		t.Error("a failing check exits 0")
	} else if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != exitFailing {
		t.Errorf("exit %v", err)
	}
}
