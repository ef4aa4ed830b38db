package sim

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"errors"
	"fmt"
	"maps"
	"path"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/aikwatch/aikwatch/internal/cab"
	"github.com/aikwatch/aikwatch/trustlist"
	"github.com/aikwatch/aikwatch/trustlist/changelog"
)

// This file generates and signs trust-list releases: a small default release for when no cab
// is given, any set of files as a signed cab, and a release derived from the published one
// with AIK CAs withdrawn, in Microsoft's layout and version.txt style.

// BuildRelease writes files, in the given order, as a single-folder MSZIP cab (each member
// dated now) and signs it with [Sim.SignRelease].
func (s *Sim) BuildRelease(ctx context.Context, files []trustlist.File) ([]byte, error) {
	b, err := s.buildRelease(ctx, files)
	if err != nil {
		return nil, fmt.Errorf("sim: build release: %w", err)
	}
	return b, nil
}

func (s *Sim) buildRelease(ctx context.Context, files []trustlist.File) ([]byte, error) {
	if len(files) == 0 {
		return nil, errors.New("no files")
	}
	now := s.now()
	wf := make([]cab.WriterFile, len(files))
	for i, f := range files {
		wf[i] = cab.WriterFile{Name: f.Path, Data: f.Data, Modified: now, Attrs: cab.AttrArchive}
	}
	var buf bytes.Buffer
	if err := cab.Write(&buf, wf, cab.WriteOptions{}); err != nil {
		return nil, err
	}
	return s.signRelease(ctx, buf.Bytes())
}

// changelogHeader is the first line of Microsoft's version.txt.
const changelogHeader = "The certificates were last updated on:"

// changelogDate formats a version.txt date as Microsoft writes it: 8-July-2024.
func changelogDate(t time.Time) string { return t.Format("2-January-2006") }

// WithdrawRelease derives a new signed release from the one being published: every AIK CA
// file of the given hosts (any letter case, with or without the service suffix) is removed
// from Microsoft/IntermediateCA, and version.txt gets a new head entry dated date (the
// current day when zero) listing the removed files under "Removed the following AIK
// Certificates"; the previous head date becomes the next entry's date line, as in the real
// file. Everything else is kept as it is. Every host must be named by the published release,
// and date must not be before its last update. The result is not published: see
// [Sim.Publish]. The simulator's own EK CA hosts stay served whatever the trust list says
// (see [Sim.AIKHosts]); set them to [ModeWithdrawn] to make them answer 404 too.
func (s *Sim) WithdrawRelease(ctx context.Context, date time.Time, hosts ...string) ([]byte, error) {
	if len(hosts) == 0 {
		return nil, errors.New("sim: withdraw release: no host given")
	}
	if date.IsZero() {
		date = s.now()
	}
	p := s.pub.Load()
	remove := map[string]bool{}
	var removed []string // base names, for version.txt
	seen := map[string]bool{}
	for _, h := range hosts {
		n, err := trustlist.ParseAIKHost(h)
		if err != nil {
			return nil, fmt.Errorf("sim: withdraw release: %w", err)
		}
		host := n.Host()
		if seen[host] {
			continue
		}
		seen[host] = true
		ah, ok := p.rel.hosts[host]
		if !ok {
			return nil, fmt.Errorf("sim: withdraw release: %s is not in the published trust list (sha256 %s)", host, p.rel.sha256)
		}
		for _, f := range ah.Files {
			remove[f] = true
			removed = append(removed, path.Base(f))
		}
	}
	files, _, err := trustlist.ReadFiles(ctx, p.cab, "TrustedTpm.cab", trustlist.Options{})
	if err != nil {
		return nil, fmt.Errorf("sim: withdraw release: reading the published release: %w", err)
	}
	out := make([]trustlist.File, 0, len(files))
	hasVersion := false
	for _, f := range files {
		if remove[f.Path] {
			continue
		}
		if strings.EqualFold(f.Path, "version.txt") && !hasVersion {
			hasVersion = true
			data, err := withdrawChangelog(f.Data, date, removed)
			if err != nil {
				return nil, fmt.Errorf("sim: withdraw release: %w", err)
			}
			f = trustlist.File{Path: f.Path, Data: data}
		}
		out = append(out, f)
	}
	if !hasVersion {
		data, err := withdrawChangelog(nil, date, removed)
		if err != nil {
			return nil, fmt.Errorf("sim: withdraw release: %w", err)
		}
		out = append([]trustlist.File{{Path: "version.txt", Data: data}}, out...)
	}
	b, err := s.buildRelease(ctx, out)
	if err != nil {
		return nil, fmt.Errorf("sim: withdraw release: %w", err)
	}
	return b, nil
}

