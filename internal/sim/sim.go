package sim

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"slices"
	"sort"
	"sync"
	"sync/atomic"
	"time"
)

// FwlinkURL is the trust list's public download link; the simulator answers it with a 302 to
// https://download.microsoft.com + [DownloadPath].
const FwlinkURL = "https://go.microsoft.com/fwlink/?linkid=2097925"

// fwlinkID is the linkid of [FwlinkURL].
const fwlinkID = "2097925"

// DownloadPath is the path on download.microsoft.com where the simulator serves the cab. The
// real path (a GUID folder) changes between releases and is not relied on by clients, which
// follow the redirect; this one is invented.
const DownloadPath = "/download/7/b/6/7b6a1e42-5d4c-4e29-9d9a-2f3c1ad8e0f7/TrustedTpm.cab"

// Config configures a [Sim].
type Config struct {
	Addr        string       // HTTPS listen address, default "127.0.0.1:0"
	ControlAddr string       // control API listen address (plain HTTP); "" = no control listener
	TrustList   []byte       // the trust list to publish first: cab bytes (or an archive the trustlist package reads); empty: the generated [Sim.DefaultRelease]
	Logger      *slog.Logger // default: discard
}

// Sim is a running (or ready to run) simulation of Microsoft's AIK CA service, the trust-list
// download and the fTPM EK certificate services.
type Sim struct {
	cfg   Config
	log   *slog.Logger
	ca    *issuer // signs the HTTPS server certificates and the RA certificates
	root  *issuer // the simulated "Microsoft TPM Root Certificate Authority 2014"
	ra    [2][]byte
	certs *certStore
	modes *modeTable

	signing  *signingPKI // signs the releases the simulator builds
	defRelMu sync.Mutex
	defRel   []byte // the generated default release, once built

	eks        []ekMaterial
	simBundles map[string][]byte // the simulator's own AIK hosts -> GetCACertChain answer
	intelIDs   map[string]*ekMaterial
	amdIDs     map[string]*ekMaterial

	pub       atomic.Pointer[publication]
	publishMu sync.Mutex

	mu       sync.Mutex // guards the fields below
	started  bool
	closed   bool
	ln       net.Listener
	srv      *http.Server
	ctlLn    net.Listener
	ctl      *http.Server
	closing  chan struct{}
	serveWG  sync.WaitGroup
	inflight sync.WaitGroup
}

