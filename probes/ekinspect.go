package probes

import (
	"context"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/hex"
	"fmt"
	"strings"
	"time"

	"github.com/aikwatch/aikwatch/trustlist"
	"github.com/aikwatch/aikwatch/trustlist/changelog"
)

// TCG attribute and X.509 extension identifiers read from EK certificates.
var (
	ekOIDSubjectAltName  = asn1.ObjectIdentifier{2, 5, 29, 17}
	ekOIDTPMManufacturer = asn1.ObjectIdentifier{2, 23, 133, 2, 1}
	ekOIDTPMModel        = asn1.ObjectIdentifier{2, 23, 133, 2, 2}
	ekOIDTPMVersion      = asn1.ObjectIdentifier{2, 23, 133, 2, 3}
)

// ekVendorNames names the TPM manufacturers of the TCG vendor id registry most often met.
var ekVendorNames = map[string]string{
	"AMD": "AMD", "ATML": "Atmel", "BRCM": "Broadcom", "CSCO": "Cisco", "FLYS": "Flyslice",
	"GOOG": "Google", "HISI": "Huawei", "HPE": "Hewlett Packard Enterprise", "IBM": "IBM",
	"IFX": "Infineon", "INTC": "Intel", "LEN": "Lenovo", "MSFT": "Microsoft", "NSM": "National Semiconductor",
	"NTC": "Nuvoton", "NTZ": "Nationz", "QCOM": "Qualcomm", "ROCC": "Fuzhou Rockchip", "SECE": "SecEdge",
	"SMSC": "SMSC", "SMSN": "Samsung", "SNS": "Sinosun", "STM": "STMicroelectronics",
	"TXN": "Texas Instruments", "WEC": "Winbond",
}

// EKManufacturer is the TPM manufacturer an EK certificate names in its TCG attributes.
type EKManufacturer struct {
	ID      string `json:"id"`                // the tcg-at-tpmManufacturer value as written, e.g. "id:494E5443"
	Code    string `json:"code"`              // the vendor code, e.g. "INTC"; "" if the id is not readable
	Name    string `json:"name,omitempty"`    // e.g. "Intel", for known codes
	Model   string `json:"model,omitempty"`   // tcg-at-tpmModel
	Version string `json:"version,omitempty"` // tcg-at-tpmVersion
	Source  string `json:"source"`            // "subject_alt_name" or "subject"
}

// EKChangelogEvent is a changelog line of the trust list that names an AIK CA of the host.
type EKChangelogEvent struct {
	Date    time.Time        `json:"date"`
	Action  changelog.Action `json:"action"` // "added" or "removed"
	Item    string           `json:"item"`
	Section string           `json:"section"`
}

// EKIssuingCA is the trust list's EK CA that issued an EK certificate.
type EKIssuingCA struct {
	Path          string    `json:"path"`
	VendorFolder  string    `json:"vendor_folder"`
	Subject       string    `json:"subject"`
	MatchedBy     string    `json:"matched_by"` // "key_id" (its SKI is the EK certificate's AKI) or "name"
	Signature     string    `json:"signature"`  // EK certificate's signature under this CA's key: "ok", "bad_signature", "unverifiable_sha1" or "unknown"
	NotAfter      time.Time `json:"not_after"`
	Expired       bool      `json:"expired"`
	Expiring      bool      `json:"expiring"`
	Chain         string    `json:"chain"` // the CA's own chain verdict, see [EKCAStatus]
	ChainDetail   string    `json:"chain_detail,omitempty"`
	ChainPath     []string  `json:"chain_path,omitempty"`
	SHA1Signature bool      `json:"sha1_signature"`
	Candidates    []string  `json:"candidates,omitempty"` // every EK CA that matched, when more than one
}

// EKHostProbe is the outcome of a live probe of an AIK CA host, as [EKInspectOptions.Probe]
// reports it.
type EKHostProbe struct {
	OK              bool    `json:"ok"`
	Status          string  `json:"status"`
	HTTPStatus      int     `json:"http_status,omitempty"`
	Message         string  `json:"message,omitempty"` // the service's own message, e.g. "The authority ... does not exist."
	Error           string  `json:"error,omitempty"`
	DurationSeconds float64 `json:"duration_seconds"`
	// AIKCAMatchesTrustList says whether the AIK CA certificate the host returned is one the
	// trust list ships for it; nil when not checked.
	AIKCAMatchesTrustList *bool `json:"aik_ca_matches_trust_list,omitempty"`
}

