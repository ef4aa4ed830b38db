package authenticode

import "crypto/x509"

// With returns r with more trust anchors added to each chain (a mirror or a simulator that
// signs some releases itself, next to Microsoft's). r is not modified.
func (r Roots) With(codeSigning, timestamp []*x509.Certificate) Roots {
	add := func(p *x509.CertPool, certs []*x509.Certificate) *x509.CertPool {
		if p == nil {
			p = x509.NewCertPool()
		} else {
			p = p.Clone()
		}
		for _, c := range certs {
			p.AddCert(c)
		}
		return p
	}
	return Roots{CodeSigning: add(r.CodeSigning, codeSigning), Timestamp: add(r.Timestamp, timestamp)}
}
