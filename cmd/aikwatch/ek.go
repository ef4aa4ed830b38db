package main

import (
	"context"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/aikwatch/aikwatch/probes"
	"github.com/aikwatch/aikwatch/trustlist"
)

// ekMaxInput bounds an EK certificate or key file; real ones are a few KiB.
const ekMaxInput = 1 << 20

// ekInspectReport is the JSON output of `aikwatch ek inspect`: the inspection with the release
// it was made against.
type ekInspectReport struct {
	TrustList ekTrustListRef `json:"trust_list"`
	probes.EKInspection
}

// ekTrustListRef names the release an inspection used.
type ekTrustListRef struct {
	Source      string    `json:"source"`
	Format      string    `json:"format"`
	VersionDate time.Time `json:"version_date,omitzero"`
	Signature   string    `json:"signature"` // valid, invalid, unsigned
}

// registerEk adds `aikwatch ek url` and `aikwatch ek inspect`.
func (c *cli) registerEk(actions map[string]func(context.Context) error) {
	ek := c.app.Command("ek", "Endorsement-key tools: where the fTPM vendors serve an EK certificate, and whether one device's EK certificate has what Windows TPM attestation needs.")

	u := ek.Command("url", "Print the URL at which Intel's or AMD's EK certificate service serves the certificate of an EK. FILE holds the EK certificate or its public key (PEM or DER).")
	vendor := u.Flag("vendor", "EK certificate service: intel or amd.").Required().Enum("intel", "amd")
	keyFile := u.Arg("FILE", "EK certificate or public key (PEM or DER).").Required().String()
	actions[u.FullCommand()] = func(ctx context.Context) error {
		data, err := ekReadInput(*keyFile)
		if err != nil {
			return exitCode(2, err)
		}
		pub, _, err := probes.EKParsePublic(data)
		if err != nil {
			return exitCode(2, fmt.Errorf("%s: %w", *keyFile, err))
		}
		var url string
		if *vendor == "intel" {
			url, err = probes.EKIntelURL(pub)
		} else {
			url, err = probes.EKAMDURL(pub)
		}
		if err != nil {
			return exitCode(2, fmt.Errorf("%s: %w", *keyFile, err))
		}
		_, err = fmt.Fprintln(c.stdout, url)
		return err
	}

	in := ek.Command("inspect", "Check one device's EK certificate: its TPM manufacturer, the AIK CA host that serves it, whether the trust list has that host (and ever removed it), whether the issuing EK CA is shipped and valid, and the host live. Exit 0 when everything attestation needs is in place, 1 when something is missing, 2 on errors.")
	src := in.Flag("trustlist", "Trust list to check against: a .cab, a .zip/.tar.gz mirror, a directory or an https:// URL. Default: Microsoft's download link.").Default(trustlist.DefaultURL).PlaceHolder("SOURCE").String()
	noProbe := in.Flag("no-probe", "Do not probe the AIK CA host live (the verdict then rests on the trust list alone).").Bool()
	timeout := in.Flag("timeout", "Time allowed for the live probe (both requests).").Default(probes.DefaultAIKTimeout.String()).Duration()
	maxSize := in.Flag("max-size", "Largest trust-list source accepted, in bytes.").Default(fmt.Sprint(trustlist.DefaultMaxSourceSize)).Int64()
	out := outputFlag(in)
	nf := addNetFlags(in)
	certFile := in.Arg("EKCERT", "The device's EK certificate (PEM or DER), e.g. exported from the EKCertStore or fetched with `aikwatch ek url`.").Required().String()
	actions[in.FullCommand()] = func(ctx context.Context) error {
		oneShot()
		if *timeout <= 0 {
			return exitCode(2, fmt.Errorf("--timeout %s: want a positive duration", *timeout))
		}
		data, err := ekReadInput(*certFile)
		if err != nil {
			return exitCode(2, err)
		}
		if _, _, err := trustlist.ParseCertificate(data); err != nil {
			return exitCode(2, fmt.Errorf("%s: not an EK certificate: %w", *certFile, err))
		}
		dl, err := nf.options(downloadTimeout).Client()
		if err != nil {
			return exitCode(2, err)
		}
		defer dl.CloseIdleConnections()
		o := trustlist.Options{MaxSourceSize: *maxSize, Fetcher: &trustlist.Fetcher{Client: dl, MaxSize: *maxSize}}
		s, files, ref, err := c.ekLoadTrustList(ctx, *src, o)
		if err != nil {
			return exitCode(2, err)
		}
		opts := probes.EKInspectOptions{Files: files}
		if !*noProbe {
			client, err := nf.options(0).Client()
			if err != nil {
				return exitCode(2, err)
			}
			defer client.CloseIdleConnections()
			opts.Probe = probes.EKProbeWithAIK(&probes.AIKProber{Client: client, Timeout: *timeout}, files)
		}
		rep := ekInspectReport{TrustList: ref, EKInspection: probes.EKInspect(ctx, data, s, opts)}
		if rep.Error != "" {
			return exitCode(2, fmt.Errorf("%s: %s", *certFile, rep.Error))
		}
		if *out == "json" {
			err = writeJSON(c.stdout, rep)
		} else {
			err = renderEKInspection(c.stdout, rep)
		}
		if err != nil {
			return err
		}
		if !rep.Ready {
			return exitCode(1, nil)
		}
		return nil
	}
}

