package daemon

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/aikwatch/aikwatch/alerts"
	"github.com/aikwatch/aikwatch/internal/state"
	"github.com/aikwatch/aikwatch/probes"
	"github.com/aikwatch/aikwatch/trustlist"
)

// Config is everything the daemon can be told. The zero value is not usable; start from
// [DefaultConfig], which watches Microsoft's real services with no configuration at all.
type Config struct {
	DataDir   string          `yaml:"data_dir"`
	TrustList TrustListConfig `yaml:"trustlist"`
	Schedule  ScheduleConfig  `yaml:"schedule"`
	Probes    ProbeConfig     `yaml:"probes"`
	EK        EKConfig        `yaml:"ek"`
	Network   NetworkConfig   `yaml:"network"`
	Fleet     FleetConfig     `yaml:"fleet"`
	Retention RetentionConfig `yaml:"retention"`
	Verdict   VerdictConfig   `yaml:"verdict"`
	Alerts    AlertsConfig    `yaml:"alerts"`
	Canaries  CanariesConfig  `yaml:"canaries"`
}

// CanariesConfig tunes how the daemon takes the Windows canaries' reports
// (POST /api/v1/canaries).
type CanariesConfig struct {
	// Disabled refuses every report (403); default false: reports are accepted.
	Disabled bool `yaml:"disabled"`
	// Max is how many distinct canaries are kept; a report from a new name beyond it is
	// refused. Default 200.
	Max int `yaml:"max"`
	// StaleAfter is how long a canary that runs once may stay silent before it counts as
	// stale; a canary that runs on an interval is stale after three intervals. Default 25h.
	StaleAfter time.Duration `yaml:"stale_after"`
}

// AlertsConfig tunes the alerts (rules, grouping, repeats, silences) and whether this instance
// delivers them to Slack itself.
type AlertsConfig struct {
	alerts.Config `yaml:",inline"`
	// Slack switches this instance's own Slack delivery off when false (several instances
	// behind one Alertmanager); the AIKWATCH_SLACK_* variables configure it. Default true.
	Slack *bool `yaml:"slack"`
}

// SlackEnabled reports whether this instance delivers alerts to Slack when Slack is configured.
func (a AlertsConfig) SlackEnabled() bool { return a.Slack == nil || *a.Slack }

// TrustListConfig says where the trust list comes from and whom to trust for its signature.
type TrustListConfig struct {
	URL              string   `yaml:"url"`                // default: Microsoft's fwlink
	MaxSize          int64    `yaml:"max_size"`           // bytes; default 64 MiB
	CodeSigningRoots []string `yaml:"code_signing_roots"` // PEM files replacing Microsoft Root CA 2011
	TimestampRoots   []string `yaml:"timestamp_roots"`    // PEM files replacing Microsoft Root CA 2010
	// ExtraRoots adds CodeSigningRoots and TimestampRoots to the embedded Microsoft roots
	// instead of replacing them (a mirror that re-signs some releases).
	ExtraRoots bool `yaml:"extra_roots"`
}

// ScheduleConfig holds cron specifications (robfig/cron: "@every 15m", "0 */6 * * *", ...).
type ScheduleConfig struct {
	TrustList  string        `yaml:"trustlist"`   // default "@every 6h"
	Sweep      string        `yaml:"sweep"`       // AIK hosts; default "@every 15m"
	EKServices string        `yaml:"ek_services"` // default "@every 15m"
	EKCAs      string        `yaml:"ek_cas"`      // default "@daily" (and after every new release)
	Jitter     time.Duration `yaml:"jitter"`      // random delay before each scheduled run; default 30s
}

// ProbeConfig tunes the AIK host sweep.
type ProbeConfig struct {
	Timeout     time.Duration `yaml:"timeout"`     // per host; default 10s
	Concurrency int           `yaml:"concurrency"` // default 32
}

// EKConfig lists the EK certificate services to probe.
type EKConfig struct {
	Services []EKServiceConfig `yaml:"services"` // default: Intel, AMD and Qualcomm, reachability only
	// ExpiryWindow is how far ahead an EK CA's expiry is reported; default 30 days.
	ExpiryWindow time.Duration `yaml:"expiry_window"`
}

// EKServiceConfig is one EK certificate service.
type EKServiceConfig struct {
	Name         string `yaml:"name"`           // intel, amd or qualcomm
	URL          string `yaml:"url"`            // base URL
	KnownKeyFile string `yaml:"known_key_file"` // EK public key or certificate of a lab device (PEM or DER)
	ExpectedCert string `yaml:"expected_cert"`  // the certificate the service should return for it
}

