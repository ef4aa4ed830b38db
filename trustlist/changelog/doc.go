// Package changelog parses version.txt, the free-text changelog shipped in TrustedTpm.cab.
//
// The file is written by hand. It starts with "The certificates were last updated on:" and a
// date, then lists dated entries, newest first. Each entry holds sections: a prose header
// ("Added the following AIK Certificates", "Removed revoked ifx certs:") followed by the
// certificate file names it concerns, one per line. Renames are written either on one line
// ("AMDTPM.crt to AMD-fTPM-RSA-RootCA.crt") or as a list of old names, a line "to", and a list
// of new names.
//
// Parse is tolerant by design: line ends may be CRLF, LF or a bare CR, mixed; indentation may
// be spaces or tabs; headers may or may not end in a colon; items may or may not carry a
// certificate extension; dates may be written "8-July-2024", "05-May-2024", "5-Jul-2024",
// "July 8, 2024", "2024-07-08" or "7/8/2024". A line that fits nothing known is kept (as a
// section with action Other, or as an item), never dropped, and never causes an error. Parse
// returns an error only when the input is clearly not a version.txt: see ErrNotChangelog.
//
// How a header is told from an item is described in classify.go; in short, a line led by
// an action verb or holding a colon is a header, a line starting with a certificate file
// name (a .cer/.crt/.der/.pem extension, or the AIK CA name form) is an item, and the
// remaining cases are decided by the shape of the line and its indentation.
//
// The changelog is not a manifest: certificates it lists as removed may still be shipped, and
// the member list of the cab is the authority on what is in it. Use Matches to compare an item
// with a member's file name.
package changelog
