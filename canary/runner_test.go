package canary

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"testing"
)

// writeScript writes an executable shell script to dir and returns its path.
func writeScript(t testing.TB, dir, name, body string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte("#!/bin/sh\n"+body), 0o755); err != nil {
		t.Fatal(err)
	}
	return p
}

func skipOnWindows(t testing.TB) {
	t.Helper()
	if runtime.GOOS == "windows" {
		t.Skip("runs shell scripts")
	}
}

func TestExecRunner(t *testing.T) {
	skipOnWindows(t)
	dir := t.TempDir()
	ctx := context.Background()
	var r ExecRunner

	// Combined output, exit code, and an empty argument passed as such.
	p := writeScript(t, dir, "args", `echo "argc=$#"; for a in "$@"; do echo "[$a]"; done; echo oops >&2; exit 3`+"\n")
	out, code, err := r.Run(ctx, p, "-q", "-enrollaik", "-config", "")
	if err != nil || code != 3 {
		t.Fatalf("code %d err %v", code, err)
	}
	want := "argc=4\n[-q]\n[-enrollaik]\n[-config]\n[]\noops\n"
	if string(out) != want {
		t.Errorf("output %q, want %q", out, want)
	}

	// Output capped at MaxCommandOutput.
	p = writeScript(t, dir, "big", "head -c 1200000 /dev/zero | tr '\\0' x\n")
	out, code, err = r.Run(ctx, p)
	if err != nil || code != 0 || len(out) != MaxCommandOutput {
		t.Errorf("big: %d bytes, code %d, err %v", len(out), code, err)
	}

	// A missing program.
	_, _, err = r.Run(ctx, filepath.Join(dir, "missing"))
	if !errors.Is(err, os.ErrNotExist) {
		t.Errorf("missing: %v", err)
	}
	_, _, err = r.Run(ctx, "aikwatch-canary-no-such-program")
	if !errors.Is(err, exec.ErrNotFound) {
		t.Errorf("not in PATH: %v", err)
	}

	// A context already done.
	done, cancel := context.WithCancel(ctx)
	cancel()
	if _, _, err := r.Run(done, p); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled: %v", err)
	}
}
