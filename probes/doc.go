// Package probes checks, from outside any device, the services Windows TPM attestation depends
// on: Microsoft's AIK CA service (one SCEP endpoint per TPM vendor EK CA, probed with
// [AIKProber] and [Sweep]) and the TPM vendors' EK certificate services and EK CAs (the EK*
// identifiers).
//
// An AIK CA probe does what Windows does before it enrolls an AIK: GetCACaps, then
// GetCACertChain, with Windows' User-Agent. It reports one [Result] per host with a
// [Status] that says what failed (withdrawn authority, HTTP error, throttling, TLS, DNS,
// timeout, ...), timings per phase, the AIK CA certificate the service returned and whether it
// is the one the trust list ships. Probes never retry: a sweep reports what one client saw.
package probes
