// Command aikwatch-canary runs on a real Windows device as a synthetic canary for aikwatch: it
// checks the TPM (tpmtool), reads the EK certificate (PowerShell), enrolls an AIK for real
// (certreq -enrollaik) and compares the device clock with the daemon's, then reports the
// result to the aikwatch daemon (POST /api/v1/canaries).
package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/alecthomas/kingpin/v2"

	"github.com/aikwatch/aikwatch/canary"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

// minInterval is the shortest --interval allowed (tests lower it).
var minInterval = time.Minute

// Exit codes of a run with --once.
const (
	exitOK      = 0 // every check passed (and the report was delivered, when there is a server)
	exitFailing = 1 // a check failed
	exitUnknown = 2 // the canary could not report or could not decide: bad flags, a check that could not run
)

// runFlags are the flags of the run command.
type runFlags struct {
	server, name, checks, output                 string
	interval, timeout, retryBudget, maxClockSkew time.Duration
	once, dryRun                                 bool
	certreq, tpmtool, powershell                 string
	certreqTimeout, tpmtoolTimeout, psTimeout    time.Duration
	caFile, user, passwordFile                   string
}

// terminated is how kingpin's --help and --version stop the parse (see run).
type terminated struct{ code int }

// run parses args and runs the command; it returns the process exit code.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) (code int) {
	app := kingpin.New("aikwatch-canary", "Windows canary of aikwatch: runs real TPM attestation steps on this device and reports them to the aikwatch daemon.")
	app.Version(version)
	app.HelpFlag.Short('h')
	app.UsageWriter(stdout)
	app.ErrorWriter(stderr)
	// kingpin would exit the process after --help or --version; stop the parse instead.
	app.Terminate(func(code int) { panic(terminated{code}) })
	defer func() {
		if r := recover(); r != nil {
			t, ok := r.(terminated)
			if !ok {
				panic(r)
			}
			code = t.code
		}
	}()
	logLevel := app.Flag("log.level", "Log level: debug, info, warn, error.").Default("info").Enum("debug", "info", "warn", "error")

	var f runFlags
	cmd := app.Command("run", "Run the checks, print the report and send it to the daemon; with --once a single time, else every --interval until stopped.")
	cmd.Flag("server", "The aikwatch daemon's base URL, e.g. https://aikwatch.example.com:10944. Without it the canary runs and prints but does not report (and skips the clock check).").Envar("AIKWATCH_CANARY_SERVER").StringVar(&f.server)
	cmd.Flag("interval", "How often to run when not --once (a random 10% is added or taken off each time).").Default("1h").DurationVar(&f.interval)
	cmd.Flag("once", "Run once, print the report and exit: 0 when every check passed, 1 when one failed, 2 when the canary could not report or decide.").BoolVar(&f.once)
	cmd.Flag("dry-run", "Run and print, do not send the report.").BoolVar(&f.dryRun)
	cmd.Flag("name", "The canary's name in the daemon: 1 to 64 of A-Z a-z 0-9 . _ - (default: the host name).").StringVar(&f.name)
	cmd.Flag("checks", "The checks to make, comma-separated, from "+strings.Join(canary.AllChecks, ",")+".").Default(strings.Join(canary.AllChecks, ",")).StringVar(&f.checks)
	cmd.Flag("output", "How to print the report: text or json.").Default("text").EnumVar(&f.output, "text", "json")
	cmd.Flag("certreq", "The certreq program (default: certreq.exe in %SystemRoot%\\System32).").StringVar(&f.certreq)
	cmd.Flag("tpmtool", "The tpmtool program (default: tpmtool.exe in %SystemRoot%\\System32).").StringVar(&f.tpmtool)
	cmd.Flag("powershell", "The PowerShell program (default: Windows PowerShell in %SystemRoot%\\System32).").StringVar(&f.powershell)
	cmd.Flag("certreq-timeout", "How long certreq may take.").Default(canary.DefaultCertreqTimeout.String()).DurationVar(&f.certreqTimeout)
	cmd.Flag("tpmtool-timeout", "How long tpmtool may take.").Default(canary.DefaultTPMToolTimeout.String()).DurationVar(&f.tpmtoolTimeout)
	cmd.Flag("powershell-timeout", "How long PowerShell may take to read the EK certificate.").Default(canary.DefaultPowerShellTimeout.String()).DurationVar(&f.psTimeout)
	cmd.Flag("timeout", "How long each request to the daemon may take.").Default(canary.DefaultReportTimeout.String()).DurationVar(&f.timeout)
	cmd.Flag("retry-budget", "How long to keep retrying to deliver a report (5xx, 429, connection errors); at most half the interval.").Default(canary.DefaultRetryBudget.String()).DurationVar(&f.retryBudget)
	cmd.Flag("max-clock-skew", "How far the device clock may be from the daemon's.").Default(canary.DefaultMaxClockSkew.String()).DurationVar(&f.maxClockSkew)
	cmd.Flag("ca-file", "A PEM file of CA certificates to trust for the daemon's TLS, besides the system's.").StringVar(&f.caFile)
	cmd.Flag("user", "The basic-auth user for the daemon.").StringVar(&f.user)
	cmd.Flag("password-file", "A file whose first line is the basic-auth password (default: the "+canary.PasswordEnv+" environment variable).").StringVar(&f.passwordFile)

	chosen, err := app.Parse(args)
	if err != nil {
		fmt.Fprintf(stderr, "aikwatch-canary: %v (try --help)\n", err)
		return exitUnknown
	}
	if chosen != cmd.FullCommand() {
		return exitOK // help <command> printed
	}
	level := new(slog.LevelVar)
	_ = level.UnmarshalText([]byte(*logLevel))
	logger := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level}))
	c, err := newCanary(f, stdout, logger)
	if err != nil {
		fmt.Fprintf(stderr, "aikwatch-canary: %v\n", err)
		return exitUnknown
	}
	if f.once {
		return c.once(ctx)
	}
	return c.loop(ctx)
}

