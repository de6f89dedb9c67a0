package accounting

import (
	"errors"
	"fmt"
	"io"
	"strings"
	"time"
)

// The keys of a jobcomp/filetxt line in the order Slurm prints them (Tres in current versions,
// Gres in legacy ones), as indexes of jobcompFields.
const (
	keyJobID = iota
	keyUserID
	keyGroupID
	keyName
	keyJobState
	keyPartition
	keyTimeLimit
	keyStartTime
	keyEndTime
	keyNodeList
	keyNodeCnt
	keyProcCnt
	keyWorkDir
	keyReservationName
	keyTres
	keyGres
	keyAccount
	keyQOS
	keyWcKey
	keyCluster
	keySubmitTime
	keyEligibleTime
	keyArrayJobID
	keyArrayTaskID
	keyHetJobID
	keyHetJobOffset
	keyDerivedExitCode
	keyExitCode
	numJobcompKeys
)

// jobcompKey is the index of a key, or -1 for a word that is not one. (A switch: this runs for
// every key of every line, and is several times faster than a map.)
func jobcompKey(k string) int {
	switch k {
	case "JobId":
		return keyJobID
	case "UserId":
		return keyUserID
	case "GroupId":
		return keyGroupID
	case "Name":
		return keyName
	case "JobState":
		return keyJobState
	case "Partition":
		return keyPartition
	case "TimeLimit":
		return keyTimeLimit
	case "StartTime":
		return keyStartTime
	case "EndTime":
		return keyEndTime
	case "NodeList":
		return keyNodeList
	case "NodeCnt":
		return keyNodeCnt
	case "ProcCnt":
		return keyProcCnt
	case "WorkDir":
		return keyWorkDir
	case "ReservationName":
		return keyReservationName
	case "Tres":
		return keyTres
	case "Gres":
		return keyGres
	case "Account":
		return keyAccount
	case "QOS":
		return keyQOS
	case "WcKey":
		return keyWcKey
	case "Cluster":
		return keyCluster
	case "SubmitTime":
		return keySubmitTime
	case "EligibleTime":
		return keyEligibleTime
	case "ArrayJobId":
		return keyArrayJobID
	case "ArrayTaskId":
		return keyArrayTaskID
	case "HetJobId":
		return keyHetJobID
	case "HetJobOffset":
		return keyHetJobOffset
	case "DerivedExitCode":
		return keyDerivedExitCode
	case "ExitCode":
		return keyExitCode
	}
	return -1
}

// freeTextEnd is, for the keys whose values Slurm does not escape (they may hold spaces, even
// text like " Key="), the key that follows them: their value runs up to that key. It is -1
// for the other keys.
func freeTextEnd(key int) int {
	switch key {
	case keyName:
		return keyJobState
	case keyWorkDir:
		return keyReservationName
	}
	return -1
}

// jobcompFields are the values of one line by key index; "" for a key the line lacks.
type jobcompFields [numJobcompKeys]string

// ParseJobcomp reads a Slurm jobcomp/filetxt log: one `JobId=… UserId=alice(1001) …` line per
// finished job. Values are split at the known keys, so Name and WorkDir may contain spaces.
// The job id is printed as `ArrayJobId_ArrayTaskId` or `HetJobId+HetJobOffset` when the line
// has those keys. There is no elapsed field: Elapsed = End − Start. GPUs come from Tres (the
// requested TRES, which for a finished job is what it was given) or a legacy Gres. Times are
// read in Options.Location. It fails only on I/O errors; bad lines become Result.Errors.
func ParseJobcomp(r io.Reader, opts Options) (Result, error) {
	var res Result
	loc := location(opts)
	var marks []keyMark // reused from line to line
	err := scanLines(r, opts, &res, func(res *Result, b []byte, no int) error {
		line := string(b)
		if strings.TrimSpace(line) == "" {
			return nil
		}
		var kv jobcompFields
		var err error
		if marks, err = splitJobcomp(line, &kv, marks[:0]); err != nil {
			res.lineError(opts, no, "%v", err)
			return nil
		}
		rec, skip, err := jobcompRecord(&kv, opts, loc)
		switch {
		case err != nil:
			res.lineError(opts, no, "%v", err)
		case skip == skipStep:
			res.Skipped.Steps++
		case skip == skipUnfinished:
			res.Skipped.Unfinished++
		default:
			rec.File, rec.Line = opts.File, no
			res.Records = append(res.Records, rec)
		}
		return nil
	})
	return res, err
}

type skipKind int

const (
	keep skipKind = iota
	skipStep
	skipUnfinished
)

// keyMark is a ` Key=` of a known key in a line, from its space at pos to the value at val.
type keyMark struct{ pos, val, key int }