// EKProbeWithAIK returns an [EKInspectOptions.Probe] that checks the host with the AIK CA
// prober p (GetCACaps and GetCACertChain). When files (the trust list's members) are given,
// the returned AIK CA certificate is compared with the ones the trust list ships for the host.
func EKProbeWithAIK(p *AIKProber, files []trustlist.File) func(ctx context.Context, host string) EKHostProbe {
	return func(ctx context.Context, host string) EKHostProbe {
		t, err := TargetFromHost(host)
		if err != nil {
			t = Target{Host: strings.ToLower(host)}
		}
		t.Fleet = false
		if len(files) > 0 {
			t = WithExpectedCerts([]Target{t}, files)[0]
		}
		r := p.Probe(ctx, t)
		hp := EKHostProbe{OK: r.OK(), Status: string(r.Status), HTTPStatus: r.HTTPStatus, Message: r.Message,
			Error: r.Error, DurationSeconds: r.DurationSeconds}
		if r.AIKCA != nil {
			hp.AIKCAMatchesTrustList = r.AIKCA.MatchesTrustList
		}
		return hp
	}
}

// EKInspectOptions tunes [EKInspect].
type EKInspectOptions struct {
	// Files are the trust list's members (from trustlist.ReadFiles); without them the EK
	// certificate's signature and the issuing CA's chain are not checked.
	Files []trustlist.File
	// Now is the time expiry is judged at; zero means time.Now().
	Now time.Time
	// Within is the expiry warning window; 0 means EKDefaultExpiryWindow.
	Within time.Duration
	// Probe, when set, is called once with the AIK CA host to check it live.
	Probe func(ctx context.Context, host string) EKHostProbe
}

// EKInspection says whether one device's EK certificate has what Windows TPM attestation
// needs from outside the device: an AIK CA host in the trust list, that host answering, and
// the issuing EK CA shipped and valid.
type EKInspection struct {
	Error              string             `json:"error,omitempty"` // why the certificate could not be read
	Subject            string             `json:"subject"`
	Issuer             string             `json:"issuer"`
	Serial             string             `json:"serial"`
	NotBefore          time.Time          `json:"not_before"`
	NotAfter           time.Time          `json:"not_after"`
	Expired            bool               `json:"expired"`
	SignatureAlgorithm string             `json:"signature_algorithm"`
	PublicKeyAlgorithm string             `json:"public_key_algorithm"`
	Fingerprint        string             `json:"sha256_fingerprint"`
	Manufacturer       *EKManufacturer    `json:"manufacturer,omitempty"`
	AKI                string             `json:"aki,omitempty"` // AuthorityKeyIdentifier, lower-case hex
	IssuerNameID       string             `json:"issuer_name_id"`
	EKServiceURL       string             `json:"ek_service_url,omitempty"` // firmware TPMs: where the vendor serves this EK certificate
	AIKHost            string             `json:"aik_host"`
	AIKHostFrom        string             `json:"aik_host_from,omitempty"` // "manufacturer", or where the vendor prefix was found: "trust_list", "changelog"
	AIKHostURL         string             `json:"aik_host_url,omitempty"`
	AIKHostInTrustList bool               `json:"aik_host_in_trust_list"`
	AIKHostFiles       []string           `json:"aik_host_files,omitempty"`
	SameIDHosts        []string           `json:"same_id_hosts,omitempty"` // trust-list hosts with this id under another vendor prefix
	EverRemoved        bool               `json:"ever_removed"`
	Changelog          []EKChangelogEvent `json:"changelog,omitempty"`
	IssuingCA          *EKIssuingCA       `json:"issuing_ca,omitempty"`
	Probe              *EKHostProbe       `json:"probe,omitempty"`
	Ready              bool               `json:"ready"`
	Problems           []string           `json:"problems"`
	Warnings           []string           `json:"warnings"`
}

