package sim

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/hex"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/aikwatch/aikwatch/internal/ekid"
)

// EK is one endorsement-key certificate the simulator generated and serves from its vendor's
// EK certificate service.
type EK struct {
	Vendor  string              // "intel" or "amd"
	Cert    *x509.Certificate   // the EK certificate
	Chain   []*x509.Certificate // issuing CA (intermediate), then the vendor root
	URL     string              // where the vendor's service publishes Cert, e.g. https://ekop.intel.com/ekcertservice/...%3D
	ID      string              // the last path segment of URL
	AIKHost string              // the AIK host that serves EKs of this issuing CA ({vendor}-keyid-{SKI}.microsoftaik.azure.net)
}

// TCG object identifiers used in EK certificates.
var (
	oidTPMManufacturer = asn1.ObjectIdentifier{2, 23, 133, 2, 1}
	oidTPMModel        = asn1.ObjectIdentifier{2, 23, 133, 2, 2}
	oidTPMVersion      = asn1.ObjectIdentifier{2, 23, 133, 2, 3}
	oidEKCertificate   = asn1.ObjectIdentifier{2, 23, 133, 8, 1}
	oidSubjectAltName  = asn1.ObjectIdentifier{2, 5, 29, 17}
)

// ekVendor describes how the simulator dresses one vendor's EK material.
type ekVendor struct {
	name      string // "intel", "amd"
	aikPrefix string // vendor prefix of AIK host names: "intc", "amd"
	tpmManuf  string // tcg-at-tpmManufacturer value
	org       string
	root      string
	ica       string
	model     string
}

var ekVendors = []ekVendor{
	{name: "intel", aikPrefix: "intc", tpmManuf: "id:494E5443", org: "Intel Corporation",
		root: "Intel PTT EK Root CA (aikwatch simulator)", ica: "Intel PTT EK Platform CA (aikwatch simulator)", model: "PTT"},
	{name: "amd", aikPrefix: "amd", tpmManuf: "id:414D4400", org: "Advanced Micro Devices, Inc.",
		root: "AMD fTPM Root CA (aikwatch simulator)", ica: "AMD-fTPM-RSA-ICA (aikwatch simulator)", model: "AMD fTPM"},
}

// ekKeys are the EK key pairs, generated once per process: RSA-2048 generation is slow, and a
// key is only an input to the id derivation here.
var ekKeys = sync.OnceValues(func() ([]*rsa.PrivateKey, error) {
	keys := make([]*rsa.PrivateKey, len(ekVendors))
	for i := range keys {
		k, err := rsa.GenerateKey(rand.Reader, 2048)
		if err != nil {
			return nil, fmt.Errorf("generating EK key: %w", err)
		}
		keys[i] = k
	}
	return keys, nil
})

// ekMaterial is what the simulator generated for one vendor.
type ekMaterial struct {
	ek     EK
	aikCA  []byte // DER AIK CA certificate for ek.AIKHost, issued by the simulated Microsoft root
	vendor ekVendor
}

// utf8 wraps s as an ASN.1 UTF8String.
func utf8(s string) asn1.RawValue {
	return asn1.RawValue{Class: asn1.ClassUniversal, Tag: asn1.TagUTF8String, Bytes: []byte(s)}
}

