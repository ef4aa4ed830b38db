package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"

	"github.com/alecthomas/kingpin/v2"

	"github.com/aikwatch/aikwatch/internal/authenticode"
	"github.com/aikwatch/aikwatch/trustlist"
)

// registerTrustlist adds `aikwatch trustlist show|diff|verify|extract`.
func (c *cli) registerTrustlist(actions map[string]func(context.Context) error) {
	tl := c.app.Command("trustlist", "Read, verify, index and diff TrustedTpm.cab releases. SOURCE is a .cab, a .zip/.tar.gz mirror, a directory or an https:// URL.")
	opts := c.trustlistFlags(tl)
	tl.Action(func(*kingpin.ParseContext) error { oneShot(); return nil })

	show := tl.Command("show", "Show a release: signature, counts, AIK hosts by vendor, EK CAs, anomalies.")
	showOut := outputFlag(show)
	showSrc := show.Arg("SOURCE", "Release to show.").Required().String()
	actions[show.FullCommand()] = func(ctx context.Context) error {
		o, err := opts()
		if err != nil {
			return err
		}
		s, err := trustlist.Load(ctx, *showSrc, o)
		if err != nil {
			return exitCode(2, err)
		}
		if *showOut == "json" {
			return writeJSON(c.stdout, s.Summary())
		}
		return renderSummary(c.stdout, s.Summary())
	}

	diff := tl.Command("diff", "Say what changed between two releases.")
	diffOut := outputFlag(diff)
	oldSrc := diff.Arg("OLD", "Older release.").Required().String()
	newSrc := diff.Arg("NEW", "Newer release.").Required().String()
	actions[diff.FullCommand()] = func(ctx context.Context) error {
		o, err := opts()
		if err != nil {
			return err
		}
		type res struct {
			s   *trustlist.Snapshot
			err error
		}
		oc := make(chan res, 1)
		go func() { s, err := trustlist.Load(ctx, *oldSrc, o); oc <- res{s, err} }()
		ns, err := trustlist.Load(ctx, *newSrc, o)
		or := <-oc
		if or.err != nil {
			return exitCode(2, or.err)
		}
		if err != nil {
			return exitCode(2, err)
		}
		d := trustlist.Compare(or.s, ns)
		if *diffOut == "json" {
			return writeJSON(c.stdout, d)
		}
		return renderDiff(c.stdout, d, or.s, ns)
	}

	verify := tl.Command("verify", "Verify a release's Authenticode signature. Exit 0 valid, 1 invalid or unsigned, 2 could not read.")
	verifyOut := outputFlag(verify)
	verifySrc := verify.Arg("SOURCE", "Release to verify.").Required().String()
	actions[verify.FullCommand()] = func(ctx context.Context) error {
		o, err := opts()
		if err != nil {
			return err
		}
		data, err := trustlist.ReadSource(ctx, *verifySrc, o)
		if err != nil {
			return exitCode(2, err)
		}
		if _, err := trustlist.Sniff(ctx, data, *verifySrc); err != nil {
			return exitCode(2, err)
		}
		sig := trustlist.VerifySignature(data, o)
		if *verifyOut == "json" {
			if err := writeJSON(c.stdout, sig); err != nil {
				return err
			}
		} else {
			renderSignature(c.stdout, *verifySrc, sig)
		}
		if sig.Status != trustlist.SignatureValid {
			return exitCode(1, nil)
		}
		return nil
	}

	extract := tl.Command("extract", "Extract a release's members into DIR (paths use /; unsafe names are refused).")
	extractSrc := extract.Arg("SOURCE", "Release to extract.").Required().String()
	extractDir := extract.Arg("DIR", "Destination directory (created).").Required().String()
	requireValid := extract.Flag("require-valid", "Refuse to extract unless the Authenticode signature is valid.").Bool()
	actions[extract.FullCommand()] = func(ctx context.Context) error {
		o, err := opts()
		if err != nil {
			return err
		}
		data, err := trustlist.ReadSource(ctx, *extractSrc, o)
		if err != nil {
			return exitCode(2, err)
		}
		sigc := make(chan trustlist.Signature, 1)
		go func() { sigc <- trustlist.VerifySignature(data, o) }()
		files, _, err := trustlist.ReadFiles(ctx, data, *extractSrc, o)
		sig := <-sigc
		if err != nil {
			return exitCode(2, err)
		}
		if sig.Status != trustlist.SignatureValid {
			if *requireValid {
				return exitCode(1, fmt.Errorf("signature %s (%s): not extracting", sig.Status, sig.Detail))
			}
			c.logger.Warn("extracting a release whose signature is not valid", "source", *extractSrc, "status", sig.Status, "reason", sig.Reason, "detail", sig.Detail)
		}
		if err := trustlist.WriteFiles(*extractDir, files); err != nil {
			return exitCode(2, err)
		}
		c.logger.Debug("extracted", "members", len(files), "dir", *extractDir, "signature", sig.Status)
		return nil
	}
}

// trustlistFlags adds the flags shared by the trustlist commands and returns a constructor of
// the loader options they describe.
func (c *cli) trustlistFlags(cmd *kingpin.CmdClause) func() (trustlist.Options, error) {
	maxSize := cmd.Flag("max-size", "Largest source accepted, in bytes.").Default(fmt.Sprint(trustlist.DefaultMaxSourceSize)).Int64()
	roots := cmd.Flag("roots", "PEM file of code-signing trust anchors replacing the embedded Microsoft Root Certificate Authority 2011.").ExistingFile()
	tsRoots := cmd.Flag("timestamp-roots", "PEM file of timestamp (RFC 3161) trust anchors replacing the embedded Microsoft Root Certificate Authority 2010.").ExistingFile()
	nf := addNetFlags(cmd)
	return func() (trustlist.Options, error) {
		o := trustlist.Options{MaxSourceSize: *maxSize}
		client, err := nf.options(downloadTimeout).Client()
		if err != nil {
			return o, exitCode(2, err)
		}
		o.Fetcher = &trustlist.Fetcher{Client: client, MaxSize: *maxSize}
		if *roots != "" || *tsRoots != "" {
			r, err := loadRoots(*roots, *tsRoots)
			if err != nil {
				return o, exitCode(2, err)
			}
			o.Roots = &r
		}
		return o, nil
	}
}

func outputFlag(cmd *kingpin.CmdClause) *string {
	return cmd.Flag("output", "Output format: text or json.").Short('o').Default("text").Enum("text", "json")
}

func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	if err := enc.Encode(v); err != nil {
		return fmt.Errorf("writing JSON: %w", err)
	}
	return nil
}

// loadRoots reads replacement trust anchors; an empty name keeps that chain's embedded root.
func loadRoots(codeSigning, timestamp string) (authenticode.Roots, error) {
	var cs, ts []string
	if codeSigning != "" {
		cs = []string{codeSigning}
	}
	if timestamp != "" {
		ts = []string{timestamp}
	}
	r, err := authenticode.LoadRoots(cs, ts)
	if err != nil {
		return r, fmt.Errorf("loading trust anchors: %w", err)
	}
	return r, nil
}
