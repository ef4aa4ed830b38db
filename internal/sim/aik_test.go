package sim

import (
	"bytes"
	"crypto/x509"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aikwatch/aikwatch/internal/testutil"
	"github.com/aikwatch/aikwatch/trustlist"
	"github.com/smallstep/pkcs7"
)

func TestGetCACaps(t *testing.T) {
	s := startSim(t)
	c := s.Client()
	// DNS is case-insensitive: Windows writes AMD-KeyId-...
	for _, host := range []string{novHost, strings.Replace(strings.ToUpper(novHost[:10])+novHost[10:], "AMD-KEYID", "AMD-KeyId", 1)} {
		code, hdr, body := get(t, c, "GET", "https://"+host+"/templates/Aik/scep?operation=GetCACaps", nil)
		if code != 200 || hdr.Get("Content-Type") != "text/plain" || string(body) != GetCACaps {
			t.Errorf("%s: GetCACaps = %d %q %q", host, code, hdr.Get("Content-Type"), body)
		}
		if hdr.Get("Server") != "Microsoft-IIS/10.0" || hdr.Get("Date") == "" {
			t.Errorf("headers: %v", hdr)
		}
	}
	if got := s.HostState(novHost).Requests; got != 2 {
		t.Errorf("requests counted: %d, want 2", got)
	}
}

// realAIKCA returns the DER AIK CA certificate of host in the cab: the one with the latest
// NotAfter among the host's files, read independently of the simulator's code.
func realAIKCA(t *testing.T, cabPath, host string) []byte {
	t.Helper()
	data := readCab(t, cabPath)
	files, _, err := trustlist.ReadFiles(t.Context(), data, "x.cab", trustlist.Options{})
	if err != nil {
		t.Fatal(err)
	}
	label := strings.TrimSuffix(host, trustlist.AIKHostSuffix)
	var best *x509.Certificate
	for _, f := range files {
		if !strings.HasPrefix(f.Path, "Microsoft/IntermediateCA/") || !strings.Contains(strings.ToLower(f.Path), label) {
			continue
		}
		c, _, err := trustlist.ParseCertificate(f.Data)
		if err != nil {
			continue
		}
		if best == nil || c.NotAfter.After(best.NotAfter) {
			best = c
		}
	}
	if best == nil {
		t.Fatalf("no AIK CA for %s in %s", host, cabPath)
	}
	return best.Raw
}

func TestGetCACertChain(t *testing.T) {
	s := startSim(t)
	code, hdr, body := get(t, s.Client(), "GET", "https://"+novHost+"/templates/Aik/scep?operation=GetCACertChain&message=default", nil)
	if code != 200 || hdr.Get("Content-Type") != ContentTypeCARACertChain {
		t.Fatalf("GetCACertChain = %d %q", code, hdr.Get("Content-Type"))
	}
	p7, err := pkcs7.Parse(body)
	if err != nil {
		t.Fatalf("pkcs7.Parse: %v", err)
	}
	if len(p7.Certificates) != 4 {
		t.Fatalf("%d certificates, want 4", len(p7.Certificates))
	}
	var cns []string
	for _, c := range p7.Certificates {
		cns = append(cns, c.Subject.CommonName)
	}
	want := []string{msRootCN, "amd-keyid-12fb8b78860586207cb1433c9253cdaf9ecaace5", "RA Signing Certificate", "RA Encryption Certificate"}
	for i := range want {
		if !strings.EqualFold(cns[i], want[i]) {
			t.Errorf("certificate %d CN %q, want %q", i, cns[i], want[i])
		}
	}
	if !bytes.Equal(p7.Certificates[1].Raw, realAIKCA(t, testutil.NovCab, novHost)) {
		t.Error("the AIK CA certificate is not the newest real one from the cab")
	}
	// The root is the real one from Microsoft/RootCA and signed the AIK CA.
	if err := p7.Certificates[1].CheckSignatureFrom(p7.Certificates[0]); err != nil {
		t.Errorf("AIK CA not signed by the served root: %v", err)
	}

	t.Run("openssl", func(t *testing.T) {
		openssl := testutil.RequireTool(t, "openssl")
		f := filepath.Join(t.TempDir(), "chain.p7b")
		if err := os.WriteFile(f, body, 0o600); err != nil {
			t.Fatal(err)
		}
		out, err := exec.Command(openssl, "pkcs7", "-inform", "DER", "-in", f, "-print_certs", "-noout").CombinedOutput()
		if err != nil {
			t.Fatalf("openssl pkcs7: %v\n%s", err, out)
		}
		for _, w := range []string{"CN = RA Signing Certificate", "CN = RA Encryption Certificate", "CN = Microsoft TPM Root Certificate Authority 2014", "12fb8b78860586207cb1433c9253cdaf9ecaace5"} {
			if !strings.Contains(strings.ToLower(string(out)), strings.ToLower(w)) {
				t.Errorf("openssl output lacks %q:\n%s", w, out)
			}
		}
	})

	// GetCACert (RFC 8894) answers the same bundle.
	code, hdr, body2 := get(t, s.Client(), "GET", "https://"+novHost+"/templates/Aik/scep?operation=GetCACert&message=default", nil)
	if code != 200 || hdr.Get("Content-Type") != ContentTypeCARACert || !bytes.Equal(body, body2) {
		t.Errorf("GetCACert = %d %q", code, hdr.Get("Content-Type"))
	}
}

func TestAIKErrors(t *testing.T) {
	s := startSim(t)
	c := s.Client()
	bad := `{"Message":"Failed to parse SCEP request."}`
	for _, tc := range []struct {
		method, url string
		code        int
		body        string
	}{
		{"POST", "https://" + novHost + "/templates/Aik/scep?operation=PKIOperation", 400, bad},
		{"GET", "https://" + novHost + "/templates/Aik/scep?operation=Nope", 400, bad},
		{"GET", "https://" + novHost + "/templates/Aik/scep", 400, bad},
		{"GET", "https://" + novHost + "/templates/Aik/scep?operation=%zz", 400, bad},
		{"POST", "https://" + novHost + "/templates/Aik/scep?operation=GetCACaps", 400, bad},
		{"GET", "https://ifx-keyid-0000000000000000000000000000000000000000.microsoftaik.azure.net/templates/Aik/scep?operation=GetCACaps", 404,
			`{"Message":"The authority \"ifx-keyid-0000000000000000000000000000000000000000.microsoftaik.azure.net\" does not exist."}`},
		{"GET", "https://IFX-KeyId-0000000000000000000000000000000000000000.microsoftaik.azure.net/templates/Aik/scep?operation=GetCACaps", 404,
			`{"Message":"The authority \"IFX-KeyId-0000000000000000000000000000000000000000.microsoftaik.azure.net\" does not exist."}`},
	} {
		code, hdr, body := get(t, c, tc.method, tc.url, nil)
		if code != tc.code || string(body) != tc.body {
			t.Errorf("%s %s = %d %s, want %d %s", tc.method, tc.url, code, body, tc.code, tc.body)
		}
		if ct := hdr.Get("Content-Type"); ct != "application/json; charset=utf-8" {
			t.Errorf("%s: content type %q", tc.url, ct)
		}
	}
	code, _, body := get(t, c, "GET", "https://"+novHost+"/other", nil)
	if code != http.StatusNotFound || !strings.Contains(string(body), "No HTTP resource") {
		t.Errorf("other path: %d %s", code, body)
	}
}
