package daemon

import (
	"context"
	"fmt"
	"os"
	"slices"
	"sync"

	"github.com/aikwatch/aikwatch/internal/state"
	"github.com/aikwatch/aikwatch/probes"
	"github.com/aikwatch/aikwatch/trustlist"
)

// ProbeEKServices probes every configured fTPM EK certificate service once.
func (d *Daemon) ProbeEKServices(ctx context.Context) error {
	if len(d.ekSvcs) == 0 {
		return nil
	}
	results := make([]probes.EKResult, len(d.ekSvcs))
	var wg sync.WaitGroup
	for i, svc := range d.ekSvcs {
		wg.Go(func() { results[i] = d.ekProber.Probe(ctx, svc) })
	}
	wg.Wait()
	if ctx.Err() != nil {
		return ctx.Err()
	}
	now := d.now().UTC()
	return d.update(func(st *state.State) error {
		prev := map[string]state.EKServiceState{}
		for _, e := range st.EKServices {
			prev[e.Name] = e
		}
		var next []state.EKServiceState
		for i, r := range results {
			e, seen := prev[r.Service]
			e.Name, e.URL = r.Service, d.ekSvcs[i].BaseURL
			if !seen || e.OK != r.OK() {
				e.Since = now
			}
			e.OK = r.OK()
			if e.OK {
				e.Failures = 0
			} else {
				e.Failures++
			}
			e.Last = &r
			next = append(next, e)
		}
		st.EKServices = next
		return d.store.SaveEKServices(next)
	})
}

// CheckEKCAs checks every EK CA of the release in force: expiry, chain, SHA-1, AIK host.
func (d *Daemon) CheckEKCAs(ctx context.Context) error {
	cur := d.State()
	f := d.files.Load()
	if cur.Release == nil || f == nil {
		return nil
	}
	now := d.now().UTC()
	cas := probes.EKCACheck(cur.Release, *f, now, d.cfg.EK.ExpiryWindow)
	return d.update(func(st *state.State) error {
		if st.Release != cur.Release {
			return nil // a newer release arrived meanwhile; its own check follows
		}
		st.EKCAs, st.EKCAsAt = cas, now
		return d.store.SaveEKCAs(now, cas)
	})
}

// ekServices turns the configuration into probe targets, reading known keys.
func ekServices(cfg []EKServiceConfig) ([]probes.EKService, error) {
	var out []probes.EKService
	for _, c := range cfg {
		svc := probes.EKService{Name: c.Name, BaseURL: c.URL}
		if c.KnownKeyFile != "" {
			b, err := os.ReadFile(c.KnownKeyFile)
			if err != nil {
				return nil, fmt.Errorf("config: ek.services %s: %w", c.Name, err)
			}
			if svc.KnownKey, _, err = probes.EKParsePublic(b); err != nil {
				return nil, fmt.Errorf("config: ek.services %s: known_key_file %s: %w", c.Name, c.KnownKeyFile, err)
			}
		}
		if c.ExpectedCert != "" {
			b, err := os.ReadFile(c.ExpectedCert)
			if err != nil {
				return nil, fmt.Errorf("config: ek.services %s: %w", c.Name, err)
			}
			cert, _, err := trustlist.ParseCertificate(b)
			if err != nil {
				return nil, fmt.Errorf("config: ek.services %s: expected_cert %s: %w", c.Name, c.ExpectedCert, err)
			}
			svc.ExpectedCert = cert.Raw
		}
		out = append(out, svc)
	}
	return out, nil
}

// fleetOf resolves the fleet configuration: EK certificates become the AIK hosts that serve them.
func fleetOf(c FleetConfig) (state.Fleet, error) {
	f := state.Fleet{Vendors: slices.Clone(c.Vendors)}
	for _, h := range c.Hosts {
		f.Hosts = append(f.Hosts, state.NormalizeHost(h))
	}
	for _, path := range c.EKCerts {
		host, err := EKCertHost(path)
		if err != nil {
			return f, fmt.Errorf("config: fleet.ek_certs: %w", err)
		}
		if !slices.Contains(f.Hosts, host) {
			f.Hosts = append(f.Hosts, host)
		}
	}
	return f, nil
}

// EKCertHost reads a device's EK certificate and returns the AIK CA host that serves it.
func EKCertHost(path string) (string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return "", err
	}
	cert, _, err := trustlist.ParseCertificate(b)
	if err != nil {
		return "", fmt.Errorf("%s: %w", path, err)
	}
	m, err := probes.EKManufacturerOf(cert)
	if err != nil || m == nil || m.Code == "" {
		return "", fmt.Errorf("%s: no TPM manufacturer in the EK certificate (%v)", path, err)
	}
	return probes.EKAIKHost(m.Code, cert), nil
}
