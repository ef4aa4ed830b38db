package canary

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os/exec"
	"sync"
	"time"
)

// MaxCommandOutput is how much of a command's combined output a [Runner] keeps (its start).
const MaxCommandOutput = 1 << 20

// Runner runs a command and returns its combined standard output and error (at most
// [MaxCommandOutput] bytes) and its exit code. A non-zero exit is not an error: err is set only
// when the command could not start (it wraps [exec.ErrNotFound] when the program is missing) or
// when ctx ended first (it wraps ctx.Err(), so errors.Is(err, context.DeadlineExceeded) tells a
// timeout).
type Runner interface {
	Run(ctx context.Context, name string, args ...string) (output []byte, exitCode int, err error)
}

// ExecRunner is the [Runner] that runs real processes. When ctx ends, it kills the process and,
// on Unix, its whole process group, so that a hanging child is not left behind; on Windows it
// kills the process.
type ExecRunner struct {
	// WaitDelay bounds how long Run waits for the output to close after the process was killed
	// or exited (a grandchild may hold it open); 0 means 5 seconds.
	WaitDelay time.Duration
}

// Run implements [Runner].
func (r ExecRunner) Run(ctx context.Context, name string, args ...string) ([]byte, int, error) {
	if err := ctx.Err(); err != nil {
		return nil, -1, fmt.Errorf("%s: %w", name, err)
	}
	cmd := exec.CommandContext(ctx, name, args...)
	var out cappedBuffer
	out.max = MaxCommandOutput
	cmd.Stdout, cmd.Stderr = &out, &out
	cmd.WaitDelay = r.WaitDelay
	if cmd.WaitDelay == 0 {
		cmd.WaitDelay = 5 * time.Second
	}
	setProcessGroup(cmd)
	err := cmd.Run()
	b := out.Bytes()
	if ctxErr := ctx.Err(); ctxErr != nil {
		return b, exitCodeOf(cmd), fmt.Errorf("%s: killed: %w", name, ctxErr)
	}
	if err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			return b, ee.ExitCode(), nil
		}
		if errors.Is(err, exec.ErrWaitDelay) {
			return b, exitCodeOf(cmd), nil // exited; a child kept the output open
		}
		return b, -1, fmt.Errorf("running %s: %w", name, err)
	}
	return b, 0, nil
}

func exitCodeOf(cmd *exec.Cmd) int {
	if cmd.ProcessState == nil {
		return -1
	}
	return cmd.ProcessState.ExitCode()
}

// cappedBuffer keeps the first max bytes written to it and drops the rest, telling no writer.
type cappedBuffer struct {
	mu        sync.Mutex
	buf       bytes.Buffer
	max       int
	truncated bool
}

func (c *cappedBuffer) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if room := c.max - c.buf.Len(); room < len(p) {
		c.buf.Write(p[:max(room, 0)])
		c.truncated = true
	} else {
		c.buf.Write(p)
	}
	return len(p), nil
}

// Bytes returns what was kept.
func (c *cappedBuffer) Bytes() []byte {
	c.mu.Lock()
	defer c.mu.Unlock()
	return bytes.Clone(c.buf.Bytes())
}