// EKInspect reads one EK certificate (DER, or PEM) and checks it against the trust-list
// release s: the TPM manufacturer, the AIK CA host that serves it, whether the release has
// that host and whether its changelog ever removed it, the issuing EK CA and its validity, and
// (with opts.Probe) the host live. Ready is true when nothing needed is missing; Problems say
// what is, Warnings what deserves a look but does not stop attestation.
func EKInspect(ctx context.Context, certDER []byte, s *trustlist.Snapshot, opts EKInspectOptions) EKInspection {
	out := EKInspection{Problems: []string{}, Warnings: []string{}}
	c, _, err := trustlist.ParseCertificate(certDER)
	if err != nil {
		out.Error = fmt.Sprintf("ek certificate: %v", err)
		out.Problems = append(out.Problems, out.Error)
		return out
	}
	now := opts.Now
	if now.IsZero() {
		now = time.Now()
	}
	within := opts.Within
	if within == 0 {
		within = EKDefaultExpiryWindow
	}
	fp := sha256.Sum256(c.Raw)
	iid := sha1.Sum(c.RawIssuer)
	out.Subject, out.Issuer = c.Subject.String(), c.Issuer.String()
	out.Serial = c.SerialNumber.Text(16)
	out.NotBefore, out.NotAfter = c.NotBefore.UTC(), c.NotAfter.UTC()
	out.Expired = !now.Before(c.NotAfter)
	out.SignatureAlgorithm, out.PublicKeyAlgorithm = c.SignatureAlgorithm.String(), c.PublicKeyAlgorithm.String()
	out.Fingerprint = hex.EncodeToString(fp[:])
	out.AKI = hex.EncodeToString(c.AuthorityKeyId)
	out.IssuerNameID = hex.EncodeToString(iid[:])
	if out.Expired {
		out.Warnings = append(out.Warnings, fmt.Sprintf("the EK certificate itself expired on %s", trustlist.DateString(out.NotAfter)))
	}

	m, merr := EKManufacturerOf(c)
	if merr != nil {
		out.Warnings = append(out.Warnings, merr.Error())
	}
	out.Manufacturer = m
	if m != nil {
		out.EKServiceURL = ekServiceURL(m.Code, c)
	}

	if s == nil {
		s = &trustlist.Snapshot{}
	}
	out.inspectHost(s, c)
	out.inspectIssuer(s, c, opts.Files, now, within)
	if opts.Probe != nil && out.AIKHost != "" {
		p := opts.Probe(ctx, out.AIKHost)
		out.Probe = &p
		if !p.OK {
			msg := fmt.Sprintf("live probe of %s: %s", out.AIKHost, p.Status)
			if p.Message != "" {
				msg += fmt.Sprintf(": %q", p.Message)
			} else if p.Error != "" {
				msg += ": " + p.Error
			}
			out.Problems = append(out.Problems, msg)
		} else if p.AIKCAMatchesTrustList != nil && !*p.AIKCAMatchesTrustList {
			out.Warnings = append(out.Warnings, fmt.Sprintf("%s returned an AIK CA certificate the trust list does not ship for it", out.AIKHost))
		}
	} else if opts.Probe == nil {
		out.Warnings = append(out.Warnings, "live probe of the AIK CA host skipped")
	}
	out.Ready = len(out.Problems) == 0
	return out
}

// ekServiceURL returns where a firmware TPM vendor serves the EK certificate, "" for others.
func ekServiceURL(code string, c *x509.Certificate) string {
	var u string
	switch code {
	case "INTC":
		u, _ = EKIntelURL(c.PublicKey)
	case "AMD":
		u, _ = EKAMDURL(c.PublicKey)
	}
	return u
}

// EKAIKHost returns the AIK CA host that serves EK certificates issued by the CA c names as
// its issuer, for the TPM vendor code (INTC, IFX, ...): {vendor}-keyid-{AKI} when c has an
// authority key id, else {vendor}-nameid-{SHA-1 of the DER issuer name}; lower case.
func EKAIKHost(vendor string, c *x509.Certificate) string {
	kind, id := ekHostID(c)
	return strings.ToLower(vendor) + "-" + kind + "-" + id + trustlist.AIKHostSuffix
}

// EKAIKHostOfCA returns the AIK CA host that serves EK certificates issued by the CA ca
// itself, for the TPM vendor code: keyed by its subject key id, or by the SHA-1 of its subject
// name when it has none.
func EKAIKHostOfCA(vendor string, ca *x509.Certificate) string {
	kind, id := "keyid", hex.EncodeToString(ca.SubjectKeyId)
	if len(ca.SubjectKeyId) == 0 {
		sum := sha1.Sum(ca.RawSubject)
		kind, id = "nameid", hex.EncodeToString(sum[:])
	}
	return strings.ToLower(vendor) + "-" + kind + "-" + id + trustlist.AIKHostSuffix
}

