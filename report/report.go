// Package report writes compute-accounting reports (the overview and usage tables) as a
// human-readable table, CSV or JSON: the same bytes from `dw report` and from the API.
package report

import (
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"text/tabwriter"

	dw "github.com/divinewhispers/dw"
	"github.com/divinewhispers/dw/accounting"
	"github.com/divinewhispers/dw/persistence"
)

// Formats lists the output formats, for messages.
const Formats = "table, csv or json"

// CheckFormat returns an invalid error naming the flag for an unknown format.
func CheckFormat(f string) error {
	switch f {
	case "table", "csv", "json":
		return nil
	}
	return dw.Errorf(dw.KindInvalid, "--format must be %s, not %q", Formats, f)
}

// hoursCSV is exact seconds as hours rounded once to 3 decimals, written without trailing
// zeros ("6", "0.5") as the CSV has always written them.
func hoursCSV(seconds int64) string { return accounting.FormatMilli(accounting.MilliHours(seconds)) }

// UsageHeader is the CSV header of a usage report grouped by groupBy.
func UsageHeader(groupBy string) []string {
	return []string{"bucket", groupBy, "name", "jobs", "cpu_jobs", "gpu_jobs", "node_hours", "core_hours", "points"}
}

func usageRecord(u persistence.UsageSum, groupBy string) []string {
	key := u.Key
	if groupBy == "wallet" && key == "" {
		key = "unassigned"
	}
	return []string{u.Bucket, key, u.Name, strconv.FormatInt(u.Jobs, 10), strconv.FormatInt(u.CPUJobs, 10),
		strconv.FormatInt(u.GPUJobs, 10), hoursCSV(u.NodeSeconds), hoursCSV(u.GPUSeconds),
		strconv.FormatFloat(u.Points, 'f', -1, 64)}
}

// WriteUsage writes usage rows grouped by groupBy in format (table, csv or json).
func WriteUsage(w io.Writer, format, groupBy string, rows []persistence.UsageSum) error {
	switch format {
	case "json":
		if rows == nil {
			rows = []persistence.UsageSum{}
		}
		return json.NewEncoder(w).Encode(map[string]any{"group_by": groupBy, "rows": rows})
	case "csv":
		cw := csv.NewWriter(w)
		_ = cw.Write(UsageHeader(groupBy))
		for _, u := range rows {
			_ = cw.Write(usageRecord(u, groupBy))
		}
		cw.Flush()
		return cw.Error()
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "BUCKET\t"+upper(groupBy)+"\tNAME\tJOBS\tCPU JOBS\tGPU JOBS\tNODE-HOURS\tGPU CORE-HOURS\tPOINTS\t")
	for _, u := range rows {
		r := usageRecord(u, groupBy)
		for _, f := range r {
			if f == "" {
				f = "-"
			}
			fmt.Fprint(tw, f, "\t")
		}
		fmt.Fprintln(tw)
	}
	return tw.Flush()
}

func upper(s string) string {
	b := []byte(s)
	for i, c := range b {
		if c >= 'a' && c <= 'z' {
			b[i] = c - 32
		}
	}
	return string(b)
}

// WriteOverview writes an overview in format (table, csv or json). The CSV has one row per
// figure: section, key, name, jobs, node_hours, core_hours, points.
func WriteOverview(w io.Writer, format string, ov persistence.Overview) error {
	switch format {
	case "json":
		return json.NewEncoder(w).Encode(ov)
	case "csv":
		cw := csv.NewWriter(w)
		_ = cw.Write([]string{"section", "key", "name", "jobs", "cpu_jobs", "gpu_jobs", "node_hours", "core_hours", "points"})
		total := persistence.UsageSum{Jobs: ov.Jobs, CPUJobs: ov.CPUJobs, GPUJobs: ov.GPUJobs, Points: ov.Points,
			NodeSeconds: ov.TotalNodeSecs, GPUSeconds: ov.TotalGPUSecs}
		write := func(section string, u persistence.UsageSum) {
			r := usageRecord(u, "")
			_ = cw.Write(append([]string{section}, r[1:]...))
		}
		write("total", total)
		write("unassigned", ov.Unassigned)
		for _, s := range []struct {
			name string
			rows []persistence.UsageSum
		}{{"wallet", ov.TopWallets}, {"user", ov.TopUsers}, {"partition", ov.TopPartitions}} {
			for _, u := range s.rows {
				if s.name == "wallet" && u.Key == "" {
					u.Key = "unassigned"
				}
				write(s.name, u)
			}
		}
		cw.Flush()
		return cw.Error()
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "Compute usage %s to %s (UTC days, end exclusive)\n\n", ov.From.Format("2006-01-02"), ov.To.Format("2006-01-02"))
	fmt.Fprintf(tw, "total_node_hours (CPU jobs)\t%s\n", accounting.FormatHours(ov.TotalNodeSecs))
	fmt.Fprintf(tw, "total_core_hours (GPU jobs)\t%s\n", accounting.FormatHours(ov.TotalGPUSecs))
	fmt.Fprintf(tw, "jobs\t%d (%d CPU, %d GPU)\n", ov.Jobs, ov.CPUJobs, ov.GPUJobs)
	fmt.Fprintf(tw, "points (priced)\t%s\n", strconv.FormatFloat(ov.Points, 'f', -1, 64))
	fmt.Fprintf(tw, "unassigned\t%d jobs, %s node-hours, %s GPU core-hours\n", ov.Unassigned.Jobs,
		accounting.FormatHours(ov.Unassigned.NodeSeconds), accounting.FormatHours(ov.Unassigned.GPUSeconds))
	for _, s := range []struct {
		title string
		rows  []persistence.UsageSum
	}{{"Top wallets", ov.TopWallets}, {"Top users", ov.TopUsers}, {"Top partitions", ov.TopPartitions}} {
		fmt.Fprintf(tw, "\n%s\tjobs\tnode-hours\tGPU core-hours\tpoints\n", s.title)
		for _, u := range s.rows {
			label := u.Key
			switch {
			case u.Name != "":
				label = u.Name + " (" + u.Key + ")"
			case label == "":
				label = "(unassigned)"
			}
			fmt.Fprintf(tw, "  %s\t%d\t%s\t%s\t%s\n", label, u.Jobs, accounting.FormatHours(u.NodeSeconds),
				accounting.FormatHours(u.GPUSeconds), strconv.FormatFloat(u.Points, 'f', -1, 64))
		}
	}
	return tw.Flush()
}
