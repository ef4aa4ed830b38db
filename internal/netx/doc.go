// Package netx builds the HTTP clients aikwatch uses to reach Microsoft's services, with
// curl-like --resolve overrides and extra trust anchors.
//
// A resolve rule "PATTERN=ADDR" sends every connection to a host matching PATTERN to ADDR
// instead of the address DNS would give, while the TLS server name (SNI) and certificate
// verification keep the real host name. A host that a rule maps is never looked up in DNS and
// never sent through a proxy: this is what lets tests, the demo and lab set-ups point the
// production code at a simulator on loopback without touching the network.
package netx
