package trustlist

import (
	"time"

	"github.com/aikwatch/aikwatch/trustlist/changelog"
)

// Kind classifies a trust-list member by what it is for.
type Kind string

// Member kinds. A member's kind follows from its folder: Microsoft/IntermediateCA holds the
// AIK CAs; the other vendor folders' RootCA and IntermediateCA hold EK CAs. Everything else
// (Microsoft's own TPM root, scripts, version.txt, readme files) is KindOther.
const (
	KindAIKCA          Kind = "aik_ca"
	KindEKRoot         Kind = "ek_root"
	KindEKIntermediate Kind = "ek_intermediate"
	KindOther          Kind = "other"
)

// Roles, as named by the trust list's folders.
const (
	RoleRoot         = "RootCA"
	RoleIntermediate = "IntermediateCA"
)

// AIKHostSuffix is the DNS suffix of Microsoft's AIK CA service.
const AIKHostSuffix = ".microsoftaik.azure.net"

// Snapshot is one trust-list release, read, verified and indexed.
type Snapshot struct {
	SHA256      string               `json:"sha256"`       // of the source bytes (for a directory: of its manifest)
	Size        int64                `json:"size"`         // bytes of the source
	Source      string               `json:"source"`       // where it was read from
	Format      string               `json:"format"`       // "cab", "zip", "tar.gz", "dir", ...
	VersionDate time.Time            `json:"version_date"` // version.txt's "last updated on" date, zero if absent
	Signature   Signature            `json:"signature"`
	Members     []Member             `json:"members"` // sorted by path
	Changelog   *changelog.Changelog `json:"changelog,omitempty"`
	AIKHosts    []AIKHost            `json:"aik_hosts"` // sorted by host
	EKCAs       []EKCA               `json:"ek_cas"`    // sorted by path
	Anomalies   []Anomaly            `json:"anomalies"` // things in the release that disagree with themselves
}

// Signature is the Authenticode verdict on a release.
type Signature struct {
	Status          string    `json:"status"`           // "valid", "invalid" or "unsigned"
	Reason          string    `json:"reason,omitempty"` // machine-readable reason when not valid
	Detail          string    `json:"detail,omitempty"` // what failed, for people
	Signer          string    `json:"signer,omitempty"`
	Timestamp       time.Time `json:"timestamp,omitzero"`
	DigestAlgorithm string    `json:"digest_algorithm,omitempty"`
	Digest          string    `json:"digest,omitempty"` // hex, upper case as Microsoft tools print it
}

// Signature statuses.
const (
	SignatureValid    = "valid"
	SignatureInvalid  = "invalid"
	SignatureUnsigned = "unsigned"
)

// Member is one file of the release.
type Member struct {
	Path         string    `json:"path"` // slash-separated, as in the cab (with \ turned into /)
	Size         int64     `json:"size"`
	SHA256       string    `json:"sha256"`
	VendorFolder string    `json:"vendor_folder,omitempty"` // top-level folder: AMD, Intel, Microsoft, ...
	Role         string    `json:"role,omitempty"`          // RootCA or IntermediateCA
	Kind         Kind      `json:"kind"`
	Cert         *CertInfo `json:"cert,omitempty"`
	ParseError   string    `json:"parse_error,omitempty"` // why a certificate file did not parse
}

// IsCertificateFile reports whether the member is meant to hold a certificate: it sits in a
// RootCA or IntermediateCA folder or has a certificate extension.
func (m Member) IsCertificateFile() bool {
	return m.Role != "" && !isTextName(m.Path) || hasCertExt(m.Path)
}

// CertInfo is what the index keeps of one certificate.
type CertInfo struct {
	Encoding           string    `json:"encoding"` // "PEM" or "DER"
	Subject            string    `json:"subject"`
	SubjectCN          string    `json:"subject_cn,omitempty"`
	Issuer             string    `json:"issuer"`
	Serial             string    `json:"serial"`
	NotBefore          time.Time `json:"not_before"`
	NotAfter           time.Time `json:"not_after"`
	SignatureAlgorithm string    `json:"signature_algorithm"`
	PublicKeyAlgorithm string    `json:"public_key_algorithm"`
	SKI                string    `json:"ski,omitempty"`  // SubjectKeyIdentifier, lower-case hex
	AKI                string    `json:"aki,omitempty"`  // AuthorityKeyIdentifier, lower-case hex
	NameID             string    `json:"name_id"`        // SHA-1 of the DER subject Name, lower-case hex
	IssuerNameID       string    `json:"issuer_name_id"` // SHA-1 of the DER issuer Name
	SelfSigned         bool      `json:"self_signed"`    // subject equals issuer
	IsCA               bool      `json:"is_ca"`
	AIA                []string  `json:"aia,omitempty"` // CA issuer URLs
	CRL                []string  `json:"crl,omitempty"` // CRL distribution points
	Fingerprint        string    `json:"sha256_fingerprint"`
}

