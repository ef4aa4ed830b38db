package trustlist

import "testing"

func TestParseAIKName(t *testing.T) {
	tests := []struct {
		in                                  string
		region, vendor, kind, id, gen, host string
		valid                               bool
	}{
		{"EUS-IFX-KEYID-090CAAE1858A3C3A3B6D4DF8978916FB205FCA90.cer", "EUS", "IFX", "keyid", "090caae1858a3c3a3b6d4df8978916fb205fca90", "",
			"ifx-keyid-090caae1858a3c3a3b6d4df8978916fb205fca90.microsoftaik.azure.net", true},
		{"AMD-keyid-1b4973cf8074bc4dd4b9de8a336fe3152ce6ec9d", "", "AMD", "keyid", "1b4973cf8074bc4dd4b9de8a336fe3152ce6ec9d", "",
			"amd-keyid-1b4973cf8074bc4dd4b9de8a336fe3152ce6ec9d.microsoftaik.azure.net", true},
		{"EUS-ATML-KEYID-16B341E381CD5C3E799AC838CA17F1F7F3F7431E_new.cer", "EUS", "ATML", "keyid", "16b341e381cd5c3e799ac838ca17f1f7f3f7431e", "_new",
			"atml-keyid-16b341e381cd5c3e799ac838ca17f1f7f3f7431e.microsoftaik.azure.net", true},
		{"WUS-WEC-NameId-19BCC8BF66E8EB3575C1E83ADB8D4E1612B56B0F_2.CER", "WUS", "WEC", "nameid", "19bcc8bf66e8eb3575c1e83adb8d4e1612b56b0f", "_2",
			"wec-nameid-19bcc8bf66e8eb3575c1e83adb8d4e1612b56b0f.microsoftaik.azure.net", true},
		{"NTZ-keyid-6ea5bcbda0be52890507175a3c12e8a3b8386f0cc.cer", "", "NTZ", "keyid", "6ea5bcbda0be52890507175a3c12e8a3b8386f0cc", "",
			"ntz-keyid-6ea5bcbda0be52890507175a3c12e8a3b8386f0cc.microsoftaik.azure.net", false},
	}
	for _, tt := range tests {
		n, err := ParseAIKName(tt.in)
		if err != nil {
			t.Errorf("ParseAIKName(%q): %v", tt.in, err)
			continue
		}
		if n.Region != tt.region || n.Vendor != tt.vendor || n.IDKind != tt.kind || n.ID != tt.id || n.Generation != tt.gen || n.Host() != tt.host || n.Valid() != tt.valid {
			t.Errorf("ParseAIKName(%q) = %+v host %s valid %v", tt.in, n, n.Host(), n.Valid())
		}
	}
	for _, bad := range []string{"", "Microsoft TPM Root Certificate Authority 2014", "IFX-KEYID-", "IFX-KEYID-xyz", "A-B-C-KEYID-00", "-KEYID-00", "IFX_KEYID_00"} {
		if n, err := ParseAIKName(bad); err == nil {
			t.Errorf("ParseAIKName(%q) = %+v, want error", bad, n)
		}
	}
}

func TestParseAIKHost(t *testing.T) {
	n, err := ParseAIKHost("IFX-KeyId-090CAAE1858A3C3A3B6D4DF8978916FB205FCA90.microsoftaik.azure.net.")
	if err != nil || n.Host() != "ifx-keyid-090caae1858a3c3a3b6d4df8978916fb205fca90.microsoftaik.azure.net" {
		t.Fatalf("ParseAIKHost = %+v, %v", n, err)
	}
	if _, err := ParseAIKHost("ifx-keyid-00.example.com"); err == nil {
		t.Error("a host outside the service domain parsed")
	}
	if _, err := ParseAIKHost("eus-ifx-keyid-00.microsoftaik.azure.net"); err == nil {
		t.Error("a host with a region prefix parsed")
	}
}