// canaryCmd is the configured run command.
type canaryCmd struct {
	f        runFlags
	opts     canary.Options
	wants    map[string]bool
	reporter *canary.Reporter // nil without --server
	stdout   io.Writer
	log      *slog.Logger
}

func newCanary(f runFlags, stdout io.Writer, log *slog.Logger) (*canaryCmd, error) {
	if f.name == "" {
		h, err := os.Hostname()
		if err != nil {
			return nil, fmt.Errorf("no --name and the host name is unknown: %w", err)
		}
		f.name = h
		if !canary.ValidName(f.name) {
			return nil, fmt.Errorf("the host name %q cannot name a canary: give --name (1 to 64 of A-Z a-z 0-9 . _ -)", h)
		}
	}
	if !canary.ValidName(f.name) {
		return nil, fmt.Errorf("--name %q: want 1 to 64 of A-Z a-z 0-9 . _ -", f.name)
	}
	var checks []string
	for _, s := range strings.Split(f.checks, ",") {
		if s = strings.TrimSpace(s); s != "" {
			checks = append(checks, s)
		}
	}
	if len(checks) == 0 {
		return nil, errors.New("--checks: no check chosen")
	}
	if err := canary.ValidateChecks(checks); err != nil {
		return nil, fmt.Errorf("--checks: %w", err)
	}
	if !f.once && f.interval < minInterval {
		return nil, fmt.Errorf("--interval %s: at least %s", f.interval, minInterval)
	}
	c := &canaryCmd{f: f, stdout: stdout, log: log, wants: map[string]bool{}}
	for _, ch := range checks {
		c.wants[ch] = true
	}
	interval := f.interval
	if f.once {
		interval = 0
	}
	c.opts = canary.Options{
		Name: f.name, Agent: "aikwatch-canary/" + version, Interval: interval, Checks: checks,
		Certreq: f.certreq, TPMTool: f.tpmtool, PowerShell: f.powershell,
		CertreqTimeout: f.certreqTimeout, TPMToolTimeout: f.tpmtoolTimeout, PowerShellTimeout: f.psTimeout,
		Logger: log,
	}
	if f.server == "" {
		if !f.dryRun {
			log.Info("no --server: the report is printed, not sent, and the clock is not checked")
		}
		return c, nil
	}
	password, err := canary.ReadPassword(f.passwordFile)
	if err != nil {
		return nil, err
	}
	budget := f.retryBudget
	if !f.once && budget > interval/2 {
		budget = interval / 2
	}
	c.reporter, err = canary.NewReporter(canary.ReporterOptions{
		Server: f.server, Timeout: f.timeout, RetryBudget: budget, CAFile: f.caFile,
		User: f.user, Password: password, MaxClockSkew: f.maxClockSkew,
		UserAgent: "aikwatch-canary/" + version, Logger: log,
	})
	if err != nil {
		return nil, err
	}
	return c, nil
}

