package main

import (
	"strings"
	"time"

	"github.com/alecthomas/kingpin/v2"

	"github.com/aikwatch/aikwatch/internal/daemon"
	"github.com/aikwatch/aikwatch/internal/netx"
)

// netFlags are the network options shared by every command that reaches the outside.
type netFlags struct {
	resolve []string
	caFiles []string
}

// addNetFlags adds --resolve and --ca-file to cmd.
func addNetFlags(cmd *kingpin.CmdClause) *netFlags {
	nf := &netFlags{}
	cmd.Flag("resolve", "Connect to hosts matching PATTERN at ADDR instead of resolving them, keeping the real name for TLS (like curl --resolve). PATTERN may use * wildcards and an optional :PORT; ADDR is host:port or host. Repeatable; the first match wins. Example: '*.microsoftaik.azure.net=127.0.0.1:8443'.").
		PlaceHolder("PATTERN=ADDR").SetValue(&resolveValue{list: &nf.resolve})
	cmd.Flag("ca-file", "PEM file of certificates to trust in addition to the system roots. Repeatable.").
		PlaceHolder("FILE").ExistingFilesVar(&nf.caFiles)
	return nf
}

// options returns the netx options the flags describe, with a per-request timeout.
func (nf *netFlags) options(timeout time.Duration) netx.Options {
	return netx.Options{Resolve: nf.resolve, CAFiles: nf.caFiles, Timeout: timeout}
}

// resolveValue is a repeatable flag value that validates each rule as it is parsed, so a bad
// rule is a usage error naming the rule.
type resolveValue struct{ list *[]string }

func (v *resolveValue) Set(s string) error {
	if _, err := netx.ParseResolve(s); err != nil {
		return err
	}
	*v.list = append(*v.list, s)
	return nil
}

func (v *resolveValue) String() string { return strings.Join(*v.list, ",") }

// IsCumulative makes the flag repeatable.
func (v *resolveValue) IsCumulative() bool { return true }

// downloadTimeout bounds one trust-list download, as trustlist.Fetcher does by default.
const downloadTimeout = 2 * time.Minute

// rootsFlags are extra trust anchors for release signatures, added to Microsoft's (a mirror or
// the simulator that signs releases itself).
type rootsFlags struct{ codeSigning, timestamp []string }

// addRootsFlags adds --trustlist.extra-roots and --trustlist.extra-timestamp-roots to cmd.
func addRootsFlags(cmd *kingpin.CmdClause) *rootsFlags {
	r := &rootsFlags{}
	cmd.Flag("trustlist.extra-roots", "PEM file of code-signing roots trusted for release signatures in addition to Microsoft's (e.g. aikwatch simulate --signing-roots-out). Repeatable.").PlaceHolder("FILE").ExistingFilesVar(&r.codeSigning)
	cmd.Flag("trustlist.extra-timestamp-roots", "PEM file of RFC 3161 timestamp roots trusted in addition to Microsoft's. Repeatable.").PlaceHolder("FILE").ExistingFilesVar(&r.timestamp)
	return r
}

// apply adds the roots to a daemon configuration.
func (r *rootsFlags) apply(c *daemon.Config) {
	if len(r.codeSigning)+len(r.timestamp) == 0 {
		return
	}
	c.TrustList.CodeSigningRoots = append(c.TrustList.CodeSigningRoots, r.codeSigning...)
	c.TrustList.TimestampRoots = append(c.TrustList.TimestampRoots, r.timestamp...)
	c.TrustList.ExtraRoots = true
}
