package main

import (
	"fmt"
	"io"
	"path"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/aikwatch/aikwatch/trustlist"
)

// dateOr formats t as YYYY-MM-DD or returns alt for the zero time.
func dateOr(t time.Time, alt string) string {
	if t.IsZero() {
		return alt
	}
	return t.UTC().Format(time.DateOnly)
}

func newTab(w io.Writer) *tabwriter.Writer { return tabwriter.NewWriter(w, 0, 4, 2, ' ', 0) }

func signatureLine(sig trustlist.Signature) string {
	switch sig.Status {
	case trustlist.SignatureValid:
		s := "valid, signed by " + sig.Signer
		if !sig.Timestamp.IsZero() {
			s += ", timestamp " + sig.Timestamp.UTC().Format(time.RFC3339)
		}
		if sig.Digest != "" {
			s += fmt.Sprintf(" (%s %s)", sig.DigestAlgorithm, sig.Digest)
		}
		return s
	default:
		s := strings.ToUpper(sig.Status)
		if sig.Reason != "" {
			s += " (" + sig.Reason + ")"
		}
		if sig.Detail != "" {
			s += ": " + sig.Detail
		}
		return s
	}
}

func renderSignature(w io.Writer, src string, sig trustlist.Signature) {
	fmt.Fprintf(w, "%s: %s\n", src, signatureLine(sig))
}

// renderSummary prints a release for people: identity, counts by vendor, AIK hosts grouped
// by vendor, EK CAs, and everything that needs a second look.
func renderSummary(w io.Writer, s trustlist.Summary) error {
	tw := newTab(w)
	fmt.Fprintf(tw, "Source\t%s (%s, %d bytes)\n", s.Source, s.Format, s.Size)
	fmt.Fprintf(tw, "SHA-256\t%s\n", s.SHA256)
	fmt.Fprintf(tw, "Version\t%s (%d changelog entries)\n", orDash(s.VersionDate), s.ChangelogEntries)
	fmt.Fprintf(tw, "Signature\t%s\n", signatureLine(s.Signature))
	fmt.Fprintf(tw, "Members\t%d (%d certificates, %d unparseable)\n", s.Members, s.Certificates, len(s.Unparseable))
	fmt.Fprintf(tw, "AIK hosts\t%d (%d without their EK CA in the release)\n", len(s.AIKHosts), len(s.Coverage.AIKHostsWithoutEKCA))
	fmt.Fprintf(tw, "EK CAs\t%d (%d served by no AIK host)\n", len(s.EKCAs), len(s.Coverage.EKCAsWithoutAIKHost))
	tw.Flush()

	fmt.Fprintln(w, "\nMembers by vendor folder")
	tw = newTab(w)
	fmt.Fprintln(tw, "  FOLDER\tAIK CA\tEK ROOT\tEK INTERMEDIATE\tOTHER")
	type row struct{ aik, root, inter, other int }
	rows := map[string]*row{}
	var folders []string
	for _, c := range s.Counts {
		f := c.VendorFolder
		if f == "" {
			f = "(top level)"
		}
		r := rows[f]
		if r == nil {
			r = &row{}
			rows[f] = r
			folders = append(folders, f)
		}
		switch c.Kind {
		case trustlist.KindAIKCA:
			r.aik += c.Count
		case trustlist.KindEKRoot:
			r.root += c.Count
		case trustlist.KindEKIntermediate:
			r.inter += c.Count
		default:
			r.other += c.Count
		}
	}
	for _, f := range folders {
		r := rows[f]
		fmt.Fprintf(tw, "  %s\t%d\t%d\t%d\t%d\n", f, r.aik, r.root, r.inter, r.other)
	}
	tw.Flush()

	byVendor := map[string][]trustlist.AIKHost{}
	var vendors []string
	for _, h := range s.AIKHosts {
		if _, ok := byVendor[h.Vendor]; !ok {
			vendors = append(vendors, h.Vendor)
		}
		byVendor[h.Vendor] = append(byVendor[h.Vendor], h)
	}
	sort.Strings(vendors)
	fmt.Fprintf(w, "\nAIK hosts by vendor (%d)\n", len(s.AIKHosts))
	for _, v := range vendors {
		fmt.Fprintf(w, "  %s (%d)\n", v, len(byVendor[v]))
		tw = newTab(w)
		for _, h := range byVendor[v] {
			ek := "(EK CA not in release)"
			if len(h.EKCAs) > 0 {
				ek = path.Base(h.EKCAs[0])
				if len(h.EKCAs) > 1 {
					ek += fmt.Sprintf(" +%d", len(h.EKCAs)-1)
				}
			}
			fmt.Fprintf(tw, "    %s\t%d file(s)\tuntil %s\t%s\n", h.Host, len(h.Files), dateOr(h.LatestNotAfter, "?"), ek)
		}
		tw.Flush()
	}

	fmt.Fprintf(w, "\nEK CAs by vendor folder (%d)\n", len(s.EKCAs))
	tw = newTab(w)
	for _, e := range s.EKCAs {
		host := e.AIKHost
		if host == "" {
			host = "-"
		}
		fmt.Fprintf(tw, "  %s\t%s\t%s\tuntil %s\t%s\n", e.VendorFolder, e.Role, path.Base(e.Path), dateOr(e.NotAfter, "?"), host)
	}
	tw.Flush()

	if len(s.Unparseable) > 0 {
		fmt.Fprintf(w, "\nCertificate files that do not parse (%d)\n", len(s.Unparseable))
		for _, u := range s.Unparseable {
			fmt.Fprintf(w, "  %s: %s\n", u.Path, u.Error)
		}
	}
	var other []trustlist.Anomaly
	for _, a := range s.Anomalies {
		if a.Kind != trustlist.AnomalyUnparseable {
			other = append(other, a)
		}
	}
	if len(other) > 0 {
		fmt.Fprintf(w, "\nAnomalies (%d)\n", len(other))
		for _, a := range other {
			fmt.Fprintf(w, "  %s: %s: %s\n", a.Kind, a.Path, a.Detail)
		}
	}
	if len(s.ShippedButRemoved) > 0 {
		fmt.Fprintf(w, "\nListed as removed in version.txt but still shipped (%d)\n", len(s.ShippedButRemoved))
		for _, m := range s.ShippedButRemoved {
			fmt.Fprintf(w, "  %s  %s (%q)\n", m.Date, m.Path, m.Section)
		}
	}
	return nil
}

