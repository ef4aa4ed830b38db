package canary

import (
	"strings"
	"testing"
	"time"
)

// Validate names the first problem of a malformed or oversized report.
func TestReportValidate(t *testing.T) {
	t0 := time.Date(2026, 11, 23, 9, 0, 0, 0, time.UTC)
	good := func() *Report {
		return &Report{Version: ReportVersion, Canary: "lab-1", Started: t0, Finished: t0.Add(time.Second),
			TPM: &TPMInfo{ManufacturerID: "INTC"}, Checks: []Check{{Name: CheckTPM, Status: StatusOK}}}
	}
	if err := good().Validate(); err != nil {
		t.Fatalf("good report: %v", err)
	}
	long := strings.Repeat("x", MaxOutputBytes+1)
	for _, tc := range []struct {
		name, want string
		edit       func(r *Report)
	}{
		{"version", "report version 2", func(r *Report) { r.Version = 2 }},
		{"name", "canary name", func(r *Report) { r.Canary = "pc 1; rm" }},
		{"times", "finished is before started", func(r *Report) { r.Finished = t0.Add(-time.Hour) }},
		{"no checks", "no checks", func(r *Report) { r.Checks = nil }},
		{"interval", "interval_seconds", func(r *Report) { r.IntervalSeconds = 1e300 }},
		{"too many checks", "at most 16", func(r *Report) {
			for i := range MaxChecks {
				r.Checks = append(r.Checks, Check{Name: "c" + string(rune('a'+i)), Status: StatusOK})
			}
		}},
		{"duplicate check", "appears twice", func(r *Report) { r.Checks = append(r.Checks, r.Checks[0]) }},
		{"status", "status", func(r *Report) { r.Checks[0].Status = "not ok!" }},
		{"output", "longer than", func(r *Report) { r.Checks[0].Output = long }},
		{"hresult", "hresult", func(r *Report) { r.Checks[0].HRESULT = long[:17] }},
		{"agent", "agent", func(r *Report) { r.Agent = long[:257] }},
		{"aik host", "aik_host", func(r *Report) { r.AIKHost = long[:254] }},
		{"tpm field", "tpm.manufacturer_version", func(r *Report) { r.TPM.ManufacturerVersion = long[:65] }},
		{"tpm flags", "tpm.information_flags", func(r *Report) { r.TPM.InformationFlags = make([]string, 65) }},
	} {
		r := good()
		tc.edit(r)
		if err := r.Validate(); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want an error naming %q", tc.name, err, tc.want)
		}
	}
}
