package canary

import (
	"context"
	"encoding/json"
	"encoding/pem"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func testReport() *Report {
	now := time.Now()
	return &Report{
		Version: ReportVersion, Canary: "DESKTOP-1", Started: now.Add(-time.Second), Finished: now,
		Checks: []Check{{Name: CheckTPM, Status: StatusOK, Message: "fine"}},
	}
}

// noSleep makes the reporter's waits instant and records them.
func noSleep(r *Reporter) *[]time.Duration {
	var mu sync.Mutex
	waits := &[]time.Duration{}
	r.sleep = func(ctx context.Context, d time.Duration) error {
		mu.Lock()
		*waits = append(*waits, d)
		mu.Unlock()
		return ctx.Err()
	}
	return waits
}

func newTestReporter(t *testing.T, o ReporterOptions) *Reporter {
	t.Helper()
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	r, err := NewReporter(o)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func TestReporterSendTLSAuth(t *testing.T) {
	var got Report
	var auth atomic.Value
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost || r.URL.Path != "/base/api/v1/canaries" || r.Header.Get("Content-Type") != "application/json" {
			http.Error(w, `{"error":"wrong request"}`, http.StatusNotFound)
			return
		}
		u, p, _ := r.BasicAuth()
		auth.Store(u + ":" + p)
		if err := json.NewDecoder(r.Body).Decode(&got); err != nil {
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		w.WriteHeader(http.StatusAccepted)
		_, _ = io.WriteString(w, `{"status":"accepted"}`)
	}))
	defer srv.Close()

	// Without the CA file the daemon's certificate is not trusted.
	r := newTestReporter(t, ReporterOptions{Server: srv.URL + "/base/", Timeout: 5 * time.Second})
	noSleep(r)
	r.o.RetryBudget = time.Millisecond
	if err := r.Send(context.Background(), testReport()); err == nil || !strings.Contains(err.Error(), "certificate") {
		t.Errorf("untrusted: %v", err)
	}

	caFile := filepath.Join(t.TempDir(), "ca.pem")
	pemBytes := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw})
	if err := os.WriteFile(caFile, pemBytes, 0o600); err != nil {
		t.Fatal(err)
	}
	r = newTestReporter(t, ReporterOptions{Server: srv.URL + "/base", CAFile: caFile, User: "canary", Password: "s3cret", UserAgent: "ua"})
	rep := testReport()
	if err := r.Send(context.Background(), rep); err != nil {
		t.Fatal(err)
	}
	if got.Canary != "DESKTOP-1" || len(got.Checks) != 1 || auth.Load() != "canary:s3cret" {
		t.Errorf("got %+v auth %v", got, auth.Load())
	}

	if _, err := NewReporter(ReporterOptions{Server: srv.URL, CAFile: filepath.Join(t.TempDir(), "none.pem")}); err == nil {
		t.Error("missing CA file: no error")
	}
	notPEM := filepath.Join(t.TempDir(), "x.pem")
	_ = os.WriteFile(notPEM, []byte("hello"), 0o600)
	if _, err := NewReporter(ReporterOptions{Server: srv.URL, CAFile: notPEM}); err == nil || !strings.Contains(err.Error(), "no PEM") {
		t.Errorf("not PEM: %v", err)
	}
	for _, bad := range []string{"", "ftp://x", "http://", "://", "https://u:p@host"} {
		if _, err := NewReporter(ReporterOptions{Server: bad}); err == nil {
			t.Errorf("%q: no error", bad)
		}
	}
}

func TestReporterRetries(t *testing.T) {
	var n atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch n.Add(1) {
		case 1:
			w.Header().Set("Retry-After", "7")
			w.WriteHeader(http.StatusTooManyRequests)
		case 2:
			w.WriteHeader(http.StatusBadGateway)
		default:
			w.WriteHeader(http.StatusOK)
			_, _ = io.WriteString(w, `{"status":"accepted"}`)
		}
	}))
	defer srv.Close()
	r := newTestReporter(t, ReporterOptions{Server: srv.URL})
	waits := noSleep(r)
	if err := r.Send(context.Background(), testReport()); err != nil {
		t.Fatal(err)
	}
	if n.Load() != 3 || len(*waits) != 2 || (*waits)[0] != 7*time.Second || (*waits)[1] < 2*time.Second || (*waits)[1] > 3*time.Second {
		t.Errorf("%d requests, waits %v", n.Load(), *waits)
	}
}

