package netx

import (
	"strings"
	"testing"
)

func TestWildcardMatch(t *testing.T) {
	for _, tc := range []struct {
		pattern, host string
		want          bool
	}{
		{"*", "anything.example", true},
		{"*", "", true},
		{"*.microsoftaik.azure.net", "ifx-keyid-abc.microsoftaik.azure.net", true},
		{"*.microsoftaik.azure.net", "a.b.microsoftaik.azure.net", true},
		{"*.microsoftaik.azure.net", "microsoftaik.azure.net", false},
		{"*.microsoftaik.azure.net", "x.microsoftaik.azure.net.evil.example", false},
		{"ifx-*.microsoftaik.azure.net", "ifx-keyid-1.microsoftaik.azure.net", true},
		{"ifx-*.microsoftaik.azure.net", "intc-keyid-1.microsoftaik.azure.net", false},
		{"*keyid*", "amd-keyid-1.microsoftaik.azure.net", true},
		{"*nameid*", "amd-keyid-1.microsoftaik.azure.net", false},
		{"a*b*c", "aXXbYYbZZc", true},
		{"a*b*c", "aXXbYYcZZ", false},
		{"**", "x", true},
		{"exact.host", "exact.host", true},
		{"exact.host", "exact.hostx", false},
		{"ekop.intel.com", "ekop.intel.com", true},
	} {
		if got := wildcardMatch(tc.pattern, tc.host); got != tc.want {
			t.Errorf("wildcardMatch(%q, %q) = %v, want %v", tc.pattern, tc.host, got, tc.want)
		}
	}
}

func TestRuleMatches(t *testing.T) {
	r, err := ParseResolve("*.MicrosoftAIK.azure.net=127.0.0.1:8443")
	if err != nil {
		t.Fatal(err)
	}
	for _, h := range []string{"IFX-KeyId-1.microsoftaik.azure.net", "ifx-keyid-1.MICROSOFTAIK.AZURE.NET.", "x.microsoftaik.azure.net"} {
		if !r.Matches(h, "443") {
			t.Errorf("%q should match", h)
		}
	}
	if r.Matches("ekop.intel.com", "443") {
		t.Error("ekop.intel.com should not match")
	}
	p, err := ParseResolve("ekop.intel.com:443=::1")
	if err != nil {
		t.Fatal(err)
	}
	if !p.Matches("ekop.intel.com", "443") || p.Matches("ekop.intel.com", "8443") {
		t.Error("port-limited rule")
	}
	if got := p.dialAddr("443"); got != "[::1]:443" {
		t.Errorf("dialAddr %q", got)
	}
	if got := r.dialAddr("443"); got != "127.0.0.1:8443" {
		t.Errorf("dialAddr %q", got)
	}
}

func TestParseResolve(t *testing.T) {
	for _, tc := range []struct {
		in                            string
		pattern, port, host, dialPort string
	}{
		{"*=127.0.0.1:8443", "*", "", "127.0.0.1", "8443"},
		{"X.Example:443=127.0.0.2", "x.example", "443", "127.0.0.2", ""},
		{"a.example=[::1]:9", "a.example", "", "::1", "9"},
		{"a.example=[::1]", "a.example", "", "::1", ""},
		{"a.example=localhost:1", "a.example", "", "localhost", "1"},
		{" a.example. = 127.0.0.1 ", "a.example", "", "127.0.0.1", ""},
	} {
		r, err := ParseResolve(tc.in)
		if err != nil {
			t.Errorf("%q: %v", tc.in, err)
			continue
		}
		if r.Pattern != tc.pattern || r.Port != tc.port || r.Host != tc.host || r.DialPort != tc.dialPort {
			t.Errorf("%q: got %+v", tc.in, r)
		}
		if r.String() != tc.in {
			t.Errorf("String() = %q", r.String())
		}
	}
}

func TestParseResolveErrors(t *testing.T) {
	for _, in := range []string{
		"", "no-equals", "=127.0.0.1", "host=", "host:99999=127.0.0.1", "host:abc=127.0.0.1",
		"ho st=127.0.0.1", "host=127.0.0.1:0", "host=127.0.0.1:http", "host=a:b:c", "host=[::1",
		"ho/st=127.0.0.1", "host=user@127.0.0.1",
	} {
		_, err := ParseResolve(in)
		if err == nil {
			t.Errorf("%q: no error", in)
			continue
		}
		if !strings.Contains(err.Error(), "resolve rule "+quote(in)) {
			t.Errorf("%q: error %q does not name the rule", in, err)
		}
	}
	if _, err := ParseRules([]string{"*=127.0.0.1", "bad"}); err == nil || !strings.Contains(err.Error(), `"bad"`) {
		t.Errorf("ParseRules: %v", err)
	}
	if _, err := (Options{Resolve: []string{"bad"}}).Client(); err == nil {
		t.Error("Client with a bad rule: no error")
	}
}

func quote(s string) string { return `"` + s + `"` }