// AIKHost is one AIK CA endpoint named by the trust list, with every certificate that backs it.
type AIKHost struct {
	Host           string    `json:"host"`    // {vendor}-{keyid|nameid}-{id}.microsoftaik.azure.net, lower case
	Vendor         string    `json:"vendor"`  // as in the certificate name, upper case: IFX, INTC, AMD, ...
	IDKind         string    `json:"id_kind"` // "keyid" or "nameid"
	ID             string    `json:"id"`      // 40 lower-case hex digits
	Files          []string  `json:"files"`   // member paths, sorted
	Regions        []string  `json:"regions,omitempty"`
	LatestNotAfter time.Time `json:"latest_not_after"`
	EKCAs          []string  `json:"ek_cas,omitempty"` // paths of the EK CAs in this release whose key id or name id is this host's id
}

// URL returns the host's SCEP endpoint.
func (h AIKHost) URL() string { return "https://" + h.Host + "/templates/Aik/scep" }

// EKCA is one vendor EK CA certificate (root or intermediate) of the release.
type EKCA struct {
	Path               string    `json:"path"`
	VendorFolder       string    `json:"vendor_folder"`
	Role               string    `json:"role"`
	Subject            string    `json:"subject"`
	SKI                string    `json:"ski,omitempty"`
	NameID             string    `json:"name_id"`
	NotBefore          time.Time `json:"not_before"`
	NotAfter           time.Time `json:"not_after"`
	SignatureAlgorithm string    `json:"signature_algorithm"`
	AIA                []string  `json:"aia,omitempty"`
	CRL                []string  `json:"crl,omitempty"`
	AIKHost            string    `json:"aik_host"`            // the AIK host that serves EK certificates issued by this CA, "" if none
	AIKHosts           []string  `json:"aik_hosts,omitempty"` // all of them, when more than one vendor prefix names the same id
}

// Anomaly is something the release says that disagrees with itself: a file name whose key id
// differs from its certificate's subject, a certificate file that does not parse, an AIK host
// with no EK CA in the release.
type Anomaly struct {
	Kind   string `json:"kind"`
	Path   string `json:"path,omitempty"`
	Host   string `json:"host,omitempty"`
	Detail string `json:"detail"`
}

// Anomaly kinds.
const (
	AnomalyUnparseable      = "unparseable_certificate"
	AnomalyNameMismatch     = "file_name_mismatch"
	AnomalyBadAIKName       = "bad_aik_name"
	AnomalyAIKHostWithoutEK = "aik_host_without_ek_ca"
	AnomalyEKCAWithoutAIK   = "ek_ca_without_aik_host"
)

// Member returns the member at path and whether it exists.
func (s *Snapshot) Member(path string) (Member, bool) {
	i, ok := s.memberIndex(path)
	if !ok {
		return Member{}, false
	}
	return s.Members[i], true
}

// AIKHost returns the AIK host entry for host (case-insensitive) and whether it exists.
func (s *Snapshot) AIKHost(host string) (AIKHost, bool) {
	h := normalizeHost(host)
	for _, a := range s.AIKHosts {
		if a.Host == h {
			return a, true
		}
	}
	return AIKHost{}, false
}

// Unparseable returns the certificate files that failed to parse, with the error.
func (s *Snapshot) Unparseable() []Member {
	var out []Member
	for _, m := range s.Members {
		if m.ParseError != "" {
			out = append(out, m)
		}
	}
	return out
}

// CertificateCount returns the number of members that parsed as certificates.
func (s *Snapshot) CertificateCount() int {
	n := 0
	for _, m := range s.Members {
		if m.Cert != nil {
			n++
		}
	}
	return n
}