func TestReporterGivesUp(t *testing.T) {
	var n atomic.Int32
	status := http.StatusBadRequest
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n.Add(1)
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		_, _ = io.WriteString(w, `{"error":"invalid canary report: checks[0]: bad"}`)
	}))
	defer srv.Close()
	r := newTestReporter(t, ReporterOptions{Server: srv.URL})
	waits := noSleep(r)

	err := r.Send(context.Background(), testReport())
	var re *ResponseError
	if !errors.As(err, &re) || re.StatusCode != 400 || !errors.Is(err, ErrInvalidReport) || n.Load() != 1 ||
		!strings.Contains(err.Error(), "HTTP 400: invalid canary report: checks[0]: bad") {
		t.Errorf("400: %v after %d", err, n.Load())
	}
	status = http.StatusForbidden
	if err := r.Send(context.Background(), testReport()); !errors.Is(err, ErrRefused) {
		t.Errorf("403: %v", err)
	}
	status = http.StatusUnauthorized
	if err := r.Send(context.Background(), testReport()); err == nil || !strings.Contains(err.Error(), "check the user and the password") {
		t.Errorf("401: %v", err)
	}
	if len(*waits) != 0 {
		t.Errorf("retried a 4xx: %v", *waits)
	}

	// 503 forever: retried until the budget runs out.
	status = http.StatusServiceUnavailable
	n.Store(0)
	clock := time.Unix(1e9, 0)
	r.o.Now = func() time.Time { return clock }
	r.o.RetryBudget = 10 * time.Second
	r.sleep = func(_ context.Context, d time.Duration) error { clock = clock.Add(d); return nil }
	err = r.Send(context.Background(), testReport())
	if err == nil || !strings.Contains(err.Error(), "gave up after") || n.Load() < 3 || n.Load() > 5 {
		t.Errorf("503: %v after %d", err, n.Load())
	}

	// An invalid report is not sent.
	n.Store(0)
	bad := testReport()
	bad.Canary = "no spaces allowed"
	if err := r.Send(context.Background(), bad); !errors.Is(err, ErrInvalidReport) || n.Load() != 0 {
		t.Errorf("invalid: %v", err)
	}
}

func TestReporterHangingServer(t *testing.T) {
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
		panic(http.ErrAbortHandler) // no empty 200 for a client whose deadline races with it
	}))
	defer srv.Close()
	defer close(release)
	r := newTestReporter(t, ReporterOptions{Server: srv.URL, Timeout: 200 * time.Millisecond, RetryBudget: 300 * time.Millisecond})
	start := time.Now()
	err := r.Send(context.Background(), testReport())
	if err == nil || !strings.Contains(err.Error(), "Timeout") {
		t.Errorf("err %v", err)
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Errorf("took %s", d)
	}
	c := r.CheckClock(context.Background())
	if c.Status != StatusError || !strings.Contains(c.Message, "asking the daemon's clock") {
		t.Errorf("clock %+v", c)
	}
}

func TestCheckClock(t *testing.T) {
	serverNow := time.Date(2026, 11, 24, 10, 0, 0, 0, time.UTC)
	noDate := false
	var path atomic.Value
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		path.Store(r.URL.Path)
		if noDate {
			w.Header()["Date"] = nil
		} else {
			w.Header().Set("Date", serverNow.Format(http.TimeFormat))
		}
		_, _ = io.WriteString(w, "healthy\n")
	}))
	defer srv.Close()
	for _, tc := range []struct {
		device time.Duration // device clock minus the daemon's
		status string
		words  string
	}{
		{0, StatusOK, "0s fast"},
		{9 * time.Minute, StatusOK, "9m0s fast"},
		{-12*time.Minute - 30*time.Second, StatusClockSkew, "12m30s slow"},
		{11 * time.Minute, StatusClockSkew, "11m0s fast"},
	} {
		r := newTestReporter(t, ReporterOptions{Server: srv.URL, Now: func() time.Time { return serverNow.Add(tc.device + 500*time.Millisecond) }})
		c := r.CheckClock(context.Background())
		if c.Name != CheckClock || c.Status != tc.status || !strings.Contains(c.Message, tc.words) {
			t.Errorf("%s: %+v", tc.device, c)
		}
	}
	if path.Load() != "/-/healthy" {
		t.Errorf("path %v", path.Load())
	}
	r := newTestReporter(t, ReporterOptions{Server: srv.URL, MaxClockSkew: time.Minute, Now: func() time.Time { return serverNow.Add(2 * time.Minute) }})
	if c := r.CheckClock(context.Background()); c.Status != StatusClockSkew || !strings.Contains(c.Message, "1m0s allowed") {
		t.Errorf("custom skew: %+v", c)
	}
	noDate = true
	if c := r.CheckClock(context.Background()); c.Status != StatusError || !strings.Contains(c.Message, "Date") {
		t.Errorf("no date: %+v", c)
	}
	srv.Close()
	if c := r.CheckClock(context.Background()); c.Status != StatusError {
		t.Errorf("unreachable: %+v", c)
	}
}

func TestReadPassword(t *testing.T) {
	t.Setenv(PasswordEnv, "from-env")
	if p, err := ReadPassword(""); err != nil || p != "from-env" {
		t.Error(p, err)
	}
	f := filepath.Join(t.TempDir(), "pw")
	_ = os.WriteFile(f, []byte("from file\r\nsecond line\n"), 0o600)
	if p, err := ReadPassword(f); err != nil || p != "from file" {
		t.Errorf("%q %v", p, err)
	}
	if _, err := ReadPassword(f + ".missing"); err == nil {
		t.Error("missing file: no error")
	}
	if d := retryAfter("Wed, 21 Oct 2015 07:28:30 GMT", time.Date(2015, 10, 21, 7, 28, 0, 0, time.UTC)); d != 30*time.Second {
		t.Error(d)
	}
	if d := retryAfter("soon", time.Now()); d != 0 {
		t.Error(d)
	}
}
