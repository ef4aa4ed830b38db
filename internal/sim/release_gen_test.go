package sim

import (
	"bytes"
	"context"
	"crypto/x509"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/smallstep/pkcs7"

	"github.com/aikwatch/aikwatch/internal/cab"
	"github.com/aikwatch/aikwatch/internal/testutil"
	"github.com/aikwatch/aikwatch/trustlist"
	"github.com/aikwatch/aikwatch/trustlist/changelog"
)

// startDefaultSim starts a simulator without a trust list (so serving its generated default
// release), closed at the end of the test.
func startDefaultSim(t testing.TB) *Sim {
	t.Helper()
	start := time.Now()
	s, err := New(Config{Logger: testLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("New with the generated default release: %v", time.Since(start))
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return s
}

// loadSim reads a release the simulator built, trusting the simulator's signing roots.
func loadSim(t *testing.T, s *Sim, data []byte) (*trustlist.Snapshot, []trustlist.File) {
	t.Helper()
	roots := s.SigningRoots()
	snap, files, err := trustlist.FromBytesWithFiles(t.Context(), data, "sim.cab", trustlist.Options{Roots: &roots})
	if err != nil {
		t.Fatal(err)
	}
	return snap, files
}

// newestAIKCA returns the certificate of host's files with the latest NotAfter.
func newestAIKCA(t *testing.T, h trustlist.AIKHost, files []trustlist.File) *x509.Certificate {
	t.Helper()
	var best *x509.Certificate
	for _, f := range files {
		if !slices.Contains(h.Files, f.Path) {
			continue
		}
		c, _, err := trustlist.ParseCertificate(f.Data)
		if err != nil {
			t.Fatalf("%s: %v", f.Path, err)
		}
		if best == nil || c.NotAfter.After(best.NotAfter) {
			best = c
		}
	}
	if best == nil {
		t.Fatalf("%s: no certificate among %v", h.Host, h.Files)
	}
	return best
}

// served returns the AIK CA certificate host answers in GetCACertChain.
func served(t *testing.T, s *Sim, host string) *x509.Certificate {
	t.Helper()
	code, _, body := get(t, s.Client(), "GET", "https://"+host+SCEPPath+"?operation=GetCACertChain&message=default", nil)
	if code != 200 {
		t.Fatalf("%s: GetCACertChain = %d %s", host, code, body)
	}
	p7, err := pkcs7.Parse(body)
	if err != nil {
		t.Fatalf("%s: %v", host, err)
	}
	if len(p7.Certificates) != 4 {
		t.Fatalf("%s: %d certificates, want 4", host, len(p7.Certificates))
	}
	return p7.Certificates[1]
}

func TestDefaultRelease(t *testing.T) {
	s := startDefaultSim(t)
	data := s.TrustList()
	again, err := s.DefaultRelease(t.Context())
	if err != nil || !bytes.Equal(again, data) {
		t.Fatalf("DefaultRelease is not the published release (err %v)", err)
	}
	snap, files := loadSim(t, s, data)
	t.Logf("default release: %d bytes, %d members, %d AIK hosts, %d EK CAs", len(data), len(snap.Members), len(snap.AIKHosts), len(snap.EKCAs))

	if snap.Signature.Status != trustlist.SignatureValid || snap.Signature.Signer != CodeSignerCN || snap.Signature.Timestamp.IsZero() {
		t.Errorf("signature with the simulator's roots: %+v", snap.Signature)
	}
	ms, err := trustlist.FromBytes(t.Context(), data, "sim.cab", trustlist.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if ms.Signature.Status != trustlist.SignatureInvalid || ms.Signature.Reason != "untrusted_chain" {
		t.Errorf("signature with Microsoft's roots: %+v", ms.Signature)
	}

	// version.txt: two dated entries, the head one a week ago.
	today := time.Now().UTC().Truncate(24 * time.Hour)
	if snap.Changelog == nil || len(snap.Changelog.Entries) != 2 || !snap.VersionDate.Equal(today.AddDate(0, 0, -7)) {
		t.Fatalf("changelog: %+v, version date %v", snap.Changelog, snap.VersionDate)
	}
	if len(snap.Anomalies) != 0 {
		t.Errorf("anomalies: %+v", snap.Anomalies)
	}
	if got := snap.ShippedButRemoved(); len(got) != 0 {
		t.Errorf("shipped but removed: %+v", got)
	}
	listed := map[string]bool{}
	for _, it := range snap.Changelog.Items(changelog.Added) {
		listed[it.Item.Name] = true
	}
	for _, m := range snap.Members {
		if m.Kind != trustlist.KindOther && !listed[path.Base(m.Path)] {
			t.Errorf("%s is not listed as added in version.txt", m.Path)
		}
	}

	// Layout.
	folders := map[string]bool{}
	for _, m := range snap.Members {
		folders[m.VendorFolder+"/"+m.Role] = true
	}
	for _, want := range []string{"/", "AMD/RootCA", "AMD/IntermediateCA", "Infineon/RootCA", "Infineon/IntermediateCA", "Intel/RootCA",
		"Intel/IntermediateCA", "Nuvoton/RootCA", "Nuvoton/IntermediateCA", "STMicro/RootCA", "STMicro/IntermediateCA",
		"Microsoft/RootCA", "Microsoft/IntermediateCA"} {
		if !folders[want] {
			t.Errorf("no member in %s", want)
		}
	}
	for _, p := range []string{"setup.cmd", "setup.ps1", "version.txt"} {
		if _, ok := snap.Member(p); !ok {
			t.Errorf("no %s", p)
		}
	}
	if m, ok := snap.Member("Microsoft/RootCA/" + msRootCN + ".cer"); !ok || m.Cert == nil || m.Cert.SubjectCN != msRootCN {
		t.Errorf("Microsoft root: %+v", m)
	}

	// AIK hosts: enough, every one with its EK CA, the simulator's own among them, every one
	// served with the AIK CA certificate the release holds.
	if len(snap.AIKHosts) < 10 {
		t.Errorf("%d AIK hosts, want at least 10", len(snap.AIKHosts))
	}
	if cov := snap.Coverage(); len(cov.AIKHostsWithoutEKCA) != 0 {
		t.Errorf("AIK hosts without EK CA: %v", cov.AIKHostsWithoutEKCA)
	}
	vendors, kinds, multi := map[string]int{}, map[string]int{}, 0
	for _, h := range snap.AIKHosts {
		vendors[h.Vendor]++
		kinds[h.IDKind]++
		if len(h.Files) > 1 {
			multi++
		}
	}
	for _, v := range []string{"IFX", "INTC", "AMD", "NTC", "STM"} {
		if vendors[v] < 2 {
			t.Errorf("vendor %s: %d hosts, want at least 2", v, vendors[v])
		}
	}
	if kinds["nameid"] == 0 || multi == 0 {
		t.Errorf("no nameid host (%v) or no host with several files (%d)", kinds, multi)
	}
	for _, ek := range s.EKs() {
		h, ok := snap.AIKHost(ek.AIKHost)
		if !ok {
			t.Errorf("the simulator's own EK host %s is not in the release", ek.AIKHost)
			continue
		}
		if !slices.Contains(h.EKCAs, ek.Chain[0].Subject.CommonName) && len(h.EKCAs) == 0 {
			t.Errorf("%s: no EK CA", ek.AIKHost)
		}
	}
	root := s.MicrosoftRoot()
	for _, h := range snap.AIKHosts {
		want := newestAIKCA(t, h, files)
		got := served(t, s, h.Host)
		if !bytes.Equal(got.Raw, want.Raw) {
			t.Errorf("%s: serves %q, the release's newest is %q", h.Host, got.Subject.CommonName, want.Subject.CommonName)
		}
		if err := got.CheckSignatureFrom(root); err != nil {
			t.Errorf("%s: AIK CA not issued by the simulator's root: %v", h.Host, err)
		}
		for _, p := range h.Files {
			m, _ := snap.Member(p)
			base := strings.TrimSuffix(strings.TrimSuffix(path.Base(p), path.Ext(p)), "_2")
			base = strings.TrimSuffix(base, "_new")
			if m.Cert == nil || m.Cert.Encoding != "PEM" || m.Cert.SubjectCN != strings.ToUpper(base) {
				t.Errorf("%s: want PEM with CN %q, got %+v", p, strings.ToUpper(base), m.Cert)
			}
		}
	}

	// The generated vendors' host names are the same in every run, as documented.
	if h, ok := snap.AIKHost("ifx-keyid-e78d1045f36d2e1efd6e48d91ff44f3c11531c5c.microsoftaik.azure.net"); !ok || len(h.Files) != 5 || len(h.Regions) != 3 {
		t.Errorf("the documented IFX host: %+v", h)
	}
	// ... and so for every simulator.
	s2, err := New(Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Close()
	own := map[string]bool{}
	for _, ek := range append(s.EKs(), s2.EKs()...) {
		own[ek.AIKHost] = true
	}
	gen := func(x *Sim) []string {
		var out []string
		for _, h := range x.AIKHosts() {
			if !own[h] {
				out = append(out, h)
			}
		}
		return out
	}
	if a, b := gen(s), gen(s2); !slices.Equal(a, b) || len(a) != 11 {
		t.Errorf("generated hosts differ between simulators or are not 11:\n%v\n%v", a, b)
	}
}

// TestDefaultReleaseTools checks the generated release with cabextract and osslsigncode,
// trusting the simulator's roots.
func TestDefaultReleaseTools(t *testing.T) {
	cabextract := testutil.RequireTool(t, "cabextract")
	osslsigncode := testutil.RequireTool(t, "osslsigncode")
	s, err := New(Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	dir := t.TempDir()
	cabFile := filepath.Join(dir, "TrustedTpm.cab")
	cs, ts := s.SigningRootsPEM()
	for name, b := range map[string][]byte{cabFile: s.TrustList(), filepath.Join(dir, "csroot.pem"): cs, filepath.Join(dir, "tsroot.pem"): ts} {
		if err := os.WriteFile(name, b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	out, err := exec.Command(cabextract, "-t", cabFile).CombinedOutput()
	if err != nil || !strings.Contains(string(out), "All done, no errors") {
		t.Errorf("cabextract -t: %v\n%s", err, out)
	}
	if !strings.Contains(string(out), "Microsoft/IntermediateCA/") || !strings.Contains(string(out), "version.txt") {
		t.Errorf("cabextract -t lists no AIK CA or no version.txt:\n%s", out)
	}
	cmd := exec.Command(osslsigncode, "verify", "-in", cabFile, "-CAfile", filepath.Join(dir, "csroot.pem"),
		"-TSA-CAfile", filepath.Join(dir, "tsroot.pem"), "-ignore-crl")
	cmd.Dir = dir
	out, err = cmd.CombinedOutput()
	if err != nil {
		t.Errorf("osslsigncode verify: %v\n%s", err, out)
	}
	for _, w := range []string{"Timestamp Server Signature verification: ok", "Signature verification: ok", "Subject: /C=US/ST=Washington/L=Redmond/O=Microsoft Corporation/CN=" + CodeSignerCN} {
		if !strings.Contains(string(out), w) {
			t.Errorf("osslsigncode verify output lacks %q:\n%s", w, out)
		}
	}
}

func TestWithdrawReleaseNov(t *testing.T) {
	if raceEnabled {
		// Reading, rewriting and re-indexing the real cab's 2,193 members four times takes
		// about 30 s under the race detector; TestWithdrawReleaseDefault runs the same code.
		t.Skip("the real cab is too slow to rewrite under the race detector")
	}
	s := startSim(t)
	old, _ := loadSim(t, s, s.TrustList())
	date := time.Date(2026, 11, 23, 0, 0, 0, 0, time.UTC)
	start := time.Now()
	data, err := s.WithdrawRelease(t.Context(), date, strings.ToUpper(novHost[:10])+novHost[10:])
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("WithdrawRelease of the Nov-2024 cab: %v, %d bytes", time.Since(start), len(data))
	nw, _ := loadSim(t, s, data)
	if nw.Signature.Status != trustlist.SignatureValid {
		t.Errorf("signature: %+v", nw.Signature)
	}
	h, _ := old.AIKHost(novHost)
	checkWithdrawal(t, old, nw, date, []trustlist.AIKHost{h})

	if err := s.Publish(data); err != nil {
		t.Fatal(err)
	}
	code, _, body := get(t, s.Client(), "GET", "https://"+novHost+SCEPPath+"?operation=GetCACaps", nil)
	if code != 404 || string(body) != `{"Message":"The authority \"`+novHost+`\" does not exist."}` {
		t.Errorf("withdrawn host answers %d %s", code, body)
	}
	if len(s.AIKHosts()) != len(old.AIKHosts)-1+len(s.EKs()) {
		t.Errorf("%d AIK hosts served after the withdrawal, want %d", len(s.AIKHosts()), len(old.AIKHosts)-1+len(s.EKs()))
	}
}

// checkWithdrawal checks the diff from old to nw: exactly the hosts withdrawn, their files
// removed, version.txt changed, one new changelog entry dated date naming the removed files.
func checkWithdrawal(t *testing.T, old, nw *trustlist.Snapshot, date time.Time, hosts []trustlist.AIKHost) {
	t.Helper()
	d := trustlist.Compare(old, nw)
	var wantHosts, wantFiles []string
	for _, h := range hosts {
		wantHosts = append(wantHosts, h.Host)
		wantFiles = append(wantFiles, h.Files...)
	}
	slices.Sort(wantHosts)
	slices.Sort(wantFiles)
	if !slices.Equal(d.AIKHostsWithdrawn, wantHosts) || len(d.AIKHostsAdded) != 0 {
		t.Errorf("withdrawn %v added %v, want withdrawn %v", d.AIKHostsWithdrawn, d.AIKHostsAdded, wantHosts)
	}
	var removed []string
	for _, r := range d.Removed {
		removed = append(removed, r.Path)
		if r.Kind != trustlist.KindAIKCA {
			t.Errorf("removed %s of kind %s", r.Path, r.Kind)
		}
	}
	if !slices.Equal(removed, wantFiles) || len(d.Added) != 0 {
		t.Errorf("removed %v added %v, want removed %v", removed, d.Added, wantFiles)
	}
	if len(d.Changed) != 1 || d.Changed[0].Path != "version.txt" {
		t.Errorf("changed %v, want version.txt", d.Changed)
	}
	if len(d.ChangelogMismatches) != 0 {
		t.Errorf("changelog mismatches: %+v", d.ChangelogMismatches)
	}
	if !nw.VersionDate.Equal(date) || len(nw.Changelog.Entries) != len(old.Changelog.Entries)+1 {
		t.Errorf("version date %v, %d entries (old %d)", nw.VersionDate, len(nw.Changelog.Entries), len(old.Changelog.Entries))
	}
	if len(d.Changelog) != 1 {
		t.Fatalf("%d new changelog entries, want 1: %+v", len(d.Changelog), d.Changelog)
	}
	e := d.Changelog[0]
	if !e.Date.Equal(date) || len(e.Sections) != 1 || e.Sections[0].Action != changelog.Removed || e.Sections[0].Kind != changelog.KindAIK {
		t.Fatalf("new entry: %+v", e)
	}
	var items []string
	for _, it := range e.Sections[0].Items {
		items = append(items, it.Name)
	}
	var want []string
	for _, f := range wantFiles {
		want = append(want, path.Base(f))
	}
	slices.Sort(items)
	slices.Sort(want)
	if !slices.Equal(items, want) {
		t.Errorf("entry items %v, want %v", items, want)
	}
	// The old entries follow unchanged, the old head date being the second entry's.
	for i, oe := range old.Changelog.Entries {
		ne := nw.Changelog.Entries[i+1]
		if !ne.Date.Equal(oe.Date) || ne.DateRaw != oe.DateRaw || len(ne.Sections) != len(oe.Sections) {
			t.Errorf("entry %d: %s (%d sections), was %s (%d sections)", i+2, ne.DateRaw, len(ne.Sections), oe.DateRaw, len(oe.Sections))
			break
		}
	}
}

func TestWithdrawReleaseDefault(t *testing.T) {
	s := startDefaultSim(t)
	old, _ := loadSim(t, s, s.TrustList())
	// Withdraw the generated host with the most files and a nameid host.
	var hosts []trustlist.AIKHost
	var names []string
	for _, h := range old.AIKHosts {
		if len(h.Files) == 5 || h.IDKind == "nameid" {
			hosts = append(hosts, h)
			names = append(names, h.Host)
		}
	}
	if len(hosts) != 2 {
		t.Fatalf("hosts to withdraw: %v", names)
	}
	date := time.Now().UTC().Truncate(24 * time.Hour)
	data, err := s.WithdrawRelease(t.Context(), time.Time{}, names...)
	if err != nil {
		t.Fatal(err)
	}
	nw, _ := loadSim(t, s, data)
	if nw.Signature.Status != trustlist.SignatureValid {
		t.Errorf("signature: %+v", nw.Signature)
	}
	checkWithdrawal(t, old, nw, date, hosts)
	if err := s.Publish(data); err != nil {
		t.Fatal(err)
	}
	for _, h := range names {
		if code, _, body := get(t, s.Client(), "GET", "https://"+h+SCEPPath+"?operation=GetCACaps", nil); code != 404 {
			t.Errorf("%s answers %d %s", h, code, body)
		}
	}
	// Withdrawing again from the new release: the entries pile up newest first.
	later := date.AddDate(0, 0, 3)
	data2, err := s.WithdrawRelease(t.Context(), later, old.AIKHosts[0].Host)
	if err != nil {
		t.Fatal(err)
	}
	nw2, _ := loadSim(t, s, data2)
	if n := len(nw2.Changelog.Entries); n != 4 || !nw2.VersionDate.Equal(later) || !nw2.Changelog.Entries[1].Date.Equal(date) {
		t.Errorf("after a second withdrawal: %d entries, version date %v", n, nw2.VersionDate)
	}
}

func TestWithdrawReleaseErrors(t *testing.T) {
	s, err := New(Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	host := s.AIKHosts()[0]
	ctx := t.Context()
	for _, tc := range []struct {
		date  time.Time
		hosts []string
		want  string
	}{
		{time.Time{}, nil, "no host given"},
		{time.Time{}, []string{"ifx-keyid-0000000000000000000000000000000000000000.microsoftaik.azure.net"}, "is not in the published trust list"},
		{time.Time{}, []string{"example.com"}, "example.com"},
		{time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC), []string{host}, "2020-01-01 is before the release's last update"},
	} {
		_, err := s.WithdrawRelease(ctx, tc.date, tc.hosts...)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("WithdrawRelease(%v, %v) = %v, want an error with %q", tc.date, tc.hosts, err, tc.want)
		}
	}
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := s.WithdrawRelease(cctx, time.Time{}, host); err == nil {
		t.Error("WithdrawRelease with a cancelled context succeeded")
	}
}

func TestWithdrawChangelog(t *testing.T) {
	date := time.Date(2026, 11, 3, 0, 0, 0, 0, time.UTC)
	old := "The certificates were last updated on:\r\n21-November-2024\r\n    Added the following AIK Certificates\r\n        A-keyid-1.cer\r\n"
	got, err := withdrawChangelog([]byte(old), date, []string{"IFX-KEYID-AB.cer", "EUS-IFX-KEYID-AB.cer"})
	if err != nil {
		t.Fatal(err)
	}
	want := "The certificates were last updated on:\r\n3-November-2026\r\n    Removed the following AIK Certificates\r\n" +
		"        IFX-KEYID-AB.cer\r\n        EUS-IFX-KEYID-AB.cer\r\n" +
		"21-November-2024\r\n    Added the following AIK Certificates\r\n        A-keyid-1.cer\r\n"
	if string(got) != want {
		t.Errorf("got\n%q\nwant\n%q", got, want)
	}
	// Bare LF line ends and a preamble are kept.
	got, err = withdrawChangelog([]byte("note\nThe certificates were last updated on:\n1-May-2024\n"), date, []string{"x.cer"})
	if err != nil || string(got) != "note\nThe certificates were last updated on:\r\n3-November-2026\r\n    Removed the following AIK Certificates\r\n        x.cer\r\n1-May-2024\n" {
		t.Errorf("LF: %q %v", got, err)
	}
	// No header, no file: the entry goes first.
	got, err = withdrawChangelog(nil, date, []string{"x.cer"})
	if err != nil || !strings.HasPrefix(string(got), "The certificates were last updated on:\r\n3-November-2026\r\n") {
		t.Errorf("empty: %q %v", got, err)
	}
	cl, err := changelog.Parse(got)
	if err != nil || !cl.LastUpdated.Equal(date) || len(cl.Removed()) != 1 {
		t.Errorf("parsed: %+v %v", cl, err)
	}
}

func TestBuildRelease(t *testing.T) {
	s, err := New(Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	files := []trustlist.File{{Path: "version.txt", Data: []byte("hello")}, {Path: "Microsoft/RootCA/r.cer", Data: s.MicrosoftRoot().Raw}}
	data, err := s.BuildRelease(t.Context(), files)
	if err != nil {
		t.Fatal(err)
	}
	got, format, err := trustlist.ReadFiles(t.Context(), data, "b.cab", trustlist.Options{})
	if err != nil || format != "cab" || len(got) != 2 || got[0].Path != "version.txt" || string(got[0].Data) != "hello" ||
		!bytes.Equal(got[1].Data, s.MicrosoftRoot().Raw) {
		t.Errorf("read back: %v %s %+v", err, format, got)
	}
	roots := s.SigningRoots()
	if sig := trustlist.VerifySignature(data, trustlist.Options{Roots: &roots}); sig.Status != trustlist.SignatureValid {
		t.Errorf("signature: %+v", sig)
	}
	if _, err := s.BuildRelease(t.Context(), nil); err == nil {
		t.Error("BuildRelease of nothing succeeded")
	}
	if _, err := s.BuildRelease(t.Context(), []trustlist.File{{Path: "../x", Data: []byte("x")}}); err == nil || !strings.Contains(err.Error(), "..") {
		t.Errorf("bad name: %v", err)
	}
	// A release built elsewhere can be re-signed.
	var buf bytes.Buffer
	if err := cab.Write(&buf, []cab.WriterFile{{Name: "a.txt", Data: []byte("a")}}, cab.WriteOptions{}); err != nil {
		t.Fatal(err)
	}
	signed, err := s.SignRelease(t.Context(), buf.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	if sig := trustlist.VerifySignature(signed, trustlist.Options{Roots: &roots}); sig.Status != trustlist.SignatureValid {
		t.Errorf("re-signed: %+v", sig)
	}
	if _, err := s.SignRelease(t.Context(), []byte("not a cab")); err == nil {
		t.Error("SignRelease of garbage succeeded")
	}
}

func TestScenarioWithdrawRelease(t *testing.T) {
	sc, err := ParseScenario([]byte(`
- at: 0
  withdraw_release: [IFX-KeyId-0123456789012345678901234567890123456789.microsoftaik.azure.net, amd-keyid-0123456789012345678901234567890123456789]
  date: 2026-11-23
- at: 1s
  withdraw_release: ntc-nameid-0123456789012345678901234567890123456789.microsoftaik.azure.net
`))
	if err != nil {
		t.Fatal(err)
	}
	if st := sc.Steps[0]; len(st.WithdrawRelease) != 2 || !st.Date.Equal(time.Date(2026, 11, 23, 0, 0, 0, 0, time.UTC)) ||
		!strings.Contains(st.describe(), "withdraw_release IFX-KeyId-") {
		t.Errorf("step 1: %+v", st)
	}
	if st := sc.Steps[1]; len(st.WithdrawRelease) != 1 || !st.Date.IsZero() {
		t.Errorf("step 2: %+v", st)
	}
	for _, tc := range []struct{ yaml, want string }{
		{"- at: 1s\n  withdraw_release: []", "step 1 (line 1): withdraw_release: no hosts"},
		{"- at: 1s\n  withdraw_release: {a: b}", "withdraw_release: want a list"},
		{"- at: 1s\n  withdraw_release: [[a]]", "withdraw_release: want a single value"},
		{"- at: 1s\n  withdraw_release: [go.microsoft.com]", `withdraw_release: aik host "go.microsoft.com"`},
		{"- at: 1s\n  withdraw_release: [ifx-keyid-0123.microsoftaik.azure.net]", "id has 4 hex digits, want 40"},
		{"- at: 1s\n  withdraw_release: [\"\"]", "withdraw_release: empty host name"},
		{"- at: 1s\n  withdraw_release: [ifx-keyid-0123456789012345678901234567890123456789]\n  date: tomorrow", `date: "tomorrow" is not a date`},
		{"- at: 1s\n  withdraw_release: [ifx-keyid-0123456789012345678901234567890123456789]\n  mode: ok", "withdraw_release: mode and latency_ms belong"},
		{"- at: 1s\n  withdraw_release: [ifx-keyid-0123456789012345678901234567890123456789]\n  host: go.microsoft.com\n  mode: ok", "exactly one of"},
		{"- at: 1s\n  host: go.microsoft.com\n  mode: ok\n  date: 2026-11-23", "date: belongs to withdraw_release steps"},
	} {
		_, err := ParseScenario([]byte(tc.yaml))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: err = %v, want one containing %q", tc.yaml, err, tc.want)
		}
	}

	// Run: withdraw a generated host and one of the simulator's own EK hosts; both answer 404
	// afterwards, and the release being served is signed by the simulator and dated as asked.
	s := startDefaultSim(t)
	own := s.EKs()[0].AIKHost
	var gen string
	for _, h := range s.AIKHosts() {
		if h != own && h != s.EKs()[1].AIKHost {
			gen = h
			break
		}
	}
	date := time.Now().UTC().Truncate(24*time.Hour).AddDate(0, 0, 1)
	sc, err = ParseScenario([]byte("- at: 10ms\n  withdraw_release: [" + gen + ", " + strings.ToUpper(own) + "]\n  date: " + date.Format(time.DateOnly) + "\n"))
	if err != nil {
		t.Fatal(err)
	}
	before := s.TrustListSHA256()
	if err := s.RunScenario(t.Context(), sc); err != nil {
		t.Fatal(err)
	}
	if s.TrustListSHA256() == before {
		t.Fatal("no new release published")
	}
	snap, _ := loadSim(t, s, s.TrustList())
	if snap.Signature.Status != trustlist.SignatureValid || !snap.VersionDate.Equal(date) {
		t.Errorf("published release: signature %+v, version date %v", snap.Signature, snap.VersionDate)
	}
	for _, h := range []string{gen, own} {
		if _, ok := snap.AIKHost(h); ok {
			t.Errorf("%s still in the release", h)
		}
		code, _, body := get(t, s.Client(), "GET", "https://"+h+SCEPPath+"?operation=GetCACertChain", nil)
		if code != 404 || !strings.Contains(string(body), "does not exist") {
			t.Errorf("%s answers %d %s", h, code, body)
		}
	}
	if st := s.HostState(own); st.Mode != ModeWithdrawn {
		t.Errorf("own EK host: %+v", st)
	}
	// Withdrawing a host the release no longer names fails, and is reported.
	err = s.RunScenario(t.Context(), &Scenario{Steps: []Step{{WithdrawRelease: []string{gen}}}})
	if err == nil || !strings.Contains(err.Error(), "step 1: sim: withdraw release: "+gen+" is not in the published trust list") {
		t.Errorf("withdrawing again: %v", err)
	}
}

// BenchmarkNewDefault measures New when it generates the default release.
func BenchmarkNewDefault(b *testing.B) {
	for b.Loop() {
		s, err := New(Config{})
		if err != nil {
			b.Fatal(err)
		}
		s.Close()
	}
}
