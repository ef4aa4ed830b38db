package cab

// Limits bounds what a cabinet may declare or produce. Open and Walk reject input that
// exceeds them with an error wrapping ErrLimit. A zero or negative field means the default
// from DefaultLimits.
type Limits struct {
	MaxFolders    int   // number of CFFOLDER entries; default 1024
	MaxMembers    int   // number of CFFILE entries; default 20,000
	MaxMemberSize int64 // size of one member in bytes; default 64 MiB
	MaxTotalSize  int64 // bytes decompressed or delivered in total; default 256 MiB
}

// DefaultLimits returns limits sized well above real-world cabinets such as TrustedTpm.cab
// (about 2,200 members and a few MB uncompressed) yet small enough to bound memory and time
// on hostile input.
func DefaultLimits() Limits {
	return Limits{
		MaxFolders:    1024,
		MaxMembers:    20000,
		MaxMemberSize: 64 << 20,
		MaxTotalSize:  256 << 20,
	}
}

// withDefaults returns l with every unset field replaced by its default.
func (l Limits) withDefaults() Limits {
	d := DefaultLimits()
	if l.MaxFolders <= 0 {
		l.MaxFolders = d.MaxFolders
	}
	if l.MaxMembers <= 0 {
		l.MaxMembers = d.MaxMembers
	}
	if l.MaxMemberSize <= 0 {
		l.MaxMemberSize = d.MaxMemberSize
	}
	if l.MaxTotalSize <= 0 {
		l.MaxTotalSize = d.MaxTotalSize
	}
	return l
}

// maxInputSize is the largest cabinet file (including trailing data such as a signature)
// that Format.Extract buffers in memory when its input cannot be read at random.
func (l Limits) maxInputSize() int64 {
	l = l.withDefaults()
	// Stored data can be slightly larger than its uncompressed size; allow for per-block
	// and per-member overhead plus a generous trailer (signatures are tens of KiB).
	return l.MaxTotalSize + l.MaxTotalSize/4 + int64(l.MaxMembers)*300 + int64(l.MaxFolders)*300 + 16<<20
}