// New generates the simulator's CA, RA, EK and release-signing material and parses the trust
// list (generating [Sim.DefaultRelease] when none is given). It does not listen yet: see
// [Sim.Start].
func New(cfg Config) (*Sim, error) {
	if cfg.Addr == "" {
		cfg.Addr = "127.0.0.1:0"
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	s := &Sim{cfg: cfg, log: log, modes: newModeTable(), closing: make(chan struct{}),
		simBundles: map[string][]byte{}, intelIDs: map[string]*ekMaterial{}, amdIDs: map[string]*ekMaterial{}}
	var err error
	s.ca, err = newCA(pkix.Name{CommonName: "aikwatch simulator CA", Organization: []string{"aikwatch"}}, nil, 5*365*24*time.Hour)
	if err != nil {
		return nil, fmt.Errorf("sim: CA: %w", err)
	}
	s.certs = newCertStore(s.ca)
	s.root, err = newCA(pkix.Name{CommonName: msRootCN, Organization: []string{"Microsoft Corporation"},
		Locality: []string{"Redmond"}, Province: []string{"Washington"}, Country: []string{"US"}}, nil, 25*365*24*time.Hour)
	if err != nil {
		return nil, fmt.Errorf("sim: simulated Microsoft TPM root: %w", err)
	}
	for i, cn := range []string{"RA Signing Certificate", "RA Encryption Certificate"} {
		k, err := newECKey()
		if err != nil {
			return nil, err
		}
		usage := x509.KeyUsageDigitalSignature
		if i == 1 {
			usage = x509.KeyUsageKeyAgreement
		}
		now := time.Now()
		c, err := issue(&x509.Certificate{Subject: pkix.Name{CommonName: cn}, NotBefore: now.Add(-time.Hour),
			NotAfter: now.Add(2 * 365 * 24 * time.Hour), KeyUsage: usage}, &k.PublicKey, s.ca, nil)
		if err != nil {
			return nil, fmt.Errorf("sim: %s: %w", cn, err)
		}
		s.ra[i] = c.Raw
	}
	s.eks, err = newEKs(s.root)
	if err != nil {
		return nil, fmt.Errorf("sim: EK material: %w", err)
	}
	for i := range s.eks {
		m := &s.eks[i]
		b, err := certsOnly(s.root.cert.Raw, m.aikCA, s.ra[0], s.ra[1])
		if err != nil {
			return nil, fmt.Errorf("sim: %w", err)
		}
		s.simBundles[m.ek.AIKHost] = b
		switch m.ek.Vendor {
		case "intel":
			s.intelIDs[m.ek.ID] = m
		case "amd":
			s.amdIDs[m.ek.ID] = m
		}
	}
	if s.signing, err = newSigningPKI(); err != nil {
		return nil, fmt.Errorf("sim: release signing: %w", err)
	}
	first := cfg.TrustList
	if len(first) == 0 {
		if first, err = s.DefaultRelease(context.Background()); err != nil {
			return nil, err
		}
	}
	if err := s.Publish(first); err != nil {
		return nil, fmt.Errorf("sim: %w", err)
	}
	return s, nil
}

// Start opens the HTTPS listener (and the control listener when configured) and serves in the
// background. [Sim.Close] stops it.
func (s *Sim) Start() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return errors.New("sim: closed")
	}
	if s.started {
		return errors.New("sim: already started")
	}
	ln, err := net.Listen("tcp", s.cfg.Addr)
	if err != nil {
		return fmt.Errorf("sim: HTTPS listener: %w", err)
	}
	var ctlLn net.Listener
	if s.cfg.ControlAddr != "" {
		ctlLn, err = net.Listen("tcp", s.cfg.ControlAddr)
		if err != nil {
			ln.Close()
			return fmt.Errorf("sim: control listener: %w", err)
		}
	}
	errLog := slog.NewLogLogger(s.log.Handler(), slog.LevelDebug)
	s.srv = &http.Server{
		Handler:           http.HandlerFunc(s.serveHTTPS),
		TLSConfig:         &tls.Config{MinVersion: tls.VersionTLS12, GetCertificate: s.getCertificate},
		ReadHeaderTimeout: 30 * time.Second,
		IdleTimeout:       90 * time.Second,
		ErrorLog:          errLog,
		ConnContext:       func(ctx context.Context, c net.Conn) context.Context { return context.WithValue(ctx, connKey{}, c) },
	}
	s.ln, s.started = ln, true
	s.serveWG.Go(func() {
		if err := s.srv.ServeTLS(ln, "", ""); err != nil && !errors.Is(err, http.ErrServerClosed) {
			s.log.Error("sim: HTTPS server stopped", "err", err)
		}
	})
	if ctlLn != nil {
		s.ctlLn = ctlLn
		s.ctl = &http.Server{Handler: s.controlHandler(), ReadHeaderTimeout: 30 * time.Second, ErrorLog: errLog}
		s.serveWG.Go(func() {
			if err := s.ctl.Serve(ctlLn); err != nil && !errors.Is(err, http.ErrServerClosed) {
				s.log.Error("sim: control server stopped", "err", err)
			}
		})
	}
	s.log.Info("simulator listening", "https", ln.Addr().String(), "control", s.controlURLLocked(),
		"aik_hosts", len(s.AIKHosts()), "trustlist_sha256", s.TrustListSHA256())
	return nil
}

// Close stops the listeners, ends every open connection and pending answer (hanging and slow
// ones included) and waits for the simulator's goroutines. It is safe to call more than once.
func (s *Sim) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	close(s.closing)
	srv, ctl := s.srv, s.ctl
	s.mu.Unlock()
	var errs []error
	if srv != nil {
		errs = append(errs, srv.Close())
	}
	if ctl != nil {
		errs = append(errs, ctl.Close())
	}
	s.serveWG.Wait()
	s.inflight.Wait()
	return errors.Join(errs...)
}

