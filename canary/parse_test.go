package canary

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"unicode/utf8"
)

func readTestdata(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestParseTPMInfo(t *testing.T) {
	intel := TPMInfo{
		ManufacturerID: "INTC", ManufacturerVersion: "600.18.0.0", SpecVersion: "2.0",
		ReadyForAttestation: true, CapableForAttestation: true, MaintenanceTaskComplete: true,
		InformationFlags: []string{"INFORMATION_SHUTDOWNTEMPORARY", "INFORMATION_EK_CERTIFICATE", "INFORMATION_PLATFORM_CERTIFICATE"},
	}
	for _, tc := range []struct {
		file   string
		want   TPMInfo
		status string
		msgHas []string
	}{
		{"tpmtool-intel-ok.txt", intel, StatusOK, []string{"INTC", "ready"}},
		{"tpmtool-intel-ok-utf16le-bom.txt", intel, StatusOK, nil},
		{"tpmtool-intel-ok-utf16le-nobom.txt", intel, StatusOK, nil},
		{"tpmtool-ifx-notready.txt", TPMInfo{
			ManufacturerID: "IFX", ManufacturerVersion: "7.85.4555.0", SpecVersion: "2.0",
			CapableForAttestation: true,
			InformationFlags:      []string{"INFORMATION_SHUTDOWNTEMPORARY", "INFORMATION_NO_EK_CERTIFICATE", "INFORMATION_ATTESTATION_NOT_READY"},
		}, StatusTPMNotReady, []string{"not ready for attestation", "maintenance task not complete"}},
		{"tpmtool-ifx-vulnerable.txt", TPMInfo{
			ManufacturerID: "IFX", ManufacturerVersion: "4.32.1.2", SpecVersion: "2.0",
			ReadyForAttestation: true, CapableForAttestation: true, VulnerableFirmware: true, MaintenanceTaskComplete: true,
			InformationFlags: intel.InformationFlags,
		}, StatusVulnerableFirmware, []string{"IFX", "4.32.1.2", "vulnerable"}},
		{"tpmtool-no-tpm.txt", TPMInfo{InformationFlags: []string{"INFORMATION_NOT_PRESENT"}}, StatusTPMNotReady, []string{"no TPM present"}},
	} {
		t.Run(tc.file, func(t *testing.T) {
			out := readTestdata(t, tc.file)
			got, err := ParseTPMInfo(out)
			if err != nil {
				t.Fatal(err)
			}
			if !tpmInfoEqual(*got, tc.want) {
				t.Errorf("got  %+v\nwant %+v", *got, tc.want)
			}
			c, info := ClassifyTPM(out, 0)
			if c.Name != CheckTPM || c.Status != tc.status || info == nil {
				t.Errorf("check %+v", c)
			}
			for _, s := range tc.msgHas {
				if !strings.Contains(c.Message, s) {
					t.Errorf("message %q lacks %q", c.Message, s)
				}
			}
			if !strings.Contains(c.Output, "-TPM Present") {
				t.Errorf("output not kept as evidence: %q", c.Output)
			}
		})
	}
}

func tpmInfoEqual(a, b TPMInfo) bool {
	return a.ManufacturerID == b.ManufacturerID && a.ManufacturerVersion == b.ManufacturerVersion &&
		a.SpecVersion == b.SpecVersion && a.ReadyForAttestation == b.ReadyForAttestation &&
		a.CapableForAttestation == b.CapableForAttestation && a.VulnerableFirmware == b.VulnerableFirmware &&
		a.MaintenanceTaskComplete == b.MaintenanceTaskComplete && slices.Equal(a.InformationFlags, b.InformationFlags)
}

func TestParseTPMInfoEdges(t *testing.T) {
	// Not tpmtool's output.
	for _, s := range []string{"", "\r\n", "'tpmtool' is not recognized as an internal or external command,\r\n", "\xff\xfe"} {
		if _, err := ParseTPMInfo([]byte(s)); err == nil {
			t.Errorf("%q: no error", s)
		}
	}
	c, info := ClassifyTPM([]byte("Access is denied.\r\n0x80070005\r\n"), 5)
	if c.Status != StatusCommandFailed || info != nil || c.HRESULT != "0x80070005" {
		t.Errorf("%+v", c)
	}
	// LF only, bare CR, flags on the same line, a value with a colon, unreadable booleans.
	out := "-TPM Manufacturer ID: NTC\r-TPM Manufacturer Version: 7.2:3.1\n-Ready For Attestation: TRUE\n" +
		"-Is Capable For Attestation: maybe\n-Information Flags Description: INFORMATION_A_B, INFORMATION_C_D\n" +
		"-TPM Spec Version: 1.38\n"
	p, err := parseTPM([]byte(out))
	if err != nil {
		t.Fatal(err)
	}
	want := TPMInfo{ManufacturerID: "NTC", ManufacturerVersion: "7.2:3.1", SpecVersion: "1.38", ReadyForAttestation: true,
		InformationFlags: []string{"INFORMATION_A_B", "INFORMATION_C_D"}}
	if !tpmInfoEqual(p.info, want) {
		t.Errorf("got %+v", p.info)
	}
	st, msg := tpmStatus(p)
	if st != StatusTPMNotReady || !strings.Contains(msg, "not capable for attestation (not reported by tpmtool)") ||
		!strings.Contains(msg, "maintenance task not complete (not reported by") || strings.Contains(msg, "not ready") {
		t.Errorf("%s %q", st, msg)
	}
	if st, _ := TPMStatus(nil); st != StatusTPMNotReady {
		t.Error(st)
	}
	if st, msg := TPMStatus(&TPMInfo{ManufacturerID: "AMD", ReadyForAttestation: true, CapableForAttestation: true}); st != StatusTPMNotReady || !strings.Contains(msg, "maintenance") {
		t.Error(st, msg)
	}
}

func TestClassifyEnroll(t *testing.T) {
	for _, tc := range []struct {
		file    string
		exit    int
		status  string
		hresult string
		msgHas  []string
	}{
		{"certreq-success.txt", 0, StatusOK, "", []string{"enrolled"}},
		{"certreq-success-utf16le.txt", 0, StatusOK, "", nil},
		{"certreq-success.txt", 1, StatusCommandFailed, "", nil}, // success needs exit 0 too
		{"certreq-getcacaps-notfound.txt", 0x80190194, StatusNotFound, "0x80190194",
			[]string{"HTTP_E_STATUS_NOT_FOUND", "withdrawn or unknown key id"}},
		{"certreq-parse-scep.txt", 1, StatusBadRequest, "0x80190190", []string{"HTTP_E_STATUS_BAD_REQUEST"}},
		{"certreq-no-ek.txt", 1, StatusNoEKCertificate, "0x80190190", []string{"No valid TPM EK/Platform Certificate"}},
		{"certreq-timeout.txt", 1, StatusTimeout, "0x800705B4", []string{"ERROR_TIMEOUT"}},
		{"certreq-expired.txt", 1, StatusCertExpired, "0x800B0101", []string{"CERT_E_EXPIRED", "clock"}},
		{"certreq-vulnerable.txt", 1, StatusVulnerableFirmware, "0x81039024", []string{"vulnerable"}},
		{"certreq-decimal-only.txt", 1, StatusAttestationFailure, "0x81039023", nil},
		{"certreq-oem-cp1252.txt", 1, StatusCommandFailed, "0x80072EFD", []string{"WININET_E_CANNOT_CONNECT"}},
	} {
		t.Run(tc.file, func(t *testing.T) {
			c := ClassifyEnroll(readTestdata(t, tc.file), tc.exit)
			if c.Name != CheckEnrollAIK || c.Status != tc.status || c.HRESULT != tc.hresult {
				t.Errorf("got %s %s %q, want %s %s", c.Status, c.HRESULT, c.Message, tc.status, tc.hresult)
			}
			for _, s := range tc.msgHas {
				if !strings.Contains(c.Message, s) {
					t.Errorf("message %q lacks %q", c.Message, s)
				}
			}
			if c.Output == "" || !utf8.ValidString(c.Output) || strings.Contains(c.Message, "\n") {
				t.Errorf("output %q message %q", c.Output, c.Message)
			}
		})
	}
}

func TestClassifyEnrollEdges(t *testing.T) {
	for _, tc := range []struct {
		out     string
		exit    int
		status  string
		hresult string
	}{
		{"", 0, StatusCommandFailed, ""},
		{"", 0x80190194, StatusNotFound, "0x80190194"},  // the exit code as Windows gives it
		{"", -2145844844, StatusNotFound, "0x80190194"}, // the exit code as an int32
		{"", 1, StatusCommandFailed, ""},                // a plain exit code is no HRESULT
		{"Element not found. 0x80070490\r\n", 1, StatusCommandFailed, "0x80070490"},
		{"GetCACaps: Not Found\r\n", 1, StatusNotFound, ""},
		{"{\"Message\":\"The authority \\\"x\\\" does not exist.\"}", 1, StatusNotFound, ""},
		{"The operation timed out\r\n", 1, StatusTimeout, ""},
		{"error 0x80190193 here", 1, StatusCommandFailed, "0x80190193"},
		{"SCEPDispositionFailure 0X800705B4 and 0x80190194", 1, StatusTimeout, "0x800705B4"}, // the first known code
		{"unknown 0x80001234 then known 0x800b0101", 1, StatusCertExpired, "0x800B0101"},
		{"0x00000001 is not a failure", 1, StatusCommandFailed, ""},
		{"a number -1234567890123 is not one", 1, StatusCommandFailed, ""},
		{"-----BEGIN CERTIFICATE-----\n0x80190194AAAA\n", 1, StatusCommandFailed, ""}, // nothing read inside PEM
	} {
		c := ClassifyEnroll([]byte(tc.out), tc.exit)
		if c.Status != tc.status || c.HRESULT != tc.hresult || c.Message == "" {
			t.Errorf("%q exit %d: got %s %s %q, want %s %s", tc.out, tc.exit, c.Status, c.HRESULT, c.Message, tc.status, tc.hresult)
		}
	}
	if n := HRESULTName(0x801901AD); n != "HTTP_E_STATUS_429" {
		t.Error(n)
	}
	// A huge output: the tail is kept, capped, valid UTF-8.
	big := strings.Repeat("é", 10000) + "GetCACaps: Not Found"
	c := ClassifyEnroll([]byte(big), 1)
	if len(c.Output) > MaxOutputBytes || !strings.HasSuffix(c.Output, "Not Found") || !utf8.ValidString(c.Output) {
		t.Errorf("output %d bytes", len(c.Output))
	}
}

func TestDecodeOutput(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"plain", "plain"},
		{"\xef\xbb\xbfbom", "bom"},
		{"\xff\xfeh\x00i\x00", "hi"},
		{"h\x00i\x00!\x00", "hi!"},
		{"\xff\xfeh\x00i\x00x", "hi"}, // an odd byte left by a cut
		{"\xdcber\x80", "Über€"},      // Windows-1252
		{"a\x00b", "ab"},
		{"x", "x"},
	} {
		if got := DecodeOutput([]byte(tc.in)); got != tc.want {
			t.Errorf("%q: %q, want %q", tc.in, got, tc.want)
		}
	}
	if got := truncate("aé", 2); got != "a" {
		t.Errorf("truncate %q", got)
	}
	if got := tail("éa", 2); got != "a" {
		t.Errorf("tail %q", got)
	}
}

