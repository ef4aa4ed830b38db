package probes

import (
	"bytes"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/hex"
	"errors"
	"fmt"
	"math"
	"sort"
	"strings"
	"time"

	"github.com/aikwatch/aikwatch/trustlist"
)

// EKDefaultExpiryWindow is how close to its notAfter an EK CA is reported as expiring when the
// caller gives no window.
const EKDefaultExpiryWindow = 30 * 24 * time.Hour

// Chain verdicts of an EK CA certificate, as reported in [EKCAStatus.Chain].
const (
	// EKChainOK: the certificate chains, signature by signature, to a certificate of a RootCA
	// folder of the same release (which Windows imports as trust anchors).
	EKChainOK = "ok"
	// EKChainSelfSignedRoot: the certificate is self-signed and its self-signature verifies.
	EKChainSelfSignedRoot = "self_signed_root"
	// EKChainRootFolderAnchor: the certificate sits in a RootCA folder (so Windows trusts it as
	// a root) but is issued by a CA the release does not ship.
	EKChainRootFolderAnchor = "root_folder_anchor"
	// EKChainNoIssuer: no certificate of the release has the issuer's name, somewhere up the chain.
	EKChainNoIssuer = "no_issuer_in_trust_list"
	// EKChainBadSignature: certificates with the issuer's name are shipped, but none of their
	// keys verifies the signature, somewhere up the chain.
	EKChainBadSignature = "bad_signature"
	// EKChainUnverifiableSHA1: the only candidate signatures use an algorithm crypto/x509
	// refuses to check (kept for a Go release that stops accepting SHA-1 in
	// x509.Certificate.CheckSignature; Go 1.26 still accepts it there).
	EKChainUnverifiableSHA1 = "unverifiable_sha1"
	// EKChainUnknown: the certificate's bytes were not available or did not parse.
	EKChainUnknown = "unknown"
)

// EKCAStatus is the health of one vendor EK CA certificate (root or intermediate) of a
// trust-list release.
type EKCAStatus struct {
	Path          string    `json:"path"`
	VendorFolder  string    `json:"vendor_folder"`
	Role          string    `json:"role"`
	Subject       string    `json:"subject"`
	NotAfter      time.Time `json:"not_after"`
	Expired       bool      `json:"expired"`
	Expiring      bool      `json:"expiring"`  // not expired, but expires within the window
	DaysLeft      int       `json:"days_left"` // whole days until notAfter, negative once expired
	Chain         string    `json:"chain"`     // one of the EKChain* verdicts
	ChainDetail   string    `json:"chain_detail,omitempty"`
	ChainPath     []string  `json:"chain_path,omitempty"`  // trust-list paths of the issuers, nearest first
	IssuerPath    string    `json:"issuer_path,omitempty"` // the direct issuer found in the release
	SHA1Signature bool      `json:"sha1_signature"`
	AIKHost       string    `json:"aik_host"` // the AIK CA host serving EK certificates issued by this CA, "" if none
}

// EKCACheck reports, for every EK CA of the release s, whether it has expired or expires within
// the window (0 means [EKDefaultExpiryWindow]) as of now, whether it chains to a root of the
// same release, whether it is SHA-1-signed, and which AIK host serves the EK certificates it
// issues. files are the release's members as read by [trustlist.ReadFiles] (the snapshot keeps
// no certificate bytes); an EK CA whose bytes are missing gets the chain verdict
// [EKChainUnknown]. Chains are checked structurally (names and signatures), not at a point in
// time: expiry is reported separately, since many shipped CAs are expired.
func EKCACheck(s *trustlist.Snapshot, files []trustlist.File, now time.Time, within time.Duration) []EKCAStatus {
	if s == nil {
		return []EKCAStatus{}
	}
	if within == 0 {
		within = EKDefaultExpiryWindow
	}
	x := ekNewCAIndex(s, files)
	out := make([]EKCAStatus, 0, len(x.cas))
	for i := range x.cas {
		out = append(out, x.status(i, now, within))
	}
	return out
}

// ekCA is one EK CA of a release with its parsed certificate.
type ekCA struct {
	ca   trustlist.EKCA
	cert *x509.Certificate // nil when the bytes were missing or did not parse
	err  error             // why cert is nil
}

// ekChain is the memoised chain verdict of one EK CA.
type ekChain struct {
	status string
	detail string
	path   []string // issuers' paths, nearest first
}

// ekCAIndex finds the EK CAs of a release by subject and key id and checks their chains.
type ekCAIndex struct {
	cas       []ekCA
	bySubject map[string][]int // ekNameKey of the subject -> indexes
	bySKI     map[string][]int // lower-case hex SKI -> indexes
	byPath    map[string]int
	chains    map[int]*ekChain
	busy      map[int]bool // chain evaluation in progress (cycle guard)
}

