package canary

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"time"

	"github.com/aikwatch/aikwatch/probes"
	"github.com/aikwatch/aikwatch/trustlist"
)

// AllChecks are the checks a run makes by default, in the order they run.
var AllChecks = []string{CheckTPM, CheckEKCert, CheckEnrollAIK, CheckClock}

// Default timeouts of the commands.
const (
	// DefaultCertreqTimeout bounds `certreq -enrollaik`, which talks to the AIK CA service.
	DefaultCertreqTimeout = 2 * time.Minute
	// DefaultTPMToolTimeout bounds `tpmtool getdeviceinformation`.
	DefaultTPMToolTimeout = 30 * time.Second
	// DefaultPowerShellTimeout bounds the PowerShell command that reads the EK certificate.
	DefaultPowerShellTimeout = 30 * time.Second
)

// EKCertScript is the PowerShell command that prints the device's EK certificates, one base64
// DER per line: the manufacturer's certificates first, then the additional ones (where Windows
// keeps an fTPM's certificate fetched from the vendor's EK service).
const EKCertScript = `$k = Get-TpmEndorsementKeyInfo; @($k.ManufacturerCertificates) + @($k.AdditionalCertificates) | Where-Object { $_ } | ForEach-Object { [Convert]::ToBase64String($_.RawData) }`

// Options configure a canary run.
type Options struct {
	// Name names the device in the report (see [ValidName]).
	Name string
	// Agent is the canary program's version, for [Report.Agent].
	Agent string
	// Interval is how often the canary runs; 0 when it runs once.
	Interval time.Duration
	// Checks are the checks to make, from [AllChecks]; empty means all. They run in the
	// order of [AllChecks] whatever the order given. [CheckClock] is not made by [Run]: the
	// [Reporter] makes it, as it needs the daemon.
	Checks []string
	// Certreq, TPMTool and PowerShell are the programs to run. Empty means the Windows tools
	// in %SystemRoot%\System32; on other systems the checks that need them are then
	// [StatusUnsupported].
	Certreq, TPMTool, PowerShell string
	// CertreqTimeout, TPMToolTimeout and PowerShellTimeout bound each command; 0 means
	// [DefaultCertreqTimeout], [DefaultTPMToolTimeout] and [DefaultPowerShellTimeout].
	CertreqTimeout, TPMToolTimeout, PowerShellTimeout time.Duration
	// Runner runs the commands; nil means [ExecRunner].
	Runner Runner
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// Logger logs what the run does; nil means slog.Default().
	Logger *slog.Logger
}

// ValidateChecks returns an error naming the first unknown or repeated check name.
func ValidateChecks(checks []string) error {
	seen := map[string]bool{}
	for _, c := range checks {
		if !slices.Contains(AllChecks, c) {
			return fmt.Errorf("unknown check %q: want some of %s", c, strings.Join(AllChecks, ","))
		}
		if seen[c] {
			return fmt.Errorf("check %q given twice", c)
		}
		seen[c] = true
	}
	return nil
}

// Wants reports whether the options choose the check.
func (o *Options) Wants(check string) bool {
	return len(o.Checks) == 0 || slices.Contains(o.Checks, check)
}

func (o *Options) now() time.Time {
	if o.Now != nil {
		return o.Now()
	}
	return time.Now()
}

// tool is one Windows program the canary runs.
type tool struct {
	path    string // what to run
	exe     string // the Windows program's file name, e.g. certreq.exe
	option  string // the option that overrides the path, e.g. certreq
	timeout time.Duration
}

