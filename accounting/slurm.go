package accounting

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode"
)

// errNoValue marks a field that is legitimately unknown (empty, Unknown, None, INVALID, …):
// the caller falls back to the next source of the value.
var errNoValue = errors.New("no value")

// ParseElapsed reads a Slurm duration: `D-HH:MM:SS`, `HH:MM:SS` or `MM:SS`, seconds optionally
// with a fraction (`35:45.828`). The leading field may exceed its usual range (sacct never
// prints that, but other tools do); the fields after it may not. Empty fields and the specials
// `UNLIMITED`, `INVALID`, `Partition_Limit`, `Unknown`, `None` return an error that says there
// is no value.
func ParseElapsed(s string) (time.Duration, error) {
	s = strings.TrimSpace(s)
	if isNull(s) {
		return 0, errNoValue
	}
	switch strings.ToUpper(s) {
	case "UNLIMITED", "INVALID", "PARTITION_LIMIT":
		return 0, errNoValue
	}
	bad := func() error { return fmt.Errorf("bad duration %q", s) }
	var days int64
	rest := s
	d, r, hasDays := strings.Cut(s, "-")
	if hasDays {
		if !digits(d) || len(d) > 6 {
			return 0, bad()
		}
		days, _ = strconv.ParseInt(d, 10, 64)
		rest = r
	}
	var parts [3]string
	n := 0
	for p := range strings.SplitSeq(rest, ":") {
		if n == len(parts) {
			return 0, bad()
		}
		parts[n], n = p, n+1
	}
	if n < 2 || hasDays && n != 3 {
		return 0, bad()
	}
	// The seconds field may carry a fraction.
	var frac time.Duration
	if whole, f, ok := strings.Cut(parts[n-1], "."); ok {
		if len(f) > 9 || !digits(f) {
			return 0, bad()
		}
		ns, _ := strconv.ParseInt(f, 10, 64)
		for i := len(f); i < 9; i++ {
			ns *= 10
		}
		frac, parts[n-1] = time.Duration(ns), whole
	}
	var secs int64
	for i, p := range parts[:n] {
		if !digits(p) || len(p) > 9 {
			return 0, bad()
		}
		v, _ := strconv.ParseInt(p, 10, 64)
		if i > 0 && v >= 60 || hasDays && i == 0 && v >= 24 {
			return 0, bad()
		}
		secs = secs*60 + v
	}
	secs += days * 86400
	if secs > maxSeconds {
		return 0, fmt.Errorf("duration %q too large", s)
	}
	return time.Duration(secs)*time.Second + frac, nil
}

func digits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return s != ""
}

// isNull reports the spellings of "no value" the schedulers print, in any case. EqualFold
// matches exactly the strings whose strings.ToLower is one of them (TestIsNullFolding), without
// allocating a lower-case copy of every field.
func isNull(s string) bool {
	s = strings.TrimSpace(s)
	if s == "" {
		return true
	}
	switch s[0] { // the only bytes that start a string folding to one of them
	case 'u', 'U', 'n', 'N', '(':
		return strings.EqualFold(s, "unknown") || strings.EqualFold(s, "none") ||
			strings.EqualFold(s, "(null)") || strings.EqualFold(s, "n/a")
	}
	return false
}

const slurmTime = "2006-01-02T15:04:05"

// parseSlurmTime reads a local `YYYY-MM-DDTHH:MM:SS` in loc; Unknown, None and empty give a zero
// time. The result is UTC.
func parseSlurmTime(s string, loc *time.Location) (time.Time, error) {
	s = strings.TrimSpace(s)
	if isNull(s) {
		return time.Time{}, nil
	}
	if t, ok := parseClock(s, slurmClock, loc); ok {
		return t.UTC(), nil
	}
	t, err := time.ParseInLocation(slurmTime, s, loc)
	if err != nil {
		return time.Time{}, fmt.Errorf("bad time %q", s)
	}
	return t.UTC(), nil
}