// splitJobcomp splits a line at ` Key=` for the known keys into kv. A value runs up to the
// nearest ` Key=` of a key not yet seen, or for a free-text key up to the key that follows
// it. marks is scratch space for the positions of every ` Key=`, found in one pass, and is
// returned for reuse.
func splitJobcomp(line string, kv *jobcompFields, marks []keyMark) ([]keyMark, error) {
	line = strings.TrimSpace(line)
	if !strings.HasPrefix(line, "JobId=") {
		return marks, errors.New("not a jobcomp line: it does not start with JobId=")
	}
	for i := indexByteFrom(line, ' ', 0); i >= 0; i = indexByteFrom(line, ' ', i+1) {
		j := i + 1
		for j < len(line) && ('a' <= line[j] && line[j] <= 'z' || 'A' <= line[j] && line[j] <= 'Z') {
			j++
		}
		if j < len(line) && line[j] == '=' {
			if k := jobcompKey(line[i+1 : j]); k >= 0 {
				marks = append(marks, keyMark{i, j + 1, k})
			}
		}
	}
	var seen uint64 // bit k: key k has a value
	key, from := keyJobID, len("JobId=")
	ahead := marks // the marks inside the rest of the line, from offset from on
	for {
		for len(ahead) > 0 && ahead[0].pos < from {
			ahead = ahead[1:]
		}
		var next *keyMark
		if succ := freeTextEnd(key); succ >= 0 {
			for i := range ahead {
				if ahead[i].key == succ {
					next = &ahead[i]
					break
				}
			}
		}
		if next == nil {
			for i := range ahead {
				if seen&(1<<ahead[i].key) == 0 && ahead[i].key != key {
					next = &ahead[i]
					break
				}
			}
		}
		if next == nil {
			kv[key] = line[from:]
			return marks, nil
		}
		kv[key] = line[from:next.pos]
		seen |= 1 << key
		key, from = next.key, next.val
	}
}

// indexByteFrom is the index of the first c in s at or after from, or -1.
func indexByteFrom(s string, c byte, from int) int {
	if i := strings.IndexByte(s[from:], c); i >= 0 {
		return from + i
	}
	return -1
}

func jobcompRecord(kv *jobcompFields, opts Options, loc *time.Location) (Record, skipKind, error) {
	id := kv[keyJobID]
	if v := kv[keyArrayJobID]; v != "" && kv[keyArrayTaskID] != "" {
		id = v + "_" + kv[keyArrayTaskID]
	} else if v := kv[keyHetJobID]; v != "" && v != "0" && kv[keyHetJobOffset] != "" {
		id = v + "+" + kv[keyHetJobOffset]
	}
	var buf [1]string
	ids, step, err := appendJobIDs(buf[:0], id)
	switch {
	case step:
		return Record{}, skipStep, nil
	case err != nil:
		return Record{}, keep, err
	case len(ids) != 1:
		return Record{}, keep, fmt.Errorf("bad job id %q", id)
	}
	state := normState(kv[keyJobState])
	if unfinished(state) {
		return Record{}, skipUnfinished, nil
	}
	rec := Record{
		Cluster:     opts.Cluster,
		FileCluster: value(kv[keyCluster]),
		JobID:       ids[0],
		User:        idName(kv[keyUserID]),
		Group:       idName(kv[keyGroupID]),
		Account:     value(kv[keyAccount]),
		Partition:   value(kv[keyPartition]),
		QOS:         value(kv[keyQOS]),
		State:       state,
		ExitCode:    value(kv[keyExitCode]),
		NodeList:    value(kv[keyNodeList]),
	}
	if rec.Cluster == "" {
		rec.Cluster = rec.FileCluster
	}
	if rec.NodeList == "None assigned" {
		rec.NodeList = ""
	}
	if rec.Submit, err = parseSlurmTime(kv[keySubmitTime], loc); err != nil {
		return Record{}, keep, fmt.Errorf("SubmitTime: %w", err)
	}
	if rec.Start, err = parseSlurmTime(kv[keyStartTime], loc); err != nil {
		return Record{}, keep, fmt.Errorf("StartTime: %w", err)
	}
	if rec.End, err = parseSlurmTime(kv[keyEndTime], loc); err != nil {
		return Record{}, keep, fmt.Errorf("EndTime: %w", err)
	}
	if rec.End.IsZero() || state == "" {
		return Record{}, skipUnfinished, nil
	}
	if rec.End, err = orderTimes(rec.Start, rec.End, loc); err != nil {
		return Record{}, keep, err
	}
	if !rec.Start.IsZero() {
		rec.Elapsed = rec.End.Sub(rec.Start)
	}
	if v := value(kv[keyNodeCnt]); v != "" {
		if rec.Nodes, err = count(v); err != nil {
			return Record{}, keep, fmt.Errorf("NodeCnt: %w", err)
		}
	}
	if v := value(kv[keyProcCnt]); v != "" {
		if rec.CPUs, err = count(v); err != nil {
			return Record{}, keep, fmt.Errorf("ProcCnt: %w", err)
		}
	}
	t, err := parseTRES(value(kv[keyTres]))
	if err != nil {
		//lint:ignore ST1005 the message starts with the field's name as the log spells it
		return Record{}, keep, fmt.Errorf("Tres: %w", err)
	}
	rec.GPUs = t.gpus
	if t.gpus < 0 {
		if rec.GPUs, err = parseGRES(value(kv[keyGres])); err != nil {
			//lint:ignore ST1005 the message starts with the field's name as the log spells it
			return Record{}, keep, fmt.Errorf("Gres: %w", err)
		}
	}
	rec.GPUs = max(rec.GPUs, 0)
	return rec, keep, nil
}

// value trims a value and maps the spellings of "no value" to "".
func value(s string) string {
	s = strings.TrimSpace(s)
	if isNull(s) {
		return ""
	}
	return s
}

// idName reads "alice(1001)" as "alice", and a bare "(1001)" as "1001".
func idName(s string) string {
	s = value(s)
	name, num, ok := strings.Cut(s, "(")
	if !ok {
		return s
	}
	if name = strings.TrimSpace(name); name != "" {
		return name
	}
	return strings.TrimSuffix(num, ")")
}