// withdrawChangelog returns version.txt with a new head entry dated date removing the AIK CA
// files named. The "last updated on" line is moved up to the new entry; the old head date
// stays where it is and so becomes the date line of the next entry.
func withdrawChangelog(old []byte, date time.Time, removed []string) ([]byte, error) {
	// A version.txt the parser cannot read gets the entry all the same, unchecked.
	if cl, err := changelog.Parse(old); err == nil && len(old) > 0 {
		day := time.Date(date.Year(), date.Month(), date.Day(), 0, 0, 0, 0, time.UTC)
		if !cl.LastUpdated.IsZero() && day.Before(cl.LastUpdated) {
			return nil, fmt.Errorf("date %s is before the release's last update %s",
				day.Format(time.DateOnly), cl.LastUpdated.Format(time.DateOnly))
		}
	}
	var entry strings.Builder
	entry.WriteString(changelogHeader + "\r\n" + changelogDate(date) + "\r\n")
	entry.WriteString("    Removed the following AIK Certificates\r\n")
	for _, n := range removed {
		entry.WriteString("        " + n + "\r\n")
	}
	// Find the header line; keep whatever precedes it (nothing in the real files).
	start, end := -1, -1
	for i := 0; i < len(old); {
		j := i
		for j < len(old) && old[j] != '\r' && old[j] != '\n' {
			j++
		}
		next := j
		if next < len(old) && old[next] == '\r' {
			next++
		}
		if next < len(old) && old[next] == '\n' && (next == j || old[j] == '\r') {
			next++
		}
		if strings.EqualFold(strings.TrimSpace(string(old[i:j])), changelogHeader) {
			start, end = i, next
			break
		}
		if next == i {
			break
		}
		i = next
	}
	var out []byte
	if start < 0 {
		out = append([]byte(entry.String()), old...)
	} else {
		out = append(out, old[:start]...)
		out = append(out, entry.String()...)
		out = append(out, old[end:]...)
	}
	return out, nil
}

// DefaultRelease returns the release the simulator publishes when no trust list is given,
// generated on first use and then cached: Microsoft's layout (setup.cmd, setup.ps1,
// version.txt with two dated entries, and RootCA / IntermediateCA folders for AMD, Infineon,
// Intel, Nuvoton, STMicro and Microsoft) with the simulator's TPM root as "Microsoft TPM Root
// Certificate Authority 2014", EK CAs of generated vendors (2 or 3 per vendor: IFX, INTC,
// AMD, NTC, STM) plus the simulator's own EK CAs (see [Sim.EKs]), and for each EK issuing CA
// the AIK CA certificates of its AIK host, issued by that root and named as the real ones
// ([REGION-]VENDOR-KEYID|NAMEID-hex[_2|_new].cer, PEM, subject CN the name in upper case).
// The generated vendors' host names are the same in every run (for scenarios), e.g.
// ifx-keyid-e78d1045f36d2e1efd6e48d91ff44f3c11531c5c.microsoftaik.azure.net, which has a
// global, three regional and one "_2" AIK CA file. It is signed with [Sim.SignRelease].
func (s *Sim) DefaultRelease(ctx context.Context) ([]byte, error) {
	s.defRelMu.Lock()
	defer s.defRelMu.Unlock()
	if s.defRel != nil {
		return s.defRel, nil
	}
	files, err := s.defaultFiles()
	if err != nil {
		return nil, fmt.Errorf("sim: default release: %w", err)
	}
	b, err := s.buildRelease(ctx, files)
	if err != nil {
		return nil, fmt.Errorf("sim: default release: %w", err)
	}
	s.defRel = b
	return b, nil
}

// nameStyle is the letter case of an AIK CA file name; the real files mix them.
type nameStyle int

const (
	styleUpper nameStyle = iota // EUS-IFX-KEYID-0A1B...
	styleMixed                  // EUS-IFX-KeyId-0A1B...
	styleLower                  // eus-ifx-keyid-0a1b...
	styleAMD                    // AMD-keyid-0a1b... (the vendor upper, the rest lower)
)

