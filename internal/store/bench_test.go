package store

import (
	"path/filepath"
	"testing"
)

// BenchmarkSaveHosts saves the state of 332 AIK hosts (as many as the Nov-2024 trust list
// names), each with its last probe result, as a sweep does: every value changed.
func BenchmarkSaveHosts(b *testing.B) {
	for _, bc := range []struct {
		name   string
		noSync bool
	}{{"fsync", false}, {"nosync", true}} {
		b.Run(bc.name, func(b *testing.B) {
			s, err := Open(filepath.Join(b.TempDir(), FileName), Options{NoSync: bc.noSync})
			if err != nil {
				b.Fatal(err)
			}
			defer s.Close()
			a, c := fakeHosts(332, 1), fakeHosts(332, 2)
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				hosts := a
				if i%2 == 1 {
					hosts = c
				}
				if err := s.SaveHosts(hosts); err != nil {
					b.Fatal(err)
				}
				i++
			}
		})
	}
}
