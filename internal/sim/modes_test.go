package sim

import (
	"context"
	"crypto/x509"
	"errors"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestModeResponses(t *testing.T) {
	s := startSim(t)
	url := "https://" + novHost + "/templates/Aik/scep?operation=GetCACaps"
	for _, tc := range []struct {
		mode   Mode
		code   int
		body   string
		header [2]string
	}{
		{ModeOK, 200, GetCACaps, [2]string{"Content-Type", "text/plain"}},
		{ModeWithdrawn, 404, `{"Message":"The authority \"` + novHost + `\" does not exist."}`, [2]string{"Content-Type", "application/json; charset=utf-8"}},
		{ModeBadRequest, 400, `{"Message":"Failed to parse SCEP request."}`, [2]string{"Content-Type", "application/json; charset=utf-8"}},
		{ModeError500, 500, `{"Message":"An error has occurred."}`, [2]string{"Server", "Microsoft-IIS/10.0"}},
		{ModeThrottled, 429, `{"Message":"Too many requests. Retry after 30 seconds."}`, [2]string{"Retry-After", "30"}},
		{ModeSlow, 200, GetCACaps, [2]string{"Content-Type", "text/plain"}},
	} {
		lat := time.Duration(0)
		if tc.mode == ModeSlow {
			lat = 10 * time.Millisecond
		}
		if err := s.SetMode(novHost, tc.mode, lat); err != nil {
			t.Fatal(err)
		}
		code, hdr, body := get(t, s.Client(), "GET", url, nil)
		if code != tc.code || string(body) != tc.body || hdr.Get(tc.header[0]) != tc.header[1] {
			t.Errorf("mode %s: %d %q %s=%q; want %d %q %q", tc.mode, code, body, tc.header[0], hdr.Get(tc.header[0]), tc.code, tc.body, tc.header[1])
		}
	}
	// Modes apply to every simulated host, service hosts included.
	if err := s.SetMode("FTPM.AMD.COM", ModeError500, 0); err != nil {
		t.Fatal(err)
	}
	if code, _, _ := get(t, s.Client(), "GET", s.EKs()[1].URL, nil); code != 500 {
		t.Errorf("ftpm.amd.com in error_500: %d", code)
	}
	if err := s.SetMode("nothing.example", ModeOK, 0); err == nil {
		t.Error("SetMode accepted a host the simulator does not serve")
	}
	if err := s.SetMode(novHost, "sideways", 0); err == nil {
		t.Error("SetMode accepted an unknown mode")
	}
}

// TestSlowTimesOut: a slow host's answer comes after the latency, so a client with a shorter
// deadline gives up (an outcome, not a timing measurement).
func TestSlowTimesOut(t *testing.T) {
	s := startSim(t)
	if err := s.SetMode(novHost, ModeSlow, time.Hour); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", "https://"+novHost+"/templates/Aik/scep?operation=GetCACaps", nil)
	resp, err := s.Client().Do(req)
	if err == nil {
		resp.Body.Close()
		t.Fatal("slow host answered before the client's deadline")
	}
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("err = %v, want a deadline", err)
	}
	// The default latency applies to every host, added to a host's own.
	if err := s.SetDefaults("", time.Hour); err != nil {
		t.Fatal(err)
	}
	if st := s.HostState(HostFwlink); st.LatencyMS != time.Hour.Milliseconds() || st.Mode != ModeOK {
		t.Errorf("fwlink state %+v", st)
	}
	if st := s.HostState(novHost); st.LatencyMS != 2*time.Hour.Milliseconds() || st.Mode != ModeSlow {
		t.Errorf("slow host state %+v", st)
	}
	if err := s.SetMode(novHost, ModeSlow, 0); err != nil {
		t.Fatal(err)
	}
	if st := s.HostState(novHost); st.LatencyMS != (time.Hour + DefaultSlowLatency).Milliseconds() {
		t.Errorf("slow without latency: %+v", st)
	}
}