// aikVariant is one AIK CA certificate file of a host.
type aikVariant struct {
	region string // EUS, WUS, NCU or "" (the global generation)
	gen    string // "", "_2" or "_new"
	style  nameStyle
	ext    string // ".cer" or ".CER"
}

// fileName returns the variant's file name for the host vendor-kind-id.
func (v aikVariant) fileName(vendor, kind, id string) string {
	var name string
	switch v.style {
	case styleUpper:
		name = strings.ToUpper(vendor + "-" + kind + "-" + id)
	case styleMixed:
		k := "KeyId"
		if kind == "nameid" {
			k = "NameId"
		}
		name = strings.ToUpper(vendor) + "-" + k + "-" + strings.ToUpper(id)
	case styleLower:
		name = strings.ToLower(vendor + "-" + kind + "-" + id)
	default:
		name = strings.ToUpper(vendor) + "-" + strings.ToLower(kind+"-"+id)
	}
	if v.region != "" {
		r := v.region
		if v.style == styleLower {
			r = strings.ToLower(r)
		}
		name = r + "-" + name
	}
	ext := v.ext
	if ext == "" {
		ext = ".cer"
	}
	return name + v.gen + ext
}

// cn returns the subject CN of the variant's certificate: the name without generation
// suffix, upper case.
func (v aikVariant) cn(vendor, kind, id string) string {
	name := strings.ToUpper(vendor + "-" + kind + "-" + id)
	if v.region != "" {
		name = strings.ToUpper(v.region) + "-" + name
	}
	return name
}

// lifetime returns when the variant's certificate starts and ends, relative to now: the
// regional and later generations are newer.
func (v aikVariant) lifetime(now time.Time) (notBefore, notAfter time.Time) {
	const day = 24 * time.Hour
	switch {
	case v.gen != "":
		return now.Add(-200 * day), now.Add(12 * 365 * day)
	case v.region != "":
		return now.Add(-2 * 365 * day), now.Add(10 * 365 * day)
	}
	return now.Add(-4 * 365 * day), now.Add(8 * 365 * day)
}

// genCA is one EK CA certificate of a generated vendor.
type genCA struct {
	file   string // base name in the vendor's RootCA or IntermediateCA folder
	cn     string
	der    bool         // stored DER, else PEM
	nameid bool         // the AIK host is named by the CA's name id, not its key id
	aik    []aikVariant // the host's AIK CA files; none for roots
}

// genVendor is one TPM vendor of the generated default release.
type genVendor struct {
	prefix string // AIK CA name vendor: IFX, INTC, ...
	folder string // vendor folder: Infineon, Intel, ...
	org    string
	root   genCA
	icas   []genCA
}

