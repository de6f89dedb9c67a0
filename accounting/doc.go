// Package accounting turns scheduler accounting logs into usage records: one Record per
// finished job. It reads Slurm `sacct --parsable2` output, Slurm jobcomp text files and
// PBS/Torque accounting logs, plain or gzip-compressed. It is pure: no SQL, actors or HTTP.
//
// # Definitions
//
//   - Elapsed = ElapsedRaw when present, else Elapsed, else End − Start (PBS: see ParsePBS).
//   - A job that allocated ≥ 1 GPU is a GPU job: GPU core-hours = GPUs × elapsed hours (GPUs =
//     the untyped `gres/gpu` count, or the sum of the typed entries when only typed ones exist).
//   - Any other job is a CPU job: node-hours = allocated nodes × elapsed hours.
//   - Natural key: cluster + job id + submit time (a job seen in two files is one job). The
//     cluster is the source's (Options.Cluster) whenever one is given; the cluster the file
//     prints is kept in Record.FileCluster.
//   - Same-key rule: when one key arrives with different content (a log that records a job
//     twice, two files that disagree), one record wins, chosen from the records alone: the
//     later End, then the later Start, then the greater ContentHash (SHA-256 of a canonical
//     encoding of the stored fields). Dedupe applies it within a file; the store applies the
//     same comparison (CompareVersions) against the stored record, so the result is the same
//     whatever the file split, the scan order or which store commits first. A record that
//     replaces a stored one has its usage, rollups and charges corrected (see persistence).
//
// Usage is kept in exact integers: node-seconds (Record.NodeSeconds) and GPU-seconds
// (Record.GPUSeconds), summed as they are. Hours are for showing only: MilliHours and
// FormatHours round a sum of seconds once, half up, to three decimals. A job's price
// (Rates.Price) is exact too, in price units (PriceUnitsPerPoint); a charge sums the prices of
// its jobs and rounds the sum once to whole points (Points, half up).
//
// # What counts as a job
//
// Job steps (`123.batch`, `123.extern`, `123.0`) never count; array tasks (`123_4`) and
// heterogeneous components (`123+0`) count once each, and an unexpanded array (`123_[1-3]`)
// counts as its tasks. Jobs not finished (running, pending, End unknown) are skipped and
// counted in Result.Skipped, to be read again once they finish. Each run of a requeued job is
// its own record: `sacct -D` prints every run with its own Submit time, so the runs have distinct
// keys. The formats' other quirks are described on ParseSacct, ParseJobcomp and ParsePBS.
//
// # Bad lines and growing files
//
// A bad line never aborts a file: it becomes a LineError (file, line, reason) and parsing goes
// on. Only I/O errors and an unusable sacct header fail a whole parse. Result.Offset and
// Result.Lines tell how far complete lines were consumed: a last line without its newline is
// left for the next read unless Options.Final says the file is complete.
package accounting