// laterFold returns the later of the two instants a wall-clock time names when it falls in the
// hour repeated at the end of daylight saving time; otherwise t. time.ParseInLocation picks the
// earlier one, which makes a job that ends in the repeated hour seem to end before it started.
func laterFold(t time.Time, loc *time.Location) time.Time {
	_, before := t.Add(-2 * time.Hour).In(loc).Zone()
	_, after := t.Add(2 * time.Hour).In(loc).Zone()
	if before <= after {
		return t
	}
	alt := t.Add(time.Duration(before-after) * time.Second)
	if alt.In(loc).Format(slurmTime) == t.In(loc).Format(slurmTime) {
		return alt
	}
	return t
}

// orderTimes checks start ≤ end, resolving a daylight-saving fold in end when that explains
// the inversion.
func orderTimes(start, end time.Time, loc *time.Location) (time.Time, error) {
	if start.IsZero() || end.IsZero() || !end.Before(start) {
		return end, nil
	}
	if alt := laterFold(end, loc); !alt.Before(start) {
		return alt, nil
	}
	return end, fmt.Errorf("end %s before start %s", end.Format(time.RFC3339), start.Format(time.RFC3339))
}

// normState reduces a printed state to its first word: "CANCELLED by 102216" → "CANCELLED".
// sacct truncates wide columns with a '+', which is dropped too.
func normState(s string) string {
	s = strings.TrimLeftFunc(s, unicode.IsSpace)
	if i := strings.IndexFunc(s, unicode.IsSpace); i >= 0 {
		s = s[:i]
	}
	if s == "" {
		return ""
	}
	return strings.TrimRight(strings.ToUpper(s), "+")
}

// unfinished reports the states of jobs that may still run or are still running.
func unfinished(state string) bool {
	switch state {
	case "PENDING", "RUNNING", "SUSPENDED", "CONFIGURING", "COMPLETING", "RESIZING", "SIGNALING",
		"STAGE_OUT", "STOPPED", "REQUEUE_HOLD", "REQUEUE_FED", "RESV_DEL_HOLD":
		return true
	}
	return false
}

// maxArrayTasks bounds the expansion of one unexpanded array id; Slurm's MaxArraySize tops out
// near four million, but a line asking for more than this is treated as garbage.
const maxArrayTasks = 100_000

// appendJobIDs classifies a Slurm job id and appends the job ids it stands for to dst. A step
// (any id with a '.') returns step=true. An unexpanded array `123_[1-3,7]` (optionally with a
// `%N` throttle) appends one id per task. Anything else must be `N`, `N_M` or `N+M`.
func appendJobIDs(dst []string, id string) (ids []string, step bool, err error) {
	id = strings.TrimSpace(id)
	if strings.Contains(id, ".") {
		return nil, true, nil
	}
	base, tail, sep := id, "", ""
	if i := strings.IndexAny(id, "_+"); i >= 0 {
		base, tail, sep = id[:i], id[i+1:], id[i:i+1]
	}
	if !digits(base) {
		return nil, false, fmt.Errorf("bad job id %q", id)
	}
	switch {
	case sep == "":
		return append(dst, id), false, nil
	case digits(tail):
		return append(dst, id), false, nil
	case sep == "_" && strings.HasPrefix(tail, "[") && strings.HasSuffix(tail, "]"):
		tasks, err := expandRanges(tail[1 : len(tail)-1])
		if err != nil {
			return nil, false, fmt.Errorf("bad array job id %q: %v", id, err)
		}
		for _, t := range tasks {
			dst = append(dst, base+"_"+strconv.Itoa(t))
		}
		return dst, false, nil
	}
	return nil, false, fmt.Errorf("bad job id %q", id)
}

// expandRanges expands "1-3,7,9-11:2%4" into task numbers (a ":step" and a "%throttle" allowed).
func expandRanges(s string) ([]int, error) {
	s, _, _ = strings.Cut(s, "%")
	var out []int
	seen := map[int]bool{}
	for _, part := range strings.Split(s, ",") {
		rng, stepStr, hasStep := strings.Cut(part, ":")
		step := 1
		if hasStep {
			n, err := strconv.Atoi(stepStr)
			if err != nil || n < 1 || !digits(stepStr) {
				return nil, fmt.Errorf("bad step %q", stepStr)
			}
			step = n
		}
		lo, hi, isRange := strings.Cut(rng, "-")
		if !isRange {
			hi = lo
		}
		if !digits(lo) || !digits(hi) || len(lo) > 9 || len(hi) > 9 {
			return nil, fmt.Errorf("bad range %q", part)
		}
		a, _ := strconv.Atoi(lo)
		b, _ := strconv.Atoi(hi)
		if b < a {
			return nil, fmt.Errorf("bad range %q", part)
		}
		if (b-a)/step+1 > maxArrayTasks-len(out) {
			return nil, fmt.Errorf("more than %d tasks", maxArrayTasks)
		}
		for t := a; t <= b; t += step {
			if !seen[t] {
				seen[t] = true
				out = append(out, t)
			}
		}
	}
	return out, nil
}

