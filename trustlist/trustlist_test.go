package trustlist

import (
	"context"
	"errors"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/aikwatch/aikwatch/internal/testutil"
)

var (
	realOnce sync.Once
	realNov  *Snapshot
	realJun  *Snapshot
	realErr  error
)

// loadReal loads both real releases once for the package's tests.
func loadReal(t *testing.T) (jun, nov *Snapshot) {
	t.Helper()
	realOnce.Do(func() {
		ctx := context.Background()
		if realNov, realErr = Load(ctx, testutil.NovCab, Options{}); realErr != nil {
			return
		}
		realJun, realErr = Load(ctx, testutil.JunCab, Options{})
	})
	if realErr != nil {
		t.Fatal(realErr)
	}
	return realJun, realNov
}

func TestRealReleases(t *testing.T) {
	jun, nov := loadReal(t)
	for _, tc := range []struct {
		s                *Snapshot
		members, entries int
		date, digest     string
	}{
		{jun, 1977, 0, "2024-06-11", "AF88ABB1A066AFB8C936D60DB00E4AD3FE0E5DE33A6DDF3501BD7D7E29FD0657"},
		{nov, 2193, 113, "2024-11-21", "193F0F83B5B358A97F893065A98B15C13C5A3056F0DDA1CF3C48812345B80C09"},
	} {
		s := tc.s
		if len(s.Members) != tc.members {
			t.Errorf("%s: %d members, want %d", s.Source, len(s.Members), tc.members)
		}
		if got := DateString(s.VersionDate); got != tc.date {
			t.Errorf("%s: version date %s, want %s", s.Source, got, tc.date)
		}
		if s.Signature.Status != SignatureValid || s.Signature.Digest != tc.digest || s.Signature.Signer != "Microsoft Corporation" {
			t.Errorf("%s: signature %+v", s.Source, s.Signature)
		}
		if tc.entries > 0 && (s.Changelog == nil || len(s.Changelog.Entries) != tc.entries) {
			t.Errorf("%s: changelog entries = %v, want %d", s.Source, s.Changelog != nil, tc.entries)
		}
	}
}

func TestIndexNov(t *testing.T) {
	_, s := loadReal(t)
	kinds := map[Kind]int{}
	for _, m := range s.Members {
		kinds[m.Kind]++
	}
	if kinds[KindAIKCA] != 1822 {
		t.Errorf("aik_ca = %d, want 1822", kinds[KindAIKCA])
	}
	if got := kinds[KindEKRoot] + kinds[KindEKIntermediate] + kinds[KindAIKCA] + 1; got != 2189 {
		t.Errorf("certificate files = %d, want 2189 (kinds %v)", got, kinds)
	}
	un := s.Unparseable()
	if len(un) != 6 {
		t.Fatalf("unparseable = %d, want 6: %v", len(un), un)
	}
	for _, m := range un {
		if !strings.HasPrefix(m.Path, "STMicro/") || !strings.Contains(m.ParseError, "malformed serial number") {
			t.Errorf("unexpected unparseable member %s: %s", m.Path, m.ParseError)
		}
	}
	if n := s.CertificateCount(); n != 2183 {
		t.Errorf("certificates = %d, want 2183", n)
	}
	// 331 distinct ids, 332 hosts: INTC and INTL both name key id 145126d0....
	ids := map[string]bool{}
	matched := map[string]bool{}
	for _, h := range s.AIKHosts {
		ids[h.ID] = true
		if len(h.EKCAs) > 0 {
			matched[h.ID] = true
		}
	}
	if len(s.AIKHosts) != 332 || len(ids) != 331 {
		t.Errorf("AIK hosts = %d with %d ids, want 332 with 331", len(s.AIKHosts), len(ids))
	}
	// DOMAIN.md counts 324 ids with their EK CA, from file names; taking the id from the
	// certificate's CN also matches the NTZ CA whose file name has 41 hex digits.
	if len(matched) != 325 {
		t.Errorf("ids with their EK CA in the release = %d, want 325 (hosts without: %v)", len(matched), s.Coverage().AIKHostsWithoutEKCA)
	}
	if _, ok := matched["6ea5bcbda0be52890507175a3c12e8a3b8386f0c"]; !ok {
		t.Error("the NTZ id from the CN of the 41-hex file has no EK CA")
	}

	// The 41-hex file name: host from the CN, disagreement reported.
	const ntz = "ntz-keyid-6ea5bcbda0be52890507175a3c12e8a3b8386f0c.microsoftaik.azure.net"
	h, ok := s.AIKHost(ntz)
	if !ok || !slices.Contains(h.Files, "Microsoft/IntermediateCA/NTZ-keyid-6ea5bcbda0be52890507175a3c12e8a3b8386f0cc.cer") {
		t.Errorf("host %s = %+v, %v", ntz, h, ok)
	}
	found := false
	for _, a := range s.Anomalies {
		if a.Kind == AnomalyNameMismatch && strings.Contains(a.Path, "6f0cc.cer") && strings.Contains(a.Detail, "41 hex digits") {
			found = true
		}
	}
	if !found {
		t.Errorf("no file_name_mismatch anomaly for the 41-hex NTZ file: %v", s.Anomalies)
	}

	// EK CAs and the AIK hosts that serve them (key ids and name ids from testdata/tpm-vendor-certs/SOURCES.md).
	for path, host := range map[string]string{
		"Intel/IntermediateCA/ADL_PROD_00002226_ODCA_CA2.cer":                                "intc-keyid-34219b21f477f6c7f78a0f26b23d0430deea4363.microsoftaik.azure.net",
		"AMD/IntermediateCA/AMD-fTPM-RSA-ICA-STXFamily-AC721D42534F54F84DBA160B17E1C920.crt": "amd-keyid-1b4973cf8074bc4dd4b9de8a336fe3152ce6ec9d.microsoftaik.azure.net",
		"Nuvoton/RootCA/Nuvoton TPM Root CA 1110.cer":                                        "ntc-nameid-3e6c3b35ef144b0a76cdcfa4080b8b7bca3cc8ee.microsoftaik.azure.net",
		"QC/IntermediateCA/m2-wus-prod-ekcert-signing-V1.cer":                                "qcom-keyid-16f35f91a04edd3b831da8c6d1eceee6ee497d60.microsoftaik.azure.net",
		"AMD/IntermediateCA/Pluton-Factory-DEVICE-EK-ICA-DFID008A0F00.cer":                   "msft-keyid-1cb4a0687b9d82072c5783a6b57d10d74000fcb9.microsoftaik.azure.net",
		"STMicro/IntermediateCA/STM TPM EK Intermediate CA 05_2.crt":                         "stm-keyid-1adb994ab58be57a0cc9b900e7851e1a43c08660.microsoftaik.azure.net",
	} {
		e, ok := findEKCA(s, path)
		if !ok {
			t.Errorf("EK CA %s not indexed", path)
			continue
		}
		if e.AIKHost != host && !slices.Contains(e.AIKHosts, host) {
			t.Errorf("EK CA %s: AIK hosts %q %v, want %q among them", path, e.AIKHost, e.AIKHosts, host)
		}
	}
	if e, ok := findEKCA(s, "Intel/RootCA/ODCA_CA2_CSME_Intermediate.cer"); !ok || e.Role != RoleRoot {
		t.Errorf("an intermediate in a RootCA folder keeps the folder's role: %+v", e)
	}
}

