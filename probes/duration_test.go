package probes

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"
)

// TestProbeDurationRecorded guards against the deferred duration being lost on return.
func TestProbeDurationRecorded(t *testing.T) {
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-time.After(5 * time.Second):
		}
		panic(http.ErrAbortHandler) // no empty 200 for a client whose deadline races with it
	}))
	defer srv.Close()
	defer srv.CloseClientConnections()
	host := srv.Listener.Addr().String()
	aik := (&AIKProber{Client: srv.Client(), Timeout: 100 * time.Millisecond}).Probe(context.Background(), Target{Host: host})
	if aik.Status != StatusTimeout || aik.DurationSeconds < 0.1 {
		t.Errorf("AIK probe: status %s, duration %v s; want timeout after at least the 0.1 s timeout", aik.Status, aik.DurationSeconds)
	}
	ek := (&EKProber{Client: srv.Client(), Timeout: 100 * time.Millisecond}).Probe(context.Background(), EKService{Name: EKServiceQualcomm, BaseURL: srv.URL})
	if ek.DurationSeconds < 0.1 {
		t.Errorf("EK probe: duration %v s, want at least the 0.1 s timeout", ek.DurationSeconds)
	}
}