func ekHostID(c *x509.Certificate) (kind, id string) {
	if len(c.AuthorityKeyId) > 0 {
		return "keyid", hex.EncodeToString(c.AuthorityKeyId)
	}
	sum := sha1.Sum(c.RawIssuer)
	return "nameid", hex.EncodeToString(sum[:])
}

// inspectHost finds the AIK CA host and what the trust list and its changelog say about it.
func (out *EKInspection) inspectHost(s *trustlist.Snapshot, c *x509.Certificate) {
	kind, id := ekHostID(c)
	var sameID []string
	for _, h := range s.AIKHosts {
		if h.IDKind == kind && h.ID == id {
			sameID = append(sameID, h.Host)
		}
	}
	switch {
	case out.Manufacturer != nil && out.Manufacturer.Code != "":
		out.AIKHost = EKAIKHost(out.Manufacturer.Code, c)
		out.AIKHostFrom = "manufacturer"
	case len(sameID) == 1:
		out.AIKHost = sameID[0]
		out.AIKHostFrom = "trust_list"
		out.Warnings = append(out.Warnings, "the TPM manufacturer is not in the certificate: vendor prefix of the AIK CA host taken from the trust list")
	case len(sameID) > 1:
		out.Problems = append(out.Problems, fmt.Sprintf("the TPM manufacturer is not in the certificate and the trust list has %d hosts for %s %s: %s",
			len(sameID), kind, id, strings.Join(sameID, ", ")))
	default:
		// Not in the release: the changelog may still name the host (a withdrawn AIK CA).
		hosts := map[string]bool{}
		for _, ref := range s.Changelog.Items(changelog.Added, changelog.Removed) {
			if n, err := trustlist.ParseAIKName(ref.Item.Name); err == nil && n.IDKind == kind && n.ID == id {
				hosts[n.Host()] = true
			}
		}
		if len(hosts) == 1 {
			for h := range hosts {
				out.AIKHost = h
			}
			out.AIKHostFrom = "changelog"
			out.Warnings = append(out.Warnings, "the TPM manufacturer is not in the certificate: vendor prefix of the AIK CA host taken from the trust list's changelog")
			break
		}
		out.Problems = append(out.Problems, fmt.Sprintf("the TPM manufacturer is not in the certificate and the trust list names no AIK CA host for %s %s", kind, id))
	}
	for _, h := range sameID {
		if h != out.AIKHost {
			out.SameIDHosts = append(out.SameIDHosts, h)
		}
	}
	if out.AIKHost == "" {
		return
	}
	out.AIKHostURL = trustlist.AIKHost{Host: out.AIKHost}.URL()
	if h, ok := s.AIKHost(out.AIKHost); ok {
		out.AIKHostInTrustList = true
		out.AIKHostFiles = h.Files
	} else {
		msg := fmt.Sprintf("the trust list has no AIK CA for %s", out.AIKHost)
		if len(out.SameIDHosts) > 0 {
			msg += fmt.Sprintf(" (it has the same id under %s)", strings.Join(out.SameIDHosts, ", "))
		}
		out.Problems = append(out.Problems, msg)
	}
	for _, ref := range s.Changelog.Items(changelog.Added, changelog.Removed) {
		for _, name := range []string{ref.Item.Name, ref.Item.Stem} {
			n, err := trustlist.ParseAIKName(name)
			if err != nil || n.Host() != out.AIKHost {
				continue
			}
			out.Changelog = append(out.Changelog, EKChangelogEvent{Date: ref.Date, Action: ref.Action, Item: ref.Item.Name, Section: ref.Header})
			if ref.Action == changelog.Removed {
				out.EverRemoved = true
			}
			break
		}
	}
	if out.EverRemoved {
		last := out.Changelog[0] // newest first, as the file lists them
		w := fmt.Sprintf("the trust list's changelog lists an AIK CA of %s as removed (%s, %q)", out.AIKHost, trustlist.DateString(ekLastRemoval(out.Changelog).Date), ekLastRemoval(out.Changelog).Item)
		if out.AIKHostInTrustList {
			w += "; the release still ships it"
		}
		if last.Action == changelog.Added && !last.Date.Before(ekLastRemoval(out.Changelog).Date) {
			w += fmt.Sprintf("; re-added %s", trustlist.DateString(last.Date))
		}
		out.Warnings = append(out.Warnings, w)
	}
}

