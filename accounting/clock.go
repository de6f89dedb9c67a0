package accounting

import "time"

// Masks of the fixed-width wall-clock times the schedulers print, for parseClock: Y, M, D, h, m
// and s each stand for one digit of the year, month, day, hour, minute and second; any other
// byte must appear as it is.
const (
	slurmClock = "YYYY-MM-DDThh:mm:ss" // the layout slurmTime, 2006-01-02T15:04:05
	pbsClock   = "MM/DD/YYYY hh:mm:ss" // the layout pbsTime, 01/02/2006 15:04:05
)

// parseClock is the fast path of time.ParseInLocation for a time printed exactly as mask says:
// it reads the digits, checks their ranges and calls time.Date in loc, as ParseInLocation
// itself ends by doing, so the two agree on every time it accepts, daylight-saving gaps and
// folds included (TestParseClockMatchesParseInLocation). ok is false for anything else —
// another width, a fraction of a second, a field out of range — which the caller passes to
// time.ParseInLocation for its result or its error.
func parseClock[T string | []byte](s T, mask string, loc *time.Location) (t time.Time, ok bool) {
	if len(s) != len(mask) {
		return time.Time{}, false
	}
	var year, month, day, hour, minute, sec int
	for i := 0; i < len(mask); i++ {
		var field *int
		switch mask[i] {
		case 'Y':
			field = &year
		case 'M':
			field = &month
		case 'D':
			field = &day
		case 'h':
			field = &hour
		case 'm':
			field = &minute
		case 's':
			field = &sec
		default:
			if s[i] != mask[i] {
				return time.Time{}, false
			}
			continue
		}
		c := s[i]
		if c < '0' || c > '9' {
			return time.Time{}, false
		}
		*field = *field*10 + int(c-'0')
	}
	if month < 1 || month > 12 || day < 1 || day > daysIn(month, year) || hour > 23 || minute > 59 || sec > 59 {
		return time.Time{}, false
	}
	return time.Date(year, time.Month(month), day, hour, minute, sec, 0, loc), true
}

// daysIn is the number of days of a month (1–12) in the proleptic Gregorian calendar, as the
// time package counts them.
func daysIn(month, year int) int {
	if month == 2 && year%4 == 0 && (year%100 != 0 || year%400 == 0) {
		return 29
	}
	return [...]int{31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31}[month-1]
}
