package canary

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"math/big"
	"os/exec"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// fakeRunner answers commands by program name.
type fakeRunner struct {
	mu    sync.Mutex
	calls [][]string
	reply map[string]fakeReply
}

type fakeReply struct {
	out  []byte
	code int
	err  error
	wait bool // block until ctx ends
}

func (f *fakeRunner) Run(ctx context.Context, name string, args ...string) ([]byte, int, error) {
	f.mu.Lock()
	f.calls = append(f.calls, append([]string{name}, args...))
	r, ok := f.reply[name]
	f.mu.Unlock()
	if !ok {
		return nil, -1, fmt.Errorf("running %s: %w", name, exec.ErrNotFound)
	}
	if r.wait {
		<-ctx.Done()
		return []byte("partial"), -1, fmt.Errorf("%s: %w", name, ctx.Err())
	}
	return r.out, r.code, r.err
}

var oidTPMManufacturer = asn1.ObjectIdentifier{2, 23, 133, 2, 1}

// testEKCert makes an EK certificate naming the TPM manufacturer (as a subject attribute), issued
// by a CA with the given subject key id; it returns the DER.
func testEKCert(t testing.TB, manufacturer string, caSKI []byte) []byte {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	ca := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "Test TPM EK Intermediate CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, SubjectKeyId: caSKI, KeyUsage: x509.KeyUsageCertSign,
	}
	ek := &x509.Certificate{
		SerialNumber: big.NewInt(2),
		Subject:      pkix.Name{ExtraNames: []pkix.AttributeTypeAndValue{{Type: oidTPMManufacturer, Value: manufacturer}}},
		NotBefore:    time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
	}
	der, err := x509.CreateCertificate(rand.Reader, ek, ca, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return der
}

var testSKI = []byte{0x2c, 0x6a, 0x1a, 0x7f, 0x4f, 0x0c, 0x6f, 0x2a, 0x4e, 0x7c, 0x6d, 0x1e, 0x3b, 0x2a, 0x5f, 0x9c, 0x8d, 0x7e, 0x6a, 0x1b}

func TestClassifyEKCert(t *testing.T) {
	der := testEKCert(t, "id:494E5443", testSKI)
	wantHost := "intc-keyid-" + hex.EncodeToString(testSKI) + ".microsoftaik.azure.net"
	b64 := base64.StdEncoding.EncodeToString(der)
	noManuf := base64.StdEncoding.EncodeToString(testEKCert(t, "", testSKI))

	c, host := ClassifyEKCert([]byte("WARNING: something\r\n"+noManuf+"\r\n"+b64+"\r\n"), 0)
	if c.Status != StatusOK || host != wantHost || !strings.Contains(c.Message, wantHost) || !strings.Contains(c.Message, "INTC") {
		t.Errorf("%+v host %q", c, host)
	}
	// UTF-16LE output too.
	u16 := []byte{0xFF, 0xFE}
	for _, r := range b64 + "\r\n" {
		u16 = append(u16, byte(r), 0)
	}
	if c, host := ClassifyEKCert(u16, 0); c.Status != StatusOK || host != wantHost {
		t.Errorf("utf-16: %+v", c)
	}
	if c, _ := ClassifyEKCert(nil, 0); c.Status != StatusNoEKCertificate {
		t.Errorf("empty: %+v", c)
	}
	if c, _ := ClassifyEKCert([]byte("Get-TpmEndorsementKeyInfo : Access denied 0x80070005\r\n"), 1); c.Status != StatusCommandFailed || c.HRESULT != "0x80070005" {
		t.Errorf("denied: %+v", c)
	}
	if c, _ := ClassifyEKCert([]byte(noManuf+"\n"+base64.StdEncoding.EncodeToString(make([]byte, 80))+"\n"), 0); c.Status != StatusCommandFailed || !strings.Contains(c.Message, "no usable EK certificate among 2") {
		t.Errorf("unusable: %+v", c)
	}
}