// genVendors are the generated vendors: 11 AIK hosts, one of them named by name id (as for
// old Nuvoton CAs), with regional and later generations of AIK CA files for some.
var genVendors = []genVendor{
	{prefix: "IFX", folder: "Infineon", org: "Infineon Technologies AG",
		root: genCA{file: "IFX_TPM_EK_Root_CA.cer", cn: "IFX TPM EK Root CA (aikwatch simulator)", der: true},
		icas: []genCA{
			{file: "IFX_TPM_EK_Intermediate_CA_01.crt", cn: "IFX TPM EK Intermediate CA 01 (aikwatch simulator)", aik: []aikVariant{
				{style: styleUpper}, {region: "EUS", style: styleMixed}, {region: "WUS", style: styleMixed},
				{region: "NCU", style: styleMixed}, {region: "EUS", gen: "_2", style: styleUpper}}},
			{file: "IFX_TPM_EK_Intermediate_CA_02.crt", cn: "IFX TPM EK Intermediate CA 02 (aikwatch simulator)", aik: []aikVariant{
				{style: styleLower}, {region: "EUS", gen: "_new", style: styleUpper, ext: ".CER"}}},
			{file: "IFX_TPM_EK_Intermediate_CA_03.crt", cn: "IFX TPM EK Intermediate CA 03 (aikwatch simulator)", aik: []aikVariant{
				{style: styleUpper}}},
		}},
	{prefix: "INTC", folder: "Intel", org: "Intel Corporation",
		root: genCA{file: "Intel_ODCA_Root_CA.cer", cn: "Intel ODCA Root CA (aikwatch simulator)", der: true},
		icas: []genCA{
			{file: "MTL_PROD_00001001_ODCA_CA2.cer", cn: "MTL PROD 00001001 ODCA CA2 (aikwatch simulator)", der: true, aik: []aikVariant{
				{style: styleUpper}, {region: "WUS", style: styleUpper}}},
			{file: "LNL_PROD_00001002_ODCA_CA2.cer", cn: "LNL PROD 00001002 ODCA CA2 (aikwatch simulator)", der: true, aik: []aikVariant{
				{style: styleLower}}},
		}},
	{prefix: "AMD", folder: "AMD", org: "Advanced Micro Devices, Inc.",
		root: genCA{file: "AMD_fTPM_Root_CA.crt", cn: "AMD fTPM Root CA 2 (aikwatch simulator)"},
		icas: []genCA{
			{file: "AMD_fTPM_ECC_ICA_RMB.crt", cn: "AMD-fTPM-ECC-ICA-RMB (aikwatch simulator)", aik: []aikVariant{
				{style: styleAMD}}},
			{file: "AMD_fTPM_ECC_ICA_PHX.crt", cn: "AMD-fTPM-ECC-ICA-PHX (aikwatch simulator)", aik: []aikVariant{
				{style: styleAMD}, {region: "EUS", style: styleLower}}},
		}},
	{prefix: "NTC", folder: "Nuvoton", org: "Nuvoton Technology Corporation",
		root: genCA{file: "NTC_TPM_EK_Root_CA_01.cer", cn: "NTC TPM EK Root CA 01 (aikwatch simulator)", der: true},
		icas: []genCA{
			{file: "NPCTxxxECC384LeafCA012110.cer", cn: "NPCTxxx ECC384 LeafCA 012110 (aikwatch simulator)", der: true, aik: []aikVariant{
				{style: styleUpper}}},
			{file: "NTC_TPM_EK_Intermediate_CA_01.cer", cn: "NTC TPM EK Intermediate CA 01 (aikwatch simulator)", der: true, nameid: true, aik: []aikVariant{
				{style: styleUpper}, {region: "WUS", style: styleLower}}},
		}},
	{prefix: "STM", folder: "STMicro", org: "STMicroelectronics NV",
		root: genCA{file: "ST_TPM_Root_Certificate.crt", cn: "ST TPM Root Certificate (aikwatch simulator)"},
		icas: []genCA{
			{file: "STM_TPM_ECC_Intermediate_CA_01.crt", cn: "STM TPM ECC Intermediate CA 01 (aikwatch simulator)", aik: []aikVariant{
				{style: styleUpper}, {region: "NCU", style: styleMixed}}},
			{file: "STM_TPM_ECC_Intermediate_CA_02.crt", cn: "STM TPM ECC Intermediate CA 02 (aikwatch simulator)", aik: []aikVariant{
				{style: styleUpper}}},
		}},
}

// genEKCA is a generated vendor EK CA certificate and where it goes in the release.
type genEKCA struct {
	path string // member path
	cert *x509.Certificate
	der  bool
}

// genHost is one AIK host of a generated vendor.
type genHost struct {
	vendor, kind, id string
	ca               genEKCA // the EK issuing CA the host serves
	aik              []aikVariant
}

// genMaterial is the generated vendors' EK CAs, the same for every simulator of the process.
type genMaterial struct {
	roots []genEKCA
	hosts []genHost
}

// genEKMaterial creates the generated vendors' EK CAs once per process (they do not depend on
// the simulator's root). Their key identifiers are derived from their file names, so that the
// AIK host names are the same in every run.
var genEKMaterial = sync.OnceValues(func() (*genMaterial, error) {
	m := &genMaterial{}
	for _, v := range genVendors {
		subject := func(cn string) pkix.Name {
			return pkix.Name{CommonName: cn, Organization: []string{v.org}, Country: []string{"US"}}
		}
		rootPath := v.folder + "/RootCA/" + v.root.file
		root, err := newEKCA(subject(v.root.cn), rootPath, nil, 30)
		if err != nil {
			return nil, fmt.Errorf("%s EK root: %w", v.prefix, err)
		}
		m.roots = append(m.roots, genEKCA{path: rootPath, cert: root.cert, der: v.root.der})
		for _, c := range v.icas {
			p := v.folder + "/IntermediateCA/" + c.file
			ica, err := newEKCA(subject(c.cn), p, root, 25)
			if err != nil {
				return nil, fmt.Errorf("%s EK intermediate %s: %w", v.prefix, c.file, err)
			}
			h := genHost{vendor: v.prefix, kind: "keyid", id: hex.EncodeToString(ica.cert.SubjectKeyId),
				ca: genEKCA{path: p, cert: ica.cert, der: c.der}, aik: c.aik}
			if c.nameid {
				sum := sha1.Sum(ica.cert.RawSubject)
				h.kind, h.id = "nameid", hex.EncodeToString(sum[:])
			}
			m.hosts = append(m.hosts, h)
		}
	}
	return m, nil
})

