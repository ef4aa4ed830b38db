package authenticode

import (
	"bytes"
	"crypto"
	"encoding/binary"
	"fmt"
)

// CFHEADER layout (MS-CAB) as far as Authenticode needs it. A signed cabinet has the header
// reserve flag set and a 20-byte abReserve that holds the signature record:
//
//	[0:4]   signature "MSCF"          [26:28] cFolders
//	[4:8]   reserved1 (0)             [28:30] cFiles
//	[8:12]  cbCabinet                 [30:32] flags
//	[12:16] reserved2                 [32:34] setID
//	[16:20] coffFiles                 [34:36] iCabinet
//	[20:24] reserved3                 [36:38] cbCFHeader (20)
//	[24:26] versionMinor, versionMajor [38] cbCFFolder (0)  [39] cbCFData (0)
//	[40:60] abReserve: [40:44] 0x00100000, [44:48] signature offset, [48:52] signature length,
//	        [52:60] zero
//
// followed by the optional next-cabinet names, cFolders CFFOLDER entries of 8 bytes, and from
// coffFiles on the CFFILE and CFDATA areas up to the signature.
const (
	cabMagic           = "MSCF"
	cfHeaderSize       = 36 // fixed part of CFHEADER
	signedHeaderSize   = 60 // fixed part plus cbCFHeader/cbCFFolder/cbCFData and a 20-byte reserve
	cfFolderSize       = 8
	flagPrevCabinet    = 0x0001
	flagNextCabinet    = 0x0002
	flagReservePresent = 0x0004
	sigReserveSize     = 20
	sigReserveMagic    = 0x00100000
)

// cabinet is a cabinet whose header announces an Authenticode signature.
type cabinet struct {
	data      []byte
	coffFiles uint32
	sigOffset uint32
	sigLen    uint32
}

// cabError is a verification failure found while reading the cabinet structure.
type cabError struct {
	status Status
	reason Reason
	detail string
}

func (e *cabError) Error() string { return e.detail }

func cabInvalid(reason Reason, format string, args ...any) *cabError {
	return &cabError{status: StatusInvalid, reason: reason, detail: fmt.Sprintf(format, args...)}
}

func cabUnsigned(format string, args ...any) *cabError {
	return &cabError{status: StatusUnsigned, detail: fmt.Sprintf(format, args...)}
}

// parseCabinet locates the signature of a cabinet and checks that the header is consistent
// with it. It follows the rules of osslsigncode (cab.c), the reference this package is
// cross-checked against: reserved1 must be zero, a signed cabinet has cbCFHeader = 20 and no
// per-folder or per-datablock reserve, the signature ends exactly at the end of the file, and
// coffFiles immediately follows the CFFOLDER table.
func parseCabinet(data []byte) (*cabinet, *cabError) {
	le := binary.LittleEndian
	if len(data) < cfHeaderSize || string(data[:4]) != cabMagic {
		return nil, cabInvalid(ReasonMalformedCabinet, "not a Microsoft Cabinet file (no MSCF header)")
	}
	if r := le.Uint32(data[4:8]); r != 0 {
		return nil, cabInvalid(ReasonMalformedCabinet, "CFHEADER reserved1 is 0x%08x, must be 0", r)
	}
	flags := le.Uint16(data[30:32])
	if flags&flagReservePresent == 0 {
		return nil, cabUnsigned("cabinet has no header reserve (flags 0x%04x), so no Authenticode signature", flags)
	}
	if len(data) < signedHeaderSize {
		return nil, cabInvalid(ReasonTruncated, "file is %d bytes, shorter than its %d-byte header", len(data), signedHeaderSize)
	}
	cbCFHeader, cbCFFolder, cbCFData := le.Uint16(data[36:38]), data[38], data[39]
	if cbCFHeader != sigReserveSize || le.Uint32(data[40:44]) != sigReserveMagic {
		return nil, cabUnsigned("header reserve (%d bytes) holds no Authenticode signature record", cbCFHeader)
	}
	if cbCFFolder != 0 || cbCFData != 0 {
		return nil, cabInvalid(ReasonUnsupported,
			"signed cabinet with per-folder (%d) or per-datablock (%d) reserve is not supported", cbCFFolder, cbCFData)
	}
	c := &cabinet{
		data:      data,
		coffFiles: le.Uint32(data[16:20]),
		sigOffset: le.Uint32(data[44:48]),
		sigLen:    le.Uint32(data[48:52]),
	}
	switch {
	case c.sigOffset == 0 && c.sigLen == 0:
		return nil, cabUnsigned("signature record is empty")
	case c.sigOffset == 0 || c.sigLen == 0:
		return nil, cabInvalid(ReasonMalformedSignature,
			"corrupt signature record: offset %d, length %d", c.sigOffset, c.sigLen)
	}
	if c.sigOffset < signedHeaderSize {
		return nil, cabInvalid(ReasonMalformedSignature, "signature offset %d lies inside the cabinet header", c.sigOffset)
	}
	end := uint64(c.sigOffset) + uint64(c.sigLen)
	switch {
	case end > uint64(len(data)):
		return nil, cabInvalid(ReasonTruncated,
			"file is %d bytes but its signature record announces %d bytes at offset %d (ending at %d)",
			len(data), c.sigLen, c.sigOffset, end)
	case end < uint64(len(data)):
		return nil, cabInvalid(ReasonMalformedCabinet,
			"%d bytes of unsigned data after the signature (signature ends at %d, file is %d bytes)",
			uint64(len(data))-end, end, len(data))
	}
	if flags&flagPrevCabinet != 0 {
		return nil, cabInvalid(ReasonUnsupported, "multi-volume cabinet (continues a previous cabinet) is not supported")
	}
	idx := uint64(signedHeaderSize)
	if flags&flagNextCabinet != 0 {
		// szCabinetNext and szDiskNext, NUL-terminated.
		for range 2 {
			n := bytes.IndexByte(data[idx:c.sigOffset], 0)
			if n < 0 {
				return nil, cabInvalid(ReasonMalformedCabinet, "unterminated next-cabinet name in CFHEADER")
			}
			idx += uint64(n) + 1
		}
	}
	idx += uint64(le.Uint16(data[26:28])) * cfFolderSize
	if idx != uint64(c.coffFiles) || c.coffFiles > c.sigOffset {
		return nil, cabInvalid(ReasonMalformedCabinet,
			"coffFiles is %d, but the CFFOLDER table ends at %d (signature at %d)", c.coffFiles, idx, c.sigOffset)
	}
	return c, nil
}

// signature returns the signature blob (DER PKCS#7, possibly zero-padded to 8 bytes).
func (c *cabinet) signature() []byte {
	return c.data[c.sigOffset : c.sigOffset+c.sigLen]
}

// digest computes the cabinet's Authenticode digest with h. It covers, in order:
//
//	[0:4]                 "MSCF"
//	[8:34]                cbCabinet .. setID (reserved1 is skipped)
//	[56:60]               the last 4 bytes of abReserve
//	[60:coffFiles]        next-cabinet names and the CFFOLDER entries
//	[coffFiles:sigOffset] CFFILE entries and CFDATA blocks
//
// so it leaves out reserved1, iCabinet, cbCFHeader/cbCFFolder/cbCFData and the part of the
// reserve that records the signature's position. parseCabinet guarantees the ranges are in
// bounds and contiguous from 56 on.
func (c *cabinet) digest(h crypto.Hash) []byte {
	w := h.New()
	w.Write(c.data[0:4])
	w.Write(c.data[8:34])
	w.Write(c.data[56:c.sigOffset])
	return w.Sum(nil)
}