func TestRunFakeRunner(t *testing.T) {
	der := testEKCert(t, "id:494E5443", testSKI)
	f := &fakeRunner{reply: map[string]fakeReply{
		"tpmtool":    {out: readTestdata(t, "tpmtool-intel-ok.txt")},
		"powershell": {out: []byte(base64.StdEncoding.EncodeToString(der) + "\r\n")},
		"certreq":    {out: readTestdata(t, "certreq-getcacaps-notfound.txt"), code: 1},
	}}
	now := time.Date(2026, 11, 24, 10, 0, 0, 0, time.UTC)
	rep := Run(context.Background(), Options{
		Name: "DESKTOP-1", Agent: "test", Interval: time.Hour, Runner: f,
		Certreq: "certreq", TPMTool: "tpmtool", PowerShell: "powershell",
		Now: func() time.Time { return now },
	})
	if rep.Version != ReportVersion || rep.Canary != "DESKTOP-1" || rep.IntervalSeconds != 3600 || rep.Agent != "test" || !rep.Started.Equal(now) {
		t.Errorf("report %+v", rep)
	}
	var names, statuses []string
	for _, c := range rep.Checks {
		names, statuses = append(names, c.Name), append(statuses, c.Status)
	}
	if !slices.Equal(names, []string{CheckTPM, CheckEKCert, CheckEnrollAIK}) ||
		!slices.Equal(statuses, []string{StatusOK, StatusOK, StatusNotFound}) {
		t.Errorf("checks %v %v", names, statuses)
	}
	if rep.TPM == nil || rep.TPM.ManufacturerID != "INTC" || !strings.HasPrefix(rep.AIKHost, "intc-keyid-2c6a") {
		t.Errorf("tpm %+v host %q", rep.TPM, rep.AIKHost)
	}
	want := [][]string{
		{"tpmtool", "getdeviceinformation"},
		{"powershell", "-NoProfile", "-NonInteractive", "-Command", EKCertScript},
		{"certreq", "-q", "-enrollaik", "-config", ""},
	}
	if len(f.calls) != len(want) {
		t.Fatalf("calls %q", f.calls)
	}
	for i := range want {
		if !slices.Equal(f.calls[i], want[i]) {
			t.Errorf("call %d: %q, want %q", i, f.calls[i], want[i])
		}
	}
	rep.Checks = append(rep.Checks, Check{Name: CheckClock, Status: StatusOK})
	rep.Finished = now
	if err := rep.Validate(); err != nil {
		t.Error(err)
	}
}

func TestRunChoiceAndFailures(t *testing.T) {
	f := &fakeRunner{reply: map[string]fakeReply{
		"tpmtool": {wait: true},
		"certreq": {err: fmt.Errorf("fork/exec certreq: permission denied")},
	}}
	rep := Run(context.Background(), Options{
		Name: "x", Runner: f, Checks: []string{CheckEnrollAIK, CheckTPM},
		Certreq: "certreq", TPMTool: "tpmtool", TPMToolTimeout: 50 * time.Millisecond,
	})
	if len(rep.Checks) != 2 {
		t.Fatalf("%+v", rep.Checks)
	}
	tpm, enroll := rep.Checks[0], rep.Checks[1]
	if tpm.Name != CheckTPM || tpm.Status != StatusTimeout || !strings.Contains(tpm.Message, "50ms") || tpm.Output != "partial" {
		t.Errorf("tpm %+v", tpm)
	}
	if enroll.Status != StatusCommandFailed || !strings.Contains(enroll.Message, "permission denied") {
		t.Errorf("enroll %+v", enroll)
	}
	// Missing programs are unsupported.
	rep = Run(context.Background(), Options{Name: "x", Runner: f, Checks: []string{CheckEKCert}, PowerShell: "powershell"})
	if c := rep.Checks[0]; c.Status != StatusUnsupported || !strings.Contains(c.Message, "not found") {
		t.Errorf("missing %+v", c)
	}
	// The run was stopped.
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	rep = Run(ctx, Options{Name: "x", Runner: ExecRunner{}, Checks: []string{CheckTPM}, TPMTool: "/bin/true"})
	if c := rep.Checks[0]; c.Status != StatusError {
		t.Errorf("stopped %+v", c)
	}
	if err := ValidateChecks([]string{"tpm", "clock"}); err != nil {
		t.Error(err)
	}
	for _, bad := range [][]string{{"tpm", "tpm"}, {"nope"}} {
		if err := ValidateChecks(bad); err == nil {
			t.Errorf("%v: no error", bad)
		}
	}
}

