package cab

import "errors"

// Sentinel errors wrapped by the errors this package returns; test for them with errors.Is.
var (
	// ErrNotCab reports input that does not start with the "MSCF" signature.
	ErrNotCab = errors.New("not a cabinet file")
	// ErrTruncated reports a structure that extends past the end of the cabinet or file.
	ErrTruncated = errors.New("truncated")
	// ErrChecksum reports a CFDATA block whose stored checksum does not match its contents.
	ErrChecksum = errors.New("checksum mismatch")
	// ErrLimit reports input that exceeds one of the configured Limits.
	ErrLimit = errors.New("limit exceeded")
	// ErrUnsupportedCompression reports a folder compressed with LZX, Quantum or an
	// unknown method.
	ErrUnsupportedCompression = errors.New("unsupported compression")
	// ErrMultiCabinet reports a cabinet that is part of a multi-cabinet set (flags
	// PREV/NEXT_CABINET, or members continued from or to another cabinet).
	ErrMultiCabinet = errors.New("multi-cabinet sets unsupported")
	// ErrCorrupt reports structurally invalid content: inconsistent offsets or sizes,
	// invalid compressed data, unsafe member names and the like.
	ErrCorrupt = errors.New("corrupt cabinet")
)
