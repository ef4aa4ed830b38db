package changelog

import (
	"bytes"
	"fmt"
	"unicode/utf16"
	"unicode/utf8"
)

// decode turns the raw bytes into text: it drops a UTF-8 byte order mark, decodes UTF-16
// marked by a byte order mark, drops a trailing DOS end-of-file mark (Ctrl-Z), and rejects
// input that is clearly not a text changelog (see ErrNotChangelog). Other bytes are kept as
// they are; the real files are ASCII.
func decode(data []byte) (string, error) {
	switch {
	case bytes.HasPrefix(data, []byte{0xEF, 0xBB, 0xBF}):
		data = data[3:]
	case bytes.HasPrefix(data, []byte{0xFF, 0xFE}):
		data = fromUTF16(data[2:], false)
	case bytes.HasPrefix(data, []byte{0xFE, 0xFF}):
		data = fromUTF16(data[2:], true)
	}
	data = bytes.TrimRight(data, "\x1a")
	trimmed := bytes.TrimSpace(data)
	if len(trimmed) == 0 {
		return "", fmt.Errorf("%w: empty", ErrNotChangelog)
	}
	if i := bytes.IndexByte(data, 0); i >= 0 {
		return "", fmt.Errorf("%w: binary data (NUL byte at offset %d)", ErrNotChangelog, i)
	}
	ctl := 0
	for _, c := range data {
		if c < 0x20 && c != '\t' && c != '\n' && c != '\r' && c != '\f' && c != '\v' || c == 0x7f {
			ctl++
		}
	}
	if ctl*100 > len(data) {
		return "", fmt.Errorf("%w: binary data (%d control characters in %d bytes)", ErrNotChangelog, ctl, len(data))
	}
	switch trimmed[0] {
	case '<':
		return "", fmt.Errorf("%w: markup (starts with %q)", ErrNotChangelog, prefix(trimmed, 20))
	case '{', '[':
		return "", fmt.Errorf("%w: JSON (starts with %q)", ErrNotChangelog, prefix(trimmed, 20))
	}
	return string(data), nil
}

func prefix(b []byte, n int) string {
	if len(b) > n {
		b = b[:n]
	}
	return string(b)
}

// fromUTF16 decodes UTF-16 (big- or little-endian) to UTF-8; an odd last byte is dropped.
func fromUTF16(b []byte, bigEndian bool) []byte {
	u := make([]uint16, len(b)/2)
	for i := range u {
		if bigEndian {
			u[i] = uint16(b[2*i])<<8 | uint16(b[2*i+1])
		} else {
			u[i] = uint16(b[2*i+1])<<8 | uint16(b[2*i])
		}
	}
	out := make([]byte, 0, len(u))
	for _, r := range utf16.Decode(u) {
		out = utf8.AppendRune(out, r)
	}
	return out
}
