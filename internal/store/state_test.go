package store

import (
	"strings"
	"testing"
	"time"

	"github.com/aikwatch/aikwatch/internal/state"
	"github.com/aikwatch/aikwatch/probes"
)

func TestEmptyState(t *testing.T) {
	s := openTest(t, Options{})
	if r, err := s.Refresh(); err != nil || r != (state.RefreshStatus{}) {
		t.Errorf("Refresh = %+v, %v; want zero", r, err)
	}
	if w, err := s.Sweep(); err != nil || w != (state.SweepStatus{}) {
		t.Errorf("Sweep = %+v, %v; want zero", w, err)
	}
	if at, cas, err := s.EKCAs(); err != nil || !at.IsZero() || cas != nil {
		t.Errorf("EKCAs = %v, %v, %v; want zero", at, cas, err)
	}
	if h, err := s.Hosts(); err != nil || h == nil || len(h) != 0 {
		t.Errorf("Hosts = %#v, %v; want empty, not nil", h, err)
	}
	if e, err := s.EKServices(); err != nil || e == nil || len(e) != 0 {
		t.Errorf("EKServices = %#v, %v; want empty, not nil", e, err)
	}
	if r, err := s.Releases(); err != nil || r == nil || len(r) != 0 {
		t.Errorf("Releases = %#v, %v; want empty, not nil", r, err)
	}
	if d, err := s.Diffs(5); err != nil || d == nil || len(d) != 0 {
		t.Errorf("Diffs = %#v, %v; want empty, not nil", d, err)
	}
}

func TestSingletonsRoundTrip(t *testing.T) {
	s := openTest(t, Options{})
	refresh := state.RefreshStatus{
		LastAttempt: t0, LastSuccess: t0.Add(-time.Hour), OK: false, Error: "signature invalid",
		Source: "https://go.microsoft.com/fwlink/?linkid=2097925", ETag: `"0x8DC"`, LastModified: "Tue, 12 Nov 2024 10:00:00 GMT",
		Refused:  &state.Refusal{At: t0, SHA256: strings.Repeat("ab", 32), Reason: "signature invalid (digest_mismatch)"},
		Failures: 3, NextScheduled: t0.Add(15 * time.Minute),
	}
	if err := s.SaveRefresh(refresh); err != nil {
		t.Fatal(err)
	}
	got, err := s.Refresh()
	if err != nil {
		t.Fatal(err)
	}
	mustEqual(t, "refresh", got, refresh)

	sweep := state.SweepStatus{Started: t0, Finished: t0.Add(40 * time.Second), Probed: 332, Failing: 5}
	if err := s.SaveSweep(sweep); err != nil {
		t.Fatal(err)
	}
	if got, err := s.Sweep(); err != nil || got != sweep {
		t.Errorf("Sweep = %+v, %v; want %+v", got, err, sweep)
	}

	cas := []probes.EKCAStatus{
		{Path: "Intel/RootCA/root.cer", VendorFolder: "Intel", Role: "RootCA", Subject: "CN=Intel root", NotAfter: t0.AddDate(10, 0, 0), DaysLeft: 3650, Chain: probes.EKChainSelfSignedRoot},
		{Path: "IFX/IntermediateCA/ca42.cer", VendorFolder: "IFX", Role: "IntermediateCA", Subject: "CN=Infineon CA 042", NotAfter: t0.AddDate(0, 0, -3), Expired: true, DaysLeft: -3, Chain: probes.EKChainOK, ChainPath: []string{"IFX/RootCA/root.cer"}, IssuerPath: "IFX/RootCA/root.cer", SHA1Signature: true, AIKHost: "ifx-keyid-00.microsoftaik.azure.net"},
	}
	if err := s.SaveEKCAs(t0, cas); err != nil {
		t.Fatal(err)
	}
	at, gotCAs, err := s.EKCAs()
	if err != nil || !at.Equal(t0) {
		t.Fatalf("EKCAs at %v, %v", at, err)
	}
	mustEqual(t, "EK CAs", gotCAs, cas)
	if err := s.SaveEKCAs(t0, nil); err != nil {
		t.Fatal(err)
	}
	if _, gotCAs, _ := s.EKCAs(); gotCAs == nil || len(gotCAs) != 0 {
		t.Errorf("EKCAs after saving none = %#v; want empty", gotCAs)
	}
}

