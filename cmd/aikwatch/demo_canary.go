package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/aikwatch/aikwatch/canary"
	"github.com/aikwatch/aikwatch/probes"
)

// demoCanaryName names the demo's simulated Windows canary.
const demoCanaryName = "demo-device"

// runDemoCanary reports to the daemon at base, every interval until ctx ends, as a Windows
// canary on a device served by host would. There is no TPM here: the tpm check is
// simulated, and the "enrollment" is a real GetCACaps and GetCACertChain exchange with the
// simulator's AIK CA host, so the demo's withdrawal shows on the canary too (404 becomes
// not_found, 0x80190194, as certreq reports it).
func runDemoCanary(ctx context.Context, base, host string, probeClient *http.Client, interval time.Duration, log *slog.Logger) {
	prober := &probes.AIKProber{Client: probeClient, Timeout: 5 * time.Second}
	client := &http.Client{} // to the daemon: not through the simulator's name resolution
	vendor, _, _ := strings.Cut(host, "-")
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		rep := demoCanaryReport(ctx, prober, host, strings.ToUpper(vendor), interval)
		if err := postCanaryReport(ctx, client, base, rep); err != nil && ctx.Err() == nil {
			log.Warn("demo canary: report not delivered", "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// demoCanaryReport runs the demo canary's checks once.
func demoCanaryReport(ctx context.Context, prober *probes.AIKProber, host, vendor string, interval time.Duration) canary.Report {
	start := time.Now().UTC()
	rep := canary.Report{Version: canary.ReportVersion, Canary: demoCanaryName, Agent: "aikwatch demo " + version + " (simulated device)",
		Started: start, IntervalSeconds: interval.Seconds(), AIKHost: host,
		TPM: &canary.TPMInfo{ManufacturerID: vendor, SpecVersion: "2.0", ReadyForAttestation: true, CapableForAttestation: true,
			MaintenanceTaskComplete: true, InformationFlags: []string{"INFORMATION_EK_CERTIFICATE"}}}
	rep.Checks = append(rep.Checks, canary.Check{Name: canary.CheckTPM, Status: canary.StatusOK,
		Message: "simulated TPM: ready and capable for attestation"})
	r := prober.Probe(ctx, probes.Target{Host: host, Vendor: vendor})
	c := canary.Check{Name: canary.CheckEnrollAIK, Status: canary.StatusOK, DurationSeconds: r.DurationSeconds,
		Message: "GetCACaps and GetCACertChain answered (the demo does not enroll: no TPM)"}
	switch r.Status {
	case probes.StatusOK:
	case probes.StatusWithdrawn:
		c.Status, c.HRESULT = canary.StatusNotFound, "0x80190194"
		c.Message = "HTTP_E_STATUS_NOT_FOUND (0x80190194): the AIK CA for this TPM does not exist at the service: withdrawn or unknown key id"
	case probes.StatusTimeout:
		c.Status, c.HRESULT = canary.StatusTimeout, "0x800705B4"
		c.Message = "ERROR_TIMEOUT (0x800705B4): the AIK CA service did not answer in time"
	default:
		c.Status = canary.StatusCommandFailed
		c.Message = fmt.Sprintf("the AIK CA service failed: %s %s", r.Status, r.Error)
	}
	if len(c.Message) > canary.MaxOutputBytes {
		c.Message = c.Message[:canary.MaxOutputBytes]
	}
	rep.Checks = append(rep.Checks, c)
	rep.Finished = time.Now().UTC()
	return rep
}

// postCanaryReport sends rep to the daemon's API as aikwatch-canary does.
func postCanaryReport(ctx context.Context, client *http.Client, base string, rep canary.Report) error {
	body, err := json.Marshal(rep)
	if err != nil {
		return fmt.Errorf("encoding the report: %w", err)
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, base+"/api/v1/canaries", bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	res, err := client.Do(req)
	if err != nil {
		return fmt.Errorf("POST %s/api/v1/canaries: %w", base, err)
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK {
		return fmt.Errorf("POST %s/api/v1/canaries: %s", base, res.Status)
	}
	return nil
}