// newEKCA creates an EK CA (self-signed when parent is nil) whose SubjectKeyIdentifier is
// derived from seed, valid for years.
func newEKCA(subject pkix.Name, seed string, parent *issuer, years int) (*issuer, error) {
	k, err := newECKey()
	if err != nil {
		return nil, err
	}
	ski := sha256.Sum256([]byte("aikwatch simulator EK CA " + seed))
	now := time.Now()
	c, err := issue(&x509.Certificate{
		Subject:               subject,
		SubjectKeyId:          ski[:20],
		NotBefore:             now.Add(-3 * 365 * 24 * time.Hour),
		NotAfter:              now.Add(time.Duration(years) * 365 * 24 * time.Hour),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
		BasicConstraintsValid: true,
		IsCA:                  true,
	}, &k.PublicKey, parent, k)
	if err != nil {
		return nil, err
	}
	return &issuer{cert: c, key: k}, nil
}

// aikKeyCount is how many AIK CA keys the generated vendors need.
func aikKeyCount() int {
	n := 0
	for _, v := range genVendors {
		for _, c := range v.icas {
			n += len(c.aik)
		}
	}
	return n
}

// aikKeys are the keys of the generated vendors' AIK CA certificates, made once per process.
// The certificates themselves are issued per simulator, by its root.
var aikKeys = sync.OnceValues(func() ([]*ecdsa.PrivateKey, error) {
	keys := make([]*ecdsa.PrivateKey, aikKeyCount())
	for i := range keys {
		k, err := newECKey()
		if err != nil {
			return nil, err
		}
		keys[i] = k
	}
	return keys, nil
})

// setupCmd and setupPS1 stand in for the release's installation scripts. setup.cmd is the
// real one-liner; the PowerShell script is written for the simulator: it imports the
// RootCA and IntermediateCA folders into the TrustedTpm certificate stores Windows uses.
const (
	setupCmd = "powershell -File .\\setup.ps1\r\n"
	setupPS1 = "# Generated by the aikwatch simulator: installs this trust list's certificates.\r\n" +
		"Param([string]$certificatePath = \".\")\r\n" +
		"$stores = @{ \"RootCA\" = \"Cert:\\LocalMachine\\TrustedTpm_RootCA\"; \"IntermediateCA\" = \"Cert:\\LocalMachine\\TrustedTpm_IntermediateCA\" }\r\n" +
		"foreach ($role in $stores.Keys) {\r\n" +
		"    if (!(Test-Path -Path $stores[$role])) { New-Item $stores[$role] | Out-Null }\r\n" +
		"    Get-ChildItem -Path $certificatePath -Directory | ForEach-Object {\r\n" +
		"        $dir = Join-Path $_.FullName $role\r\n" +
		"        if (Test-Path -Path $dir) {\r\n" +
		"            Get-ChildItem -Path $dir -File | ForEach-Object { Import-Certificate -FilePath $_.FullName -CertStoreLocation $stores[$role] | Out-Null }\r\n" +
		"        }\r\n" +
		"    }\r\n" +
		"}\r\n"
)

// vendorFolders names the release folder of the simulator's own EK vendors.
var vendorFolders = map[string]string{"intel": "Intel", "amd": "AMD"}

// fileSafe turns a certificate's common name into a file base name without spaces or
// parentheses, which version.txt items cannot carry.
var fileSafe = strings.NewReplacer(" ", "_", "(", "", ")", "")

