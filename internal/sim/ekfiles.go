package sim

import (
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"os"
	"path/filepath"
)

// WriteEKFiles writes, for each generated EK (see [Sim.EKs]), into dir (created if needed):
// ek-<vendor>.pem (the EK certificate), ek-<vendor>-pub.pem (its public key, PKIX) and
// ek-<vendor>-chain.pem (issuing CA then root). It returns the paths written.
func (s *Sim) WriteEKFiles(dir string) ([]string, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("ek files: %w", err)
	}
	var paths []string
	for _, ek := range s.EKs() {
		pub, err := x509.MarshalPKIXPublicKey(ek.Cert.PublicKey)
		if err != nil {
			return paths, fmt.Errorf("ek files: %s public key: %w", ek.Vendor, err)
		}
		var chain [][]byte
		for _, c := range ek.Chain {
			chain = append(chain, c.Raw)
		}
		for _, f := range []struct {
			name string
			data []byte
		}{
			{"ek-" + ek.Vendor + ".pem", certPEM(ek.Cert.Raw)},
			{"ek-" + ek.Vendor + "-pub.pem", pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pub})},
			{"ek-" + ek.Vendor + "-chain.pem", certPEM(chain...)},
		} {
			p := filepath.Join(dir, f.name)
			if err := os.WriteFile(p, f.data, 0o644); err != nil {
				return paths, fmt.Errorf("ek files: %w", err)
			}
			paths = append(paths, p)
		}
	}
	return paths, nil
}