// ekLastRemoval returns the newest removal event (events are newest first).
func ekLastRemoval(ev []EKChangelogEvent) EKChangelogEvent {
	var best EKChangelogEvent
	for _, e := range ev {
		if e.Action == changelog.Removed && (best.Date.IsZero() || e.Date.After(best.Date)) {
			best = e
		}
	}
	return best
}

// inspectIssuer finds the EK CA of the release that issued c and checks it.
func (out *EKInspection) inspectIssuer(s *trustlist.Snapshot, c *x509.Certificate, files []trustlist.File, now time.Time, within time.Duration) {
	x := ekNewCAIndex(s, files)
	type cand struct {
		i  int
		by string
	}
	var cands []cand
	seen := map[int]bool{}
	if out.AKI != "" {
		for i, e := range s.EKCAs {
			if e.SKI == out.AKI {
				cands = append(cands, cand{i, "key_id"})
				seen[i] = true
			}
		}
	}
	issuerKey := ekNameKey(c.RawIssuer)
	for i, e := range s.EKCAs {
		if seen[i] {
			continue
		}
		if e.NameID == out.IssuerNameID || x.cas[i].cert != nil && ekNameKey(x.cas[i].cert.RawSubject) == issuerKey {
			cands = append(cands, cand{i, "name"})
		}
	}
	if len(cands) == 0 {
		what := fmt.Sprintf("issuer %q", out.Issuer)
		if out.AKI != "" {
			what = fmt.Sprintf("key id %s or issuer %q", out.AKI, out.Issuer)
		}
		out.Problems = append(out.Problems, fmt.Sprintf("the trust list has no EK CA with %s", what))
		return
	}
	chosen, sig := cands[0], "unknown"
	var sigErr error
	for _, cd := range cands {
		p := x.cas[cd.i].cert
		if p == nil {
			continue
		}
		err := p.CheckSignature(c.SignatureAlgorithm, c.RawTBSCertificate, c.Signature)
		if err == nil {
			chosen, sig = cd, "ok"
			break
		}
		if sig == "unknown" || ekIsInsecureAlg(err) {
			chosen, sigErr = cd, err
			sig = "bad_signature"
			if ekIsInsecureAlg(err) {
				sig = EKChainUnverifiableSHA1
			}
		}
	}
	st := x.status(chosen.i, now, within)
	ic := &EKIssuingCA{
		Path: st.Path, VendorFolder: st.VendorFolder, Subject: st.Subject, MatchedBy: chosen.by, Signature: sig,
		NotAfter: st.NotAfter, Expired: st.Expired, Expiring: st.Expiring, Chain: st.Chain, ChainDetail: st.ChainDetail,
		ChainPath: st.ChainPath, SHA1Signature: st.SHA1Signature,
	}
	if len(cands) > 1 {
		for _, cd := range cands {
			ic.Candidates = append(ic.Candidates, s.EKCAs[cd.i].Path)
		}
	}
	out.IssuingCA = ic
	switch sig {
	case "ok":
	case "unknown":
		out.Problems = append(out.Problems, fmt.Sprintf("issuing EK CA %s found by %s, but its certificate bytes were not available to check the EK certificate's signature", ic.Path, ekMatchWords(ic.MatchedBy)))
	default:
		out.Problems = append(out.Problems, fmt.Sprintf("issuing EK CA %s found by %s, but the EK certificate's signature does not verify with its key (%v): the trust list's CA is not the one that issued this certificate", ic.Path, ekMatchWords(ic.MatchedBy), sigErr))
	}
	if ic.Expired {
		out.Problems = append(out.Problems, fmt.Sprintf("issuing EK CA %s expired on %s", ic.Path, trustlist.DateString(ic.NotAfter)))
	} else if ic.Expiring {
		out.Warnings = append(out.Warnings, fmt.Sprintf("issuing EK CA %s expires on %s (%d days)", ic.Path, trustlist.DateString(ic.NotAfter), st.DaysLeft))
	}
	switch ic.Chain {
	case EKChainOK, EKChainSelfSignedRoot, EKChainRootFolderAnchor:
	case EKChainBadSignature:
		out.Problems = append(out.Problems, fmt.Sprintf("issuing EK CA %s: chain %s: %s", ic.Path, ic.Chain, ic.ChainDetail))
	default:
		// The AIK CA service is configured per issuing CA; a missing root (AMD's fTPM roots were
		// taken out in March 2022 while their intermediates stayed) is worth knowing, no more.
		out.Warnings = append(out.Warnings, fmt.Sprintf("issuing EK CA %s: chain %s: %s", ic.Path, ic.Chain, ic.ChainDetail))
	}
	if ic.SHA1Signature {
		out.Warnings = append(out.Warnings, fmt.Sprintf("issuing EK CA %s is SHA-1-signed", ic.Path))
	}
}

