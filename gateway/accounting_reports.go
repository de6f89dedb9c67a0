package gateway

import (
	"bytes"
	"time"

	"github.com/gofiber/fiber/v2"

	dw "github.com/divinewhispers/dw"
	"github.com/divinewhispers/dw/accounting"
	"github.com/divinewhispers/dw/report"
)

// UsageSum is the JSON form of the usage of a group of jobs. Key is the dimension's value: a
// wallet id, "" (unassigned) or "excluded" for wallets; Name is the wallet's name.
type UsageSum struct {
	Bucket      string  `json:"bucket,omitempty"` // YYYY-MM-DD: the first day of the day, week or month
	Key         string  `json:"key"`
	Name        string  `json:"name,omitempty"`
	Jobs        int64   `json:"jobs"`
	CPUJobs     int64   `json:"cpu_jobs"`
	GPUJobs     int64   `json:"gpu_jobs"`
	NodeHours   float64 `json:"node_hours"`   // NodeSeconds rounded once to 3 decimals
	CoreHours   float64 `json:"core_hours"`   // GPUSeconds rounded once to 3 decimals
	Points      float64 `json:"points"`       // the exact price rounded once to 6 decimals
	NodeSeconds int64   `json:"node_seconds"` // CPU jobs' node-seconds, exact
	GPUSeconds  int64   `json:"gpu_seconds"`  // GPU jobs' GPU-seconds, exact
}

func usageSumJSON(u accounting.UsageSum) UsageSum {
	return UsageSum{Bucket: u.Bucket, Key: u.Key, Name: u.Name, Jobs: u.Jobs, CPUJobs: u.CPUJobs, GPUJobs: u.GPUJobs,
		NodeHours: u.NodeHours, CoreHours: u.CoreHours, Points: u.Points, NodeSeconds: u.NodeSeconds, GPUSeconds: u.GPUSeconds}
}

// usageSumsJSON maps a list; nil stays nil (null), as the overview's empty top lists were.
func usageSumsJSON(us []accounting.UsageSum) []UsageSum {
	if us == nil {
		return nil
	}
	out := make([]UsageSum, len(us))
	for i, u := range us {
		out[i] = usageSumJSON(u)
	}
	return out
}

// Overview is the JSON form of the headline of compute accounting over [from, to).
type Overview struct {
	From           time.Time  `json:"from"`
	To             time.Time  `json:"to"`
	TotalNodeHours float64    `json:"total_node_hours"`   // CPU jobs
	TotalCoreHours float64    `json:"total_core_hours"`   // GPU jobs
	TotalNodeSecs  int64      `json:"total_node_seconds"` // exact
	TotalGPUSecs   int64      `json:"total_gpu_seconds"`  // exact
	Jobs           int64      `json:"jobs"`
	CPUJobs        int64      `json:"cpu_jobs"`
	GPUJobs        int64      `json:"gpu_jobs"`
	Points         float64    `json:"points"` // priced usage
	Unassigned     UsageSum   `json:"unassigned"`
	TopWallets     []UsageSum `json:"top_wallets"`
	TopUsers       []UsageSum `json:"top_users"`
	TopPartitions  []UsageSum `json:"top_partitions"`
}

// reportRange reads from and to (RFC 3339 times or dates; counted by their UTC day, to
// exclusive): by default from 1970-01-01 to tomorrow, so today is included.
func reportRange(c *fiber.Ctx) (from, to time.Time, err error) {
	from, to = accounting.DefaultRange(time.Now())
	for _, p := range []struct {
		name string
		dst  *time.Time
	}{{"from", &from}, {"to", &to}} {
		v := c.Query(p.name)
		if v == "" {
			continue
		}
		t, ok := accounting.ParseTime(v)
		if !ok || t.Year() < 1 || t.Year() > 9998 {
			return from, to, dw.Coded(dw.KindInvalid, "invalid_query", "%s must be a date (2026-01-31) or an RFC 3339 time (2026-01-31T12:00:00Z), counted by its UTC day", p.name)
		}
		*p.dst = accounting.Day(t)
	}
	if !from.Before(to) {
		return from, to, dw.Coded(dw.KindInvalid, "invalid_query", "from (%s) must be a day before to (%s): to is exclusive",
			from.Format(time.DateOnly), to.Format(time.DateOnly))
	}
	return from, to, nil
}

