package netx

import (
	"fmt"
	"net"
	"strconv"
	"strings"
)

// Rule is one parsed resolve override: connections to a host matching Pattern (and Port, when
// set) go to Addr.
type Rule struct {
	Pattern  string // lower-case host name pattern; '*' matches any run of characters, dots included
	Port     string // port the rule is limited to; "" for every port
	Host     string // host or IP address to dial instead
	DialPort string // port to dial; "" keeps the original port
	raw      string
}

// String returns the rule as it was written.
func (r Rule) String() string { return r.raw }

// ParseResolve parses a "PATTERN=ADDR" rule. PATTERN is a host name that may contain '*'
// wildcards, optionally followed by ":PORT" to limit the rule to that port (curl's
// "host:443=addr" form). ADDR is "host:port", "[v6]:port", or a bare host or IP address (then
// the original port is kept).
func ParseResolve(s string) (Rule, error) {
	r := Rule{raw: s}
	pat, addr, ok := strings.Cut(strings.TrimSpace(s), "=")
	if !ok {
		return r, fmt.Errorf("resolve rule %q: want PATTERN=ADDR", s)
	}
	pat, addr = strings.TrimSpace(pat), strings.TrimSpace(addr)
	if i := strings.LastIndexByte(pat, ':'); i >= 0 {
		if err := checkPort(pat[i+1:]); err != nil {
			return r, fmt.Errorf("resolve rule %q: pattern port: %w", s, err)
		}
		pat, r.Port = pat[:i], pat[i+1:]
	}
	pat = strings.TrimSuffix(strings.ToLower(pat), ".")
	if pat == "" {
		return r, fmt.Errorf("resolve rule %q: empty host pattern", s)
	}
	for _, c := range pat {
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '.' || c == '-' || c == '_' || c == '*') {
			return r, fmt.Errorf("resolve rule %q: character %q not allowed in a host pattern", s, c)
		}
	}
	r.Pattern = pat
	if addr == "" {
		return r, fmt.Errorf("resolve rule %q: empty address", s)
	}
	host, port, err := net.SplitHostPort(addr)
	switch {
	case err == nil:
		if err := checkPort(port); err != nil {
			return r, fmt.Errorf("resolve rule %q: address port: %w", s, err)
		}
		r.Host, r.DialPort = host, port
	case net.ParseIP(addr) != nil: // bare IPv6 such as ::1
		r.Host = addr
	case strings.HasPrefix(addr, "[") && strings.HasSuffix(addr, "]") && net.ParseIP(addr[1:len(addr)-1]) != nil:
		r.Host = addr[1 : len(addr)-1]
	case !strings.ContainsAny(addr, ":[]"):
		r.Host = addr
	default:
		return r, fmt.Errorf("resolve rule %q: address %q is neither host:port nor a host", s, addr)
	}
	if r.Host == "" || strings.ContainsAny(r.Host, " /\\@") {
		return r, fmt.Errorf("resolve rule %q: bad address host %q", s, r.Host)
	}
	return r, nil
}

func checkPort(p string) error {
	n, err := strconv.Atoi(p)
	if err != nil || n < 1 || n > 65535 || strings.HasPrefix(p, "+") {
		return fmt.Errorf("%q is not a port number (1-65535)", p)
	}
	return nil
}

// Matches reports whether the rule applies to a connection to host (any case, trailing dot
// ignored) on port.
func (r Rule) Matches(host, port string) bool {
	if r.Port != "" && r.Port != port {
		return false
	}
	return wildcardMatch(r.Pattern, strings.TrimSuffix(strings.ToLower(host), "."))
}

// dialAddr returns the address to dial instead of a connection to port.
func (r Rule) dialAddr(port string) string {
	if r.DialPort != "" {
		port = r.DialPort
	}
	return net.JoinHostPort(r.Host, port)
}

// wildcardMatch matches s against pattern, where '*' stands for any run of characters
// (possibly empty) and everything else is literal.
func wildcardMatch(pattern, s string) bool {
	// Iterative glob with single-star backtracking: linear in practice, no recursion.
	p, i := 0, 0
	star, mark := -1, 0
	for i < len(s) {
		switch {
		case p < len(pattern) && pattern[p] == '*':
			star, mark = p, i
			p++
		case p < len(pattern) && pattern[p] == s[i]:
			p++
			i++
		case star >= 0:
			p = star + 1
			mark++
			i = mark
		default:
			return false
		}
	}
	for p < len(pattern) && pattern[p] == '*' {
		p++
	}
	return p == len(pattern)
}

// ParseRules parses every rule of list, naming the first bad one.
func ParseRules(list []string) ([]Rule, error) {
	rules := make([]Rule, 0, len(list))
	for _, s := range list {
		r, err := ParseResolve(s)
		if err != nil {
			return nil, err
		}
		rules = append(rules, r)
	}
	return rules, nil
}

// match returns the first rule that applies to host:port.
func match(rules []Rule, host, port string) (Rule, bool) {
	for _, r := range rules {
		if r.Matches(host, port) {
			return r, true
		}
	}
	return Rule{}, false
}
