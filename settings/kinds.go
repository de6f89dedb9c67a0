package settings

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Int is a setting of a whole number from min to max.
func Int(key, description string, def, minV, maxV int64, fromFlag bool, apply func(int64)) Definition {
	return Definition{Key: key, Description: description, Default: def, FromFlag: fromFlag,
		Parse: func(raw json.RawMessage) (any, error) {
			dec := json.NewDecoder(bytes.NewReader(raw))
			dec.UseNumber()
			var v any
			if err := dec.Decode(&v); err != nil {
				return nil, errors.New("must be a whole number")
			}
			num, ok := v.(json.Number)
			if !ok {
				return nil, fmt.Errorf("must be a whole number from %d to %d", minV, maxV)
			}
			n, err := strconv.ParseInt(num.String(), 10, 64)
			if err != nil || n < minV || n > maxV {
				return nil, fmt.Errorf("must be a whole number from %d to %d", minV, maxV)
			}
			return n, nil
		},
		Apply: func(v any) { apply(v.(int64)) }}
}

// Text is a setting of a string that parse checks and normalises.
func Text(key, description, def string, fromFlag bool, parse func(string) (string, error), apply func(string)) Definition {
	return Definition{Key: key, Description: description, Default: def, FromFlag: fromFlag,
		Parse: func(raw json.RawMessage) (any, error) {
			var s string
			if err := json.Unmarshal(raw, &s); err != nil {
				return nil, errors.New("must be a string")
			}
			return parse(s)
		},
		Apply: func(v any) { apply(v.(string)) }}
}

// Duration is a setting of a period from min to max, or 0 (off) when zeroOK, written as a
// string: a whole number of days ("30d"), or a Go duration ("12h", "90m"). Its normal form is
// FormatDuration's.
func Duration(key, description string, def, minV, maxV time.Duration, zeroOK, fromFlag bool, apply func(time.Duration)) Definition {
	bounds := fmt.Sprintf("from %s to %s", FormatDuration(minV), FormatDuration(maxV))
	if zeroOK {
		bounds += `, or "0" to keep forever`
	}
	return Text(key, description, FormatDuration(def), fromFlag, func(s string) (string, error) {
		d, err := ParseDuration(s)
		switch {
		case err != nil:
			return "", fmt.Errorf(`must be a period such as "30d", "12h" or "90m" (%s)`, bounds)
		case d == 0 && zeroOK:
		case d < minV || d > maxV:
			return "", fmt.Errorf("must be %s", bounds)
		}
		return FormatDuration(d), nil
	}, func(s string) {
		d, _ := ParseDuration(s)
		apply(d)
	})
}

// ParseDuration reads "30d" (whole days), "0", or a Go duration of at least a second.
func ParseDuration(s string) (time.Duration, error) {
	s = strings.TrimSpace(s)
	if s == "0" {
		return 0, nil
	}
	if n, ok := strings.CutSuffix(s, "d"); ok {
		days, err := strconv.Atoi(n)
		if err != nil || days < 0 || days > 100*365 {
			return 0, fmt.Errorf("bad number of days %q", s)
		}
		return time.Duration(days) * 24 * time.Hour, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil || d < 0 || (d > 0 && d < time.Second) {
		return 0, fmt.Errorf("bad duration %q", s)
	}
	return d, nil
}

// FormatDuration writes d in the largest whole unit: "30d", "12h", "90m", "45s" ("0" for 0).
func FormatDuration(d time.Duration) string {
	switch {
	case d == 0:
		return "0"
	case d%(24*time.Hour) == 0:
		return strconv.FormatInt(int64(d/(24*time.Hour)), 10) + "d"
	case d%time.Hour == 0:
		return strconv.FormatInt(int64(d/time.Hour), 10) + "h"
	case d%time.Minute == 0:
		return strconv.FormatInt(int64(d/time.Minute), 10) + "m"
	}
	return strconv.FormatInt(int64(d.Round(time.Second)/time.Second), 10) + "s"
}