// The fuzz targets run their seeds as part of go test; fuzz them with
// go test -fuzz=FuzzParseTPMInfo ./canary (not run in CI).

func fuzzSeeds(f *testing.F, prefix string) {
	files, err := filepath.Glob(filepath.Join("testdata", prefix+"*"))
	if err != nil || len(files) == 0 {
		f.Fatalf("no seeds for %s: %v", prefix, err)
	}
	for _, p := range files {
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b, 0)
		f.Add(b, 1)
	}
}

func FuzzParseTPMInfo(f *testing.F) {
	fuzzSeeds(f, "tpmtool-")
	f.Fuzz(func(t *testing.T, out []byte, exit int) {
		info, err := ParseTPMInfo(out)
		if (info == nil) == (err == nil) {
			t.Fatalf("info %v err %v", info, err)
		}
		c, _ := ClassifyTPM(out, exit)
		if c.Status == "" || c.Message == "" || len(c.Output) > MaxOutputBytes || !utf8.ValidString(c.Output) {
			t.Fatalf("%+v", c)
		}
	})
}

func FuzzClassifyEnroll(f *testing.F) {
	fuzzSeeds(f, "certreq-")
	f.Fuzz(func(t *testing.T, out []byte, exit int) {
		c := ClassifyEnroll(out, exit)
		if c.Status == "" || c.Message == "" || len(c.Output) > MaxOutputBytes || len(c.Message) > MaxOutputBytes || !utf8.ValidString(c.Output) {
			t.Fatalf("%+v", c)
		}
		if c.HRESULT != "" && len(c.HRESULT) != 10 {
			t.Fatalf("hresult %q", c.HRESULT)
		}
		if c.OK() && exit != 0 {
			t.Fatal("ok with a failing exit code")
		}
	})
}
