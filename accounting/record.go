package accounting

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"math"
	"math/bits"
	"strings"
	"time"
	"unicode/utf8"
)

// Record is one finished scheduler job (or one run of a requeued job).
type Record struct {
	// Cluster is the cluster the job is stored and charged under: the source's configured
	// cluster (Options.Cluster) whenever one is set, whatever the file says; the file's own
	// cluster name only when none is set.
	Cluster string
	// FileCluster is the cluster name the file printed for the job (sacct's Cluster column,
	// jobcomp's Cluster=), "" when the format or the line prints none. It is kept as an
	// attribute: a FileCluster other than Cluster is a mismatch, counted by the scan.
	FileCluster string
	// JobID is the job as the scheduler prints it: "123", "123_4" (array task), "123+0"
	// (heterogeneous component), "6464684.server" (PBS).
	JobID     string
	User      string
	Group     string
	Account   string
	Partition string // Slurm partition, PBS queue
	QOS       string
	// State is normalised to the first word, upper case: COMPLETED, FAILED, CANCELLED, TIMEOUT,
	// NODE_FAIL, OUT_OF_MEMORY, PREEMPTED, REQUEUED (a run that ended by being requeued), …
	State    string
	ExitCode string // as printed: Slurm "0:0", PBS Exit_status

	Submit, Start, End time.Time // UTC; zero when the log says Unknown or None
	Elapsed            time.Duration

	Nodes, CPUs, GPUs int
	NodeList          string // hostlist as printed; "" for "None assigned"

	// RunCount is how many times the job was run, when the format prints it (PBS Pro
	// run_count); 0 when unknown.
	RunCount int

	File string // where the record was read, for tracing a charge back to its line
	Line int
}

// Key is the natural key of the job run: cluster + job id + submit time. It is stable across
// files and formats, so a job seen twice is stored once (two records of one key that differ:
// see Wins). A record without a Submit time is keyed by its End time instead (marked "end:" so
// the two never collide).
func (r Record) Key() string {
	// Built in a stack buffer for a single allocation, the string itself.
	var buf [96]byte
	k := append(buf[:0], r.Cluster...)
	k = append(k, '|')
	k = append(k, r.JobID...)
	k = append(k, '|')
	switch {
	case !r.Submit.IsZero():
		k = r.Submit.UTC().AppendFormat(k, time.RFC3339)
	case !r.End.IsZero():
		k = append(k, "end:"...)
		k = r.End.UTC().AppendFormat(k, time.RFC3339)
	}
	return string(k)
}

// ClusterMismatch reports whether the file named a cluster other than the one the record is
// stored under.
func (r Record) ClusterMismatch() bool { return r.FileCluster != "" && r.FileCluster != r.Cluster }

// IsGPU reports whether the job allocated at least one GPU.
func (r Record) IsGPU() bool { return r.GPUs >= 1 }

// NodeSeconds is allocated nodes × elapsed seconds for a CPU job, 0 for a GPU job: a CPU job's
// node-hours, exactly, in seconds. Every format the parsers read prints whole seconds; a
// fraction of a second, were there one, would be dropped.
func (r Record) NodeSeconds() int64 {
	if r.IsGPU() {
		return 0
	}
	return unitSeconds(r.Nodes, r.Elapsed)
}

// GPUSeconds is GPUs × elapsed seconds for a GPU job, 0 for a CPU job: a GPU job's core-hours,
// exactly, in seconds.
func (r Record) GPUSeconds() int64 {
	if !r.IsGPU() {
		return 0
	}
	return unitSeconds(r.GPUs, r.Elapsed)
}

// unitSeconds returns units × whole seconds of d, saturating at the largest int64 (no real job
// comes near it).
func unitSeconds(units int, d time.Duration) int64 {
	if units <= 0 || d < time.Second {
		return 0
	}
	hi, lo := bits.Mul64(uint64(units), uint64(d/time.Second))
	if hi != 0 || lo > math.MaxInt64 {
		return math.MaxInt64
	}
	return int64(lo)
}

// MilliHours rounds seconds to thousandths of an hour (3.6 s), half up, for showing usage as
// hours with three decimals: 1 s → 0, 2 s → 1, 9 s (2.5 milli-hours) → 3. Sum the seconds and
// round the sum once; never sum rounded values.
func MilliHours(seconds int64) int64 {
	neg := seconds < 0
	if neg {
		seconds = -seconds
	}
	// seconds × 1000 / 3600 = seconds × 5 / 18; half up: + 9 before dividing by 18.
	hi, lo := bits.Mul64(uint64(seconds), 5)
	lo, carry := bits.Add64(lo, 9, 0)
	q, _ := bits.Div64(hi+carry, lo, 18)
	if neg {
		return -int64(q)
	}
	return int64(q)
}

