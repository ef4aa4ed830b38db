// Package canary is the Windows side of aikwatch: a small sidecar that runs on a real Windows
// device, performs the real TPM attestation steps there as a synthetic canary, and reports the
// outcome to the aikwatch daemon.
//
// The daemon watches what can be watched from outside (the AIK CA service, the trust list, the
// fTPM EK certificate services). Some causes of a failed Autopilot attestation only a real device
// shows: a clock more than 10 minutes off, a TPM not ready or not capable for attestation, the
// TPM maintenance task never run, firmware known to be vulnerable, an EK certificate the AIK CA
// does not chain. A canary run checks, in order:
//
//   - [CheckTPM]: `tpmtool getdeviceinformation`, parsed by [ParseTPMInfo] and judged by [TPMStatus];
//   - [CheckEKCert]: the EK certificate read with PowerShell's Get-TpmEndorsementKeyInfo, from
//     which the AIK CA host that serves the device is derived;
//   - [CheckEnrollAIK]: a real AIK enrollment with `certreq -q -enrollaik -config ""`, judged by
//     [ClassifyEnroll];
//   - [CheckClock]: the device clock against the Date header of the daemon ([Reporter.CheckClock]).
//
// The result is a [Report] (the contract with the daemon, see report.go), which a [Reporter]
// posts to the daemon's /api/v1/canaries. Commands run through a [Runner] so that everything but
// the Windows tools themselves is tested on any system; the parsers never panic on any input.
package canary
