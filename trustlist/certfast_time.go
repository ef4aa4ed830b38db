package trustlist

import (
	"time"

	"golang.org/x/crypto/cryptobyte"
	cbasn1 "golang.org/x/crypto/cryptobyte/asn1"
)

// Validity times for the fast certificate reader (see certfast.go), read as crypto/x509 reads them.

// readTime reads a UTCTime or GeneralizedTime as crypto/x509 does. The common forms
// (YYMMDDHHMMSSZ, YYYYMMDDHHMMSSZ) are read directly; others go to cryptobyte.
func readTime(s *cryptobyte.String, out *time.Time) bool {
	peek := *s
	var b cryptobyte.String
	switch {
	case s.PeekASN1Tag(cbasn1.UTCTime):
		if peek.ReadASN1(&b, cbasn1.UTCTime) {
			if t, ok := utcTime(b); ok {
				*s, *out = peek, t
				return true
			}
		}
		return s.ReadASN1UTCTime(out)
	case s.PeekASN1Tag(cbasn1.GeneralizedTime):
		if peek.ReadASN1(&b, cbasn1.GeneralizedTime) {
			if t, ok := generalizedTime(b); ok {
				*s, *out = peek, t
				return true
			}
		}
		return s.ReadASN1GeneralizedTime(out)
	}
	return false
}

// utcTime reads YYMMDDHHMMSSZ as cryptobyte's ReadASN1UTCTime does: time.Parse's two-digit
// years (69-99 are 19xx), then 2050 and later moved back a century. It reports false for any
// other form, which it leaves to cryptobyte.
func utcTime(b []byte) (time.Time, bool) {
	if len(b) != 13 || b[12] != 'Z' {
		return time.Time{}, false
	}
	yy, ok := digits(b[0:2])
	if !ok {
		return time.Time{}, false
	}
	year := 2000 + yy
	if yy >= 69 {
		year = 1900 + yy
	}
	t, ok := clock(year, b[2:12])
	if !ok {
		return time.Time{}, false
	}
	if year >= 2050 {
		t = t.AddDate(-100, 0, 0)
	}
	return t, true
}

// generalizedTime reads YYYYMMDDHHMMSSZ as cryptobyte's ReadASN1GeneralizedTime does, and
// reports false for any other form.
func generalizedTime(b []byte) (time.Time, bool) {
	if len(b) != 15 || b[14] != 'Z' {
		return time.Time{}, false
	}
	hi, ok1 := digits(b[0:2])
	lo, ok2 := digits(b[2:4])
	if !ok1 || !ok2 {
		return time.Time{}, false
	}
	return clock(hi*100+lo, b[4:14])
}

// clock reads MMDDHHMMSS in year, with time.Parse's range checks.
func clock(year int, b []byte) (time.Time, bool) {
	var f [5]int
	for i := range f {
		n, ok := digits(b[2*i : 2*i+2])
		if !ok {
			return time.Time{}, false
		}
		f[i] = n
	}
	month, day, hour, minute, sec := f[0], f[1], f[2], f[3], f[4]
	if month < 1 || month > 12 || day < 1 || day > daysIn(time.Month(month), year) ||
		hour > 23 || minute > 59 || sec > 59 {
		return time.Time{}, false
	}
	return time.Date(year, time.Month(month), day, hour, minute, sec, 0, time.UTC), true
}

// digits reads two ASCII digits.
func digits(b []byte) (int, bool) {
	if b[0] < '0' || b[0] > '9' || b[1] < '0' || b[1] > '9' {
		return 0, false
	}
	return int(b[0]-'0')*10 + int(b[1]-'0'), true
}

// daysIn is the number of days of month m in year (Gregorian, proleptic).
func daysIn(m time.Month, year int) int {
	if m == time.February {
		if year%4 == 0 && (year%100 != 0 || year%400 == 0) {
			return 29
		}
		return 28
	}
	return 31 - int(m-1)%7%2
}