// tcgSAN builds the critical subjectAltName extension of an EK certificate: a directoryName
// holding the TPM manufacturer, model and version attributes.
func tcgSAN(manufacturer, model, version string) (pkixExt pkix.Extension, err error) {
	type atv struct {
		Type  asn1.ObjectIdentifier
		Value asn1.RawValue
	}
	rdn, err := asn1.MarshalWithParams([]atv{
		{oidTPMManufacturer, utf8(manufacturer)},
		{oidTPMModel, utf8(model)},
		{oidTPMVersion, utf8(version)},
	}, "set")
	if err != nil {
		return pkixExt, err
	}
	name, err := asn1.Marshal(asn1.RawValue{Class: asn1.ClassUniversal, Tag: asn1.TagSequence, IsCompound: true, Bytes: rdn})
	if err != nil {
		return pkixExt, err
	}
	dirName, err := asn1.Marshal(asn1.RawValue{Class: asn1.ClassContextSpecific, Tag: 4, IsCompound: true, Bytes: name})
	if err != nil {
		return pkixExt, err
	}
	san, err := asn1.Marshal(asn1.RawValue{Class: asn1.ClassUniversal, Tag: asn1.TagSequence, IsCompound: true, Bytes: dirName})
	if err != nil {
		return pkixExt, err
	}
	return pkix.Extension{Id: oidSubjectAltName, Critical: true, Value: san}, nil
}

// newEKs generates, for each vendor, a root CA, an issuing CA with a SubjectKeyIdentifier, an
// EK certificate in the TCG profile, and the AIK CA certificate (issued by msRoot) of the AIK
// host that serves that issuing CA.
func newEKs(msRoot *issuer) ([]ekMaterial, error) {
	keys, err := ekKeys()
	if err != nil {
		return nil, err
	}
	now := time.Now()
	out := make([]ekMaterial, 0, len(ekVendors))
	for i, v := range ekVendors {
		root, err := newCA(pkix.Name{CommonName: v.root, Organization: []string{v.org}, Country: []string{"US"}}, nil, 30*365*24*time.Hour)
		if err != nil {
			return nil, fmt.Errorf("%s EK root: %w", v.name, err)
		}
		ica, err := newCA(pkix.Name{CommonName: v.ica, Organization: []string{v.org}, Country: []string{"US"}}, root, 25*365*24*time.Hour)
		if err != nil {
			return nil, fmt.Errorf("%s EK issuing CA: %w", v.name, err)
		}
		san, err := tcgSAN(v.tpmManuf, v.model, "id:00010000")
		if err != nil {
			return nil, fmt.Errorf("%s EK subjectAltName: %w", v.name, err)
		}
		key := keys[i]
		cert, err := issue(&x509.Certificate{
			NotBefore:             now.Add(-time.Hour),
			NotAfter:              now.Add(20 * 365 * 24 * time.Hour),
			KeyUsage:              x509.KeyUsageKeyEncipherment,
			UnknownExtKeyUsage:    []asn1.ObjectIdentifier{oidEKCertificate},
			BasicConstraintsValid: true,
			ExtraExtensions:       []pkix.Extension{san},
		}, &key.PublicKey, ica, nil)
		if err != nil {
			return nil, fmt.Errorf("%s EK certificate: %w", v.name, err)
		}
		var id, base string
		switch v.name {
		case "intel":
			id, err = ekid.Intel(&key.PublicKey)
			base = ekid.IntelBaseURL
		default:
			id, err = ekid.AMD(&key.PublicKey)
			base = ekid.AMDBaseURL
		}
		if err != nil {
			return nil, err
		}
		aikKey, err := newECKey()
		if err != nil {
			return nil, err
		}
		label := v.aikPrefix + "-keyid-" + hex.EncodeToString(ica.cert.SubjectKeyId)
		aik, err := issue(&x509.Certificate{
			Subject:               pkix.Name{CommonName: strings.ToUpper(label)},
			NotBefore:             now.Add(-time.Hour),
			NotAfter:              now.Add(10 * 365 * 24 * time.Hour),
			KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature,
			BasicConstraintsValid: true,
			IsCA:                  true,
		}, &aikKey.PublicKey, msRoot, nil)
		if err != nil {
			return nil, fmt.Errorf("%s AIK CA: %w", v.name, err)
		}
		out = append(out, ekMaterial{
			ek: EK{Vendor: v.name, Cert: cert, Chain: []*x509.Certificate{ica.cert, root.cert},
				URL: base + id, ID: id, AIKHost: label + AIKSuffix},
			aikCA:  aik.Raw,
			vendor: v,
		})
	}
	return out, nil
}