// enter registers a request handler; it reports false once the simulator is closing.
func (s *Sim) enter() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return false
	}
	s.inflight.Add(1)
	return true
}

// Addr returns the HTTPS listener's address ("127.0.0.1:PORT"), or "" before Start.
func (s *Sim) Addr() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ln == nil {
		return ""
	}
	return s.ln.Addr().String()
}

// ControlURL returns the control API's base URL ("http://127.0.0.1:PORT"), or "" when there
// is no control listener.
func (s *Sim) ControlURL() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.controlURLLocked()
}

func (s *Sim) controlURLLocked() string {
	if s.ctlLn == nil {
		return ""
	}
	return "http://" + s.ctlLn.Addr().String()
}

// CACertPEM returns the PEM certificate of the CA that issues the simulator's HTTPS server
// certificates (and its RA certificates).
func (s *Sim) CACertPEM() []byte { return certPEM(s.ca.cert.Raw) }

// CACert returns the CA certificate of [Sim.CACertPEM].
func (s *Sim) CACert() *x509.Certificate { return s.ca.cert }

// CAPool returns a pool holding only the simulator's CA.
func (s *Sim) CAPool() *x509.CertPool {
	p := x509.NewCertPool()
	p.AddCert(s.ca.cert)
	return p
}

// MicrosoftRoot returns the simulator's own "Microsoft TPM Root Certificate Authority 2014",
// the issuer of the AIK CA certificates of the simulator's EK hosts (and the root served for
// trust lists that carry none).
func (s *Sim) MicrosoftRoot() *x509.Certificate { return s.root.cert }

// EKs returns the EK certificates the simulator generated, one per vendor (intel, amd).
func (s *Sim) EKs() []EK {
	out := make([]EK, len(s.eks))
	for i, m := range s.eks {
		out[i] = m.ek
	}
	return out
}

// AIKHosts returns the AIK hosts served in mode ok: those the current trust list names and
// the hosts of the simulator's own EK issuing CAs, sorted.
func (s *Sim) AIKHosts() []string {
	p := s.pub.Load()
	out := slices.Clone(p.rel.names)
	for h := range s.simBundles {
		if _, ok := p.rel.hosts[h]; !ok {
			out = append(out, h)
		}
	}
	sort.Strings(out)
	return out
}

// TrustListSHA256 returns the lower-case hex SHA-256 of the trust list being served.
func (s *Sim) TrustListSHA256() string { return s.pub.Load().rel.sha256 }

// TrustList returns the bytes of the trust list being served.
func (s *Sim) TrustList() []byte { return s.pub.Load().cab }

// Publish makes cab the trust list being served: the download host serves it (with a new
// ETag and Last-Modified), and the AIK host set follows it: hosts it no longer names answer
// 404 "authority does not exist", new ones are served.
func (s *Sim) Publish(cab []byte) error {
	rel, err := parseRelease(context.Background(), cab)
	if err != nil {
		return fmt.Errorf("publish: %w", err)
	}
	s.publishMu.Lock()
	defer s.publishMu.Unlock()
	now := time.Now()
	if old := s.pub.Load(); old != nil && !now.Truncate(time.Second).After(old.modified) {
		now = old.modified.Add(time.Second) // Last-Modified must move forward for If-Modified-Since clients
	}
	old := s.pub.Swap(newPublication(rel, cab, now))
	attrs := []any{"sha256", rel.sha256, "aik_hosts", len(rel.names), "bytes", len(cab)}
	if old != nil {
		added, removed := hostDelta(old.rel, rel)
		attrs = append(attrs, "added", len(added), "removed", len(removed))
	}
	s.log.Info("trust list published", attrs...)
	return nil
}

// hostDelta lists the hosts b names and a does not (added), and the other way round.
func hostDelta(a, b *parsedRelease) (added, removed []string) {
	for _, h := range b.names {
		if _, ok := a.hosts[h]; !ok {
			added = append(added, h)
		}
	}
	for _, h := range a.names {
		if _, ok := b.hosts[h]; !ok {
			removed = append(removed, h)
		}
	}
	return added, removed
}