func TestHangClientDeadline(t *testing.T) {
	leaks := goleak.IgnoreCurrent()
	s, err := New(Config{TrustList: readCab(t, novCabPath()), Logger: testLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	if err := s.SetMode(novHost, ModeHang, 0); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", "https://"+novHost+"/templates/Aik/scep?operation=GetCACaps", nil)
	c := s.Client()
	resp, err := c.Do(req)
	if err == nil {
		resp.Body.Close()
		t.Fatal("hanging host answered")
	}
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("err = %v, want the client's deadline", err)
	}
	// Close must not wait for anything the client left behind, and nothing may be left.
	if err := s.Close(); err != nil {
		t.Errorf("Close: %v", err)
	}
	c.CloseIdleConnections()
	goleak.VerifyNone(t, leaks)
}

// TestHangUntilClose: a client that never gives up is released by Close, which returns.
func TestHangUntilClose(t *testing.T) {
	leaks := goleak.IgnoreCurrent()
	s, err := New(Config{TrustList: readCab(t, novCabPath()), Logger: testLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	if err := s.SetMode(novHost, ModeHang, 0); err != nil {
		t.Fatal(err)
	}
	c := s.Client()
	errc := make(chan error, 1)
	go func() {
		resp, err := c.Get("https://" + novHost + "/templates/Aik/scep?operation=GetCACaps")
		if err == nil {
			resp.Body.Close()
		}
		errc <- err
	}()
	// Wait until the request is in the handler.
	for s.HostState(novHost).Requests == 0 {
		time.Sleep(5 * time.Millisecond)
	}
	if err := s.Close(); err != nil {
		t.Errorf("Close: %v", err)
	}
	if err := <-errc; err == nil {
		t.Error("hanging request got an answer")
	}
	c.CloseIdleConnections()
	if err := s.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	goleak.VerifyNone(t, leaks)
}

func TestReset(t *testing.T) {
	s := startSim(t)
	if err := s.SetMode(novHost, ModeReset, 0); err != nil {
		t.Fatal(err)
	}
	for _, h2 := range []bool{true, false} {
		c := s.Client()
		if !h2 {
			tr := c.Transport.(*http.Transport)
			tr.ForceAttemptHTTP2 = false
			tr.TLSClientConfig.NextProtos = []string{"http/1.1"}
		}
		resp, err := c.Get("https://" + novHost + "/templates/Aik/scep?operation=GetCACaps")
		if err == nil {
			resp.Body.Close()
			t.Errorf("h2=%v: reset host answered %s %s", h2, resp.Proto, resp.Status)
			continue
		}
		t.Logf("h2=%v: %v", h2, err)
		c.CloseIdleConnections()
	}
	// Another host on the same simulator still answers.
	if code, _, _ := get(t, s.Client(), "GET", "https://"+HostAMDEK+"/pki/aia/"+s.EKs()[1].ID, nil); code != 200 {
		t.Errorf("other host: %d", code)
	}
}

func TestTLSError(t *testing.T) {
	s := startSim(t)
	if err := s.SetMode(novHost, ModeTLSError, 0); err != nil {
		t.Fatal(err)
	}
	c := s.Client()
	resp, err := c.Get("https://" + novHost + "/templates/Aik/scep?operation=GetCACaps")
	if err == nil {
		resp.Body.Close()
		t.Fatal("tls_error host answered")
	}
	var he x509.HostnameError
	if !errors.As(err, &he) {
		t.Fatalf("err = %v, want an x509 hostname error", err)
	}
	if !strings.Contains(he.Error(), wrongName) {
		t.Errorf("hostname error %q does not name %s", he.Error(), wrongName)
	}
	// Other hosts keep their certificates.
	if code, _, _ := get(t, c, "GET", "https://"+HostIntelEK+"/ekcertservice/x", nil); code != 404 {
		t.Errorf("intel: %d", code)
	}
	// And the host recovers for new connections.
	s.ClearMode(novHost)
	if code, _, _ := get(t, s.Client(), "GET", "https://"+novHost+"/templates/Aik/scep?operation=GetCACaps", nil); code != 200 {
		t.Errorf("after clear: %d", code)
	}
}

func TestSetAllAndDefaults(t *testing.T) {
	s := startSim(t)
	if err := s.SetMode(novHost, ModeThrottled, 0); err != nil {
		t.Fatal(err)
	}
	if err := s.SetDefaults(ModeError500, 0); err != nil {
		t.Fatal(err)
	}
	if st := s.HostState(novHost); st.Mode != ModeThrottled || !st.Override {
		t.Errorf("own mode lost to defaults: %+v", st)
	}
	if st := s.HostState(HostDownload); st.Mode != ModeError500 || st.Override {
		t.Errorf("default not applied: %+v", st)
	}
	if err := s.SetAll(ModeWithdrawn, 0); err != nil {
		t.Fatal(err)
	}
	for _, h := range []string{novHost, HostDownload, HostIntelEK} {
		if st := s.HostState(h); st.Mode != ModeWithdrawn || st.Override {
			t.Errorf("SetAll: %+v", st)
		}
	}
	if code, _, body := get(t, s.Client(), "GET", "https://"+HostDownload+DownloadPath, nil); code != 404 || !strings.Contains(string(body), "404") {
		t.Errorf("download withdrawn: %d %s", code, body)
	}
}

// TestConcurrentHosts: many hosts probed at once over a handful of connections, every answer
// right.
func TestConcurrentHosts(t *testing.T) {
	s := startSim(t)
	hosts := s.AIKHosts()
	if raceEnabled {
		var sample []string
		for i := 0; i < len(hosts); i += 4 {
			sample = append(sample, hosts[i])
		}
		hosts = sample
	}
	c := s.Client()
	var wg sync.WaitGroup
	errs := make(chan string, len(hosts))
	sem := make(chan struct{}, 32)
	for _, h := range hosts {
		wg.Go(func() {
			sem <- struct{}{}
			defer func() { <-sem }()
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			req, _ := http.NewRequestWithContext(ctx, "GET", "https://"+h+SCEPPath+"?operation=GetCACertChain&message=default", nil)
			resp, err := c.Do(req)
			if err != nil {
				errs <- h + ": " + err.Error()
				return
			}
			resp.Body.Close()
			if resp.StatusCode != 200 {
				errs <- h + ": " + resp.Status
			}
		})
	}
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Error(e)
	}
	c.CloseIdleConnections()
}
