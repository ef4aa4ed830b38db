package canary

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
)

// hresultInfo is what the canary knows of one HRESULT.
type hresultInfo struct {
	name   string // the symbolic name
	status string // the Status* constant it means
	cause  string // the likely cause, for a person
}

// hresults are the HRESULTs seen in failed Windows TPM attestations (DOMAIN.md) plus the
// WinINet network errors an enrollment meets.
var hresults = map[uint32]hresultInfo{
	0x80190194: {"HTTP_E_STATUS_NOT_FOUND", StatusNotFound, "the AIK CA for this TPM does not exist at the service: withdrawn or unknown key id"},
	0x80190190: {"HTTP_E_STATUS_BAD_REQUEST", StatusBadRequest, "the AIK CA refused the request as malformed (HTTP 400)"},
	0x800B0101: {"CERT_E_EXPIRED", StatusCertExpired, "the issued AIK certificate is not yet or no longer valid: the device clock is probably more than 10 minutes off"},
	0x800705B4: {"ERROR_TIMEOUT", StatusTimeout, "the AIK CA service did not answer in time: service latency, throttling or an outage"},
	0x80072EE2: {"WININET_E_TIMEOUT", StatusTimeout, "the connection to the AIK CA service timed out"},
	0x81039001: {"E_AUTOPILOT_CLIENT_TPM_MAX_ATTESTATION_RETRY_EXCEEDED", StatusAttestationFailure, "TPM attestation failed after the maximum number of retries"},
	0x81039023: {"TPM attestation failure", StatusAttestationFailure, "the service refused the TPM attestation"},
	0x81039024: {"TPM has known vulnerabilities", StatusVulnerableFirmware, "the TPM firmware is known to be vulnerable and the service refuses it: update the TPM firmware"},
	0x801C0003: {"DSREG_E_DEVICE_AUTHORIZATION_ERROR", StatusCommandFailed, "the device is not authorized to join"},
	0x80072EE5: {"WININET_E_INVALID_URL", StatusCommandFailed, "the AIK CA URL derived from the EK certificate is invalid"},
	0x80072EE7: {"WININET_E_NAME_NOT_RESOLVED", StatusCommandFailed, "the AIK CA host name does not resolve: DNS, proxy or an unknown key id"},
	0x80072EFD: {"WININET_E_CANNOT_CONNECT", StatusCommandFailed, "cannot connect to the AIK CA service: network, proxy or firewall"},
	0x80072F8F: {"WININET_E_DECODING_FAILED", StatusCommandFailed, "TLS to the AIK CA service failed: often a device clock far off or a TLS-inspecting proxy"},
}

var (
	// hexHRESULTRE finds 0x80190194-style codes.
	hexHRESULTRE = regexp.MustCompile(`(?i)\b0x([0-9a-f]{8})\b`)
	// decHRESULTRE finds the negative decimal form, as in "(-2145844844 HTTP_E_STATUS_NOT_FOUND)".
	decHRESULTRE = regexp.MustCompile(`(?:^|[^0-9A-Za-z_.])-(\d{10})\b`)
	// pemRE finds PEM blocks, which are skipped when looking for codes.
	pemRE = regexp.MustCompile(`(?s)-----BEGIN [A-Z0-9 ]+-----.*?(?:-----END [A-Z0-9 ]+-----|$)`)
)

// hresultAt is one HRESULT found in a text, at a byte offset.
type hresultAt struct {
	code uint32
	at   int
}

// parseHRESULTs returns the failure HRESULTs (severity bit set) in text, in order, in their
// hexadecimal and negative decimal forms; PEM blocks are skipped.
func parseHRESULTs(text string) []hresultAt {
	text = pemRE.ReplaceAllStringFunc(text, func(s string) string { return strings.Repeat(" ", len(s)) })
	var out []hresultAt
	for _, m := range hexHRESULTRE.FindAllStringSubmatchIndex(text, -1) {
		v, err := strconv.ParseUint(text[m[2]:m[3]], 16, 32)
		if err == nil && v >= 0x80000000 {
			out = append(out, hresultAt{uint32(v), m[0]})
		}
	}
	for _, m := range decHRESULTRE.FindAllStringSubmatchIndex(text, -1) {
		v, err := strconv.ParseInt(text[m[2]:m[3]], 10, 64)
		if err == nil && v <= 1<<31 {
			out = append(out, hresultAt{uint32(-v), m[2]})
		}
	}
	// In order of appearance; a code printed in both forms is the same code.
	for i := 1; i < len(out); i++ {
		for j := i; j > 0 && out[j].at < out[j-1].at; j-- {
			out[j], out[j-1] = out[j-1], out[j]
		}
	}
	return out
}

// exitHRESULT reads an exit code as an HRESULT: certreq exits with the HRESULT of its failure,
// which Go shows as a large positive number on Windows, or negative when taken as an int32.
func exitHRESULT(exitCode int) (uint32, bool) {
	v := uint32(int64(exitCode))
	if int64(exitCode) < -(1<<31) || int64(exitCode) > 1<<32-1 || v < 0x80000000 {
		return 0, false
	}
	return v, true
}

