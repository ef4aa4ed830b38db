package canary

import (
	"errors"
	"fmt"
	"regexp"
	"time"
)

// Errors a daemon answers a report with; test with errors.Is.
var (
	// ErrInvalidReport: the report is malformed (HTTP 400); the error says where.
	ErrInvalidReport = errors.New("invalid canary report")
	// ErrRefused: the daemon does not take this report (HTTP 403): reports are disabled, or
	// it knows as many canaries as it keeps.
	ErrRefused = errors.New("canary report refused")
)

// ReportVersion is the version of the [Report] format; the daemon refuses other versions.
const ReportVersion = 1

// MaxReportBytes is the largest report body the daemon accepts.
const MaxReportBytes = 256 << 10

// MaxChecks is the most checks one report may carry.
const MaxChecks = 16

// MaxOutputBytes is how much of a command's output a [Check] carries as evidence (its tail).
const MaxOutputBytes = 4 << 10

// Check names: what one canary run tests on its device.
const (
	// CheckTPM is `tpmtool getdeviceinformation`: the TPM is present, ready and capable for
	// attestation, its firmware is not known to be vulnerable and the maintenance task ran.
	CheckTPM = "tpm"
	// CheckEKCert reads the device's EK certificate and derives the AIK CA host that serves it.
	CheckEKCert = "ek_certificate"
	// CheckEnrollAIK is a real AIK enrollment: `certreq -q -enrollaik -config ""`.
	CheckEnrollAIK = "enroll_aik"
	// CheckClock compares the device's clock with the daemon's: Windows rejects an AIK
	// certificate (back-dated 10 minutes) when the clock is more than 10 minutes slow.
	CheckClock = "clock"
)

// Check statuses. OK is the only passing one; the others say why a check failed.
const (
	StatusOK                 = "ok"
	StatusNotFound           = "not_found"           // the AIK CA answered 404: unknown or withdrawn authority (0x80190194)
	StatusBadRequest         = "bad_request"         // the AIK CA could not parse the request (0x80190190)
	StatusNoEKCertificate    = "no_ek_certificate"   // no valid TPM EK or platform certificate
	StatusCertExpired        = "cert_expired"        // the issued certificate was not yet or no longer valid (0x800B0101): clock
	StatusTimeout            = "timeout"             // the command or the service timed out (0x800705B4, or the canary's own limit)
	StatusAttestationFailure = "attestation_failure" // 0x81039001, 0x81039023: the service refused the attestation
	StatusVulnerableFirmware = "vulnerable_firmware" // the TPM firmware is known to be vulnerable (0x81039024)
	StatusTPMNotReady        = "tpm_not_ready"       // not ready or not capable for attestation, or maintenance task not run
	StatusClockSkew          = "clock_skew"          // the device clock is more than the allowed skew off the daemon's
	StatusCommandFailed      = "command_failed"      // the command could not run or failed for a reason not classified above
	StatusUnsupported        = "unsupported"         // the check cannot run on this system (not Windows, tool missing)
	StatusError              = "error"               // any other failure
)

// Report is what a canary sends to the daemon after each run: POST /api/v1/canaries, JSON.
type Report struct {
	// Version is [ReportVersion].
	Version int `json:"version"`
	// Canary names the reporting device, unique per daemon: 1 to 64 of [A-Za-z0-9._-].
	Canary string `json:"canary"`
	// Agent is the canary program's version.
	Agent string `json:"agent,omitempty"`
	// Started and Finished bound the run, in the device's clock.
	Started  time.Time `json:"started"`
	Finished time.Time `json:"finished"`
	// IntervalSeconds is how often the canary runs; the daemon calls it stale after three
	// intervals without a report. 0: it runs once.
	IntervalSeconds float64 `json:"interval_seconds"`
	// TPM describes the device's TPM, when `tpmtool` could read it.
	TPM *TPMInfo `json:"tpm,omitempty"`
	// AIKHost is the AIK CA host that serves the device's EK certificate, when known.
	AIKHost string `json:"aik_host,omitempty"`
	// Checks are the results, in the order they ran.
	Checks []Check `json:"checks"`
}

// TPMInfo is what `tpmtool getdeviceinformation` says of the TPM.
type TPMInfo struct {
	// ManufacturerID is the four-letter vendor code, e.g. INTC, IFX, AMD, NTC, STM.
	ManufacturerID string `json:"manufacturer_id,omitempty"`
	// ManufacturerVersion is the firmware version as printed.
	ManufacturerVersion string `json:"manufacturer_version,omitempty"`
	// SpecVersion is the TPM specification version, e.g. "2.0".
	SpecVersion string `json:"spec_version,omitempty"`
	// ReadyForAttestation, CapableForAttestation, VulnerableFirmware and
	// MaintenanceTaskComplete are the tool's flags of the same names.
	ReadyForAttestation     bool `json:"ready_for_attestation"`
	CapableForAttestation   bool `json:"capable_for_attestation"`
	VulnerableFirmware      bool `json:"vulnerable_firmware"`
	MaintenanceTaskComplete bool `json:"maintenance_task_complete"`
	// InformationFlags are the INFORMATION_* flags listed under "Information Flags Description".
	InformationFlags []string `json:"information_flags,omitempty"`
}