// FormatHours shows seconds as hours with exactly three decimals, rounded half up once:
// 3600 → "1.000", 1 → "0.000", 5400 → "1.500".
func FormatHours(seconds int64) string {
	m := MilliHours(seconds)
	sign := ""
	if m < 0 {
		sign, m = "-", -m
	}
	return fmt.Sprintf("%s%d.%03d", sign, m/1000, m%1000)
}

// HoursNumber is seconds as hours rounded half up to three decimals, as a float for JSON
// numbers: the value is MilliHours(seconds)/1000, the nearest float to a 3-decimal figure.
func HoursNumber(seconds int64) float64 { return float64(MilliHours(seconds)) / 1000 }

// LineError is one line that could not be turned into a record.
type LineError struct {
	File string
	Line int
	Err  string
}

func (e LineError) Error() string { return fmt.Sprintf("%s:%d: %s", e.File, e.Line, e.Err) }

// Dedupe keeps one record per Key, the one that wins under the same-key rule (see Wins), in
// the order keys were first seen. Use it when the same job may appear in several files (a
// growing sacct dump, jobcomp and sacct) or twice in one: the result does not depend on the
// order of the records.
func Dedupe(recs []Record) []Record {
	idx := make(map[string]int, len(recs))
	out := make([]Record, 0, len(recs))
	for _, r := range recs {
		k := r.Key()
		if i, ok := idx[k]; ok {
			if Wins(r, out[i]) {
				out[i] = r
			}
			continue
		}
		idx[k] = len(out)
		out = append(out, r)
	}
	return out
}

// Wins reports whether record a replaces record b, a record of the same Key, under the
// same-key rule: the later End wins; with equal Ends the later Start; with equal Starts the
// greater ContentHash (bytes compared in order). An unknown (zero) time is earlier than every
// known one. The rule depends only on the two records, so whatever order records arrive in —
// one file, several files, several scans, concurrent stores — the same one is kept. Records
// with equal hashes store the same content: neither replaces the other.
func Wins(a, b Record) bool {
	ha, hb := a.ContentHash(), b.ContentHash()
	return CompareVersions(a.End, a.Start, ha[:], b.End, b.Start, hb[:]) > 0
}

// CompareVersions orders two versions of one job by the same-key rule (see Wins), from what
// is stored of them: +1 when a wins, -1 when b wins, 0 when they are the same content.
func CompareVersions(aEnd, aStart time.Time, aHash []byte, bEnd, bStart time.Time, bHash []byte) int {
	if c := compareTime(aEnd, bEnd); c != 0 {
		return c
	}
	if c := compareTime(aStart, bStart); c != 0 {
		return c
	}
	return bytes.Compare(aHash, bHash)
}

// compareTime orders times with the zero time (unknown) first.
func compareTime(a, b time.Time) int {
	switch {
	case a.IsZero() && b.IsZero():
		return 0
	case a.IsZero():
		return -1
	case b.IsZero():
		return 1
	}
	return a.Compare(b)
}

// ContentHash is the SHA-256 of a canonical encoding of what is stored of the record: every
// field but File and Line (where it was read, which says nothing of the job), NodeList and
// RunCount (not stored). Texts are taken as stored (invalid UTF-8 and NUL replaced by U+FFFD),
// each prefixed by its length; integers are 8 bytes big-endian; Elapsed in whole milliseconds
// and times in Unix microseconds (zero time: a marker byte), as PostgreSQL keeps them. Two
// records with the same hash store the same row.
func (r Record) ContentHash() [32]byte {
	var buf [320]byte       // one stack buffer: no allocation for any ordinary record
	b := append(buf[:0], 1) // encoding version
	for _, s := range [...]string{r.Cluster, r.FileCluster, r.JobID, r.User, r.Group, r.Account, r.Partition, r.QOS, r.State, r.ExitCode} {
		s = storedText(s)
		b = binary.BigEndian.AppendUint64(b, uint64(len(s)))
		b = append(b, s...)
	}
	for _, v := range [...]int64{int64(r.Nodes), int64(r.CPUs), int64(r.GPUs), r.Elapsed.Milliseconds()} {
		b = binary.BigEndian.AppendUint64(b, uint64(v))
	}
	for _, t := range [...]time.Time{r.Submit, r.Start, r.End} {
		if t.IsZero() {
			b = append(b, 0)
			continue
		}
		b = append(b, 1)
		b = binary.BigEndian.AppendUint64(b, uint64(t.UnixMicro()))
	}
	return sha256.Sum256(b)
}

// storedText is s as PostgreSQL's text stores it: invalid UTF-8 and NUL bytes replaced by U+FFFD.
func storedText(s string) string {
	if utf8.ValidString(s) && strings.IndexByte(s, 0) < 0 {
		return s
	}
	return strings.ReplaceAll(strings.ToValidUTF8(s, "\uFFFD"), "\x00", "\uFFFD")
}
