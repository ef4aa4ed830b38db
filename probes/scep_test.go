package probes

import (
	"strings"
	"testing"
)

func TestParseCaps(t *testing.T) {
	caps, err := parseCaps([]byte("POSTPKIOperation\r\n\r\nSHA-256\n  AES \rSCEPStandard"))
	if err != nil || strings.Join(caps, ",") != "POSTPKIOperation,SHA-256,AES,SCEPStandard" {
		t.Errorf("%q %v", caps, err)
	}
	if caps, err := parseCaps(nil); err != nil || caps == nil || len(caps) != 0 {
		t.Errorf("empty: %q %v", caps, err)
	}
	for _, bad := range []string{"<html>", "two words", "-lead", "ok\n{\"Message\":1}", strings.Repeat("A", 65)} {
		if _, err := parseCaps([]byte(bad)); err == nil {
			t.Errorf("%q: no error", bad)
		}
	}
}

func TestServerMessage(t *testing.T) {
	for in, want := range map[string]string{
		`{"Message":"The authority \"x\" does not exist."}`: `The authority "x" does not exist.`,
		`{"message":"lower case key"}`:                      "lower case key", // encoding/json matches keys case-insensitively
		"plain\ntext\x00":                                   "plain text?",
		"":                                                  "",
		strings.Repeat("x", 300):                            strings.Repeat("x", 200) + "...",
	} {
		if got := serverMessage([]byte(in)); got != want {
			t.Errorf("serverMessage(%q) = %q, want %q", in, got, want)
		}
	}
	if !isWithdrawnMessage(`The authority "amd-keyid-52fb.microsoftaik.azure.net" does not exist.`) || isWithdrawnMessage("Not found") {
		t.Error("isWithdrawnMessage")
	}
}

func TestParseChainErrors(t *testing.T) {
	if _, _, err := parseChain(nil, "h", nil); err == nil || !strings.Contains(err.Error(), "empty") {
		t.Errorf("empty: %v", err)
	}
	if _, _, err := parseChain([]byte{0x30, 0x03, 1, 2, 3}, "h", nil); err == nil || !strings.Contains(err.Error(), "not PKCS#7") {
		t.Errorf("junk: %v", err)
	}
}
