package authenticode

import (
	"errors"
	"fmt"
	"time"
)

// Status is the overall outcome of a verification.
type Status string

// The possible outcomes of VerifyCab.
const (
	// StatusValid means the signature is intact, chains to a trusted root and was valid at the
	// verification time.
	StatusValid Status = "valid"
	// StatusUnsigned means the input is a cabinet that carries no Authenticode signature.
	StatusUnsigned Status = "unsigned"
	// StatusInvalid means the input is not a cabinet or carries a signature that does not verify;
	// Result.Reason says why.
	StatusInvalid Status = "invalid"
)

// Reason is a machine-readable cause of an invalid (or, for ReasonNone, any other) result.
// Its values are stable and suitable as metric labels.
type Reason string

// The reasons VerifyCab reports. When several problems are present, the first check that fails
// decides; the checks run in this order: the cabinet header and signature record
// (malformed_cabinet, truncated, unsupported, malformed_signature), the signature's structure
// (malformed_signature, unsupported), the cabinet digest (digest_mismatch), the PKCS#7
// signature (bad_signature), the timestamp token itself (bad_timestamp), the code-signing chain
// (untrusted_chain, expired), and last the timestamp authority's chain (bad_timestamp).
const (
	// ReasonNone is the reason of valid and unsigned results.
	ReasonNone Reason = ""
	// ReasonMalformedCabinet: the input is not a Microsoft Cabinet file, or its header or
	// signature record is inconsistent (e.g. data after the signature, a corrupt coffFiles).
	ReasonMalformedCabinet Reason = "malformed_cabinet"
	// ReasonTruncated: the file ends before the end of the signature its header announces,
	// typically an interrupted download.
	ReasonTruncated Reason = "truncated"
	// ReasonMalformedSignature: the signature blob is not a well-formed Authenticode PKCS#7
	// SignedData (undecodable, no or several signers, missing signer certificate, wrong
	// content type, missing signed attributes).
	ReasonMalformedSignature Reason = "malformed_signature"
	// ReasonUnsupported: the signature uses a form this package does not verify (digest
	// algorithm, multi-volume cabinet, per-folder reserve, timestamp form, SHA-1 signature).
	ReasonUnsupported Reason = "unsupported"
	// ReasonDigestMismatch: the cabinet's content differs from what was signed.
	ReasonDigestMismatch Reason = "digest_mismatch"
	// ReasonBadSignature: the PKCS#7 signature itself does not verify with the signer's key,
	// or the signed attributes do not match the signed content.
	ReasonBadSignature Reason = "bad_signature"
	// ReasonBadTimestamp: a timestamp is present but is broken, does not cover this signature,
	// or its authority does not chain to a trusted timestamp root at the timestamp's time.
	ReasonBadTimestamp Reason = "bad_timestamp"
	// ReasonUntrustedChain: the signer certificate does not chain to a trusted code-signing
	// root, or the chain does not allow code signing.
	ReasonUntrustedChain Reason = "untrusted_chain"
	// ReasonExpired: a certificate of the signer's chain was not valid at the verification time
	// (the timestamp's time, or now when the signature has no timestamp).
	ReasonExpired Reason = "expired"
)

// Result describes the outcome of verifying one cabinet.
type Result struct {
	// Status is the overall outcome.
	Status Status
	// Reason is empty when Status is valid or unsigned.
	Reason Reason
	// Detail is a human-readable explanation naming what failed (or what was verified).
	Detail string
	// Signer is the subject common name of the signer certificate, e.g. "Microsoft Corporation".
	Signer string
	// SignerIssuer is the issuer common name of the signer certificate.
	SignerIssuer string
	// Timestamp is the time asserted by the timestamp authority; zero if there is none.
	Timestamp time.Time
	// TimestampSigner is the subject common name of the timestamp authority's certificate.
	TimestampSigner string
	// VerifiedAt is the time at which certificate validity was evaluated.
	VerifiedAt time.Time
	// DigestAlgorithm names the hash of the Authenticode digest, e.g. "SHA-256".
	DigestAlgorithm string
	// Digest is the cabinet digest recorded in the signature.
	Digest []byte
	// ComputedDigest is the digest recomputed from the cabinet's bytes.
	ComputedDigest []byte
}

// Valid reports whether the result's status is valid.
func (r Result) Valid() bool { return r.Status == StatusValid }

// Err returns nil for a valid result and an *Error describing it otherwise.
func (r Result) Err() error {
	if r.Status == StatusValid {
		return nil
	}
	return &Error{Status: r.Status, Reason: r.Reason, Detail: r.Detail}
}

// Error is the error form of a result that is not valid. Use errors.Is with ErrUnsigned or
// ErrInvalid to test the status, and errors.As to read the reason.
type Error struct {
	Status Status // unsigned or invalid
	Reason Reason // empty for unsigned
	Detail string // as in Result.Detail
}

// Sentinel errors matched by *Error through errors.Is.
var (
	// ErrUnsigned matches errors of unsigned results.
	ErrUnsigned = errors.New("authenticode: cabinet is not signed")
	// ErrInvalid matches errors of invalid results.
	ErrInvalid = errors.New("authenticode: signature is invalid")
)

// Error formats the status, reason and detail.
func (e *Error) Error() string {
	if e.Status == StatusUnsigned {
		return "authenticode: unsigned: " + e.Detail
	}
	return fmt.Sprintf("authenticode: %s (%s): %s", e.Status, e.Reason, e.Detail)
}

// Is makes errors.Is(err, ErrUnsigned) and errors.Is(err, ErrInvalid) work.
func (e *Error) Is(target error) bool {
	switch target {
	case ErrUnsigned:
		return e.Status == StatusUnsigned
	case ErrInvalid:
		return e.Status == StatusInvalid
	}
	return false
}