// Check is the result of one check of one run.
type Check struct {
	// Name is one of the Check* constants.
	Name string `json:"name"`
	// Status is one of the Status* constants; "ok" passes.
	Status string `json:"status"`
	// HRESULT is the Windows error code the command printed, as 0x%08X, when there was one.
	HRESULT string `json:"hresult,omitempty"`
	// Message says what happened, for a person.
	Message string `json:"message"`
	// DurationSeconds is how long the check took.
	DurationSeconds float64 `json:"duration_seconds"`
	// Output is the tail of the command's output (at most [MaxOutputBytes]), as evidence.
	Output string `json:"output,omitempty"`
}

// OK reports whether the check passed.
func (c Check) OK() bool { return c.Status == StatusOK }

// Failing returns the checks that did not pass, in order.
func (r *Report) Failing() []Check {
	var out []Check
	for _, c := range r.Checks {
		if !c.OK() {
			out = append(out, c)
		}
	}
	return out
}

var nameRE = regexp.MustCompile(`^[A-Za-z0-9._-]{1,64}$`)

// ValidName reports whether s can name a canary.
func ValidName(s string) bool { return nameRE.MatchString(s) }

// Validate checks what the daemon relies on: the version, the name, the times, checks with
// known-shaped names and statuses, and bounded sizes (a daemon keeps every canary's last
// report). It names the first problem found.
func (r *Report) Validate() error {
	switch {
	case r.Version != ReportVersion:
		return fmt.Errorf("report version %d, want %d", r.Version, ReportVersion)
	case !ValidName(r.Canary):
		return fmt.Errorf("canary name %q: want 1 to 64 of A-Z a-z 0-9 . _ -", r.Canary)
	case r.Started.IsZero() || r.Finished.IsZero():
		return errors.New("started and finished are required")
	case r.Finished.Before(r.Started):
		return errors.New("finished is before started")
	case r.IntervalSeconds < 0 || r.IntervalSeconds > 31*24*3600:
		return fmt.Errorf("interval_seconds %g: want 0 (runs once) to 31 days", r.IntervalSeconds)
	case len(r.Checks) == 0:
		return errors.New("no checks")
	case len(r.Checks) > MaxChecks:
		return fmt.Errorf("%d checks: at most %d", len(r.Checks), MaxChecks)
	case len(r.Agent) > 256:
		return fmt.Errorf("agent: %d bytes, at most 256", len(r.Agent))
	case len(r.AIKHost) > 253:
		return fmt.Errorf("aik_host: %d bytes, at most 253", len(r.AIKHost))
	}
	if t := r.TPM; t != nil {
		for name, v := range map[string]string{"manufacturer_id": t.ManufacturerID,
			"manufacturer_version": t.ManufacturerVersion, "spec_version": t.SpecVersion} {
			if len(v) > 64 {
				return fmt.Errorf("tpm.%s: %d bytes, at most 64", name, len(v))
			}
		}
		if len(t.InformationFlags) > 64 {
			return fmt.Errorf("tpm.information_flags: %d flags, at most 64", len(t.InformationFlags))
		}
		for i, f := range t.InformationFlags {
			if len(f) > 128 {
				return fmt.Errorf("tpm.information_flags[%d]: %d bytes, at most 128", i, len(f))
			}
		}
	}
	seen := map[string]bool{}
	for i, c := range r.Checks {
		if !ValidName(c.Name) {
			return fmt.Errorf("checks[%d]: name %q: want 1 to 64 of A-Z a-z 0-9 . _ -", i, c.Name)
		}
		if seen[c.Name] {
			return fmt.Errorf("checks[%d]: check %q appears twice", i, c.Name)
		}
		seen[c.Name] = true
		if !ValidName(c.Status) {
			return fmt.Errorf("checks[%d] (%s): status %q: want 1 to 64 of A-Z a-z 0-9 . _ -", i, c.Name, c.Status)
		}
		if len(c.Output) > MaxOutputBytes || len(c.Message) > MaxOutputBytes {
			return fmt.Errorf("checks[%d] (%s): output or message longer than %d bytes", i, c.Name, MaxOutputBytes)
		}
		if len(c.HRESULT) > 16 {
			return fmt.Errorf("checks[%d] (%s): hresult %d bytes, at most 16", i, c.Name, len(c.HRESULT))
		}
	}
	return nil
}
