package cab

import (
	"bytes"
	"context"
	"io"
	"os"
	"testing"

	"github.com/aikwatch/aikwatch/internal/testutil"
)

func BenchmarkWalkNov(b *testing.B) {
	data, err := os.ReadFile(testutil.NovCab)
	if err != nil {
		b.Fatal(err)
	}
	var total int64
	for b.Loop() {
		c, err := Open(bytes.NewReader(data), int64(len(data)), DefaultLimits())
		if err != nil {
			b.Fatal(err)
		}
		total = 0
		err = c.Walk(context.Background(), func(m Member, r io.Reader) error {
			n, err := io.Copy(io.Discard, r)
			total += n
			return err
		})
		if err != nil {
			b.Fatal(err)
		}
	}
	b.SetBytes(total)
}

func BenchmarkReadAllNov(b *testing.B) {
	data, err := os.ReadFile(testutil.NovCab)
	if err != nil {
		b.Fatal(err)
	}
	var total int64
	for b.Loop() {
		c, err := Open(bytes.NewReader(data), int64(len(data)), DefaultLimits())
		if err != nil {
			b.Fatal(err)
		}
		all, err := c.ReadAll(context.Background())
		if err != nil {
			b.Fatal(err)
		}
		total = 0
		for _, v := range all {
			total += int64(len(v))
		}
	}
	b.SetBytes(total)
}

// BenchmarkOpenNovFile measures Open alone on the file (header, tables, block chain).
func BenchmarkOpenNovFile(b *testing.B) {
	f, err := os.Open(testutil.NovCab)
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	st, _ := f.Stat()
	for b.Loop() {
		if _, err := Open(f, st.Size(), DefaultLimits()); err != nil {
			b.Fatal(err)
		}
	}
}
