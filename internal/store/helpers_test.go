package store

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"reflect"
	"testing"
	"time"

	"github.com/aikwatch/aikwatch/internal/state"
	"github.com/aikwatch/aikwatch/probes"
	"github.com/aikwatch/aikwatch/trustlist"
)

// openTest opens a store (without fsync) in a fresh directory and closes it at the end of the
// test.
func openTest(t testing.TB, o Options) *Store {
	t.Helper()
	o.NoSync = true
	s, err := Open(filepath.Join(t.TempDir(), "data", FileName), o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// t0 is a fixed instant the tests count from.
var t0 = time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)

// fakeRelease makes cab-like random bytes and a record for them.
func fakeRelease(r *rand.Rand, n int) (ReleaseRecord, []byte) {
	cab := make([]byte, 512+r.IntN(4096))
	for i := range cab {
		cab[i] = byte(r.Uint32())
	}
	copy(cab, "MSCF")
	sum := sha256.Sum256(cab)
	return ReleaseRecord{
		SHA256:      hex.EncodeToString(sum[:]),
		VersionDate: t0.AddDate(0, 0, n).Truncate(24 * time.Hour),
		Source:      "https://download.example/TrustedTpm.cab",
		Size:        int64(len(cab)),
		Format:      "cab",
		Signature: trustlist.Signature{
			Status: trustlist.SignatureValid, Signer: "Microsoft Corporation",
			Timestamp: t0.Add(time.Duration(n) * time.Hour), DigestAlgorithm: "SHA-256", Digest: "ABCDEF",
		},
		FetchedAt:    t0.Add(time.Duration(n) * time.Minute),
		CommittedAt:  t0.Add(time.Duration(n)*time.Minute + time.Second),
		ETag:         fmt.Sprintf(`"etag-%d"`, n),
		LastModified: t0.Add(time.Duration(n) * time.Minute).Format(time.RFC1123),
		Members:      300 + n, Certificates: 290 + n, AIKHosts: 30 + n%5, EKCAs: 200 + n%7,
	}, cab
}

// fakeDiff is a diff from one release to another, with a bit of everything.
func fakeDiff(from, to string, n int) *trustlist.Diff {
	return &trustlist.Diff{
		From:              trustlist.ReleaseRef{SHA256: from, VersionDate: "2025-06-01"},
		To:                trustlist.ReleaseRef{SHA256: to, VersionDate: "2025-06-02"},
		Added:             []trustlist.MemberChange{{Path: fmt.Sprintf("Intel/IntermediateCA/ca%d.cer", n), Kind: trustlist.KindEKIntermediate}},
		Removed:           []trustlist.MemberChange{},
		Changed:           []trustlist.MemberChange{},
		AIKHostsWithdrawn: []string{fmt.Sprintf("amd-keyid-%040d.microsoftaik.azure.net", n)},
		AIKHostsAdded:     []string{},
		EKCAsRemoved:      []trustlist.EKCAChange{},
		EKCAsAdded: []trustlist.EKCAChange{{
			Path: "Intel/IntermediateCA/x.cer", VendorFolder: "Intel", Subject: "CN=x", NotAfter: t0.AddDate(5, 0, 0),
		}},
	}
}

// fakeHosts makes n host states, as a sweep leaves them, with generation gen in Failures.
func fakeHosts(n, gen int) []state.HostState {
	hosts := make([]state.HostState, n)
	for i := range hosts {
		host := fmt.Sprintf("ifx-keyid-%040x.microsoftaik.azure.net", i)
		status := probes.StatusOK
		if i%37 == 0 {
			status = probes.StatusWithdrawn
		}
		started := t0.Add(time.Duration(gen) * time.Minute)
		hosts[i] = state.HostState{
			Host: host, Vendor: "IFX", IDKind: "keyid", ID: fmt.Sprintf("%040x", i),
			Fleet: i%10 == 0, InTrustList: true, Status: status, Since: t0, Failures: gen, LastOK: started,
			Last: &probes.Result{
				Host: host, Vendor: "IFX", IDKind: "keyid", ID: fmt.Sprintf("%040x", i), Status: status, HTTPStatus: 200,
				StartedAt: started, DurationSeconds: 0.123,
				Phases:       &probes.Phases{DNS: 0.01, Connect: 0.02, TLS: 0.05, FirstByte: 0.03, Total: 0.12},
				Capabilities: []string{"POSTPKIOperation", "SHA-256", "AES", "Renewal"},
				AIKCA:        &probes.AIKCA{Subject: "CN=IFX-KEYID-" + fmt.Sprint(i), NotAfter: t0.AddDate(3, 0, 0), SHA256: fmt.Sprintf("%064x", i)},
				Chain: []probes.ChainCert{
					{Subject: "CN=IFX-KEYID-" + fmt.Sprint(i), Issuer: "CN=Microsoft TPM Root Certificate Authority 2014", NotAfter: t0.AddDate(3, 0, 0)},
					{Subject: "CN=Microsoft TPM Root Certificate Authority 2014", Issuer: "CN=Microsoft TPM Root Certificate Authority 2014", NotAfter: t0.AddDate(14, 0, 0)},
				},
				ServerCertNotAfter: t0.AddDate(1, 0, 0),
			},
		}
	}
	return hosts
}

func mustEqual(t testing.TB, what string, got, want any) {
	t.Helper()
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("%s:\n got  %+v\n want %+v", what, got, want)
	}
}

func shas(recs []ReleaseRecord) []string {
	out := make([]string, len(recs))
	for i, r := range recs {
		out[i] = r.SHA256
	}
	return out
}

func newRand(seed uint64) *rand.Rand { return rand.New(rand.NewPCG(seed, seed+1)) }