// runOnce makes the checks and delivers the report; sent is whether it reached the daemon
// (false with no server or --dry-run, with err nil).
func (c *canaryCmd) runOnce(ctx context.Context) (rep *canary.Report, sent bool, err error) {
	rep = canary.Run(ctx, c.opts)
	if c.wants[canary.CheckClock] && c.reporter != nil {
		rep.Checks = append(rep.Checks, c.reporter.CheckClock(ctx))
	}
	rep.Finished = time.Now()
	if len(rep.Checks) == 0 {
		return rep, false, errors.New("no check ran: the clock check needs --server")
	}
	if c.reporter == nil || c.f.dryRun {
		return rep, false, nil
	}
	if err := c.reporter.Send(ctx, rep); err != nil {
		return rep, false, err
	}
	return rep, true, nil
}

// verdict is the exit code a report and its delivery give.
func (c *canaryCmd) verdict(rep *canary.Report, err error) int {
	if err != nil {
		return exitUnknown
	}
	code := exitOK
	for _, ch := range rep.Checks {
		switch ch.Status {
		case canary.StatusOK:
		case canary.StatusError, canary.StatusUnsupported:
			if code == exitOK {
				code = exitUnknown
			}
		default:
			code = exitFailing
		}
	}
	return code
}

func (c *canaryCmd) once(ctx context.Context) int {
	rep, sent, err := c.runOnce(ctx)
	c.print(rep, sent, err)
	return c.verdict(rep, err)
}

func (c *canaryCmd) loop(ctx context.Context) int {
	for {
		rep, sent, err := c.runOnce(ctx)
		if ctx.Err() != nil {
			c.log.Info("stopping")
			return exitOK
		}
		c.print(rep, sent, err)
		failing := rep.Failing()
		names := make([]string, len(failing))
		for i, ch := range failing {
			names[i] = ch.Name + "=" + ch.Status
		}
		if err != nil {
			c.log.Error("canary run: the report was not delivered", "err", err, "failing", strings.Join(names, ","))
		} else {
			c.log.Info("canary run", "failing", strings.Join(names, ","), "sent", sent)
		}
		wait := jitter(c.f.interval)
		c.log.Debug("next run", "in", wait.Round(time.Second))
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			c.log.Info("stopping")
			return exitOK
		case <-t.C:
		}
	}
}

// jitter returns d with up to 10% added or taken off, so that canaries started together spread.
func jitter(d time.Duration) time.Duration {
	spread := int64(d / 10)
	if spread <= 0 {
		return d
	}
	return d - time.Duration(spread) + time.Duration(rand.Int64N(2*spread+1))
}

func (c *canaryCmd) print(rep *canary.Report, sent bool, err error) {
	if c.f.output == "json" {
		b, jerr := json.MarshalIndent(rep, "", "  ")
		if jerr != nil {
			c.log.Error("encoding the report", "err", jerr)
			return
		}
		fmt.Fprintf(c.stdout, "%s\n", b)
		if err != nil {
			c.log.Error("the report was not delivered", "err", err)
		}
		return
	}
	w := c.stdout
	fmt.Fprintf(w, "canary %s (%s) at %s, %.1fs\n", rep.Canary, rep.Agent, rep.Started.Format(time.RFC3339), rep.Finished.Sub(rep.Started).Seconds())
	if t := rep.TPM; t != nil {
		fmt.Fprintf(w, "TPM:    %s %s firmware %s\n", orDash(t.ManufacturerID), t.SpecVersion, orDash(t.ManufacturerVersion))
	}
	if rep.AIKHost != "" {
		fmt.Fprintf(w, "AIK CA: %s\n", rep.AIKHost)
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	for _, ch := range rep.Checks {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", ch.Name, ch.Status, orDash(ch.HRESULT), oneLine(ch.Message))
	}
	_ = tw.Flush()
	failing, unsupported := 0, 0
	for _, ch := range rep.Failing() {
		if ch.Status == canary.StatusUnsupported {
			unsupported++
		} else {
			failing++
		}
	}
	fmt.Fprintf(w, "%d of %d checks failing", failing, len(rep.Checks))
	if unsupported > 0 {
		fmt.Fprintf(w, ", %d could not run here", unsupported)
	}
	fmt.Fprint(w, "; ")
	switch {
	case err != nil:
		fmt.Fprintf(w, "report NOT delivered: %v\n", err)
	case sent:
		fmt.Fprintf(w, "report sent to %s\n", c.f.server)
	case c.f.dryRun:
		fmt.Fprintln(w, "report not sent (--dry-run)")
	default:
		fmt.Fprintln(w, "report not sent (no --server)")
	}
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }

func main() {
	// os.Interrupt is Ctrl-C (and Ctrl-Break) on Windows; SIGTERM is what service managers
	// send elsewhere.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}
