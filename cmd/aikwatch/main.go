// Command aikwatch watches Microsoft's external AIK CA service and its TPM trust list
// (TrustedTpm.cab), and tells endpoint admins before their devices find out that Windows TPM
// attestation is about to fail for reasons outside the devices.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"runtime/debug"
	"syscall"

	"github.com/alecthomas/kingpin/v2"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

// exitError carries a process exit code with the error that caused it.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string { return e.err.Error() }
func (e *exitError) Unwrap() error { return e.err }

// oneShot tunes the garbage collector for a short-lived command that holds one release in
// memory: fewer collections, with a soft cap well under the 64 MB the trust-list commands are
// allowed.
func oneShot() {
	debug.SetGCPercent(400)
	debug.SetMemoryLimit(48 << 20)
}

// exitCode wraps err so that main exits with code.
func exitCode(code int, err error) error { return &exitError{code: code, err: err} }

// cli holds what every command shares.
type cli struct {
	app    *kingpin.Application
	stdout io.Writer
	stderr io.Writer
	logger *slog.Logger
	level  *slog.LevelVar
	exited bool // kingpin printed help or the version and asked to exit
}

func newCLI(stdout, stderr io.Writer) *cli {
	c := &cli{
		app:    kingpin.New("aikwatch", "Watches Microsoft's AIK CA service and TPM trust list (TrustedTpm.cab) so that TPM attestation failures are known before deployment day."),
		stdout: stdout,
		stderr: stderr,
		level:  new(slog.LevelVar),
	}
	c.app.Version(version)
	c.app.HelpFlag.Short('h')
	c.app.UsageWriter(stdout)
	c.app.ErrorWriter(stderr)
	c.app.Terminate(func(int) { c.exited = true })
	logLevel := c.app.Flag("log.level", "Log level: debug, info, warn, error.").Default("info").Enum("debug", "info", "warn", "error")
	c.app.PreAction(func(*kingpin.ParseContext) error {
		_ = c.level.UnmarshalText([]byte(*logLevel))
		return nil
	})
	c.logger = slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: c.level}))
	return c
}

// run parses args and runs the chosen command; it returns the process exit code.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	c := newCLI(stdout, stderr)
	actions := map[string]func(context.Context) error{}
	c.registerTrustlist(actions)
	c.registerProbe(actions)
	c.registerEk(actions)
	c.registerSimulate(actions)
	c.registerCheck(actions)
	c.registerServe(actions)
	c.registerDemo(actions)
	c.registerAlerts(actions)
	cmd, err := c.app.Parse(args)
	if err != nil {
		fmt.Fprintf(stderr, "aikwatch: %v (try --help)\n", err)
		return 2
	}
	act, ok := actions[cmd]
	if !ok || c.exited { // --help or --version already printed
		return 0
	}
	if err := act(ctx); err != nil {
		var ee *exitError
		if errors.As(err, &ee) {
			if ee.err != nil && ee.err.Error() != "" {
				fmt.Fprintf(stderr, "aikwatch: %v\n", ee.err)
			}
			return ee.code
		}
		fmt.Fprintf(stderr, "aikwatch: %v\n", err)
		return 2
	}
	return 0
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}
