package trustlist

import (
	"context"
	"encoding/json"
	"io"
	"testing"

	"github.com/aikwatch/aikwatch/internal/testutil"
)

// BenchmarkShowNov is `trustlist show -o json` without the process: load, summarise, encode.
func BenchmarkShowNov(b *testing.B) {
	data := testutil.ReadTestdata(b, "trustedtpm", "TrustedTpm-2024-11-21.cab")
	for b.Loop() {
		s, err := FromBytes(context.Background(), data, "nov.cab", Options{})
		if err != nil {
			b.Fatal(err)
		}
		enc := json.NewEncoder(io.Discard)
		enc.SetIndent("", "  ")
		if err := enc.Encode(s.Summary()); err != nil {
			b.Fatal(err)
		}
	}
}