// ekReadInput reads a small input file, refusing anything over ekMaxInput.
func ekReadInput(name string) ([]byte, error) {
	f, err := os.Open(name)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, ekMaxInput+1))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	if len(data) > ekMaxInput {
		return nil, fmt.Errorf("%s: over %d bytes: not an EK certificate or key", name, ekMaxInput)
	}
	return data, nil
}

// ekLoadTrustList reads a release and keeps its members' bytes, which the EK CA checks need.
// A signature that is not valid is logged and reported, not fatal.
func (c *cli) ekLoadTrustList(ctx context.Context, source string, o trustlist.Options) (*trustlist.Snapshot, []trustlist.File, ekTrustListRef, error) {
	ref := ekTrustListRef{Source: source}
	var files []trustlist.File
	if st, err := os.Stat(source); err == nil && st.IsDir() {
		if files, err = ekReadDir(source, o.MaxSourceSize); err != nil {
			return nil, nil, ref, err
		}
		ref.Format, ref.Signature = "dir", trustlist.SignatureUnsigned
	} else {
		data, err := trustlist.ReadSource(ctx, source, o)
		if err != nil {
			return nil, nil, ref, err
		}
		sigc := make(chan trustlist.Signature, 1)
		go func() { sigc <- trustlist.VerifySignature(data, o) }()
		files, ref.Format, err = trustlist.ReadFiles(ctx, data, source, o)
		sig := <-sigc
		if err != nil {
			return nil, nil, ref, fmt.Errorf("%s: %w", source, err)
		}
		ref.Signature = sig.Status
		if sig.Status != trustlist.SignatureValid {
			c.logger.Warn("trust list signature is not valid; inspecting against it anyway", "source", source, "status", sig.Status, "reason", sig.Reason, "detail", sig.Detail)
		}
	}
	s, err := trustlist.Index(files)
	if err != nil {
		return nil, nil, ref, fmt.Errorf("%s: %w", source, err)
	}
	ref.VersionDate = s.VersionDate
	return s, files, ref, nil
}