// SetMode sets host's own mode and added latency (on top of the default latency; for
// [ModeSlow], 0 means [DefaultSlowLatency]). host is any name the simulator serves, in any
// letter case.
func (s *Sim) SetMode(host string, m Mode, latency time.Duration) error {
	h := normalizeHost(host)
	if !Served(h) {
		return fmt.Errorf("set mode: %q is not a simulated host (want a name under %s or one of %v)", host, AIKSuffix, ServiceHosts)
	}
	if !m.Valid() {
		return fmt.Errorf("set mode of %s: unknown mode %q (want one of %v)", h, m, Modes)
	}
	if latency < 0 {
		return fmt.Errorf("set mode of %s: negative latency %v", h, latency)
	}
	s.modes.set(h, m, latency)
	s.log.Info("host mode set", "host", h, "mode", m, "latency", latency)
	return nil
}

// ClearMode removes host's own mode: it follows the defaults again. It reports whether the
// host had one.
func (s *Sim) ClearMode(host string) bool { return s.modes.clear(normalizeHost(host)) }

// SetDefaults sets the mode of every host that has no mode of its own (m == "" keeps the
// current default mode) and the latency added to every answer of every host.
func (s *Sim) SetDefaults(m Mode, latency time.Duration) error {
	if m != "" && !m.Valid() {
		return fmt.Errorf("set defaults: unknown mode %q (want one of %v)", m, Modes)
	}
	if latency < 0 {
		return fmt.Errorf("set defaults: negative latency %v", latency)
	}
	s.modes.setDefaults(m, &latency, false)
	s.log.Info("defaults set", "mode", m, "latency", latency)
	return nil
}

// SetAll sets mode m for every host, clearing the hosts' own modes; latency is the added
// default latency.
func (s *Sim) SetAll(m Mode, latency time.Duration) error {
	if !m.Valid() {
		return fmt.Errorf("set all: unknown mode %q (want one of %v)", m, Modes)
	}
	if latency < 0 {
		return fmt.Errorf("set all: negative latency %v", latency)
	}
	s.modes.setDefaults(m, &latency, true)
	s.log.Info("mode set for all hosts", "mode", m, "latency", latency)
	return nil
}

// Defaults returns the default mode and latency.
func (s *Sim) Defaults() (Mode, time.Duration) { return s.modes.defaults() }

// Hosts returns every host the simulator knows (the current trust list's AIK hosts, its own
// EK CA hosts, the service hosts) and every other host that has a mode of its own or was
// asked for, sorted by name.
func (s *Sim) Hosts() []HostState {
	p := s.pub.Load()
	set := map[string]bool{}
	for _, h := range s.AIKHosts() {
		set[h] = true
	}
	for _, h := range ServiceHosts {
		set[h] = true
	}
	for _, h := range s.modes.names() {
		set[h] = true
	}
	out := make([]HostState, 0, len(set))
	for h := range set {
		out = append(out, s.hostState(p, h))
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Host < out[j].Host })
	return out
}

// HostState returns the state of one host (any letter case).
func (s *Sim) HostState(host string) HostState { return s.hostState(s.pub.Load(), normalizeHost(host)) }

func (s *Sim) hostState(p *publication, h string) HostState {
	m, lat := s.modes.effective(h)
	st := HostState{Host: h, Mode: m, LatencyMS: lat.Milliseconds(), Override: s.modes.hasOverride(h), Requests: s.modes.requests(h)}
	_, inRel := p.rel.hosts[h]
	_, own := s.simBundles[h]
	switch {
	case inRel:
		st.Known, st.Kind = true, "aik"
	case own:
		st.Known, st.Kind = true, "aik-sim"
	case isServiceHost(h):
		st.Known, st.Kind = true, "service"
	case isAIKName(h):
		st.Kind = "aik-unknown"
	default:
		st.Kind = "other"
	}
	return st
}