func TestRunDefaultPathsOffWindows(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("the default paths are real there")
	}
	f := &fakeRunner{}
	rep := Run(context.Background(), Options{Name: "x", Runner: f})
	if len(rep.Checks) != 3 || len(f.calls) != 0 {
		t.Fatalf("%+v calls %v", rep.Checks, f.calls)
	}
	for _, c := range rep.Checks {
		if c.Status != StatusUnsupported || !strings.Contains(c.Message, "is a Windows tool") || !strings.Contains(c.Message, runtime.GOOS) {
			t.Errorf("%+v", c)
		}
	}
}

func TestRunExecScripts(t *testing.T) {
	skipOnWindows(t)
	dir := t.TempDir()
	der := testEKCert(t, "id:414D4400", testSKI)
	tpm := writeScript(t, dir, "tpmtool", `[ "$1" = getdeviceinformation ] || exit 9
printf -- '-TPM Present: True\r\n-TPM Version: 2.0\r\n-TPM Manufacturer ID: AMD\r\n-Ready For Attestation: True\r\n-Is Capable For Attestation: True\r\n-TPM Has Vulnerable Firmware: False\r\n-Maintenance Task Complete: False\r\n'
`)
	ps := writeScript(t, dir, "powershell", `echo "`+base64.StdEncoding.EncodeToString(der)+`"`+"\n")
	certreq := writeScript(t, dir, "certreq", `[ $# -eq 4 ] && [ "$4" = "" ] || { echo "bad args: $*"; exit 9; }
echo "Certificate Request Processor: 0x800b0101 (-2146762495 CERT_E_EXPIRED)"; exit 1
`)
	rep := Run(context.Background(), Options{Name: "lab-1", TPMTool: tpm, PowerShell: ps, Certreq: certreq})
	var got []string
	for _, c := range rep.Checks {
		got = append(got, c.Name+"="+c.Status+c.HRESULT)
	}
	want := []string{"tpm=tpm_not_ready", "ek_certificate=ok", "enroll_aik=cert_expired0x800B0101"}
	if !slices.Equal(got, want) {
		t.Errorf("got %v, want %v\n%+v", got, want, rep.Checks)
	}
	if !strings.HasPrefix(rep.AIKHost, "amd-keyid-") {
		t.Errorf("host %q", rep.AIKHost)
	}
}

func FuzzClassifyEKCert(f *testing.F) {
	f.Add([]byte(base64.StdEncoding.EncodeToString(testEKCert(f, "id:494E5443", testSKI))+"\r\n"), 0)
	f.Add([]byte("Get-TpmEndorsementKeyInfo : Access denied\r\n"), 1)
	f.Add([]byte(strings.Repeat("QUJD", 40)), 0)
	f.Fuzz(func(t *testing.T, out []byte, exit int) {
		c, host := ClassifyEKCert(out, exit)
		if c.Status == "" || c.Message == "" || len(c.Output) > MaxOutputBytes || len(c.Message) > MaxOutputBytes {
			t.Fatalf("%+v", c)
		}
		if (c.Status == StatusOK) != (host != "") {
			t.Fatalf("status %s host %q", c.Status, host)
		}
	})
}
