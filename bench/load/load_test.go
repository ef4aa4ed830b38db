package main

import (
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
	"time"
)

func TestPhaseFlag(t *testing.T) {
	var p phaseFlag
	if err := p.Set("api=/api/v1/status, /api/v1/hosts"); err != nil {
		t.Fatal(err)
	}
	if len(p) != 1 || p[0].Name != "api" || len(p[0].Paths) != 2 || p[0].Paths[1] != "/api/v1/hosts" {
		t.Errorf("parsed %+v", p)
	}
	for _, bad := range []string{"", "api", "=/metrics", "api=", "api=metrics", "api=,"} {
		if err := p.Set(bad); err == nil {
			t.Errorf("-phase %q accepted", bad)
		}
	}
}

func TestQuantile(t *testing.T) {
	v := make([]float64, 100)
	for i := range v {
		v[i] = float64(i + 1)
	}
	for q, want := range map[float64]float64{0.5: 50, 0.9: 90, 0.99: 99, 1: 100, 0: 1} {
		if got := quantile(v, q); got != want {
			t.Errorf("quantile(1..100, %v) = %v, want %v", q, got, want)
		}
	}
	if got := quantile([]float64{7}, 0.99); got != 7 {
		t.Errorf("quantile of one value = %v", got)
	}
	if got := median([]float64{3, 1, 2, 4}); got != 2.5 {
		t.Errorf("median = %v", got)
	}
}

func TestProc(t *testing.T) {
	if _, err := os.Stat("/proc/self/status"); err != nil {
		t.Skip("no /proc")
	}
	kb, err := procStatusKB(os.Getpid(), "VmRSS")
	if err != nil || kb <= 0 {
		t.Errorf("VmRSS = %d, %v", kb, err)
	}
	if _, err := procStatusKB(os.Getpid(), "NoSuchField"); err == nil || !strings.Contains(err.Error(), "NoSuchField") {
		t.Errorf("missing field: %v", err)
	}
	if _, err := procCPUSeconds(os.Getpid()); err != nil {
		t.Error(err)
	}
	m0 := readMachine()
	if !m0.ok {
		t.Fatal("/proc/stat not read")
	}
	m1 := readMachine()
	for deadline := time.Now().Add(5 * time.Second); m1.total == m0.total && time.Now().Before(deadline); m1 = readMachine() {
		time.Sleep(20 * time.Millisecond) // /proc/stat counts in clock ticks
	}
	busy, pressure := m1.since(m0, time.Second)
	if busy < 0 || busy > 100 || pressure > 100*float64(numCPU()) {
		t.Errorf("busy %v%%, pressure %v%%", busy, pressure)
	}
}

// TestLoad runs the open-loop sender for a second against a local server: every scheduled
// request is sent and counted, errors are counted per path.
func TestLoad(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/bad" {
			http.Error(w, "no", http.StatusInternalServerError)
			return
		}
		w.Write([]byte("hello"))
	}))
	defer srv.Close()
	client := &http.Client{Timeout: 5 * time.Second}
	defer client.CloseIdleConnections()
	got := load(context.Background(), client, srv.URL, phase{Name: "t", Paths: []string{"/ok", "/bad"}}, 20, time.Second)
	ok, bad := summarise("t", "/ok", got["/ok"]), summarise("t", "/bad", got["/bad"])
	if ok.Count != 10 || bad.Count != 10 {
		t.Fatalf("counts %d and %d, want 10 and 10", ok.Count, bad.Count)
	}
	if ok.Errors != 0 || ok.Bytes != 5 {
		t.Errorf("/ok: %+v", ok)
	}
	if bad.Errors != 10 || !strings.Contains(bad.FirstError, "500") {
		t.Errorf("/bad: %+v", bad)
	}
}
