// Package trustlist reads Microsoft's TPM trust list (TrustedTpm.cab), proves where it came
// from, indexes every certificate in it and says what changed between two releases.
//
// A [Snapshot] is one release: its bytes' SHA-256, its Authenticode verdict, every member
// classified by vendor folder, role and kind, the AIK CA hosts it names
// ({vendor}-{keyid|nameid}-{hex}.microsoftaik.azure.net), the EK CAs with the AIK host that
// serves each, and the parsed version.txt changelog. [Load] builds a Snapshot from a .cab, a
// .zip or .tar.gz mirror of the same tree, a plain directory, or an https:// URL. [Compare]
// diffs two snapshots: members added, removed and changed, AIK hosts withdrawn and added, EK
// CAs removed and added, the changelog entries newer than the old release, and where the
// changelog disagrees with the members actually shipped.
//
// Snapshots are plain data: the probes, the store, the exporter and the alerts consume them
// without reaching into this package's internals.
package trustlist