// tool returns the program to run: path, or the Windows program exe (relative to System32) on
// Windows, or none.
func (o *Options) tool(path, exe, option string, timeout, def time.Duration) tool {
	if timeout <= 0 {
		timeout = def
	}
	if path == "" && runtime.GOOS == "windows" {
		root := os.Getenv("SystemRoot")
		if root == "" {
			root = `C:\Windows`
		}
		path = filepath.Join(root, "System32", exe)
	}
	return tool{path: path, exe: filepath.Base(strings.ReplaceAll(exe, `\`, "/")), option: option, timeout: timeout}
}

// Run makes the chosen device checks (all but [CheckClock]) and returns the report, with
// Started and Finished set. It never fails: a check that cannot run says so in its status.
// The report's Checks may be empty when only [CheckClock] was chosen.
func Run(ctx context.Context, o Options) *Report {
	log := o.Logger
	if log == nil {
		log = slog.Default()
	}
	if o.Runner == nil {
		o.Runner = ExecRunner{}
	}
	r := &Report{
		Version:         ReportVersion,
		Canary:          o.Name,
		Agent:           o.Agent,
		Started:         o.now(),
		IntervalSeconds: o.Interval.Seconds(),
	}
	if o.Wants(CheckTPM) {
		r.Checks = append(r.Checks, o.timed(func() Check {
			c, info := o.checkTPM(ctx)
			r.TPM = info
			return c
		}))
	}
	if o.Wants(CheckEKCert) {
		r.Checks = append(r.Checks, o.timed(func() Check {
			c, host := o.checkEK(ctx)
			r.AIKHost = host
			return c
		}))
	}
	if o.Wants(CheckEnrollAIK) {
		r.Checks = append(r.Checks, o.timed(func() Check { return o.checkEnroll(ctx) }))
	}
	for _, c := range r.Checks {
		log.Debug("canary check", "check", c.Name, "status", c.Status, "hresult", c.HRESULT, "message", c.Message, "seconds", c.DurationSeconds)
	}
	r.Finished = o.now()
	return r
}

func (o *Options) timed(f func() Check) Check {
	start := o.now()
	c := f()
	c.DurationSeconds = o.now().Sub(start).Seconds()
	return c
}

// run runs a tool and returns a failed check when it could not run or timed out; ok is false
// then.
func (o *Options) run(ctx context.Context, name string, t tool, args ...string) (out []byte, exitCode int, failed Check, ok bool) {
	failed = Check{Name: name}
	if t.path == "" {
		failed.Status = StatusUnsupported
		failed.Message = fmt.Sprintf("%s is a Windows tool and this system is %s: the check cannot run here (point --%s at a stand-in to test the canary)", t.exe, runtime.GOOS, t.option)
		return nil, -1, failed, false
	}
	ctx, cancel := context.WithTimeout(ctx, t.timeout)
	defer cancel()
	out, exitCode, err := o.Runner.Run(ctx, t.path, args...)
	switch {
	case err == nil:
		return out, exitCode, failed, true
	case errors.Is(err, context.DeadlineExceeded):
		failed.Status = StatusTimeout
		failed.Message = fmt.Sprintf("%s did not finish within %s and was killed", t.exe, t.timeout)
	case errors.Is(err, context.Canceled):
		failed.Status = StatusError
		failed.Message = fmt.Sprintf("%s: the canary was stopped", t.exe)
	case errors.Is(err, exec.ErrNotFound) || errors.Is(err, os.ErrNotExist):
		failed.Status = StatusUnsupported
		failed.Message = fmt.Sprintf("%s not found (%v)", t.exe, err)
	default:
		failed.Status = StatusCommandFailed
		failed.Message = fmt.Sprintf("%s could not run: %v", t.exe, err)
	}
	failed.Message = truncate(failed.Message, MaxOutputBytes)
	failed.Output = tail(DecodeOutput(out), MaxOutputBytes)
	return out, exitCode, failed, false
}

func (o *Options) checkTPM(ctx context.Context) (Check, *TPMInfo) {
	t := o.tool(o.TPMTool, "tpmtool.exe", "tpmtool", o.TPMToolTimeout, DefaultTPMToolTimeout)
	out, code, failed, ok := o.run(ctx, CheckTPM, t, "getdeviceinformation")
	if !ok {
		return failed, nil
	}
	return ClassifyTPM(out, code)
}

func (o *Options) checkEnroll(ctx context.Context) Check {
	t := o.tool(o.Certreq, "certreq.exe", "certreq", o.CertreqTimeout, DefaultCertreqTimeout)
	// -config "": the empty argument is passed as such (exec quotes it as "" on Windows).
	out, code, failed, ok := o.run(ctx, CheckEnrollAIK, t, "-q", "-enrollaik", "-config", "")
	if !ok {
		return failed
	}
	return ClassifyEnroll(out, code)
}

func (o *Options) checkEK(ctx context.Context) (Check, string) {
	t := o.tool(o.PowerShell, `WindowsPowerShell\v1.0\powershell.exe`, "powershell", o.PowerShellTimeout, DefaultPowerShellTimeout)
	out, code, failed, ok := o.run(ctx, CheckEKCert, t, "-NoProfile", "-NonInteractive", "-Command", EKCertScript)
	if !ok {
		return failed, ""
	}
	return ClassifyEKCert(out, code)
}

// ClassifyEKCert reads the output of [EKCertScript] (base64 DER certificates, one a line; other
// lines are ignored) and derives the AIK CA host from the first certificate that names its TPM
// manufacturer. The check is [StatusNoEKCertificate] when the TPM has no EK certificate,
// [StatusCommandFailed] when the command failed or no certificate could be read.
func ClassifyEKCert(out []byte, exitCode int) (Check, string) {
	text := DecodeOutput(out)
	c := Check{Name: CheckEKCert, Output: tail(text, MaxOutputBytes)}
	var certs int
	var problems []string
	for _, line := range lines(text) {
		line = strings.TrimSpace(line)
		if len(line) < 64 || strings.ContainsAny(line, " :") {
			continue // not a base64 certificate
		}
		der, err := base64.StdEncoding.DecodeString(line)
		if err != nil {
			continue
		}
		certs++
		cert, _, err := trustlist.ParseCertificate(der)
		if err != nil {
			problems = append(problems, fmt.Sprintf("certificate %d: %v", certs, err))
			continue
		}
		m, err := probes.EKManufacturerOf(cert)
		if err != nil || m == nil || m.Code == "" {
			problems = append(problems, fmt.Sprintf("certificate %d (issuer %q): no TPM manufacturer (%v)", certs, cert.Issuer.String(), err))
			continue
		}
		host := probes.EKAIKHost(m.Code, cert)
		c.Status = StatusOK
		c.Message = truncate(fmt.Sprintf("EK certificate of a %s TPM issued by %q: AIK CA %s", m.Code, cert.Issuer.String(), host), MaxOutputBytes)
		return c, host
	}
	c.HRESULT = findHRESULT(text, exitCode)
	switch {
	case exitCode != 0:
		c.Status = StatusCommandFailed
		c.Message = fmt.Sprintf("Get-TpmEndorsementKeyInfo failed (exit code %d; the canary must run as an administrator or SYSTEM)", exitCode)
	case certs == 0:
		c.Status = StatusNoEKCertificate
		c.Message = "the TPM has no EK certificate (an fTPM fetches it from its vendor's EK certificate service on first use)"
	default:
		c.Status = StatusCommandFailed
		c.Message = fmt.Sprintf("no usable EK certificate among %d: %s", certs, strings.Join(problems, "; "))
	}
	c.Message = truncate(c.Message, MaxOutputBytes)
	return c, ""
}