func TestSaveHostsReplaces(t *testing.T) {
	s := openTest(t, Options{})
	hosts := fakeHosts(5, 1)
	// Saved out of order, read back sorted.
	in := []state.HostState{hosts[3], hosts[0], hosts[4], hosts[1], hosts[2]}
	if err := s.SaveHosts(in); err != nil {
		t.Fatal(err)
	}
	got, err := s.Hosts()
	if err != nil {
		t.Fatal(err)
	}
	mustEqual(t, "hosts", got, hosts)

	// A smaller set with one changed and one new host: exactly that set remains.
	next := fakeHosts(7, 2)
	changed := next[1]
	changed.Status, changed.Failures = probes.StatusTimeout, 4
	set := []state.HostState{next[6], changed, hosts[2]}
	if err := s.SaveHosts(set); err != nil {
		t.Fatal(err)
	}
	got, err = s.Hosts()
	if err != nil {
		t.Fatal(err)
	}
	mustEqual(t, "hosts after replacing", got, []state.HostState{changed, hosts[2], next[6]})

	// Bad sets are refused whole.
	dup := []state.HostState{next[0], next[0]}
	if err := s.SaveHosts(dup); err == nil || !strings.Contains(err.Error(), "appears twice") {
		t.Errorf("duplicate hosts: %v", err)
	}
	if err := s.SaveHosts([]state.HostState{next[0], {Vendor: "IFX"}}); err == nil || !strings.Contains(err.Error(), "hosts: item 1: empty key") {
		t.Errorf("nameless host: %v", err)
	}
	if got2, _ := s.Hosts(); len(got2) != 3 {
		t.Errorf("a refused SaveHosts changed the set: %d hosts", len(got2))
	}
	if err := s.SaveHosts(nil); err != nil {
		t.Fatal(err)
	}
	if got, _ := s.Hosts(); len(got) != 0 {
		t.Errorf("SaveHosts(nil) left %d hosts", len(got))
	}
}

func TestSaveEKServicesReplaces(t *testing.T) {
	s := openTest(t, Options{})
	svcs := []state.EKServiceState{
		{Name: "intel", URL: "https://ekop.intel.com/ekcertservice/", OK: true, Since: t0,
			Last: &probes.EKResult{Service: "intel", URL: "https://ekop.intel.com/ekcertservice/x", Mode: probes.EKModeKnownKey, Status: probes.EKStatusOK, HTTPStatus: 200, DurationSeconds: 0.2, CertificateNotAfter: t0.AddDate(20, 0, 0)}},
		{Name: "amd", URL: "https://ftpm.amd.com/pki/aia/", OK: false, Since: t0, Failures: 2},
	}
	if err := s.SaveEKServices(svcs); err != nil {
		t.Fatal(err)
	}
	got, err := s.EKServices()
	if err != nil {
		t.Fatal(err)
	}
	mustEqual(t, "EK services", got, []state.EKServiceState{svcs[1], svcs[0]})
	if err := s.SaveEKServices(svcs[:1]); err != nil {
		t.Fatal(err)
	}
	if got, _ := s.EKServices(); len(got) != 1 || got[0].Name != "intel" {
		t.Errorf("EK services after replacing = %+v", got)
	}
}

// TestTxCombines shows a release, the refresh status and the hosts committed together.
func TestTxCombines(t *testing.T) {
	s := openTest(t, Options{})
	rel, cab := fakeRelease(newRand(11), 1)
	err := s.Update(func(tx *Tx) error {
		if _, err := tx.CommitRelease(rel, cab, nil); err != nil {
			return err
		}
		if err := tx.SaveRefresh(state.RefreshStatus{OK: true, ETag: rel.ETag}); err != nil {
			return err
		}
		return tx.SaveHosts(fakeHosts(3, 0))
	})
	if err != nil {
		t.Fatal(err)
	}
	var cur *ReleaseRecord
	if err := s.View(func(tx *Tx) (err error) { cur, err = tx.Current(); return err }); err != nil || cur == nil {
		t.Fatalf("Current in a View = %v, %v", cur, err)
	}
	if r, _ := s.Refresh(); r.ETag != rel.ETag {
		t.Errorf("refresh ETag = %q", r.ETag)
	}

	// A failure after a commit inside the transaction leaves nothing of it.
	rel2, cab2 := fakeRelease(newRand(12), 2)
	err = s.Update(func(tx *Tx) error {
		if _, err := tx.CommitRelease(rel2, cab2, fakeDiff(rel.SHA256, rel2.SHA256, 2)); err != nil {
			return err
		}
		return tx.SaveHosts([]state.HostState{{}})
	})
	if err == nil {
		t.Fatal("an Update whose last step failed succeeded")
	}
	if cur, _ := s.Current(); cur.SHA256 != rel.SHA256 {
		t.Errorf("a rolled-back commit is current")
	}
	if _, err := s.ReleaseBytes(rel2.SHA256); err == nil {
		t.Errorf("a rolled-back commit left its bytes")
	}
}
