// Package authenticode verifies the Authenticode signature of Microsoft Cabinet files.
//
// It answers one question about a cabinet such as Microsoft's TrustedTpm.cab: was it signed by
// a code-signing certificate that chains to a trusted root, and is it unchanged since? VerifyCab
// recomputes the cabinet's Authenticode digest, checks the PKCS#7 signature, the timestamp and
// both certificate chains, and reports the outcome as a Result: valid, unsigned, or invalid
// with a machine-readable Reason.
//
// What a valid result means:
//
//   - The digest in the signature's SpcIndirectDataContent (SHA-1, SHA-256, SHA-384 or SHA-512)
//     equals the digest of the cabinet's bytes [0:4], [8:34] and [56:signature offset]: the
//     whole file up to the signature except reserved1, iCabinet, cbCFHeader/cbCFFolder/cbCFData
//     and the reserve's signature record. That is how osslsigncode (cab.c) computes it, and
//     Microsoft's signatures on TrustedTpm.cab match it.
//   - The only SignerInfo's signature verifies with its certificate, over signed attributes whose
//     messageDigest covers the SpcIndirectDataContent and whose contentType names it.
//   - The signer certificate chains to Roots.CodeSigning and allows code signing.
//   - If the signature carries a timestamp (an RFC 3161 token in the unsigned attribute
//     1.3.6.1.4.1.311.3.3.1, or a legacy Authenticode countersignature), the token's signature
//     verifies, it timestamps this signature's encrypted digest, and its authority chains to
//     Roots.Timestamp and allows timestamping. Both chains are then evaluated at the
//     timestamp's time: Microsoft's signing certificates live about a year, far shorter than
//     the files they sign. Without a timestamp they are evaluated at the current time.
//
// Not checked: revocation (like osslsigncode -ignore-crl), nested signatures
// (1.3.6.1.4.1.311.2.4.1; only the primary signature counts), the signer's own signingTime
// attribute (Authenticode ignores it). A timestamp that is present but does not verify makes the
// result invalid (bad_timestamp); osslsigncode instead falls back to the current time.
package authenticode
