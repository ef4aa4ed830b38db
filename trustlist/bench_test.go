package trustlist

import (
	"context"
	"testing"

	"github.com/aikwatch/aikwatch/internal/testutil"
)

// BenchmarkIndexNov indexes every member of the real Nov-2024 release (certificates parsed,
// AIK hosts and EK CAs matched, version.txt parsed).
func BenchmarkIndexNov(b *testing.B) {
	data := testutil.ReadTestdata(b, "trustedtpm", "TrustedTpm-2024-11-21.cab")
	files, err := ReadCab(context.Background(), data, Options{}.limits())
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Index(files); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkLoadNov is the whole pipeline on the real Nov-2024 cab held in memory: verify,
// extract, index.
func BenchmarkLoadNov(b *testing.B) {
	data := testutil.ReadTestdata(b, "trustedtpm", "TrustedTpm-2024-11-21.cab")
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := FromBytes(context.Background(), data, "nov.cab", Options{}); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkCompareReleases diffs the two real releases.
func BenchmarkCompareReleases(b *testing.B) {
	jun, err := Load(context.Background(), testutil.JunCab, Options{})
	if err != nil {
		b.Fatal(err)
	}
	nov, err := Load(context.Background(), testutil.NovCab, Options{})
	if err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		Compare(jun, nov)
	}
}
