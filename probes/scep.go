package probes

import (
	"bytes"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/smallstep/pkcs7"

	"github.com/aikwatch/aikwatch/trustlist"
)

// SCEP details of Microsoft's AIK CA service.
const (
	// AIKSCEPPath is the SCEP endpoint's path on every AIK CA host.
	AIKSCEPPath = "/templates/Aik/scep"
	// WindowsUserAgent is the User-Agent Windows' NDES client sends to the AIK CA service.
	WindowsUserAgent = "Mozilla/4.0 (compatible; Win32; NDES client 10.0.19041.746/vb_release_svc_prod1)"
)

// parseCaps splits a GetCACaps body into capability tokens, one per line, trimmed, empty
// lines dropped. An empty body is an empty list (RFC 8894 §3.5.2); anything that is not a
// list of tokens (an HTML page, binary) is an error naming the first bad line.
func parseCaps(body []byte) ([]string, error) {
	if !utf8.Valid(body) {
		return nil, errors.New("GetCACaps body is not text")
	}
	caps := []string{}
	for i, line := range strings.Split(strings.ReplaceAll(string(body), "\r", "\n"), "\n") {
		tok := strings.TrimSpace(line)
		if tok == "" {
			continue
		}
		if !isCapToken(tok) {
			return nil, fmt.Errorf("GetCACaps line %d is not a capability token: %q", i+1, excerpt([]byte(tok), 60))
		}
		caps = append(caps, tok)
	}
	return caps, nil
}

// isCapToken reports whether s looks like a SCEP capability ("POSTPKIOperation", "SHA-256",
// "SCEPStandard", ...).
func isCapToken(s string) bool {
	if len(s) > 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || i > 0 && (c == '-' || c == '_' || c == '.' || c == '+')) {
			return false
		}
	}
	return true
}

// parseChain parses a GetCACertChain body (PKCS#7 certs-only, DER) and picks the certificate
// whose subject CN names host. expected are the trust list's DER certificates for the host.
func parseChain(body []byte, host string, expected [][]byte) ([]ChainCert, *AIKCA, error) {
	if len(body) == 0 {
		return nil, nil, errors.New("GetCACertChain body is empty")
	}
	p7, err := pkcs7.Parse(body)
	if err != nil {
		return nil, nil, fmt.Errorf("GetCACertChain body is not PKCS#7: %w", err)
	}
	if len(p7.Certificates) == 0 {
		return nil, nil, errors.New("GetCACertChain PKCS#7 holds no certificates")
	}
	chain := make([]ChainCert, 0, len(p7.Certificates))
	var aik, aikMatch *x509.Certificate
	for _, c := range p7.Certificates {
		chain = append(chain, ChainCert{Subject: c.Subject.String(), Issuer: c.Issuer.String(), NotAfter: c.NotAfter.UTC()})
		n, err := trustlist.ParseAIKName(c.Subject.CommonName)
		if err != nil || n.Host() != host {
			continue
		}
		if aik == nil || c.NotAfter.After(aik.NotAfter) {
			aik = c
		}
		if aikMatch == nil && containsDER(expected, c.Raw) {
			aikMatch = c
		}
	}
	if aikMatch != nil {
		aik = aikMatch
	}
	if aik == nil {
		return chain, nil, fmt.Errorf("GetCACertChain has %d certificate(s) but none for %s", len(chain), host)
	}
	sum := sha256.Sum256(aik.Raw)
	ca := &AIKCA{Subject: aik.Subject.String(), NotAfter: aik.NotAfter.UTC(), SHA256: hex.EncodeToString(sum[:])}
	if len(expected) > 0 {
		m := aikMatch != nil
		ca.MatchesTrustList = &m
	}
	return chain, ca, nil
}

func containsDER(list [][]byte, der []byte) bool {
	for _, d := range list {
		if bytes.Equal(d, der) {
			return true
		}
	}
	return false
}

// serverMessage returns the Message of a JSON error body such as
// {"Message":"The authority \"...\" does not exist."}, or a printable excerpt of any other body.
func serverMessage(body []byte) string {
	var m struct {
		Message *string `json:"Message"`
	}
	if json.Unmarshal(body, &m) == nil && m.Message != nil {
		return excerpt([]byte(*m.Message), 300)
	}
	return excerpt(body, 200)
}

// isWithdrawnMessage reports whether a 404 message is the service's "The authority \"<host>\"
// does not exist." answer.
func isWithdrawnMessage(msg string) bool {
	l := strings.ToLower(msg)
	return strings.HasPrefix(l, "the authority ") && strings.Contains(l, "does not exist")
}

// excerpt returns at most n bytes of b as printable single-line text.
func excerpt(b []byte, n int) string {
	cut := len(b) > n
	if cut {
		b = b[:n]
	}
	s := strings.Map(func(r rune) rune {
		switch {
		case r == utf8.RuneError:
			return '?'
		case r == '\n' || r == '\r' || r == '\t':
			return ' '
		case r < 0x20 || r == 0x7f:
			return '?'
		}
		return r
	}, string(b))
	s = strings.TrimSpace(s)
	if cut {
		s += "..."
	}
	return s
}