func (s *Server) overview(c *fiber.Ctx) error {
	if err := knownQuery(c); err != nil {
		return err
	}
	from, to, err := reportRange(c)
	if err != nil {
		return err
	}
	top, err := pageQuery(c, "top", accounting.PageTop)
	if err != nil {
		return err
	}
	ov, err := s.cfg.Accounting.Overview(c.UserContext(), from, to, top)
	if err != nil {
		return queryErr(err)
	}
	return c.JSON(Overview{From: ov.From, To: ov.To, TotalNodeHours: ov.TotalNodeHours, TotalCoreHours: ov.TotalCoreHours,
		TotalNodeSecs: ov.TotalNodeSecs, TotalGPUSecs: ov.TotalGPUSecs, Jobs: ov.Jobs, CPUJobs: ov.CPUJobs, GPUJobs: ov.GPUJobs,
		Points: ov.Points, Unassigned: usageSumJSON(ov.Unassigned), TopWallets: usageSumsJSON(ov.TopWallets),
		TopUsers: usageSumsJSON(ov.TopUsers), TopPartitions: usageSumsJSON(ov.TopPartitions)})
}

// UsageReport is the JSON form of a usage report.
type UsageReport struct {
	GroupBy string     `json:"group_by"`
	Bucket  string     `json:"bucket"` // "" = one row per key over the whole range
	From    time.Time  `json:"from"`
	To      time.Time  `json:"to"`
	Rows    []UsageSum `json:"rows"`
}

func (s *Server) usage(c *fiber.Ctx) error {
	if err := knownQuery(c); err != nil {
		return err
	}
	q := accounting.UsageQuery{GroupBy: c.Query("group_by"), Filters: map[string]string{}}
	var err error
	if q.Bucket, err = oneOf(c, "bucket", accounting.UsageBuckets...); err != nil {
		return err
	}
	format, err := oneOf(c, "format", "json", "csv")
	if err != nil {
		return err
	}
	if format == "" && c.Accepts(fiber.MIMEApplicationJSON, "text/csv") == "text/csv" {
		format = "csv"
	}
	if q.From, q.To, err = reportRange(c); err != nil {
		return err
	}
	for _, dim := range accounting.UsageDimensions {
		if v := c.Query(dim); v != "" {
			q.Filters[dim] = v
		}
	}
	if len(q.Filters) == 0 {
		q.Filters = nil
	}
	rows, err := s.cfg.Accounting.Usage(c.UserContext(), q)
	if err != nil {
		return queryErr(err)
	}
	if format == "csv" {
		var buf bytes.Buffer
		if err := report.WriteUsage(&buf, "csv", q.GroupBy, rows); err != nil {
			return err
		}
		c.Set(fiber.HeaderContentType, "text/csv; charset=utf-8")
		return c.Send(buf.Bytes())
	}
	items := make([]UsageSum, len(rows))
	for i, u := range rows {
		items[i] = usageSumJSON(u)
	}
	return c.JSON(UsageReport{GroupBy: q.GroupBy, Bucket: q.Bucket, From: q.From, To: q.To, Rows: items})
}

// loginUsage is one row of GET /api/v1/me/usage.
type loginUsage struct {
	Cluster     string  `json:"cluster"`
	Login       string  `json:"login"`
	Bucket      string  `json:"bucket,omitempty"`
	Jobs        int64   `json:"jobs"`
	CPUJobs     int64   `json:"cpu_jobs"`
	GPUJobs     int64   `json:"gpu_jobs"`
	NodeHours   float64 `json:"node_hours"`
	CoreHours   float64 `json:"core_hours"`
	Points      float64 `json:"points"`
	NodeSeconds int64   `json:"node_seconds"`
	GPUSeconds  int64   `json:"gpu_seconds"`
}

// myUsage answers the compute usage of the cluster logins an admin linked to the caller: what
// linking a login is for.
func (s *Server) myUsage(c *fiber.Ctx) error {
	if err := knownQuery(c); err != nil {
		return err
	}
	bucket, err := oneOf(c, "bucket", accounting.UsageBuckets...)
	if err != nil {
		return err
	}
	from, to, err := reportRange(c)
	if err != nil {
		return err
	}
	linked, err := s.cfg.Accounting.LinkedUsage(c.UserContext(), claimsOf(c).UserID, bucket, from, to)
	if err != nil {
		return queryErr(err)
	}
	logins, rows := make([]ClusterUser, len(linked)), []loginUsage{}
	for i, l := range linked {
		logins[i] = clusterUserJSON(l.Login)
		for _, u := range l.Rows {
			rows = append(rows, loginUsage{Cluster: l.Login.Cluster, Login: l.Login.Login, Bucket: u.Bucket, Jobs: u.Jobs, CPUJobs: u.CPUJobs,
				GPUJobs: u.GPUJobs, NodeHours: u.NodeHours, CoreHours: u.CoreHours, Points: u.Points,
				NodeSeconds: u.NodeSeconds, GPUSeconds: u.GPUSeconds})
		}
	}
	return c.JSON(fiber.Map{"from": from, "to": to, "bucket": bucket, "logins": logins, "rows": rows})
}
