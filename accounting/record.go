package accounting

import (
	"fmt"
	"math"
	"math/bits"
	"time"
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
// files and formats, so a job seen twice is stored once. A record without a Submit time is
// keyed by its End time instead (marked "end:" so the two never collide).
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

// NodeHours is allocated nodes × elapsed hours for a CPU job, 0 for a GPU job.
func (r Record) NodeHours() float64 {
	if r.IsGPU() || r.Nodes <= 0 || r.Elapsed <= 0 {
		return 0
	}
	return float64(r.Nodes) * r.Elapsed.Hours()
}

// GPUCoreHours is GPUs × elapsed hours for a GPU job, 0 for a CPU job.
func (r Record) GPUCoreHours() float64 {
	if !r.IsGPU() || r.Elapsed <= 0 {
		return 0
	}
	return float64(r.GPUs) * r.Elapsed.Hours()
}

// NodeMilliHours is NodeHours in thousandths of an hour, computed in integers:
// nodes × elapsed milliseconds / 3600, rounded half up.
func (r Record) NodeMilliHours() int64 {
	if r.IsGPU() {
		return 0
	}
	return milliHours(r.Nodes, r.Elapsed)
}

// GPUMilliHours is GPUCoreHours in thousandths of an hour, computed like NodeMilliHours.
func (r Record) GPUMilliHours() int64 {
	if !r.IsGPU() {
		return 0
	}
	return milliHours(r.GPUs, r.Elapsed)
}

// milliHours returns units × d in milli-hours, rounded half up: an hour is 3,600,000 ms, so a
// milli-hour is 3,600 ms. The product is taken in 128 bits so that no input overflows
// silently; a result beyond int64 saturates (no real job comes near it).
func milliHours(units int, d time.Duration) int64 {
	if units <= 0 || d <= 0 {
		return 0
	}
	hi, lo := bits.Mul64(uint64(units), uint64(d.Milliseconds()))
	lo, carry := bits.Add64(lo, 1800, 0)
	hi += carry
	if hi >= 3600 {
		return math.MaxInt64
	}
	q, _ := bits.Div64(hi, lo, 3600)
	if q > math.MaxInt64 {
		return math.MaxInt64
	}
	return int64(q)
}

// LineError is one line that could not be turned into a record.
type LineError struct {
	File string
	Line int
	Err  string
}

func (e LineError) Error() string { return fmt.Sprintf("%s:%d: %s", e.File, e.Line, e.Err) }

// Dedupe keeps one record per Key, the last one seen, in the order keys were first seen. Use it
// when the same job may appear in several files (a growing sacct dump, jobcomp and sacct).
func Dedupe(recs []Record) []Record {
	idx := make(map[string]int, len(recs))
	out := make([]Record, 0, len(recs))
	for _, r := range recs {
		k := r.Key()
		if i, ok := idx[k]; ok {
			out[i] = r
			continue
		}
		idx[k] = len(out)
		out = append(out, r)
	}
	return out
}