// chooseHRESULT picks the HRESULT that explains a failure: the first known one in the text,
// else the first one, else the exit code when it is an HRESULT.
func chooseHRESULT(text string, exitCode int) (uint32, bool) {
	found := parseHRESULTs(text)
	for _, h := range found {
		if _, ok := hresults[h.code]; ok {
			return h.code, true
		}
	}
	if len(found) > 0 {
		return found[0].code, true
	}
	return exitHRESULT(exitCode)
}

// findHRESULT returns the HRESULT chooseHRESULT picks as 0x%08X, or "".
func findHRESULT(text string, exitCode int) string {
	if h, ok := chooseHRESULT(text, exitCode); ok {
		return fmt.Sprintf("0x%08X", h)
	}
	return ""
}

// HRESULTName returns the symbolic name of a known HRESULT ("HTTP_E_STATUS_NOT_FOUND"), the
// HTTP_E_STATUS_<code> form for other HTTP statuses, or "".
func HRESULTName(h uint32) string {
	if i, ok := hresults[h]; ok {
		return i.name
	}
	if h&0xFFFF0000 == 0x80190000 && h&0xFFFF >= 100 && h&0xFFFF < 600 {
		return fmt.Sprintf("HTTP_E_STATUS_%d", h&0xFFFF)
	}
	return ""
}

// Text markers of certreq's output, lower-cased.
const (
	markSuccess   = "scepdispositionsuccess"
	markNoEK      = "no valid tpm ek/platform certificate"
	markParseSCEP = "failed to parse scep request"
	markNotFound  = ": not found"   // "GetCACaps: Not Found", not "Element not found."
	markAuthority = "the authority" // `The authority "<host>" does not exist.`
	markNoAuth    = "does not exist"
	markTimedOut  = "timed out"
	markPEMCert   = "-----begin certificate-----"
)

// ClassifyEnroll judges the output and exit code of `certreq -q -enrollaik -config ""` as the
// [CheckEnrollAIK] check. It passes only when certreq exited 0 and printed
// SCEPDispositionSuccess or a certificate. Otherwise the status comes from, in order: the text
// "No valid TPM EK/Platform Certificate" ([StatusNoEKCertificate]); a known HRESULT in the
// output (hexadecimal or negative decimal) or as the exit code; the texts "Failed to parse SCEP
// request" ([StatusBadRequest]), ": Not Found" or "The authority ... does not exist" ([StatusNotFound]) and "timed
// out" ([StatusTimeout]); else [StatusCommandFailed]. HRESULT is set whenever one was found, and
// Message names it and its likely cause. Output is the tail of the decoded output. It never
// panics, whatever the output.
func ClassifyEnroll(out []byte, exitCode int) Check {
	text := DecodeOutput(out)
	c := Check{Name: CheckEnrollAIK, Output: tail(text, MaxOutputBytes)}
	lower := strings.ToLower(text)
	h, hasH := chooseHRESULT(text, exitCode)
	if hasH {
		c.HRESULT = fmt.Sprintf("0x%08X", h)
	}
	known, isKnown := hresults[h]
	codeWords := ""
	if hasH {
		codeWords = c.HRESULT
		if n := HRESULTName(h); n != "" {
			codeWords = n + " (" + c.HRESULT + ")"
		}
	}
	say := func(status, what string) Check {
		c.Status = status
		if codeWords != "" {
			what = codeWords + ": " + what
		}
		c.Message = truncate(what, MaxOutputBytes)
		return c
	}
	switch {
	case exitCode == 0 && (strings.Contains(lower, markSuccess) || strings.Contains(lower, markPEMCert)):
		c.HRESULT = ""
		c.Status, c.Message = StatusOK, "AIK enrolled: the AIK CA issued a certificate"
		return c
	case strings.Contains(lower, markNoEK):
		return say(StatusNoEKCertificate, "the AIK CA did not accept the TPM's EK certificate (No valid TPM EK/Platform Certificate): its issuing CA is not chained by the AIK CA (a renewed or expired vendor intermediate), or the fTPM has no EK certificate yet")
	case isKnown && known.status != StatusCommandFailed:
		return say(known.status, known.cause)
	case strings.Contains(lower, markParseSCEP):
		return say(StatusBadRequest, "the AIK CA could not parse the SCEP request (Failed to parse SCEP request)")
	case strings.Contains(lower, markAuthority) && strings.Contains(lower, markNoAuth) || strings.Contains(lower, markNotFound):
		return say(StatusNotFound, hresults[0x80190194].cause)
	case strings.Contains(lower, markTimedOut):
		return say(StatusTimeout, "the enrollment timed out")
	case isKnown:
		return say(StatusCommandFailed, known.cause)
	case exitCode == 0:
		return say(StatusCommandFailed, "certreq exited 0 but printed neither SCEPDispositionSuccess nor a certificate")
	default:
		return say(StatusCommandFailed, fmt.Sprintf("certreq failed (exit code %d) for a reason not classified; see the output", exitCode))
	}
}
