package canary

import (
	"errors"
	"fmt"
	"regexp"
	"strings"
)

// tpmtool's keys, lower-cased, as `tpmtool getdeviceinformation` prints them (English Windows).
const (
	keyPresent         = "tpm present"
	keyVersion         = "tpm version"
	keySpecVersion     = "tpm spec version"
	keyManufacturerID  = "tpm manufacturer id"
	keyManufacturerVer = "tpm manufacturer version"
	keyReady           = "ready for attestation"
	keyCapable         = "is capable for attestation"
	keyVulnerable      = "tpm has vulnerable firmware"
	keyMaintenance     = "maintenance task complete"
	keyInfoFlags       = "information flags description"
)

// tpmParse is everything ParseTPMInfo reads, with which flags the output actually had.
type tpmParse struct {
	info TPMInfo
	// present is the "TPM Present" flag; nil when not printed.
	present *bool
	// has records the boolean keys that were printed with a readable value.
	has map[string]bool
	// keys counts the -Key: Value lines recognised.
	keys int
}

var flagRE = regexp.MustCompile(`\b[A-Z][A-Z0-9]*(?:_[A-Z0-9]+)+\b`)

// ErrNoTPMInfo is returned by [ParseTPMInfo] when the output holds no `-Key: Value` line of
// tpmtool: the tool failed, or printed something else.
var ErrNoTPMInfo = errors.New("no TPM information in the output")

// ParseTPMInfo reads the output of `tpmtool getdeviceinformation`: `-Key: Value` lines (any line
// ends, UTF-8, UTF-16LE or a single-byte code page), the TAB-indented `-Lockout Information:`
// block (skipped), and the INFORMATION_* flags listed after `-Information Flags Description:`.
// True and False are read in any letter case. SpecVersion is the "TPM Version" line (e.g. 2.0),
// or the "TPM Spec Version" line when the former is missing. It returns [ErrNoTPMInfo] when no
// line of tpmtool is found.
func ParseTPMInfo(out []byte) (*TPMInfo, error) {
	p, err := parseTPM(out)
	if err != nil {
		return nil, err
	}
	return &p.info, nil
}

func parseTPM(out []byte) (*tpmParse, error) {
	p := &tpmParse{has: map[string]bool{}}
	var specRev string
	inFlags := false
	for _, line := range lines(DecodeOutput(out)) {
		trimmed := strings.TrimSpace(line)
		if trimmed == "" {
			inFlags = false
			continue
		}
		indented := line[0] == ' ' || line[0] == '\t'
		if !strings.HasPrefix(trimmed, "-") {
			if inFlags {
				p.info.InformationFlags = append(p.info.InformationFlags, flagRE.FindAllString(trimmed, -1)...)
			}
			continue
		}
		key, value, ok := strings.Cut(trimmed[1:], ":")
		if !ok {
			continue
		}
		inFlags = false
		if indented {
			continue // the -Lockout Information: block
		}
		key, value = strings.ToLower(strings.TrimSpace(key)), strings.TrimSpace(value)
		var bp *bool
		switch key {
		case keyManufacturerID:
			p.info.ManufacturerID = value
		case keyManufacturerVer:
			p.info.ManufacturerVersion = value
		case keyVersion:
			p.info.SpecVersion = value
		case keySpecVersion:
			specRev = value
		case keyReady:
			bp = &p.info.ReadyForAttestation
		case keyCapable:
			bp = &p.info.CapableForAttestation
		case keyVulnerable:
			bp = &p.info.VulnerableFirmware
		case keyMaintenance:
			bp = &p.info.MaintenanceTaskComplete
		case keyPresent:
			if b, ok := parseBool(value); ok {
				p.present = &b
			}
		case keyInfoFlags:
			inFlags = true
			p.info.InformationFlags = append(p.info.InformationFlags, flagRE.FindAllString(value, -1)...)
		}
		p.keys++
		if bp != nil {
			if b, ok := parseBool(value); ok {
				*bp = b
				p.has[key] = true
			}
		}
	}
	if p.keys == 0 {
		return nil, ErrNoTPMInfo
	}
	if p.info.SpecVersion == "" {
		p.info.SpecVersion = specRev
	}
	return p, nil
}

func parseBool(s string) (bool, bool) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "true", "yes":
		return true, true
	case "false", "no":
		return false, true
	}
	return false, false
}

// TPMStatus judges a TPM as tpmtool described it: [StatusVulnerableFirmware] when its firmware
// is known to be vulnerable, [StatusTPMNotReady] when it is not ready or not capable for
// attestation or the TPM maintenance task has not completed (the message names which), and
// [StatusOK] otherwise. A nil info is [StatusTPMNotReady].
func TPMStatus(info *TPMInfo) (status, message string) {
	if info == nil {
		return StatusTPMNotReady, "no TPM information"
	}
	return tpmStatus(&tpmParse{info: *info, has: map[string]bool{
		keyReady: true, keyCapable: true, keyVulnerable: true, keyMaintenance: true}})
}

func tpmStatus(p *tpmParse) (status, message string) {
	i := &p.info
	if p.present != nil && !*p.present {
		return StatusTPMNotReady, "no TPM present (TPM Present: False): attestation is impossible on this device"
	}
	if i.VulnerableFirmware {
		return StatusVulnerableFirmware, fmt.Sprintf("TPM %s firmware %s is known to be vulnerable: the AIK CA refuses it (0x81039024); update the TPM firmware", orUnknown(i.ManufacturerID), orUnknown(i.ManufacturerVersion))
	}
	var bad []string
	for _, f := range []struct {
		key  string
		ok   bool
		what string
		hint string
	}{
		{keyReady, i.ReadyForAttestation, "not ready for attestation", ""},
		{keyCapable, i.CapableForAttestation, "not capable for attestation", ""},
		{keyMaintenance, i.MaintenanceTaskComplete, "TPM maintenance task not complete", " (it does not run while the EULA registry key is missing)"},
	} {
		switch {
		case !p.has[f.key]:
			bad = append(bad, f.what+" (not reported by tpmtool)")
		case !f.ok:
			bad = append(bad, f.what+f.hint)
		}
	}
	if len(bad) > 0 {
		return StatusTPMNotReady, fmt.Sprintf("TPM %s: %s", orUnknown(i.ManufacturerID), strings.Join(bad, "; "))
	}
	return StatusOK, fmt.Sprintf("TPM %s %s firmware %s: ready and capable for attestation, maintenance task complete", orUnknown(i.ManufacturerID), i.SpecVersion, orUnknown(i.ManufacturerVersion))
}

func orUnknown(s string) string {
	if s == "" {
		return "(unknown)"
	}
	return s
}

// ClassifyTPM turns the output and exit code of `tpmtool getdeviceinformation` into the
// [CheckTPM] check, with the TPM information when the output had any.
func ClassifyTPM(out []byte, exitCode int) (Check, *TPMInfo) {
	c := Check{Name: CheckTPM, Output: tail(DecodeOutput(out), MaxOutputBytes)}
	p, err := parseTPM(out)
	if err != nil {
		c.Status = StatusCommandFailed
		c.HRESULT = findHRESULT(c.Output, exitCode)
		c.Message = truncate(fmt.Sprintf("tpmtool getdeviceinformation (exit code %d): %v", exitCode, err), MaxOutputBytes)
		return c, nil
	}
	c.Status, c.Message = tpmStatus(p)
	c.Message = truncate(c.Message, MaxOutputBytes)
	return c, &p.info
}
