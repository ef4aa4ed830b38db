// Package cab reads Microsoft Cabinet (MS-CAB, "MSCF") files, such as Microsoft's
// TrustedTpm.cab.
//
// # Format
//
// A cabinet starts with a CFHEADER (magic "MSCF", the cabinet's declared size cbCabinet,
// the offset of the file table, counts, flags and an optional reserved area), followed by
// one CFFOLDER entry per folder and the CFFILE table. A folder is one compressed stream
// made of consecutive CFDATA blocks, each holding at most 32 KiB of uncompressed data and
// protected by an optional checksum. Each CFFILE entry names a member and locates its bytes
// by folder index, offset and length in the folder's uncompressed stream. This package
// decodes folders stored without compression and with MSZIP (each block is "CK" followed
// by a raw DEFLATE stream whose dictionary is the previous 32 KiB of output); LZX and
// Quantum folders are listed but reading them fails with [ErrUnsupportedCompression].
// Multi-cabinet sets are not supported ([ErrMultiCabinet]).
//
// Bytes after cbCabinet (where an Authenticode signature lives in signed cabinets) are not
// parsed; [Cabinet.Trailer] exposes them and [Header] exposes the header's reserved area,
// which holds the signature's offset and size.
//
// # Safety model
//
// Input is treated as hostile. [Open] checks every offset and count in the header, folder
// table, file table and the chain of CFDATA headers against the cabinet's actual size and
// against [Limits] before allocating anything whose size the file declares, so memory use
// is bounded by the input size and the limits. Folder data regions must not overlap, every
// member must lie inside its folder's uncompressed size, and the declared uncompressed
// total and the sum of member sizes must stay within the limits. While reading, each folder
// is decompressed exactly once, front to back; every block must produce exactly the number
// of bytes it declares (at most 32 KiB) and checksums are verified. Member names are
// converted to slash-separated UTF-8 and names that could escape an extraction directory
// (absolute, drive-qualified, containing ".." or NUL) are rejected. Errors name the
// folder, block or member concerned and wrap one of the exported sentinel errors, so
// callers can classify them with [errors.Is]. Malformed input never causes a panic.
package cab
