// Package simtest starts the simulator for tests: on loopback, stopped when the test ends, its
// CA written to a file for the production --ca-file path.
package simtest

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/aikwatch/aikwatch/internal/sim"
)

// Start runs a simulator publishing release (nil: its generated release) and returns it with
// the path of its CA certificate. Clients reach it with --resolve '*=' + s.Addr() and --ca-file.
func Start(tb testing.TB, release []byte) (s *sim.Sim, caFile string) {
	tb.Helper()
	s, err := sim.New(sim.Config{TrustList: release})
	if err != nil {
		tb.Fatal(err)
	}
	if err := s.Start(); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { s.Close() })
	caFile = filepath.Join(tb.TempDir(), "sim-ca.pem")
	if err := os.WriteFile(caFile, s.CACertPEM(), 0o600); err != nil {
		tb.Fatal(err)
	}
	return s, caFile
}
