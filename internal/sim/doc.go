// Package sim simulates Microsoft's AIK CA service, the trust-list download and the fTPM EK
// services on loopback, with fault injection.
//
// One HTTPS listener serves every simulated name, routed by SNI (for the certificate) and the
// Host header (for the content), lower-cased: any *.microsoftaik.azure.net, ekop.intel.com,
// ftpm.amd.com, ekcert.spserv.microsoft.com, go.microsoft.com and download.microsoft.com.
// Certificates come from a CA the simulator creates at start ([Sim.CACertPEM]); clients reach
// the listener by overriding name resolution ([Sim.Client], curl --resolve).
//
// What is served:
//
//   - The trust list: https://go.microsoft.com/fwlink/?linkid=2097925 answers 302 to
//     https://download.microsoft.com + [DownloadPath], which serves the cab with ETag and
//     Last-Modified and honours If-None-Match / If-Modified-Since.
//   - For every AIK host the current trust list names, and for the simulator's own EK issuing
//     CAs, /templates/Aik/scep: GetCACaps, GetCACertChain (a PKCS#7 certs-only bundle of the
//     Microsoft TPM root, the host's AIK CA certificate and two RA certificates) and
//     PKIOperation (always 400: a real enrollment needs a TPM). Any other host under
//     .microsoftaik.azure.net answers Microsoft's 404 "The authority ... does not exist.".
//   - Intel's and AMD's EK certificate services for the EK keys the simulator generated
//     ([Sim.EKs]), and a reachability-only stand-in for Qualcomm's.
//
// Releases: the simulator serves the cab it is given ([Config.TrustList], [Sim.Publish]) as is,
// or, when given none, a small release it generates in Microsoft's layout ([Sim.DefaultRelease]:
// vendor EK CAs, AIK CAs named and issued like the real ones, version.txt). It has its own
// Authenticode code-signing and RFC 3161 timestamp roots ([Sim.SigningRootsPEM]) and signs the
// releases it builds: [Sim.BuildRelease] for any set of files, [Sim.WithdrawRelease] for the
// published release minus some AIK hosts' certificates with a "Removed the following AIK
// Certificates" entry in version.txt. A verifier that trusts those roots finds them valid;
// one that trusts only Microsoft's finds them invalid (untrusted_chain).
//
// Every host can be switched at run time to a failure [Mode] (withdrawn, 400, 500, 429, slow,
// hang, TCP reset, wrong TLS certificate) with added latency, from Go ([Sim.SetMode]), from a
// plain-HTTP control API ([Config.ControlAddr]) or from a timed [Scenario], whose steps set
// modes (host:, defaults:), publish a cab (publish:) or publish a signed release withdrawing
// AIK hosts (withdraw_release: [host, ...], with an optional date: 2026-11-23 for its
// version.txt entry).
//
// The control API (plain HTTP on [Config.ControlAddr], JSON in and out):
//
//	GET    /hosts              every known host with its mode, latency and request count (HostState)
//	GET    /hosts/{host}       one host
//	PUT    /hosts/{host}       {"mode": M, "latency_ms": N}: the host's own mode and added latency
//	PUT    /hosts/*            {"mode": M, "latency_ms": N}: M for every host, clearing their own modes
//	DELETE /hosts/{host}       the host follows the defaults again
//	GET    /defaults           {"mode": M, "latency_ms": N}
//	PUT    /defaults           {"mode": M, "latency_ms": N}: default mode / latency added to every answer (either may be left out)
//	GET    /trustlist          {"sha256": ..., "bytes": N, "aik_hosts": N}
//	PUT    /trustlist          body: cab bytes; publishes a new release, answers with the hosts added and removed
//	GET    /eks                the generated EK certificates with their service URLs and AIK hosts
//	GET    /ca.pem             the simulator's CA certificate
//
// Errors are {"error": "..."} with status 400 (bad input) or 404 (unknown endpoint).
//
// Latency: an answer waits the default latency plus the host's own (in mode slow, 2 s when the
// host has none); the wait ends early when the client gives up or the simulator closes. A host
// in tls_error gets the wrong certificate on new TLS handshakes; connections already open keep
// working.
//
// Some response bodies are not public and are invented here; each is marked so where it is
// produced (GetCACaps, Intel's and AMD's error bodies, Qualcomm's service, 429 and 500 bodies,
// the download path).
package sim
