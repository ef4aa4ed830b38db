// Package testutil holds helpers shared by the project's tests: locating the repository's
// testdata and requiring external tools (cabextract, gcab, osslsigncode, promtool, ...).
package testutil

import (
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"testing"
)

// InCI reports whether the tests run in continuous integration (CI=true), where a missing
// external tool is a failure rather than a reason to skip.
func InCI() bool { return os.Getenv("CI") == "true" }

// RequireTool returns the path of the external program name. When it is missing the test is
// skipped locally and fails in CI.
func RequireTool(tb testing.TB, name string) string {
	tb.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		if InCI() {
			tb.Fatalf("required tool %q not found in PATH (CI=true): %v", name, err)
		}
		tb.Skipf("tool %q not found in PATH; skipping (set CI=true to make this a failure)", name)
	}
	return p
}

// RepoRoot returns the repository's top directory (the one holding go.mod).
func RepoRoot() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Clean(filepath.Join(filepath.Dir(file), "..", ".."))
}

// Testdata returns the path of elem joined below the repository's testdata directory.
func Testdata(elem ...string) string {
	return filepath.Join(append([]string{RepoRoot(), "testdata"}, elem...)...)
}

// ReadTestdata reads a file below the repository's testdata directory or fails the test.
func ReadTestdata(tb testing.TB, elem ...string) []byte {
	tb.Helper()
	b, err := os.ReadFile(Testdata(elem...))
	if err != nil {
		tb.Fatalf("reading testdata: %v", err)
	}
	return b
}

// NovCab and JunCab are the paths of the two real TrustedTpm.cab releases.
var (
	NovCab = Testdata("trustedtpm", "TrustedTpm-2024-11-21.cab")
	JunCab = Testdata("trustedtpm", "TrustedTpm-2024-06-11.cab")
)
