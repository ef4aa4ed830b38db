package trustlist

import (
	"context"
	"testing"

	"github.com/aikwatch/aikwatch/internal/testutil"
)

// BenchmarkParseCertificates parses every certificate file of the Nov-2024 release.
func BenchmarkParseCertificates(b *testing.B) {
	data := testutil.ReadTestdata(b, "trustedtpm", "TrustedTpm-2024-11-21.cab")
	files, err := ReadCab(context.Background(), data, Options{}.limits())
	if err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		for _, f := range files {
			ParseCertificate(f.Data)
		}
	}
}

// BenchmarkCertificateDER decodes (PEM or DER) every certificate file of the Nov-2024 release.
func BenchmarkCertificateDER(b *testing.B) {
	data := testutil.ReadTestdata(b, "trustedtpm", "TrustedTpm-2024-11-21.cab")
	files, err := ReadCab(context.Background(), data, Options{}.limits())
	if err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		for _, f := range files {
			certificateDER(f.Data)
		}
	}
}