func ekMatchWords(by string) string {
	if by == "key_id" {
		return "key id"
	}
	return "issuer name"
}

// EKManufacturerOf reads the TCG TPM manufacturer, model and version attributes of an EK
// certificate: from a directoryName of its subject alternative name (where the TCG EK
// credential profile puts them) or, failing that, from its subject. It returns nil and no error
// when the certificate names no manufacturer, and an error when the extension is malformed.
func EKManufacturerOf(c *x509.Certificate) (*EKManufacturer, error) {
	for _, e := range c.Extensions {
		if !e.Id.Equal(ekOIDSubjectAltName) {
			continue
		}
		names, err := ekSANDirectoryNames(e.Value)
		if err != nil {
			return ekManufacturerFromNames(c.Subject.Names, "subject"), fmt.Errorf("ek certificate: subject alternative name: %w", err)
		}
		for _, n := range names {
			if m := ekManufacturerFromNames(n, "subject_alt_name"); m != nil {
				return m, nil
			}
		}
	}
	return ekManufacturerFromNames(c.Subject.Names, "subject"), nil
}

// ekSANDirectoryNames returns the attributes of every directoryName of a DER
// SubjectAltName extension value.
func ekSANDirectoryNames(der []byte) ([][]pkix.AttributeTypeAndValue, error) {
	var gns []asn1.RawValue
	rest, err := asn1.Unmarshal(der, &gns)
	if err != nil {
		return nil, err
	}
	if len(rest) > 0 {
		return nil, fmt.Errorf("%d trailing bytes", len(rest))
	}
	var out [][]pkix.AttributeTypeAndValue
	for _, gn := range gns {
		if gn.Class != asn1.ClassContextSpecific || gn.Tag != 4 {
			continue
		}
		var rdns pkix.RDNSequence
		if rest, err := asn1.Unmarshal(gn.Bytes, &rdns); err != nil {
			return nil, fmt.Errorf("directoryName: %w", err)
		} else if len(rest) > 0 {
			return nil, fmt.Errorf("directoryName: %d trailing bytes", len(rest))
		}
		var attrs []pkix.AttributeTypeAndValue
		for _, rdn := range rdns {
			attrs = append(attrs, rdn...)
		}
		out = append(out, attrs)
	}
	return out, nil
}

func ekManufacturerFromNames(attrs []pkix.AttributeTypeAndValue, source string) *EKManufacturer {
	var m *EKManufacturer
	for _, a := range attrs {
		v, ok := a.Value.(string)
		if !ok {
			continue
		}
		switch {
		case a.Type.Equal(ekOIDTPMManufacturer):
			if m == nil {
				m = &EKManufacturer{Source: source}
			}
			m.ID = v
			m.Code = EKVendorCode(v)
			m.Name = ekVendorNames[m.Code]
		case a.Type.Equal(ekOIDTPMModel):
			if m == nil {
				m = &EKManufacturer{Source: source}
			}
			m.Model = v
		case a.Type.Equal(ekOIDTPMVersion):
			if m == nil {
				m = &EKManufacturer{Source: source}
			}
			m.Version = v
		}
	}
	if m != nil && m.ID == "" {
		return nil // model or version alone do not name a manufacturer
	}
	return m
}

// EKVendorCode turns a tcg-at-tpmManufacturer value ("id:494E5443", the vendor's four ASCII
// bytes in hex) into its vendor code ("INTC"), trailing NULs and spaces removed. A value that
// is not in that form is returned upper-cased and trimmed if it is printable ASCII, else "".
func EKVendorCode(id string) string {
	v := strings.TrimSpace(id)
	if len(v) > 3 && strings.EqualFold(v[:3], "id:") {
		if b, err := hex.DecodeString(v[3:]); err == nil {
			return ekPrintable(strings.TrimRight(string(b), "\x00 "))
		}
		return ""
	}
	return strings.ToUpper(ekPrintable(v))
}

// ekPrintable returns s if it is non-empty, printable ASCII letters and digits, else "".
func ekPrintable(s string) string {
	if s == "" {
		return ""
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z') {
			return ""
		}
	}
	return s
}
