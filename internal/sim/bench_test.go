package sim

import (
	"io"
	"testing"
)

// BenchmarkGetCACertChain measures answered GetCACertChain requests over kept-alive
// connections, spread over every AIK host.
func BenchmarkGetCACertChain(b *testing.B) {
	s := startSim(b)
	hosts := s.AIKHosts()
	c := s.Client()
	defer c.CloseIdleConnections()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		i := 0
		for pb.Next() {
			resp, err := c.Get("https://" + hosts[i%len(hosts)] + SCEPPath + "?operation=GetCACertChain&message=default")
			if err != nil {
				b.Error(err)
				return
			}
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode != 200 {
				b.Errorf("%s: %s", hosts[i%len(hosts)], resp.Status)
				return
			}
			i++
		}
	})
}
