package gateway

import (
	"encoding/hex"
	"strconv"
	"time"

	"github.com/gofiber/fiber/v2"

	dw "github.com/divinewhispers/dw"
	"github.com/divinewhispers/dw/accounting"
)

// Source is the JSON form of an ingest source.
type Source struct {
	ID              string    `json:"id"`
	Name            string    `json:"name"`
	Dir             string    `json:"dir"`
	Glob            string    `json:"glob"`
	Format          string    `json:"format"`
	Cluster         string    `json:"cluster"`
	Interval        string    `json:"interval"` // a Go duration: 30s, 5m0s
	IntervalSeconds int64     `json:"interval_seconds"`
	Timezone        string    `json:"timezone"`
	Enabled         bool      `json:"enabled"`
	Columns         []string  `json:"columns"` // of header-less sacct files; [] when the files have a header
	CreatedAt       time.Time `json:"created_at"`
}

func sourceJSON(s accounting.Source) Source {
	return Source{ID: s.ID, Name: s.Name, Dir: s.Dir, Glob: s.Glob, Format: s.Format, Cluster: s.Cluster,
		Interval: s.Interval.String(), IntervalSeconds: int64(s.Interval / time.Second), Timezone: s.Timezone,
		Enabled: s.Enabled, Columns: s.Columns, CreatedAt: s.CreatedAt}
}

type sourceRequest struct {
	Name            string   `json:"name"`
	Dir             string   `json:"dir"`
	Glob            string   `json:"glob"`
	Format          string   `json:"format"`
	Cluster         string   `json:"cluster"`
	Interval        *string  `json:"interval"`
	IntervalSeconds *int64   `json:"interval_seconds"`
	Timezone        string   `json:"timezone"`
	Enabled         *bool    `json:"enabled"` // absent: true
	Columns         []string `json:"columns"` // of header-less sacct files
}

type sourcePatch struct {
	Dir             *string   `json:"dir"`
	Glob            *string   `json:"glob"`
	Timezone        *string   `json:"timezone"`
	Interval        *string   `json:"interval"`
	IntervalSeconds *int64    `json:"interval_seconds"`
	Enabled         *bool     `json:"enabled"`
	Columns         *[]string `json:"columns"`
}

// parseInterval reads interval (a Go duration) and interval_seconds, the API's two spellings of
// one field; both may be given if they agree. d is nil when neither is. What the interval may
// be is the domain's rule (accounting.SourceInput).
func parseInterval(ps *accounting.Problems, text *string, secs *int64) *time.Duration {
	var d *time.Duration
	if text != nil {
		v, err := time.ParseDuration(*text)
		if err != nil {
			ps.Add("interval", "{interval} %q is not a duration (e.g. 30s, 5m, 1h)", *text)
			return nil
		}
		if v <= 0 {
			// 0 would be taken for "the default"; an explicit 0 is a mistake.
			ps.Add("interval", "{interval} must be whole seconds, at least 1s (e.g. 30s, 5m)")
			return nil
		}
		d = &v
	}
	if secs != nil {
		max := int64(accounting.MaxInterval / time.Second)
		if *secs < 1 || *secs > max {
			ps.Add("interval_seconds", "{interval_seconds} must be from 1 to "+strconv.FormatInt(max, 10))
			return nil
		}
		v := time.Duration(*secs) * time.Second
		if d != nil && v != *d {
			ps.Add("interval", "{interval} and {interval_seconds} disagree: give one")
			return nil
		}
		d = &v
	}
	return d
}

func (s *Server) listSources(c *fiber.Ctx) error {
	if err := knownQuery(c); err != nil {
		return err
	}
	page, err := listPage(c, accounting.PageSources)
	if err != nil {
		return err
	}
	srcs, next, err := s.cfg.Accounting.Sources(c.UserContext(), page)
	if err != nil {
		return queryErr(err)
	}
	items := make([]Source, len(srcs))
	for i, src := range srcs {
		items[i] = sourceJSON(src)
	}
	return c.JSON(listJSON(items, next))
}

func (s *Server) createSource(c *fiber.Ctx) error {
	var req sourceRequest
	if err := decode(c, &req, false); err != nil {
		return err
	}
	in := accounting.SourceInput{Name: req.Name, Dir: req.Dir, Glob: req.Glob, Format: req.Format, Cluster: req.Cluster,
		Timezone: req.Timezone, Enabled: req.Enabled == nil || *req.Enabled, Columns: req.Columns}
	var ps accounting.Problems
	if d := parseInterval(&ps, req.Interval, req.IntervalSeconds); d != nil {
		in.Interval = *d
	}
	if !ps.Empty() {
		_, err := s.cfg.Accounting.CheckSource(in) // every problem at once, the directory's too
		ps.Merge(err)
		return ps.Err()
	}
	out, err := s.cfg.Accounting.AddSource(c.UserContext(), actorOf(c), in)
	if err != nil {
		return err
	}
	return c.Status(fiber.StatusCreated).JSON(sourceJSON(out))
}

func (s *Server) getSource(c *fiber.Ctx) error {
	if err := knownQuery(c); err != nil {
		return err
	}
	id, err := idParam(c, "ingest source")
	if err != nil {
		return err
	}
	src, err := s.cfg.Accounting.Source(c.UserContext(), id)
	if err != nil {
		return err
	}
	return c.JSON(sourceJSON(src))
}

