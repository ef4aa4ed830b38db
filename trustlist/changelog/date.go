package changelog

import (
	"strings"
	"time"
)

// Dates in version.txt are written by hand. parseDate accepts a line that is nothing but a
// date, in any of these shapes (month names full or abbreviated, any case; an ordinal suffix
// and a leading weekday are allowed; a trailing ':' or '.' is ignored):
//
//	8-July-2024  05-May-2024  5-Jul-2024  8 July 2024      day month year
//	July 8, 2024  Jul 8th 2024                             month day year
//	2024-07-08  2024/7/8  2024-Jul-08                      year month day
//	7/8/2024  07-08-2024  7.8.24                           month/day/year (US order;
//	                                                       day/month when the first number > 12)
//
// The parts must be separated (by - / . , or blanks): "8July2024" is not a date.
// Years are 1970..2999; two-digit years mean 20yy. The result is UTC midnight.

var monthNames = map[string]time.Month{
	"jan": time.January, "january": time.January,
	"feb": time.February, "february": time.February,
	"mar": time.March, "march": time.March,
	"apr": time.April, "april": time.April,
	"may": time.May,
	"jun": time.June, "june": time.June,
	"jul": time.July, "july": time.July,
	"aug": time.August, "august": time.August,
	"sep": time.September, "sept": time.September, "september": time.September,
	"oct": time.October, "october": time.October,
	"nov": time.November, "november": time.November,
	"dec": time.December, "december": time.December,
}

var weekdayNames = map[string]bool{
	"mon": true, "monday": true, "tue": true, "tues": true, "tuesday": true,
	"wed": true, "wednesday": true, "thu": true, "thur": true, "thurs": true, "thursday": true,
	"fri": true, "friday": true, "sat": true, "saturday": true, "sun": true, "sunday": true,
}

// dateToken is a run of digits or of letters in a date line.
type dateToken struct {
	s     string
	digit bool
	sep   byte // separator that preceded the token, 0 for the first
}

// tokenizeDate splits s into digit and letter runs. It fails on any character that cannot
// occur in a date, so prose never tokenizes.
func tokenizeDate(s string) ([]dateToken, bool) {
	var toks []dateToken
	var sep byte
	for i := 0; i < len(s); {
		c := s[i]
		switch {
		case isDigit(c) || isLetter(c):
			j := i
			for j < len(s) && (isDigit(s[j]) == isDigit(c)) && (isDigit(s[j]) || isLetter(s[j])) {
				j++
			}
			toks = append(toks, dateToken{s: s[i:j], digit: isDigit(c), sep: sep})
			sep = 0
			if len(toks) > 5 {
				return nil, false
			}
			i = j
		case c == '-' || c == '/' || c == '.' || c == ',':
			if sep != 0 && sep != ' ' {
				return nil, false // two separators in a row, e.g. "8--July"
			}
			sep = c
			i++
		case c == ' ' || c == '\t':
			if sep == 0 {
				sep = ' '
			}
			i++
		default:
			return nil, false
		}
	}
	return toks, true
}

// parseDate parses a line that is only a date. It reports false for anything else.
func parseDate(line string) (time.Time, bool) {
	s := strings.TrimSpace(line)
	s = strings.TrimRight(s, ":.")
	if len(s) < 6 || len(s) > 40 || !isDigit(s[0]) && !isLetter(s[0]) {
		return time.Time{}, false
	}
	toks, ok := tokenizeDate(s)
	if !ok {
		return time.Time{}, false
	}
	// A leading weekday ("Monday, July 8, 2024").
	if len(toks) > 0 && !toks[0].digit && weekdayNames[strings.ToLower(toks[0].s)] {
		toks = toks[1:]
	}
	// An ordinal suffix ("8th") is a letter token right after a day number.
	toks = dropOrdinals(toks)
	if len(toks) != 3 || toks[1].sep == 0 || toks[2].sep == 0 { // "8July2024" is not a date
		return time.Time{}, false
	}
	a, b, c := toks[0], toks[1], toks[2]
	switch {
	case a.digit && !b.digit && c.digit: // 8-July-2024, 2024-Jul-08
		m, ok := monthNames[strings.ToLower(b.s)]
		if !ok {
			return time.Time{}, false
		}
		if len(a.s) == 4 {
			return mkDate(a.s, m, c.s)
		}
		return mkDate(c.s, m, a.s)
	case !a.digit && b.digit && c.digit: // July 8, 2024
		m, ok := monthNames[strings.ToLower(a.s)]
		if !ok {
			return time.Time{}, false
		}
		return mkDate(c.s, m, b.s)
	case a.digit && b.digit && c.digit:
		// All-numeric dates need one of - / . between the numbers, never bare spaces.
		if b.sep == ' ' || c.sep == ' ' || b.sep != c.sep {
			return time.Time{}, false
		}
		if len(a.s) == 4 { // 2024-07-08
			m, ok := numMonth(b.s)
			if !ok {
				return time.Time{}, false
			}
			return mkDate(a.s, m, c.s)
		}
		first, second := a.s, b.s // US order: month/day/year
		if n, _ := atoiSmall(first); n > 12 {
			first, second = second, first
		}
		m, ok := numMonth(first)
		if !ok {
			return time.Time{}, false
		}
		return mkDate(c.s, m, second)
	}
	return time.Time{}, false
}

func dropOrdinals(toks []dateToken) []dateToken {
	out := toks[:0:0]
	for i, t := range toks {
		if !t.digit && t.sep == 0 && i > 0 && toks[i-1].digit {
			switch strings.ToLower(t.s) {
			case "st", "nd", "rd", "th":
				continue
			}
		}
		out = append(out, t)
	}
	return out
}

func numMonth(s string) (time.Month, bool) {
	n, ok := atoiSmall(s)
	if !ok || len(s) > 2 || n < 1 || n > 12 {
		return 0, false
	}
	return time.Month(n), true
}

// mkDate builds UTC midnight of year ys, month m, day ds, checking that the day exists.
func mkDate(ys string, m time.Month, ds string) (time.Time, bool) {
	y, ok := atoiSmall(ys)
	if !ok {
		return time.Time{}, false
	}
	switch len(ys) {
	case 2:
		y += 2000
	case 4:
	default:
		return time.Time{}, false
	}
	d, ok := atoiSmall(ds)
	if !ok || len(ds) > 2 || d < 1 || d > 31 || y < 1970 || y > 2999 {
		return time.Time{}, false
	}
	t := time.Date(y, m, d, 0, 0, 0, 0, time.UTC)
	if t.Day() != d { // 31-February
		return time.Time{}, false
	}
	return t, true
}

// atoiSmall parses up to 4 decimal digits.
func atoiSmall(s string) (int, bool) {
	if s == "" || len(s) > 4 {
		return 0, false
	}
	n := 0
	for i := 0; i < len(s); i++ {
		if !isDigit(s[i]) {
			return 0, false
		}
		n = n*10 + int(s[i]-'0')
	}
	return n, true
}

func isDigit(c byte) bool  { return '0' <= c && c <= '9' }
func isLetter(c byte) bool { return 'a' <= c|0x20 && c|0x20 <= 'z' }