// ekNormPath folds a member path for matching: forward slashes.
func ekNormPath(p string) string { return strings.ReplaceAll(p, `\`, "/") }

func ekNewCAIndex(s *trustlist.Snapshot, files []trustlist.File) *ekCAIndex {
	data := make(map[string][]byte, len(files))
	for _, f := range files {
		data[ekNormPath(f.Path)] = f.Data
	}
	x := &ekCAIndex{
		cas:       make([]ekCA, len(s.EKCAs)),
		bySubject: map[string][]int{},
		bySKI:     map[string][]int{},
		byPath:    map[string]int{},
		chains:    map[int]*ekChain{},
		busy:      map[int]bool{},
	}
	for i, e := range s.EKCAs {
		x.cas[i].ca = e
		x.byPath[e.Path] = i
		b, ok := data[ekNormPath(e.Path)]
		if !ok {
			x.cas[i].err = fmt.Errorf("%s: certificate bytes not given", e.Path)
			continue
		}
		c, _, err := trustlist.ParseCertificate(b)
		if err != nil {
			x.cas[i].err = fmt.Errorf("%s: %w", e.Path, err)
			continue
		}
		x.cas[i].cert = c
		k := ekNameKey(c.RawSubject)
		x.bySubject[k] = append(x.bySubject[k], i)
		if e.SKI != "" {
			x.bySKI[e.SKI] = append(x.bySKI[e.SKI], i)
		}
	}
	return x
}

// status builds the report of EK CA i.
func (x *ekCAIndex) status(i int, now time.Time, within time.Duration) EKCAStatus {
	e := x.cas[i].ca
	left := e.NotAfter.Sub(now)
	st := EKCAStatus{
		Path: e.Path, VendorFolder: e.VendorFolder, Role: e.Role, Subject: e.Subject, NotAfter: e.NotAfter,
		Expired:       !now.Before(e.NotAfter),
		DaysLeft:      int(math.Floor(left.Hours() / 24)),
		SHA1Signature: ekIsSHA1(e.SignatureAlgorithm),
		AIKHost:       e.AIKHost,
	}
	st.Expiring = !st.Expired && left <= within
	ch := x.chain(i)
	st.Chain, st.ChainDetail, st.ChainPath = ch.status, ch.detail, ch.path
	if len(ch.path) > 0 {
		st.IssuerPath = ch.path[0]
	}
	return st
}

// ekIsSHA1 reports whether a signature algorithm name (as x509.SignatureAlgorithm.String
// spells it) uses SHA-1.
func ekIsSHA1(alg string) bool {
	switch alg {
	case x509.SHA1WithRSA.String(), x509.ECDSAWithSHA1.String(), x509.DSAWithSHA1.String():
		return true
	}
	return false
}

func (x *ekCAIndex) isRootFolder(i int) bool { return x.cas[i].ca.Role == trustlist.RoleRoot }

// chain returns the chain verdict of EK CA i, computing it once.
func (x *ekCAIndex) chain(i int) ekChain {
	if c, ok := x.chains[i]; ok {
		return *c
	}
	if x.busy[i] {
		return ekChain{status: EKChainNoIssuer, detail: "issuer loop"}
	}
	x.busy[i] = true
	c := x.evalChain(i)
	delete(x.busy, i)
	x.chains[i] = &c
	return c
}

func (x *ekCAIndex) evalChain(i int) ekChain {
	ca := x.cas[i]
	if ca.cert == nil {
		return ekChain{status: EKChainUnknown, detail: ca.err.Error()}
	}
	c := ca.cert
	selfIssued := bytes.Equal(c.RawSubject, c.RawIssuer)
	if selfIssued {
		err := c.CheckSignature(c.SignatureAlgorithm, c.RawTBSCertificate, c.Signature)
		if err == nil {
			return ekChain{status: EKChainSelfSignedRoot}
		}
		// A self-issued certificate may be a cross-certificate signed by another key of the
		// same name: look for it below before calling the signature bad.
		if len(x.issuerCandidates(i, c)) == 0 {
			return ekSignatureFailure(err, "self-signature does not verify")
		}
	}
	return x.chainFromIssuer(i, c, x.issuerCandidates(i, c))
}

// chainFromIssuer checks the signature of certificate c (EK CA i, or an EK certificate when i
// is -1) against the candidates and follows the best one up.
func (x *ekCAIndex) chainFromIssuer(i int, c *x509.Certificate, cands []int) ekChain {
	if len(cands) == 0 {
		if i >= 0 && x.isRootFolder(i) {
			return ekChain{status: EKChainRootFolderAnchor,
				detail: fmt.Sprintf("in a RootCA folder; its issuer %q is not in the trust list", c.Issuer.String())}
		}
		return ekChain{status: EKChainNoIssuer, detail: fmt.Sprintf("issuer %q is not in the trust list", c.Issuer.String())}
	}
	var best *ekChain
	better := func(ch ekChain) {
		if best == nil || ekChainRank(ch.status) > ekChainRank(best.status) {
			best = &ch
		}
	}
	var sigErr error
	for _, j := range cands {
		p := x.cas[j]
		if err := p.cert.CheckSignature(c.SignatureAlgorithm, c.RawTBSCertificate, c.Signature); err != nil {
			if sigErr == nil || ekIsInsecureAlg(err) {
				sigErr = err
			}
			continue
		}
		up := x.chain(j)
		path := append([]string{p.ca.Path}, up.path...)
		switch {
		case up.status == EKChainOK || up.status == EKChainSelfSignedRoot || up.status == EKChainRootFolderAnchor:
			return ekChain{status: EKChainOK, path: path}
		case x.isRootFolder(j):
			// The issuer is itself a trust anchor (RootCA folder): the chain ends there.
			return ekChain{status: EKChainOK, path: []string{p.ca.Path},
				detail: fmt.Sprintf("ends at %s (RootCA folder), whose own chain is %s", p.ca.Path, up.status)}
		default:
			better(ekChain{status: up.status, path: path, detail: fmt.Sprintf("at %s: %s", p.ca.Path, up.detail)})
		}
	}
	if i >= 0 && x.isRootFolder(i) && !bytes.Equal(c.RawSubject, c.RawIssuer) {
		// Shipped as a root: Windows trusts it whatever becomes of its own issuer.
		why := fmt.Sprintf("no certificate named %q in the trust list verifies its signature: %v", c.Issuer.String(), sigErr)
		if best != nil {
			why = fmt.Sprintf("its issuer's chain is %s (%s)", best.status, best.detail)
		}
		return ekChain{status: EKChainRootFolderAnchor, detail: "in a RootCA folder; " + why}
	}
	if best != nil {
		return *best
	}
	return ekSignatureFailure(sigErr, fmt.Sprintf("%d certificate(s) named %q in the trust list, none verifies the signature", len(cands), c.Issuer.String()))
}

func ekSignatureFailure(err error, what string) ekChain {
	if ekIsInsecureAlg(err) {
		return ekChain{status: EKChainUnverifiableSHA1, detail: fmt.Sprintf("%s: %v", what, err)}
	}
	return ekChain{status: EKChainBadSignature, detail: fmt.Sprintf("%s: %v", what, err)}
}

func ekIsInsecureAlg(err error) bool {
	var ia x509.InsecureAlgorithmError
	return errors.As(err, &ia)
}

// ekChainRank orders failure verdicts: the higher, the closer to a working chain.
func ekChainRank(s string) int {
	switch s {
	case EKChainOK:
		return 5
	case EKChainUnverifiableSHA1:
		return 3
	case EKChainNoIssuer:
		return 2
	case EKChainBadSignature:
		return 1
	}
	return 0
}

// issuerCandidates lists the EK CAs that may have issued c (other than i itself): those whose
// subject is c's issuer name (compared as RFC 5280 section 7.1 asks: string types, case and
// spacing folded) and those whose key id is c's authority key id. Key-id matches come first.
func (x *ekCAIndex) issuerCandidates(i int, c *x509.Certificate) []int {
	var out []int
	seen := map[int]bool{i: true}
	add := func(js []int) {
		for _, j := range js {
			if !seen[j] {
				seen[j] = true
				out = append(out, j)
			}
		}
	}
	if len(c.AuthorityKeyId) > 0 {
		add(x.bySKI[hex.EncodeToString(c.AuthorityKeyId)])
	}
	add(x.bySubject[ekNameKey(c.RawIssuer)])
	return out
}

// ekNameKey folds a DER Name for comparison: attribute types and string values, values in lower
// case with runs of spaces collapsed, attributes of one RDN sorted. A Name that does not parse
// is compared byte for byte.
func ekNameKey(raw []byte) string {
	var rdns pkix.RDNSequence
	if rest, err := asn1.Unmarshal(raw, &rdns); err != nil || len(rest) > 0 {
		return "raw:" + string(raw)
	}
	var b strings.Builder
	for _, rdn := range rdns {
		attrs := make([]string, 0, len(rdn))
		for _, a := range rdn {
			v, ok := a.Value.(string)
			if !ok {
				v = fmt.Sprint(a.Value)
			}
			v = strings.ToLower(strings.Join(strings.Fields(v), " "))
			attrs = append(attrs, a.Type.String()+"="+v)
		}
		sort.Strings(attrs)
		b.WriteString(strings.Join(attrs, "+"))
		b.WriteByte('/')
	}
	return b.String()
}