// NetworkConfig is the same as the --resolve and --ca-file flags.
type NetworkConfig struct {
	Resolve []string `yaml:"resolve"`  // PATTERN=ADDR
	CAFiles []string `yaml:"ca_files"` // extra trust anchors for TLS
}

// FleetConfig names what matters to the organisation.
type FleetConfig struct {
	Hosts   []string `yaml:"hosts"`    // AIK hosts
	Vendors []string `yaml:"vendors"`  // IFX, INTC, AMD, NTC, STM, ...
	EKCerts []string `yaml:"ek_certs"` // EK certificates of the fleet's devices (PEM or DER): their AIK hosts join Hosts
}

// RetentionConfig bounds the store.
type RetentionConfig struct {
	Releases int `yaml:"releases"` // cab files kept; default 50
	Diffs    int `yaml:"diffs"`    // diffs kept; default 200
}

// VerdictConfig tunes the go/no-go assessment.
type VerdictConfig struct {
	StaleAfter time.Duration `yaml:"stale_after"` // no successful refresh for this long degrades; default 24h
	// FailuresBeforeFailing is how many consecutive failed probes make a host count as failing;
	// default 1 (the alerts have their own threshold).
	FailuresBeforeFailing int `yaml:"failures_before_failing"`
}

// DefaultConfig watches Microsoft's real services from ./aikwatch-data.
func DefaultConfig() Config {
	var ek []EKServiceConfig
	for _, s := range probes.EKDefaultServices() {
		ek = append(ek, EKServiceConfig{Name: s.Name, URL: s.BaseURL})
	}
	return Config{
		DataDir:   "aikwatch-data",
		TrustList: TrustListConfig{URL: trustlist.DefaultURL, MaxSize: trustlist.DefaultMaxSourceSize},
		Schedule: ScheduleConfig{TrustList: "@every 6h", Sweep: "@every 15m", EKServices: "@every 15m",
			EKCAs: "@daily", Jitter: 30 * time.Second},
		Probes:    ProbeConfig{Timeout: probes.DefaultAIKTimeout, Concurrency: probes.DefaultConcurrency},
		EK:        EKConfig{Services: ek, ExpiryWindow: 30 * 24 * time.Hour},
		Retention: RetentionConfig{Releases: 50, Diffs: 200},
		Verdict:   VerdictConfig{StaleAfter: 24 * time.Hour, FailuresBeforeFailing: 1},
		Canaries:  CanariesConfig{Max: 200, StaleAfter: state.DefaultCanaryStaleAfter},
		Alerts: AlertsConfig{Config: alerts.Config{ConsecutiveSweeps: 2, SlowThreshold: 5 * time.Second,
			ExpiryWarn: 30 * 24 * time.Hour, ExpiryCrit: 7 * 24 * time.Hour, StaleAfter: 24 * time.Hour,
			RepeatInterval: 24 * time.Hour, RatePerSecond: 1,
			RunbookURL: "https://github.com/aikwatch/aikwatch/blob/main/docs/runbook.md"}},
	}
}

// LoadConfig reads a YAML file over the defaults; unknown keys are errors. An empty path
// returns the defaults. Environment variables (see [ApplyEnv]) are not applied here.
func LoadConfig(path string) (Config, error) {
	c := DefaultConfig()
	if path == "" {
		return c, nil
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return c, fmt.Errorf("config: %w", err)
	}
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	if err := dec.Decode(&c); err != nil && !errors.Is(err, io.EOF) {
		return c, fmt.Errorf("config %s: %w", path, err)
	}
	return c, c.Validate()
}

// Env names the environment variables [ApplyEnv] reads, for the README and --help.
var Env = map[string]string{
	"AIKWATCH_DATA_DIR":           "data_dir",
	"AIKWATCH_TRUSTLIST_URL":      "trustlist.url",
	"AIKWATCH_SCHEDULE_TRUSTLIST": "schedule.trustlist",
	"AIKWATCH_SCHEDULE_SWEEP":     "schedule.sweep",
	"AIKWATCH_PROBE_CONCURRENCY":  "probes.concurrency",
	"AIKWATCH_PROBE_TIMEOUT":      "probes.timeout",
	"AIKWATCH_FLEET_HOSTS":        "fleet.hosts (comma-separated)",
	"AIKWATCH_FLEET_VENDORS":      "fleet.vendors (comma-separated)",
	"AIKWATCH_RESOLVE":            "network.resolve (comma-separated)",
	"AIKWATCH_CA_FILES":           "network.ca_files (comma-separated)",
	"AIKWATCH_ALERTS_SLACK":       "alerts.slack (true|false)",
	"AIKWATCH_STATUS_URL":         "alerts.status_url (the page's external URL, linked from messages)",
}