// renderDiff prints a diff for people, withdrawn AIK hosts first.
func renderDiff(w io.Writer, d *trustlist.Diff, old, new *trustlist.Snapshot) error {
	tw := newTab(w)
	fmt.Fprintf(tw, "From\t%s\t%s\t%s\n", orDash(d.From.VersionDate), d.From.SHA256, old.Source)
	fmt.Fprintf(tw, "To\t%s\t%s\t%s\n", orDash(d.To.VersionDate), d.To.SHA256, new.Source)
	fmt.Fprintf(tw, "Signature\t%s\n", signatureLine(new.Signature))
	tw.Flush()

	fmt.Fprintf(w, "\nAIK hosts WITHDRAWN (%d): devices whose EK CA these serve can no longer attest\n", len(d.AIKHostsWithdrawn))
	listHosts(w, d.AIKHostsWithdrawn, old)
	fmt.Fprintf(w, "\nAIK hosts added (%d)\n", len(d.AIKHostsAdded))
	listHosts(w, d.AIKHostsAdded, new)
	fmt.Fprintf(w, "\nEK CAs removed (%d)\n", len(d.EKCAsRemoved))
	listEKCAs(w, d.EKCAsRemoved)
	fmt.Fprintf(w, "\nEK CAs added (%d)\n", len(d.EKCAsAdded))
	listEKCAs(w, d.EKCAsAdded)

	fmt.Fprintf(w, "\nMembers: %d added, %d removed, %d changed\n", len(d.Added), len(d.Removed), len(d.Changed))
	for _, g := range []struct {
		sign string
		list []trustlist.MemberChange
	}{{"-", d.Removed}, {"~", d.Changed}, {"+", d.Added}} {
		tw = newTab(w)
		for _, m := range g.list {
			fmt.Fprintf(tw, "  %s %s\t%s\n", g.sign, m.Path, m.Kind)
		}
		tw.Flush()
	}

	fmt.Fprintf(w, "\nChangelog entries after %s (%d)\n", orDash(d.From.VersionDate), len(d.Changelog))
	for _, e := range d.Changelog {
		fmt.Fprintf(w, "  %s\n", dateOr(e.Date, e.DateRaw))
		for _, sec := range e.Sections {
			fmt.Fprintf(w, "    %s [%s]\n", sec.Header, sec.Action)
			for _, it := range sec.Items {
				line := it.Name
				if it.RenamedTo != "" {
					line += " -> " + it.RenamedTo
				}
				if it.Note != "" {
					line += "  (" + it.Note + ")"
				}
				fmt.Fprintf(w, "      %s\n", line)
			}
		}
	}
	if len(d.ChangelogMismatches) > 0 {
		fmt.Fprintf(w, "\nChangelog and members disagree (%d)\n", len(d.ChangelogMismatches))
		for _, m := range d.ChangelogMismatches {
			what := m.Path
			if what == "" {
				what = m.Item
			}
			fmt.Fprintf(w, "  %s: %s %s\n", m.Kind, what, m.Date)
		}
	}
	return nil
}

func listHosts(w io.Writer, hosts []string, s *trustlist.Snapshot) {
	if len(hosts) == 0 {
		fmt.Fprintln(w, "  (none)")
		return
	}
	byVendor := map[string][]string{}
	var vendors []string
	for _, h := range hosts {
		a, _ := s.AIKHost(h)
		if _, ok := byVendor[a.Vendor]; !ok {
			vendors = append(vendors, a.Vendor)
		}
		byVendor[a.Vendor] = append(byVendor[a.Vendor], h)
	}
	sort.Strings(vendors)
	for _, v := range vendors {
		fmt.Fprintf(w, "  %s (%d)\n", v, len(byVendor[v]))
		for _, h := range byVendor[v] {
			fmt.Fprintf(w, "    %s\n", h)
		}
	}
}

func listEKCAs(w io.Writer, l []trustlist.EKCAChange) {
	if len(l) == 0 {
		fmt.Fprintln(w, "  (none)")
		return
	}
	tw := newTab(w)
	for _, e := range l {
		fmt.Fprintf(tw, "  %s\t%s\tuntil %s\t%s\n", e.VendorFolder, e.Path, dateOr(e.NotAfter, "?"), orDash(e.AIKHost))
	}
	tw.Flush()
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