// ekReadDir reads every regular file below dir as a release member, paths relative and
// slash-separated, within max bytes in all.
func ekReadDir(dir string, max int64) ([]trustlist.File, error) {
	if max <= 0 {
		max = trustlist.DefaultMaxSourceSize
	}
	var files []trustlist.File
	var total int64
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.Type().IsRegular() {
			return nil
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		if total += info.Size(); total > max {
			return fmt.Errorf("over %d bytes in all", max)
		}
		rel, err := filepath.Rel(dir, p)
		if err != nil {
			return err
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		files = append(files, trustlist.File{Path: filepath.ToSlash(rel), Data: b})
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("reading trust-list directory %s: %w", dir, err)
	}
	if len(files) == 0 {
		return nil, fmt.Errorf("trust-list directory %s holds no files", dir)
	}
	return files, nil
}

// renderEKInspection writes an inspection for people.
func renderEKInspection(w io.Writer, r ekInspectReport) error {
	var b strings.Builder
	line := func(format string, a ...any) { fmt.Fprintf(&b, format+"\n", a...) }
	yes := func(v bool) string {
		if v {
			return "yes"
		}
		return "no"
	}
	subject := r.Subject
	if subject == "" {
		subject = "(empty subject)"
	}
	line("EK certificate   %s", subject)
	line("  issuer         %s", r.Issuer)
	line("  valid          %s to %s%s", trustlist.DateString(r.NotBefore), trustlist.DateString(r.NotAfter), map[bool]string{true: " (expired)"}[r.Expired])
	line("  key            %s, signed %s", r.PublicKeyAlgorithm, r.SignatureAlgorithm)
	if m := r.Manufacturer; m != nil {
		name := m.Code
		if m.Name != "" {
			name += " (" + m.Name + ")"
		}
		if name == "" {
			name = "unreadable id " + m.ID
		}
		extra := ""
		if m.Model != "" {
			extra += ", model " + m.Model
		}
		if m.Version != "" {
			extra += ", version " + m.Version
		}
		line("  manufacturer   %s%s (from the %s)", name, extra, strings.ReplaceAll(m.Source, "_", " "))
	} else {
		line("  manufacturer   not named in the certificate")
	}
	if r.EKServiceURL != "" {
		line("  EK service     %s", r.EKServiceURL)
	}
	line("Trust list       %s (%s, %s, updated %s)", r.TrustList.Source, r.TrustList.Format, r.TrustList.Signature, dateOr(r.TrustList.VersionDate, "?"))
	if r.AIKHost != "" {
		line("AIK CA host      %s", r.AIKHost)
		files := ""
		if r.AIKHostInTrustList {
			files = fmt.Sprintf(" (%d certificates)", len(r.AIKHostFiles))
		}
		line("  in trust list  %s%s", yes(r.AIKHostInTrustList), files)
		if len(r.SameIDHosts) > 0 {
			line("  same id        %s", strings.Join(r.SameIDHosts, ", "))
		}
		for _, e := range r.Changelog {
			line("  changelog      %s %s %s", trustlist.DateString(e.Date), e.Action, e.Item)
		}
	} else {
		line("AIK CA host      unknown")
	}
	if ic := r.IssuingCA; ic != nil {
		line("Issuing EK CA    %s (found by %s)", ic.Path, strings.ReplaceAll(ic.MatchedBy, "_", " "))
		line("  signature      %s", ic.Signature)
		state := "valid"
		switch {
		case ic.Expired:
			state = "EXPIRED"
		case ic.Expiring:
			state = "expiring"
		}
		line("  valid until    %s (%s)", trustlist.DateString(ic.NotAfter), state)
		chain := ic.Chain
		if len(ic.ChainPath) > 0 {
			chain += " via " + strings.Join(ic.ChainPath, " -> ")
		}
		line("  chain          %s", chain)
	} else {
		line("Issuing EK CA    not in the trust list")
	}
	if p := r.Probe; p != nil {
		status := p.Status
		if p.HTTPStatus != 0 {
			status += fmt.Sprintf(" (HTTP %d)", p.HTTPStatus)
		}
		line("Live probe       %s in %.2f s", status, p.DurationSeconds)
	} else {
		line("Live probe       not run")
	}
	if r.Ready {
		line("Verdict          READY: everything attestation needs from outside the device is in place")
	} else {
		line("Verdict          NOT READY")
	}
	for _, p := range r.Problems {
		line("  problem: %s", p)
	}
	for _, x := range r.Warnings {
		line("  warning: %s", x)
	}
	_, err := io.WriteString(w, b.String())
	return err
}
