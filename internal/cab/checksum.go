package cab

import "encoding/binary"

// checksum computes the [MS-CAB] CFDATA checksum of p, continuing from seed: the XOR of
// p's little-endian 32-bit words, with the 1 to 3 trailing bytes combined most significant
// first (the spec's CSUMCompute).
func checksum(p []byte, seed uint32) uint32 {
	var x uint64
	for len(p) >= 32 {
		x ^= binary.LittleEndian.Uint64(p) ^ binary.LittleEndian.Uint64(p[8:]) ^
			binary.LittleEndian.Uint64(p[16:]) ^ binary.LittleEndian.Uint64(p[24:])
		p = p[32:]
	}
	for len(p) >= 8 {
		x ^= binary.LittleEndian.Uint64(p)
		p = p[8:]
	}
	csum := seed ^ uint32(x) ^ uint32(x>>32)
	if len(p) >= 4 {
		csum ^= binary.LittleEndian.Uint32(p)
		p = p[4:]
	}
	var t uint32
	switch len(p) {
	case 3:
		t = uint32(p[0])<<16 | uint32(p[1])<<8 | uint32(p[2])
	case 2:
		t = uint32(p[0])<<8 | uint32(p[1])
	case 1:
		t = uint32(p[0])
	}
	return csum ^ t
}

// blockChecksum computes the checksum stored in a CFDATA block: over the data first, then
// over the header fields that follow csum (cbData, cbUncomp and the reserved area).
func blockChecksum(hdrAfterCsum, data []byte) uint32 {
	return checksum(hdrAfterCsum, checksum(data, 0))
}