// tres is what a TRES list says about an allocation; -1 means not present.
type tres struct{ nodes, cpus, gpus int }

// parseTRES reads `billing=64,cpu=9,gres/gpu:a100=1,gres/gpu=1,mem=60G,node=1`. The untyped
// `gres/gpu` entry is the total; the typed ones (`gres/gpu:a100`) are its breakdown and are
// summed only when no untyped entry is present, so GPUs are never counted twice.
func parseTRES(s string) (tres, error) {
	t := tres{nodes: -1, cpus: -1, gpus: -1}
	if isNull(s) {
		return t, nil
	}
	untyped, typed, anyTyped := -1, 0, false
	for kv := range strings.SplitSeq(s, ",") {
		k, v, ok := strings.Cut(strings.TrimSpace(kv), "=")
		if !ok {
			if kv == "" {
				continue
			}
			return t, fmt.Errorf("bad TRES entry %q", kv)
		}
		switch {
		case k == "node", k == "cpu", k == "gres/gpu", strings.HasPrefix(k, "gres/gpu:"):
		default:
			continue // mem=60G, billing, energy, licences: not counted here
		}
		n, err := count(v)
		if err != nil {
			return t, fmt.Errorf("bad TRES entry %q", kv)
		}
		switch {
		case k == "node":
			t.nodes = n
		case k == "cpu":
			t.cpus = n
		case k == "gres/gpu":
			untyped = n
		default:
			typed += n
			anyTyped = true
			if typed > maxCount {
				return t, fmt.Errorf("bad TRES entry %q", kv)
			}
		}
	}
	switch {
	case untyped >= 0:
		t.gpus = untyped
	case anyTyped:
		t.gpus = typed
	}
	return t, nil
}

// parseGRES reads a legacy GRES list, `gpu:2`, `gpu:k80:2(IDX:0-1)`, `gpu:tesla:1,mps:100`,
// with the same rule as parseTRES: an untyped count wins over the typed ones.
func parseGRES(s string) (int, error) {
	if isNull(s) {
		return -1, nil
	}
	untyped, typed, anyTyped := -1, 0, false
	for _, e := range strings.Split(s, ",") {
		e, _, _ = strings.Cut(strings.TrimSpace(e), "(")
		f := strings.Split(e, ":")
		if f[0] != "gpu" && f[0] != "gres/gpu" {
			continue
		}
		switch len(f) {
		case 1:
			untyped = max(untyped, 0) + 1
		case 2:
			n, err := count(f[1])
			if err != nil {
				// "gpu:k80" with no count means one GPU of that type.
				typed, anyTyped = typed+1, true
				continue
			}
			untyped = max(untyped, 0) + n
		default:
			n, err := count(f[len(f)-1])
			if err != nil {
				return -1, fmt.Errorf("bad GRES entry %q", e)
			}
			typed, anyTyped = typed+n, true
		}
		if typed > maxCount || untyped > maxCount {
			return -1, fmt.Errorf("bad GRES entry %q", e)
		}
	}
	switch {
	case untyped >= 0:
		return untyped, nil
	case anyTyped:
		return typed, nil
	}
	return -1, nil
}

// maxCount bounds node, CPU and GPU counts: larger numbers are garbage, not machines.
const maxCount = 1 << 30

// count reads a non-negative count no larger than maxCount.
func count(s string) (int, error) {
	s = strings.TrimSpace(s)
	if !digits(s) || len(s) > 10 {
		return 0, fmt.Errorf("bad count %q", s)
	}
	n, _ := strconv.Atoi(s)
	if n > maxCount {
		return 0, fmt.Errorf("count %q too large", s)
	}
	return n, nil
}

// maxSeconds bounds an elapsed time (a century): larger values are garbage.
const maxSeconds = 100 * 366 * 24 * 3600