func (s *Server) patchSource(c *fiber.Ctx) error {
	var req sourcePatch
	if err := decode(c, &req, false); err != nil {
		return err
	}
	if req == (sourcePatch{}) {
		return dw.Errorf(dw.KindInvalid, "send at least one of interval, interval_seconds, enabled, glob, timezone, dir, columns")
	}
	id, err := idParam(c, "ingest source")
	if err != nil {
		return err
	}
	var ps accounting.Problems
	ch := accounting.SourceChange{Dir: req.Dir, Glob: req.Glob, Timezone: req.Timezone, Enabled: req.Enabled, Columns: req.Columns,
		Interval: parseInterval(&ps, req.Interval, req.IntervalSeconds)}
	if err := ps.Err(); err != nil {
		return err
	}
	out, err := s.cfg.Accounting.ChangeSource(c.UserContext(), actorOf(c), id, ch)
	if err != nil {
		return err
	}
	return c.JSON(sourceJSON(out))
}

func (s *Server) deleteSource(c *fiber.Ctx) error {
	id, err := idParam(c, "ingest source")
	if err != nil {
		return err
	}
	if err := s.cfg.Accounting.RemoveSource(c.UserContext(), actorOf(c), id); err != nil {
		return err
	}
	return c.SendStatus(fiber.StatusNoContent)
}

// scanSource asks the source's ingest grain to scan now; the scan runs after the answer.
func (s *Server) scanSource(c *fiber.Ctx) error {
	if err := decode(c, &struct{}{}, true); err != nil {
		return err
	}
	if s.cfg.ScanSource == nil {
		return dw.Coded(dw.KindUnavailable, "scan_unavailable", "this node cannot reach the ingest grains; the source is scanned on its interval")
	}
	id, err := idParam(c, "ingest source")
	if err != nil {
		return err
	}
	src, err := s.cfg.Accounting.RequestScan(c.UserContext(), actorOf(c), id, s.cfg.ScanSource)
	if err != nil {
		if dw.CodeOf(err) == "source_disabled" {
			return dw.Coded(dw.KindConflict, "source_disabled", "%s (PATCH enabled: true)", dw.MessageOf(err))
		}
		return err
	}
	return c.Status(fiber.StatusAccepted).JSON(fiber.Map{"source_id": src.ID, "scan": "requested"})
}

// ProcessedFile is the JSON form of a file a source has read.
type ProcessedFile struct {
	Path      string    `json:"path"`
	Size      int64     `json:"size"`
	MTime     time.Time `json:"mtime"`
	SHA256    string    `json:"sha256"` // hex, of the whole file when it was read
	Offset    int64     `json:"offset"` // bytes consumed
	Lines     int       `json:"lines"`
	Records   int       `json:"records"`
	Errors    int       `json:"errors"`
	Status    string    `json:"status"` // done, partial or failed
	UpdatedAt time.Time `json:"updated_at"`
	// ClusterMismatches counts the records whose file names another cluster than the
	// source's: stored under the source's cluster all the same.
	ClusterMismatches int `json:"cluster_mismatches"`
}

func (s *Server) sourceFiles(c *fiber.Ctx) error {
	if err := knownQuery(c); err != nil {
		return err
	}
	id, err := idParam(c, "ingest source")
	if err != nil {
		return err
	}
	page, err := listPage(c, accounting.PageSourceFiles)
	if err != nil {
		return err
	}
	src, files, next, err := s.cfg.Accounting.SourceFiles(c.UserContext(), id, page)
	if err != nil {
		return queryErr(err)
	}
	items := make([]ProcessedFile, len(files))
	for i, f := range files {
		items[i] = ProcessedFile{Path: f.Path, Size: f.Size, MTime: f.MTime.UTC(), SHA256: hex.EncodeToString(f.SHA256),
			Offset: f.Offset, Lines: f.Lines, Records: f.Records, Errors: f.Errors, Status: f.Status, UpdatedAt: f.UpdatedAt.UTC(),
			ClusterMismatches: f.ClusterMismatches}
	}
	out := listJSON(items, next)
	out["source_id"] = src.ID
	return c.JSON(out)
}

// IngestError is the JSON form of a line a source could not read.
type IngestError struct {
	Source    string    `json:"source"`
	File      string    `json:"file"`
	Line      int       `json:"line"`
	Message   string    `json:"message"`
	CreatedAt time.Time `json:"created_at"`
}

func (s *Server) ingestErrors(c *fiber.Ctx) error {
	if err := knownQuery(c); err != nil {
		return err
	}
	page, err := listPage(c, accounting.PageIngestErrors)
	if err != nil {
		return err
	}
	errs, next, err := s.cfg.Accounting.IngestErrors(c.UserContext(), c.Query("source"), page)
	if err != nil {
		return queryErr(err)
	}
	items := make([]IngestError, len(errs))
	for i, e := range errs {
		items[i] = IngestError{Source: e.Source, File: e.File, Line: e.Line, Message: e.Message, CreatedAt: e.CreatedAt}
	}
	return c.JSON(listJSON(items, next))
}
