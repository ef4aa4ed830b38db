package canary

import (
	"bytes"
	"strings"
	"unicode/utf16"
	"unicode/utf8"
)

// DecodeOutput turns the raw output of a Windows tool into text. Windows tools write UTF-8, the
// console's OEM or ANSI code page, or UTF-16LE (with or without a byte-order mark) when their
// output is redirected; all of these decode:
//
//   - a UTF-16LE byte-order mark, or a text whose odd bytes are mostly zero, is UTF-16LE;
//   - a UTF-8 byte-order mark is dropped;
//   - valid UTF-8 (which includes plain ASCII) is kept as it is;
//   - anything else is taken as a single-byte code page and decoded as Windows-1252. The keys
//     and codes the canary reads are ASCII, so the code page only matters for the evidence.
//
// NUL characters are dropped. It never fails.
func DecodeOutput(b []byte) string {
	switch {
	case bytes.HasPrefix(b, []byte{0xFF, 0xFE}):
		return decodeUTF16LE(b[2:])
	case bytes.HasPrefix(b, []byte{0xEF, 0xBB, 0xBF}):
		b = b[3:]
	case looksUTF16LE(b):
		return decodeUTF16LE(b)
	}
	if utf8.Valid(b) {
		return strings.ReplaceAll(string(b), "\x00", "")
	}
	var sb strings.Builder
	sb.Grow(len(b))
	for _, c := range b {
		switch {
		case c == 0:
		case c < 0x80:
			sb.WriteByte(c)
		case c < 0xA0:
			sb.WriteRune(cp1252[c-0x80])
		default:
			sb.WriteRune(rune(c)) // 0xA0 to 0xFF are Latin-1
		}
	}
	return sb.String()
}

// looksUTF16LE says whether b, without a byte-order mark, is UTF-16LE text: mostly ASCII
// characters, each followed by a zero byte.
func looksUTF16LE(b []byte) bool {
	n := len(b) / 2
	if n < 2 {
		return false
	}
	if n > 512 {
		n = 512
	}
	oddZero, evenZero := 0, 0
	for i := range n {
		if b[2*i] == 0 {
			evenZero++
		}
		if b[2*i+1] == 0 {
			oddZero++
		}
	}
	return oddZero*10 >= n*7 && evenZero*10 < n
}

func decodeUTF16LE(b []byte) string {
	u := make([]uint16, 0, len(b)/2)
	for i := 0; i+1 < len(b); i += 2 { // an odd last byte (a cut output) is dropped
		u = append(u, uint16(b[i])|uint16(b[i+1])<<8)
	}
	s := string(utf16.Decode(u))
	return strings.ReplaceAll(s, "\x00", "")
}

// cp1252 maps the bytes 0x80 to 0x9F of Windows-1252; undefined ones map to U+FFFD.
var cp1252 = [32]rune{
	'€', '\uFFFD', '‚', 'ƒ', '„', '…', '†', '‡', 'ˆ', '‰', 'Š', '‹', 'Œ', '\uFFFD', 'Ž', '\uFFFD',
	'\uFFFD', '‘', '’', '“', '”', '•', '–', '—', '˜', '™', 'š', '›', 'œ', '\uFFFD', 'ž', 'Ÿ',
}

// tail returns at most max bytes of the end of s, cut at a character boundary.
func tail(s string, max int) string {
	if len(s) <= max {
		return s
	}
	s = s[len(s)-max:]
	for i := 0; i < len(s) && i < utf8.UTFMax; i++ {
		if utf8.RuneStart(s[i]) {
			return s[i:]
		}
	}
	return s
}

// truncate returns at most max bytes of the start of s, cut at a character boundary.
func truncate(s string, max int) string {
	if len(s) <= max {
		return s
	}
	s = s[:max]
	for i := 0; i < utf8.UTFMax && len(s) > 0; i++ {
		if r, size := utf8.DecodeLastRuneInString(s); r != utf8.RuneError || size != 1 {
			break
		}
		s = s[:len(s)-1] // a character cut in two
	}
	return s
}

// lines splits text into lines, whatever the line ends (CRLF, LF or a bare CR).
func lines(s string) []string {
	s = strings.ReplaceAll(s, "\r\n", "\n")
	s = strings.ReplaceAll(s, "\r", "\n")
	return strings.Split(s, "\n")
}