// ApplyEnv overrides c with the AIKWATCH_* variables that are set (getenv is os.Getenv in
// production).
func (c *Config) ApplyEnv(getenv func(string) string) error {
	list := func(s string) []string {
		var out []string
		for _, p := range strings.Split(s, ",") {
			if p = strings.TrimSpace(p); p != "" {
				out = append(out, p)
			}
		}
		return out
	}
	if v := getenv("AIKWATCH_DATA_DIR"); v != "" {
		c.DataDir = v
	}
	if v := getenv("AIKWATCH_TRUSTLIST_URL"); v != "" {
		c.TrustList.URL = v
	}
	if v := getenv("AIKWATCH_SCHEDULE_TRUSTLIST"); v != "" {
		c.Schedule.TrustList = v
	}
	if v := getenv("AIKWATCH_SCHEDULE_SWEEP"); v != "" {
		c.Schedule.Sweep = v
	}
	if v := getenv("AIKWATCH_PROBE_CONCURRENCY"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil {
			return fmt.Errorf("AIKWATCH_PROBE_CONCURRENCY=%q: %w", v, err)
		}
		c.Probes.Concurrency = n
	}
	if v := getenv("AIKWATCH_PROBE_TIMEOUT"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil {
			return fmt.Errorf("AIKWATCH_PROBE_TIMEOUT=%q: %w", v, err)
		}
		c.Probes.Timeout = d
	}
	if v := getenv("AIKWATCH_FLEET_HOSTS"); v != "" {
		c.Fleet.Hosts = append(c.Fleet.Hosts, list(v)...)
	}
	if v := getenv("AIKWATCH_FLEET_VENDORS"); v != "" {
		c.Fleet.Vendors = append(c.Fleet.Vendors, list(v)...)
	}
	if v := getenv("AIKWATCH_RESOLVE"); v != "" {
		c.Network.Resolve = append(c.Network.Resolve, list(v)...)
	}
	if v := getenv("AIKWATCH_CA_FILES"); v != "" {
		c.Network.CAFiles = append(c.Network.CAFiles, list(v)...)
	}
	if v := getenv("AIKWATCH_ALERTS_SLACK"); v != "" {
		b, err := strconv.ParseBool(v)
		if err != nil {
			return fmt.Errorf("AIKWATCH_ALERTS_SLACK=%q: %w", v, err)
		}
		c.Alerts.Slack = &b
	}
	if v := getenv("AIKWATCH_STATUS_URL"); v != "" {
		c.Alerts.StatusURL = v
	}
	return c.Validate()
}

// Validate reports the first setting that cannot work, naming it.
func (c Config) Validate() error {
	switch {
	case c.DataDir == "":
		return errors.New("config: data_dir is empty")
	case c.TrustList.URL == "":
		return errors.New("config: trustlist.url is empty")
	case c.Probes.Concurrency < 1:
		return fmt.Errorf("config: probes.concurrency %d: want at least 1", c.Probes.Concurrency)
	case c.Probes.Timeout <= 0:
		return fmt.Errorf("config: probes.timeout %s: want a positive duration", c.Probes.Timeout)
	case c.Canaries.Max < 1:
		return fmt.Errorf("config: canaries.max %d: want at least 1", c.Canaries.Max)
	case c.Canaries.StaleAfter <= 0:
		return fmt.Errorf("config: canaries.stale_after %s: want a positive duration", c.Canaries.StaleAfter)
	}
	for name, spec := range map[string]string{"schedule.trustlist": c.Schedule.TrustList, "schedule.sweep": c.Schedule.Sweep,
		"schedule.ek_services": c.Schedule.EKServices, "schedule.ek_cas": c.Schedule.EKCAs} {
		if _, err := cronParser.Parse(spec); err != nil {
			return fmt.Errorf("config: %s %q: %w", name, spec, err)
		}
	}
	for _, h := range c.Fleet.Hosts {
		if _, err := trustlist.ParseAIKHost(state.NormalizeHost(h)); err != nil {
			return fmt.Errorf("config: fleet.hosts: %w", err)
		}
	}
	return nil
}