// defaultFiles assembles the members of the default release, in the real cab's order.
func (s *Sim) defaultFiles() ([]trustlist.File, error) {
	m, err := genEKMaterial()
	if err != nil {
		return nil, err
	}
	keys, err := aikKeys()
	if err != nil {
		return nil, err
	}
	now := s.now()
	day := time.Date(now.Year(), now.Month(), now.Day(), 0, 0, 0, 0, time.UTC)
	newer, older := day.AddDate(0, 0, -7), day.AddDate(0, 0, -90)

	enc := func(c *x509.Certificate, der bool) []byte {
		if der {
			return c.Raw
		}
		return certPEM(c.Raw)
	}
	members := map[string][]byte{}
	var oldAIK, oldRoots, oldICAs, newAIK, newRoots, newICAs []string

	// The generated vendors: added in the older entry.
	for _, r := range m.roots {
		members[r.path] = enc(r.cert, r.der)
		oldRoots = append(oldRoots, path.Base(r.path))
	}
	k := 0
	for _, h := range m.hosts {
		members[h.ca.path] = enc(h.ca.cert, h.ca.der)
		oldICAs = append(oldICAs, path.Base(h.ca.path))
		for _, v := range h.aik {
			nb, na := v.lifetime(now)
			key := keys[k]
			k++
			c, err := issue(&x509.Certificate{
				Subject:               pkix.Name{CommonName: v.cn(h.vendor, h.kind, h.id)},
				NotBefore:             nb,
				NotAfter:              na,
				KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature,
				BasicConstraintsValid: true,
				IsCA:                  true,
			}, &key.PublicKey, s.root, nil)
			if err != nil {
				return nil, fmt.Errorf("AIK CA of %s: %w", h.ca.path, err)
			}
			name := v.fileName(h.vendor, h.kind, h.id)
			members["Microsoft/IntermediateCA/"+name] = certPEM(c.Raw)
			oldAIK = append(oldAIK, name)
		}
	}
	// The simulator's own EK CAs, whose EKs it serves: added in the newer entry.
	for _, e := range s.eks {
		folder := vendorFolders[e.ek.Vendor]
		if folder == "" || len(e.ek.Chain) < 2 {
			return nil, fmt.Errorf("EK material of vendor %q: no release folder or chain", e.ek.Vendor)
		}
		ica, root := e.ek.Chain[0], e.ek.Chain[1]
		icaName, rootName := fileSafe.Replace(ica.Subject.CommonName)+".cer", fileSafe.Replace(root.Subject.CommonName)+".cer"
		members[folder+"/IntermediateCA/"+icaName] = certPEM(ica.Raw)
		members[folder+"/RootCA/"+rootName] = root.Raw
		newICAs, newRoots = append(newICAs, icaName), append(newRoots, rootName)
		id := hex.EncodeToString(ica.SubjectKeyId)
		style := styleUpper
		if e.ek.Vendor == "amd" {
			style = styleAMD
		}
		name := aikVariant{style: style}.fileName(e.vendor.aikPrefix, "keyid", id)
		members["Microsoft/IntermediateCA/"+name] = certPEM(e.aikCA)
		newAIK = append(newAIK, name)
	}
	members["Microsoft/RootCA/"+msRootCN+".cer"] = s.root.cert.Raw

	var vt strings.Builder
	section := func(header string, items []string) {
		if len(items) == 0 {
			return
		}
		vt.WriteString("    " + header + "\r\n")
		for _, it := range slices.Sorted(slices.Values(items)) {
			vt.WriteString("        " + it + "\r\n")
		}
	}
	vt.WriteString(changelogHeader + "\r\n" + changelogDate(newer) + "\r\n")
	section("Added the following EK Root Certificates", newRoots)
	section("Added the following EK Intermediate Certificates", newICAs)
	section("Added the following AIK Certificates", newAIK)
	vt.WriteString(changelogDate(older) + "\r\n")
	section("Added the following EK Root Certificates", oldRoots)
	section("Added the following EK Intermediate Certificates", oldICAs)
	section("Added the following AIK Certificates", oldAIK)

	files := []trustlist.File{
		{Path: "setup.cmd", Data: []byte(setupCmd)},
		{Path: "setup.ps1", Data: []byte(setupPS1)},
		{Path: "version.txt", Data: []byte(vt.String())},
	}
	for _, p := range slices.Sorted(maps.Keys(members)) {
		files = append(files, trustlist.File{Path: p, Data: members[p]})
	}
	return files, nil
}
