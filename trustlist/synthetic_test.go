package trustlist

import (
	"archive/tar"
	"archive/zip"
	"bytes"
	"compress/gzip"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/aikwatch/aikwatch/internal/testutil"
)

// novFiles returns the members of the real Nov-2024 release.
func novFiles(t *testing.T) []File {
	t.Helper()
	data := testutil.ReadTestdata(t, "trustedtpm", "TrustedTpm-2024-11-21.cab")
	files, err := ReadCab(context.Background(), data, Options{}.limits())
	if err != nil {
		t.Fatal(err)
	}
	return files
}

// gcabRelease writes files to a directory and packs them with `gcab -c -z` into a cab.
func gcabRelease(t *testing.T, files []File) string {
	t.Helper()
	gcab := testutil.RequireTool(t, "gcab")
	dir := t.TempDir()
	tree := filepath.Join(dir, "tree")
	if err := WriteFiles(tree, files); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "release.cab")
	args := []string{"-c", "-z", out}
	for _, f := range files {
		args = append(args, f.Path)
	}
	cmd := exec.Command(gcab, args...)
	cmd.Dir = tree
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("gcab: %v\n%s", err, b)
	}
	return out
}

func TestSyntheticReleaseDiff(t *testing.T) {
	_, nov := loadReal(t)
	files := novFiles(t)

	// Withdraw every AIK CA of one host, remove one EK CA, replace one member's bytes, add one.
	const withdrawn = "amd-keyid-4404c4aa7bd882613e955e8252d2c04e40dcad00.microsoftaik.azure.net"
	host, ok := nov.AIKHost(withdrawn)
	if !ok {
		t.Fatalf("host %s not in the Nov release", withdrawn)
	}
	const removedEK = "Intel/IntermediateCA/ADL_PROD_00002226_ODCA_CA2.cer"
	const replaced = "Atmel/RootCA/Atmel TPM Root Signing Module.der"
	const added = "Infineon/IntermediateCA/new-ek-ca.crt"
	var next []File
	var replacement []byte
	for _, f := range files {
		switch {
		case slices.Contains(host.Files, f.Path), f.Path == removedEK:
			continue
		case f.Path == "Infineon/IntermediateCA/IFX_TPM_EK_Intermediate_CA_01.crt":
			replacement = f.Data
		}
		next = append(next, f)
	}
	for i, f := range next {
		if f.Path == replaced {
			next[i].Data = replacement
		}
	}
	ekBytes := testutil.ReadTestdata(t, "tpm-vendor-certs", "Alibaba_Cloud_vTPM_EK.pem")
	next = append(next, File{Path: added, Data: ekBytes})
	// A changelog entry that names the withdrawn host's first file and one that is still shipped.
	stillShipped := "IFX-KEYID-090CAAE1858A3C3A3B6D4DF8978916FB205FCA90.cer"
	for i, f := range next {
		if f.Path == "version.txt" {
			entry := "The certificates were last updated on:\r\n01-December-2024\r\n" +
				"    Removed the following AIK Certificates\r\n" +
				"        " + filepath.Base(host.Files[0]) + "\r\n" +
				"        " + stillShipped + "\r\n"
			old := strings.TrimPrefix(string(f.Data), "The certificates were last updated on:\r\n")
			// The old head date becomes the second entry's date line.
			next[i].Data = []byte(entry + old)
		}
	}

	cabPath := gcabRelease(t, next)
	s, err := Load(context.Background(), cabPath, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if s.Signature.Status != SignatureUnsigned {
		t.Errorf("gcab release signature = %+v, want unsigned", s.Signature)
	}
	d := Compare(nov, s)

	wantRemoved := append(slices.Clone(host.Files), removedEK)
	sort.Strings(wantRemoved)
	if got := paths(d.Removed); !slices.Equal(got, wantRemoved) {
		t.Errorf("removed = %v\nwant %v", got, wantRemoved)
	}
	if got := paths(d.Added); !slices.Equal(got, []string{added}) {
		t.Errorf("added = %v", got)
	}
	if got := paths(d.Changed); !slices.Equal(got, []string{replaced, "version.txt"}) {
		t.Errorf("changed = %v", got)
	}
	if !slices.Equal(d.AIKHostsWithdrawn, []string{withdrawn}) || len(d.AIKHostsAdded) != 0 {
		t.Errorf("hosts withdrawn %v added %v", d.AIKHostsWithdrawn, d.AIKHostsAdded)
	}
	var ekRemoved, ekAdded []string
	for _, e := range d.EKCAsRemoved {
		ekRemoved = append(ekRemoved, e.Path)
	}
	for _, e := range d.EKCAsAdded {
		ekAdded = append(ekAdded, e.Path)
	}
	// The replaced root now holds the same certificate as another member: its old certificate
	// is gone, nothing new appears under its path.
	if !slices.Equal(ekRemoved, []string{replaced, removedEK}) {
		t.Errorf("EK CAs removed = %v", ekRemoved)
	}
	if !slices.Equal(ekAdded, []string{added}) {
		t.Errorf("EK CAs added = %v", ekAdded)
	}
	if len(d.Changelog) != 1 || d.To.VersionDate != "2024-12-01" {
		t.Fatalf("changelog = %+v, to %+v", d.Changelog, d.To)
	}
	kinds := map[string][]string{}
	for _, m := range d.ChangelogMismatches {
		kinds[m.Kind] = append(kinds[m.Kind], m.Path+m.Item)
	}
	if got := kinds[MismatchRemovedButShipped]; len(got) != 1 || !strings.Contains(got[0], stillShipped) {
		t.Errorf("removed_but_shipped = %v", got)
	}
	// Every removed file but the one the changelog names is removed without a changelog line.
	if got := len(kinds[MismatchRemovedNoEntry]); got != len(wantRemoved)-1 {
		t.Errorf("removed_without_changelog = %d (%v), want %d", got, kinds[MismatchRemovedNoEntry], len(wantRemoved)-1)
	}
}

func paths(l []MemberChange) []string {
	out := []string{}
	for _, m := range l {
		out = append(out, m.Path)
	}
	return out
}

// TestMirrors checks that a zip, a tar.gz and a directory holding the same tree index the same.
func TestMirrors(t *testing.T) {
	_, nov := loadReal(t)
	files := novFiles(t)
	dir := t.TempDir()

	var zb bytes.Buffer
	zw := zip.NewWriter(&zb)
	for _, f := range files {
		w, err := zw.Create("TrustedTpm/" + f.Path)
		if err != nil {
			t.Fatal(err)
		}
		w.Write(f.Data)
	}
	zw.Close()
	zipPath := filepath.Join(dir, "mirror.zip")
	os.WriteFile(zipPath, zb.Bytes(), 0o644)

	var tb bytes.Buffer
	gz := gzip.NewWriter(&tb)
	tw := tar.NewWriter(gz)
	for _, f := range files {
		tw.WriteHeader(&tar.Header{Name: f.Path, Mode: 0o644, Size: int64(len(f.Data)), Typeflag: tar.TypeReg})
		tw.Write(f.Data)
	}
	tw.Close()
	gz.Close()
	tgzPath := filepath.Join(dir, "mirror.tar.gz")
	os.WriteFile(tgzPath, tb.Bytes(), 0o644)

	treePath := filepath.Join(dir, "tree")
	if err := WriteFiles(treePath, files); err != nil {
		t.Fatal(err)
	}
	for _, src := range []string{zipPath, tgzPath, treePath} {
		s, err := Load(context.Background(), src, Options{})
		if err != nil {
			t.Fatalf("%s: %v", src, err)
		}
		if s.Signature.Status != SignatureUnsigned {
			t.Errorf("%s: signature %s", src, s.Signature.Status)
		}
		d := Compare(nov, s)
		if len(d.Added)+len(d.Removed)+len(d.Changed) != 0 || len(s.AIKHosts) != len(nov.AIKHosts) || len(s.EKCAs) != len(nov.EKCAs) {
			t.Errorf("%s (%s): differs from the cab: %d added %d removed %d changed", src, s.Format, len(d.Added), len(d.Removed), len(d.Changed))
		}
	}
}