func TestDiffRealReleases(t *testing.T) {
	jun, nov := loadReal(t)
	d := Compare(jun, nov)
	if len(d.Added) != 216 || len(d.Removed) != 0 || len(d.Changed) != 1 || d.Changed[0].Path != "version.txt" {
		t.Errorf("diff: %d added, %d removed, changed %v; want 216, 0, [version.txt]", len(d.Added), len(d.Removed), d.Changed)
	}
	if len(d.AIKHostsWithdrawn) != 0 {
		t.Errorf("withdrawn: %v", d.AIKHostsWithdrawn)
	}
	if len(d.AIKHostsAdded) == 0 {
		t.Error("no AIK hosts added between Jun and Nov 2024")
	}
	if d.From.VersionDate != "2024-06-11" || d.To.VersionDate != "2024-11-21" {
		t.Errorf("refs %+v -> %+v", d.From, d.To)
	}
	if len(d.Changelog) == 0 {
		t.Fatal("no changelog entries newer than 2024-06-11")
	}
	for _, e := range d.Changelog {
		if !e.Date.After(jun.VersionDate) {
			t.Errorf("changelog entry %s is not newer than the old release", e.DateRaw)
		}
	}
	// Both diffs directions are consistent.
	back := Compare(nov, jun)
	if len(back.Removed) != 216 || len(back.AIKHostsWithdrawn) != len(d.AIKHostsAdded) {
		t.Errorf("reverse diff: %d removed, %d withdrawn", len(back.Removed), len(back.AIKHostsWithdrawn))
	}
}

func TestShippedButRemoved(t *testing.T) {
	_, nov := loadReal(t)
	got := nov.ShippedButRemoved()
	var amd bool
	for _, m := range got {
		if strings.HasSuffix(m.Path, "AMD-keyid-1b4973cf8074bc4dd4b9de8a336fe3152ce6ec9d.cer") && m.Date == "2024-05-05" {
			amd = true
		}
	}
	if !amd {
		t.Errorf("AMD-keyid-1b4973cf... is listed as removed on 05-May-2024 and still shipped; got %+v", got)
	}
}

func TestHTMLInsteadOfCab(t *testing.T) {
	page := []byte("<!DOCTYPE html>\n<html><head><title>Hotel WiFi - Sign in</title></head><body>Please accept</body></html>")
	_, err := FromBytes(context.Background(), page, "portal", Options{})
	if !errors.Is(err, ErrNotTrustList) || !strings.Contains(err.Error(), "HTML") || !strings.Contains(err.Error(), "Hotel WiFi") {
		t.Fatalf("err = %v", err)
	}
	_, err = FromBytes(context.Background(), []byte("garbage that is no archive at all"), "x", Options{})
	if !errors.Is(err, ErrNotTrustList) {
		t.Fatalf("garbage: err = %v", err)
	}
}

func TestTruncatedCabIsAnError(t *testing.T) {
	data, err := os.ReadFile(testutil.NovCab)
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range []int{4, 36, 60, 1000, len(data) / 2, len(data) - 11000} {
		if _, err := FromBytes(context.Background(), data[:n], "truncated", Options{}); err == nil {
			t.Errorf("a cab truncated to %d bytes loaded", n)
		}
	}
}

func findEKCA(s *Snapshot, path string) (EKCA, bool) {
	for _, e := range s.EKCAs {
		if e.Path == path {
			return e, true
		}
	}
	return EKCA{}, false
}
