package daemon

import (
	"errors"
	"testing"
	"time"

	"github.com/aikwatch/aikwatch/canary"
	"github.com/aikwatch/aikwatch/internal/state"
)

func canaryReport(name string, status string) canary.Report {
	t0 := time.Date(2026, 11, 23, 8, 0, 0, 0, time.UTC)
	return canary.Report{Version: canary.ReportVersion, Canary: name, Agent: "test", Started: t0, Finished: t0.Add(40 * time.Second),
		IntervalSeconds: 3600, TPM: &canary.TPMInfo{ManufacturerID: "INTC", ReadyForAttestation: true},
		Checks: []canary.Check{{Name: canary.CheckTPM, Status: canary.StatusOK, Message: "ready"},
			{Name: canary.CheckEnrollAIK, Status: status, Message: "enrollment"}}}
}

// Reports are validated, kept per canary with their history of status changes, survive a
// restart, are bounded by canaries.max and can be forgotten.
func TestReportCanary(t *testing.T) {
	cfg := DefaultConfig()
	cfg.DataDir = t.TempDir()
	cfg.Canaries.Max = 2
	clock := time.Date(2026, 11, 23, 9, 0, 0, 0, time.UTC)
	var changes int
	opts := Options{Now: func() time.Time { return clock }, OnChange: func(*state.State) { changes++ }}
	d, err := New(cfg, opts)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := d.ReportCanary(canary.Report{Version: 1, Canary: "bad name!"}); !errors.Is(err, canary.ErrInvalidReport) {
		t.Fatalf("bad report: %v", err)
	}
	c, err := d.ReportCanary(canaryReport("pc-1", canary.StatusOK))
	if err != nil || !c.OK || c.Failures != 0 || !c.Since.Equal(clock) || !c.StaleAt.Equal(clock.Add(3*time.Hour)) {
		t.Fatalf("first report: %+v %v", c, err)
	}
	clock = clock.Add(time.Hour)
	c, err = d.ReportCanary(canaryReport("pc-1", canary.StatusNotFound))
	if err != nil || c.OK || c.Failures != 1 || !c.Since.Equal(clock) || !c.LastOK.Equal(clock.Add(-time.Hour)) {
		t.Fatalf("failing report: %+v %v", c, err)
	}
	clock = clock.Add(time.Hour)
	c, _ = d.ReportCanary(canaryReport("pc-1", canary.StatusNotFound))
	if c.Failures != 2 || !c.Since.Equal(clock.Add(-time.Hour)) {
		t.Fatalf("second failing report: %+v", c)
	}
	if _, err := d.ReportCanary(canaryReport("pc-0", canary.StatusOK)); err != nil {
		t.Fatal(err)
	}
	if _, err := d.ReportCanary(canaryReport("pc-2", canary.StatusOK)); !errors.Is(err, canary.ErrRefused) {
		t.Fatalf("third canary with max 2: %v", err)
	}
	st := d.State()
	if len(st.Canaries) != 2 || st.Canaries[0].Name != "pc-0" || st.Canaries[1].Name != "pc-1" || changes != 4 {
		t.Fatalf("state: %d canaries, %d changes", len(st.Canaries), changes)
	}
	if a := state.Assess(st, state.AssessOptions{Now: clock}); a.Verdict == state.Go {
		t.Errorf("a failing canary enrollment left the verdict %s", a.Verdict)
	}
	d.Close()

	// Restart: the canaries are back as they were.
	d, err = New(cfg, opts)
	if err != nil {
		t.Fatal(err)
	}
	if got, ok := d.State().Canary("pc-1"); !ok || got.Failures != 2 || got.OK || got.Report.Checks[1].Status != canary.StatusNotFound {
		t.Fatalf("after restart: %+v", got)
	}
	if found, err := d.ForgetCanary("pc-1"); !found || err != nil {
		t.Fatalf("forget: %v %v", found, err)
	}
	if found, _ := d.ForgetCanary("pc-1"); found {
		t.Error("forgot pc-1 twice")
	}
	if _, err := d.ReportCanary(canaryReport("pc-2", canary.StatusOK)); err != nil {
		t.Errorf("a slot was freed: %v", err)
	}
	d.Close()
	d, err = New(cfg, opts)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	if st := d.State(); len(st.Canaries) != 2 || st.Canaries[0].Name != "pc-0" || st.Canaries[1].Name != "pc-2" {
		t.Fatalf("after forget and restart: %+v", st.Canaries)
	}

	cfg.Canaries.Disabled = true
	d2 := &Daemon{cfg: cfg}
	if _, err := d2.ReportCanary(canaryReport("pc-3", canary.StatusOK)); !errors.Is(err, canary.ErrRefused) {
		t.Errorf("disabled: %v", err)
	}
}
