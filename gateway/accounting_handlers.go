package gateway

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"errors"
	"math/big"
	"net/url"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/google/uuid"

	dw "github.com/divinewhispers/dw"
	"github.com/divinewhispers/dw/accounting"
	"github.com/divinewhispers/dw/ingest"
	"github.com/divinewhispers/dw/persistence"
	"github.com/divinewhispers/dw/report"
)

// The compute-accounting API: ingest sources, group mappings, charge rates, quotas, charges,
// cluster users and usage reports. The rules live in accounting, ingest and persistence; these
// handlers only read the request, call them and shape the answer.

// auditOf is who does a write, for its audit row.
func auditOf(c *fiber.Ctx) persistence.AuditEntry {
	return persistence.AuditEntry{ActorID: claimsOf(c).UserID, IP: c.IP()}
}

// writeTime is the time a write is stamped with, at the database's precision, so that what a write
// answers equals what a later read shows.
func writeTime() time.Time { return time.Now().UTC().Truncate(time.Microsecond) }

// knownQuery rejects query parameters the route does not declare in routeQueries: a misspelt
// filter must not silently widen a report.
func knownQuery(c *fiber.Ctx) error {
	allowed := routeQueries[c.Route().Path]
	var unknown string
	c.Context().QueryArgs().VisitAll(func(k, _ []byte) {
		if unknown == "" && !slices.Contains(allowed, string(k)) {
			unknown = string(k)
		}
	})
	if unknown == "" {
		return nil
	}
	takes := "none"
	if len(allowed) > 0 {
		takes = strings.Join(allowed, ", ")
	}
	return dw.Coded(dw.KindInvalid, "invalid_query", "unknown query parameter %q (this route takes: %s)", unknown, takes)
}

// idParam reads a uuid from the path; a malformed id is simply not found.
func idParam(c *fiber.Ctx, what string) (string, error) {
	id, err := uuid.Parse(c.Params("id"))
	if err != nil {
		return "", dw.Errorf(dw.KindNotFound, "%s not found", what)
	}
	return id.String(), nil
}

// uuidQuery reads an optional uuid query parameter.
func uuidQuery(c *fiber.Ctx, name string) (string, error) {
	v := c.Query(name)
	if v == "" {
		return "", nil
	}
	id, err := uuid.Parse(v)
	if err != nil {
		return "", dw.Coded(dw.KindInvalid, "invalid_query", "%s must be a wallet id (a UUID)", name)
	}
	return id.String(), nil
}

// intQuery reads an optional integer query parameter in [lo, hi].
func intQuery(c *fiber.Ctx, name string, def, lo, hi int) (int, error) {
	v := c.Query(name)
	if v == "" {
		return def, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < lo || n > hi {
		return 0, dw.Coded(dw.KindInvalid, "invalid_query", "%s must be an integer from %d to %d", name, lo, hi)
	}
	return n, nil
}

// milliJSON is thousandths as an exact JSON decimal number (1500 → 1.5).
func milliJSON(v int64) json.Number { return json.Number(accounting.FormatMilli(v)) }

// decimalField reads a decimal given as a JSON number or string ("1.5", 1.5) as thousandths,
// from its text: never through a float. ok is false when the field is absent or null.
func decimalField(raw json.RawMessage, name string) (v int64, ok bool, err error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || string(raw) == "null" {
		return 0, false, nil
	}
	text := string(raw)
	if raw[0] == '"' {
		if err := json.Unmarshal(raw, &text); err != nil {
			return 0, true, errors.New(name + " must be a decimal number or string")
		}
	}
	v, err = accounting.ParseMilli(text, name)
	return v, true, err
}

// joinInvalid joins validation problems into one invalid error (nil when there are none).
func joinInvalid(errs []error) error {
	if len(errs) == 0 {
		return nil
	}
	msgs := make([]string, len(errs))
	for i, e := range errs {
		msgs[i] = e.Error()
	}
	return dw.Errorf(dw.KindInvalid, "%s", strings.Join(msgs, "; "))
}

// tooLong checks the length of free-text fields.
func tooLong(errs []error, max int, fields map[string]string) []error {
	for _, name := range sortedNames(fields) {
		if len(fields[name]) > max {
			errs = append(errs, errors.New(name+" must be at most "+strconv.Itoa(max)+" bytes"))
		}
	}
	return errs
}

func sortedNames(m map[string]string) []string {
	names := make([]string, 0, len(m))
	for k := range m {
		names = append(names, k)
	}
	sort.Strings(names)
	return names
}

// ---- Ingest sources ----

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

func sourceJSON(s persistence.IngestSource) Source {
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

// maxInterval keeps interval_seconds within its column (and a source from being forgotten).
const maxInterval = 30 * 24 * time.Hour

// parseInterval reads interval (a Go duration) and interval_seconds; both may be given if they agree.
// set is false when neither is.
func parseInterval(text *string, secs *int64) (d time.Duration, set bool, errs []error) {
	if text != nil {
		v, err := time.ParseDuration(*text)
		if err != nil {
			return 0, true, []error{errors.New("interval " + strconv.Quote(*text) + " is not a duration (e.g. 30s, 5m, 1h)")}
		}
		d, set = v, true
	}
	if secs != nil {
		if *secs < 1 || *secs > int64(maxInterval/time.Second) {
			return 0, true, []error{errors.New("interval_seconds must be from 1 to " + strconv.FormatInt(int64(maxInterval/time.Second), 10))}
		}
		v := time.Duration(*secs) * time.Second
		if set && v != d {
			return 0, true, []error{errors.New("interval and interval_seconds disagree: give one")}
		}
		d, set = v, true
	}
	if set && d > maxInterval {
		return 0, true, []error{errors.New("interval must be at most " + maxInterval.String())}
	}
	if set && d <= 0 {
		// ingest.Validate would take 0 for "the default"; an explicit 0 is a mistake.
		return 0, true, []error{errors.New("interval must be whole seconds, at least 1s (e.g. 30s, 5m)")}
	}
	return d, set, nil
}

// sourceFields renames the CLI flags ingest.Validate names to the API's JSON fields.
var sourceFields = strings.NewReplacer("--name", "name", "--dir", "dir", "--glob", "glob", "--format", "format",
	"--cluster", "cluster", "--interval", "interval", "--timezone", "timezone", "--columns", "columns")

// validateSource runs the one source validation (ingest.Validate, or ingest.ValidateKeepDir when
// keepDir: a change that keeps the stored directory), speaking of JSON fields. A relative dir
// would be resolved against the serving node's working directory, which an API caller cannot
// know, so the API asks for an absolute one. A refusal by the ingest roots keeps its code.
func validateSource(src *persistence.IngestSource, roots []string, keepDir bool, errs []error) error {
	if !keepDir && src.Dir != "" && !filepath.IsAbs(src.Dir) {
		errs = append(errs, errors.New("dir "+src.Dir+" must be an absolute path on the node"))
		keepDir = true // said; the other fields are still checked
	}
	var err error
	if keepDir {
		err = ingest.ValidateKeepDir(src)
	} else {
		err = ingest.Validate(src, roots)
	}
	if err != nil {
		if dw.KindOf(err) != dw.KindInvalid {
			return err
		}
		for _, line := range strings.Split(dw.MessageOf(err), "\n") {
			errs = append(errs, errors.New(sourceFields.Replace(line)))
		}
	}
	joined := joinInvalid(errs)
	if joined != nil && ingest.IsRefused(err) {
		return dw.Coded(dw.KindInvalid, dw.CodeOf(err), "%s", dw.MessageOf(joined))
	}
	return joined
}

// refuseSource audits a source add or change the ingest roots refused, then returns the refusal.
func (s *Server) refuseSource(c *fiber.Ctx, src persistence.IngestSource, via string, refusal error) error {
	if ingest.IsRefused(refusal) {
		if err := ingest.AuditRefused(c.UserContext(), s.cfg.Store, auditOf(c), src, via, refusal); err != nil {
			return err
		}
	}
	return refusal
}

func (s *Server) listSources(c *fiber.Ctx) error {
	if err := knownQuery(c); err != nil {
		return err
	}
	srcs, err := s.cfg.Store.Sources(c.UserContext())
	if err != nil {
		return err
	}
	items := make([]Source, len(srcs))
	for i, src := range srcs {
		items[i] = sourceJSON(src)
	}
	return c.JSON(fiber.Map{"items": items})
}

func (s *Server) createSource(c *fiber.Ctx) error {
	var in sourceRequest
	if err := decode(c, &in, false); err != nil {
		return err
	}
	src := persistence.IngestSource{Name: in.Name, Dir: in.Dir, Glob: in.Glob, Format: in.Format, Cluster: strings.TrimSpace(in.Cluster),
		Timezone: in.Timezone, Enabled: in.Enabled == nil || *in.Enabled, Columns: in.Columns}
	var errs []error
	src.Interval, _, errs = parseInterval(in.Interval, in.IntervalSeconds)
	errs = tooLong(errs, 200, map[string]string{"name": in.Name, "cluster": in.Cluster, "glob": in.Glob, "timezone": in.Timezone})
	errs = tooLong(errs, 4096, map[string]string{"dir": in.Dir})
	if err := validateSource(&src, s.cfg.IngestRoots, false, errs); err != nil {
		return s.refuseSource(c, src, "create", err)
	}
	out, err := s.cfg.Store.AddSource(c.UserContext(), src, auditOf(c))
	if err != nil {
		return err
	}
	return c.Status(fiber.StatusCreated).JSON(sourceJSON(out))
}

func (s *Server) source(c *fiber.Ctx) (persistence.IngestSource, error) {
	id, err := idParam(c, "ingest source")
	if err != nil {
		return persistence.IngestSource{}, err
	}
	return s.cfg.Store.SourceByID(c.UserContext(), id)
}

func (s *Server) getSource(c *fiber.Ctx) error {
	if err := knownQuery(c); err != nil {
		return err
	}
	src, err := s.source(c)
	if err != nil {
		return err
	}
	return c.JSON(sourceJSON(src))
}

func (s *Server) patchSource(c *fiber.Ctx) error {
	var in sourcePatch
	if err := decode(c, &in, false); err != nil {
		return err
	}
	if in == (sourcePatch{}) {
		return dw.Errorf(dw.KindInvalid, "send at least one of interval, interval_seconds, enabled, glob, timezone, dir, columns")
	}
	src, err := s.source(c)
	if err != nil {
		return err
	}
	var p persistence.SourcePatch
	d, set, errs := parseInterval(in.Interval, in.IntervalSeconds)
	if set && errs == nil {
		src.Interval = d
	}
	if in.Glob != nil { // "" is the default again, as when creating
		src.Glob = *in.Glob
		errs = tooLong(errs, 200, map[string]string{"glob": src.Glob})
	}
	if in.Timezone != nil {
		src.Timezone = *in.Timezone
		errs = tooLong(errs, 200, map[string]string{"timezone": src.Timezone})
	}
	if in.Columns != nil {
		src.Columns = *in.Columns
	}
	if in.Dir != nil {
		src.Dir = *in.Dir
		errs = tooLong(errs, 4096, map[string]string{"dir": src.Dir})
	}
	// A stored directory that is not being changed is not checked again: a source whose
	// directory went away, or lies outside the roots since they changed, must still be disabled
	// or given another one (its scans are refused meanwhile).
	if err := validateSource(&src, s.cfg.IngestRoots, in.Dir == nil, errs); err != nil {
		return s.refuseSource(c, src, "update", err)
	}
	if in.Dir != nil {
		p.Dir = &src.Dir // made absolute by the validation
	}
	if in.Glob != nil {
		p.Glob = &src.Glob
	}
	if in.Timezone != nil {
		p.Timezone = &src.Timezone
	}
	if set {
		p.Interval = &src.Interval
	}
	p.Enabled = in.Enabled
	if in.Columns != nil {
		cols := src.Columns
		if cols == nil {
			cols = []string{}
		}
		p.Columns = &cols
	}
	out, err := s.cfg.Store.UpdateSource(c.UserContext(), src.ID, p, auditOf(c))
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
	if err := s.cfg.Store.RemoveSourceByID(c.UserContext(), id, auditOf(c)); err != nil {
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
	src, err := s.source(c)
	if err != nil {
		return err
	}
	if !src.Enabled {
		return dw.Coded(dw.KindConflict, "source_disabled", "source %s is disabled: enable it first (PATCH enabled: true)", src.Name)
	}
	if err := s.cfg.ScanSource(c.UserContext(), src.ID); err != nil {
		return err
	}
	a := auditOf(c)
	a.Action, a.TargetType, a.TargetID = "accounting.source.scan", "ingest_source", src.ID
	if err := s.cfg.Store.Audit(c.UserContext(), a); err != nil {
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
	src, err := s.source(c)
	if err != nil {
		return err
	}
	files, err := s.cfg.Store.ProcessedFiles(c.UserContext(), src.ID)
	if err != nil {
		return err
	}
	items := make([]ProcessedFile, 0, len(files))
	for _, f := range files {
		items = append(items, ProcessedFile{Path: f.Path, Size: f.Size, MTime: f.MTime.UTC(), SHA256: hex.EncodeToString(f.SHA256),
			Offset: f.Offset, Lines: f.Lines, Records: f.Records, Errors: f.Errors, Status: f.Status, UpdatedAt: f.UpdatedAt.UTC(),
			ClusterMismatches: f.ClusterMismatches})
	}
	sort.Slice(items, func(i, j int) bool { return items[i].Path < items[j].Path })
	return c.JSON(fiber.Map{"source_id": src.ID, "items": items})
}

func (s *Server) ingestErrors(c *fiber.Ctx) error {
	if err := knownQuery(c); err != nil {
		return err
	}
	limit, err := intQuery(c, "limit", 50, 1, 1000)
	if err != nil {
		return err
	}
	name := c.Query("source")
	if name != "" {
		if _, err := s.cfg.Store.SourceByName(c.UserContext(), name); err != nil {
			return err
		}
	}
	errs, err := s.cfg.Store.IngestErrors(c.UserContext(), name, limit)
	if err != nil {
		return err
	}
	if errs == nil {
		errs = []persistence.IngestError{}
	}
	for i := range errs {
		// Rows stored before excerpts were capped may quote a whole line.
		errs[i].Message = accounting.Excerpt(errs[i].Message)
	}
	return c.JSON(fiber.Map{"items": errs})
}

// ---- Group mappings ----

// Mapping is the JSON form of a group-mapping rule.
type Mapping struct {
	accounting.Mapping
	Exclude bool `json:"exclude"` // no wallet: matching usage is tracked, never charged
}

func mappingJSON(m accounting.Mapping) Mapping { return Mapping{Mapping: m, Exclude: m.WalletID == ""} }

type mappingRequest struct {
	Cluster string `json:"cluster"`
	User    string `json:"user"`
	Account string `json:"account"`
	Group   string `json:"group"`
	Wallet  string `json:"wallet"`  // a wallet id or a shared wallet's name
	Exclude bool   `json:"exclude"` // with no wallet: an exclusion rule
	Note    string `json:"note"`
}

func (s *Server) listMappings(c *fiber.Ctx) error {
	if err := knownQuery(c); err != nil {
		return err
	}
	maps, err := s.cfg.Store.Mappings(c.UserContext())
	if err != nil {
		return err
	}
	items := make([]Mapping, len(maps))
	for i, m := range maps {
		items[i] = mappingJSON(m)
	}
	return c.JSON(fiber.Map{"items": items})
}

func (s *Server) createMapping(c *fiber.Ctx) error {
	var in mappingRequest
	if err := decode(c, &in, false); err != nil {
		return err
	}
	m := accounting.Mapping{Cluster: strings.TrimSpace(in.Cluster), User: strings.TrimSpace(in.User),
		Account: strings.TrimSpace(in.Account), Group: strings.TrimSpace(in.Group), Note: strings.TrimSpace(in.Note)}
	ref := strings.TrimSpace(in.Wallet)
	var errs []error // AddMapping checks that the rule matches on something
	switch {
	case ref == "" && !in.Exclude:
		errs = append(errs, errors.New("wallet is required (a wallet id or a shared wallet's name), or exclude: true for an exclusion rule"))
	case ref != "" && in.Exclude:
		errs = append(errs, errors.New("an exclusion rule (exclude: true) has no wallet"))
	}
	errs = tooLong(errs, 200, map[string]string{"cluster": m.Cluster, "user": m.User, "account": m.Account, "group": m.Group, "wallet": ref})
	errs = tooLong(errs, 500, map[string]string{"note": m.Note})
	if err := joinInvalid(errs); err != nil {
		return err
	}
	if ref != "" {
		w, err := s.cfg.Store.WalletByRef(c.UserContext(), ref)
		if err != nil {
			return err
		}
		m.WalletID = w.ID
	}
	m, re, err := s.cfg.Store.AddMapping(c.UserContext(), m, auditOf(c), writeTime())
	if err != nil {
		return err
	}
	if s.cfg.Charger != nil {
		s.cfg.Charger.Kick()
	}
	// Quota thresholds the mapping crossed are published by every node's quota-event loop.
	return c.Status(fiber.StatusCreated).JSON(fiber.Map{"mapping": mappingJSON(m), "reassigned": re})
}

func (s *Server) deleteMapping(c *fiber.Ctx) error {
	id, err := idParam(c, "mapping")
	if err != nil {
		return err
	}
	if err := s.cfg.Store.RemoveMapping(c.UserContext(), id, auditOf(c)); err != nil {
		return err
	}
	return c.SendStatus(fiber.StatusNoContent)
}

// ---- Charge rates ----

// Rate is the JSON form of a charge rate: prices in points and in thousandths of a point.
type Rate struct {
	accounting.Rate
	NodeHourPoints json.Number `json:"node_hour_points"`
	GPUHourPoints  json.Number `json:"gpu_hour_points"`
}

func rateJSON(r accounting.Rate) Rate {
	return Rate{Rate: r, NodeHourPoints: milliJSON(r.NodeHourMillipoints), GPUHourPoints: milliJSON(r.GPUHourMillipoints)}
}

type rateRequest struct {
	Cluster        string          `json:"cluster"`
	Partition      string          `json:"partition"`
	NodeHourPoints json.RawMessage `json:"node_hour_points"`
	GPUHourPoints  json.RawMessage `json:"gpu_hour_points"`
	EffectiveFrom  string          `json:"effective_from"`
}

func (s *Server) listRates(c *fiber.Ctx) error {
	if err := knownQuery(c); err != nil {
		return err
	}
	rates, err := s.cfg.Store.Rates(c.UserContext())
	if err != nil {
		return err
	}
	items := make([]Rate, len(rates))
	for i, r := range rates {
		items[i] = rateJSON(r)
	}
	return c.JSON(fiber.Map{"items": items})
}

func (s *Server) createRate(c *fiber.Ctx) error {
	var in rateRequest
	if err := decode(c, &in, false); err != nil {
		return err
	}
	at := writeTime()
	r := accounting.Rate{Cluster: strings.TrimSpace(in.Cluster), Partition: strings.TrimSpace(in.Partition), EffectiveFrom: at}
	var errs []error
	node, hasNode, err := decimalField(in.NodeHourPoints, "node_hour_points")
	if err != nil {
		errs = append(errs, err)
	}
	gpu, hasGPU, err := decimalField(in.GPUHourPoints, "gpu_hour_points")
	if err != nil {
		errs = append(errs, err)
	}
	if !hasNode && !hasGPU {
		errs = append(errs, errors.New("give node_hour_points and/or gpu_hour_points (points per node-hour, per GPU core-hour)"))
	}
	r.NodeHourMillipoints, r.GPUHourMillipoints = node, gpu
	if in.EffectiveFrom != "" {
		t, ok := accounting.ParseTime(in.EffectiveFrom)
		if !ok {
			errs = append(errs, errors.New("effective_from must be an RFC 3339 time (2026-01-31T12:00:00Z) or a date (2026-01-31, UTC)"))
		}
		r.EffectiveFrom = t
	}
	errs = tooLong(errs, 200, map[string]string{"cluster": r.Cluster, "partition": r.Partition})
	if err := joinInvalid(errs); err != nil {
		return err
	}
	out, err := s.cfg.Store.AddRate(c.UserContext(), r, auditOf(c), at)
	if err != nil {
		return err
	}
	return c.Status(fiber.StatusCreated).JSON(rateJSON(out))
}

func (s *Server) deleteRate(c *fiber.Ctx) error {
	id, err := idParam(c, "rate")
	if err != nil {
		return err
	}
	if err := s.cfg.Store.RemoveRate(c.UserContext(), id, auditOf(c)); err != nil {
		return err
	}
	return c.SendStatus(fiber.StatusNoContent)
}

// ---- Quotas ----

// Quota is the JSON form of a quota with the usage of its current period. Hours are exact
// decimals; a limit of 0 is no limit on that metric, and its percent is null.
type Quota struct {
	ID                  string       `json:"id"`
	WalletID            string       `json:"wallet_id"`
	Period              string       `json:"period"`
	NodeHours           json.Number  `json:"node_hours"`
	GPUCoreHours        json.Number  `json:"gpu_core_hours"`
	PeriodStart         time.Time    `json:"period_start"`
	PeriodEnd           *time.Time   `json:"period_end"`          // null for the total period
	UsedNodeHours       json.Number  `json:"used_node_hours"`     // UsedNodeSeconds rounded once to 3 decimals
	UsedGPUCoreHours    json.Number  `json:"used_gpu_core_hours"` // UsedGPUSeconds rounded once to 3 decimals
	UsedNodeSeconds     int64        `json:"used_node_seconds"`   // exact
	UsedGPUSeconds      int64        `json:"used_gpu_seconds"`    // exact
	NodeHoursPercent    *json.Number `json:"node_hours_percent"`
	GPUCoreHoursPercent *json.Number `json:"gpu_core_hours_percent"`
	CreatedAt           time.Time    `json:"created_at"`
	UpdatedAt           time.Time    `json:"updated_at"`
}

func quotaJSON(q persistence.QuotaStatus) Quota {
	return Quota{ID: q.ID, WalletID: q.WalletID, Period: q.Period, NodeHours: milliJSON(q.NodeMilliHours),
		GPUCoreHours: milliJSON(q.GPUMilliHours), PeriodStart: q.PeriodStart.UTC(), PeriodEnd: q.PeriodEnd,
		UsedNodeHours: milliJSON(accounting.MilliHours(q.UsedNodeSeconds)), UsedGPUCoreHours: milliJSON(accounting.MilliHours(q.UsedGPUSeconds)),
		UsedNodeSeconds: q.UsedNodeSeconds, UsedGPUSeconds: q.UsedGPUSeconds,
		NodeHoursPercent: percent(q.UsedNodeSeconds, q.NodeMilliHours), GPUCoreHoursPercent: percent(q.UsedGPUSeconds, q.GPUMilliHours),
		CreatedAt: q.CreatedAt, UpdatedAt: q.UpdatedAt}
}

// percent is used (exact seconds) of limit (milli-hours) in percent, computed exactly and
// truncated to 3 decimals (so 79.9996 % is not shown as 80), or nil without a limit:
// used / 3600 / (limit / 1000) × 100, in thousandths of a percent used × 10^8 / (limit × 3600).
func percent(usedSeconds, limitMilliHours int64) *json.Number {
	if limitMilliHours <= 0 {
		return nil
	}
	p := new(big.Int).Mul(big.NewInt(usedSeconds), big.NewInt(100_000_000))
	p.Quo(p, new(big.Int).Mul(big.NewInt(limitMilliHours), big.NewInt(3600)))
	if !p.IsInt64() {
		return nil
	}
	n := milliJSON(p.Int64())
	return &n
}

type quotaRequest struct {
	Wallet       string          `json:"wallet"` // a wallet id or a shared wallet's name
	Period       string          `json:"period"`
	NodeHours    json.RawMessage `json:"node_hours"`
	GPUCoreHours json.RawMessage `json:"gpu_core_hours"`
}

func (s *Server) listQuotas(c *fiber.Ctx) error {
	if err := knownQuery(c); err != nil {
		return err
	}
	wallet, err := uuidQuery(c, "wallet_id")
	if err != nil {
		return err
	}
	return s.quotas(c, wallet)
}

func (s *Server) quotas(c *fiber.Ctx, walletID string) error {
	qs, err := s.cfg.Store.Quotas(c.UserContext(), walletID, time.Now())
	if err != nil {
		return err
	}
	items := make([]Quota, len(qs))
	for i, q := range qs {
		items[i] = quotaJSON(q)
	}
	return c.JSON(fiber.Map{"items": items})
}

// walletQuotas is a wallet's quotas, for whoever may read the wallet.
func (s *Server) walletQuotas(c *fiber.Ctx) error {
	if err := knownQuery(c); err != nil {
		return err
	}
	id, err := walletParam(c)
	if err != nil {
		return err
	}
	if err := s.mayRead(c, id); err != nil {
		return err
	}
	return s.quotas(c, id)
}

func (s *Server) putQuota(c *fiber.Ctx) error {
	var in quotaRequest
	if err := decode(c, &in, false); err != nil {
		return err
	}
	var errs []error
	ref := strings.TrimSpace(in.Wallet)
	if ref == "" {
		errs = append(errs, errors.New("wallet is required (a wallet id or a shared wallet's name)"))
	}
	if !accounting.ValidPeriod(in.Period) {
		errs = append(errs, errors.New("period must be "+accounting.Periods+", not "+strconv.Quote(in.Period)))
	}
	q := persistence.Quota{Period: in.Period}
	var err error
	if q.NodeMilliHours, _, err = decimalField(in.NodeHours, "node_hours"); err != nil {
		errs = append(errs, err)
	}
	if q.GPUMilliHours, _, err = decimalField(in.GPUCoreHours, "gpu_core_hours"); err != nil {
		errs = append(errs, err)
	}
	errs = tooLong(errs, 200, map[string]string{"wallet": ref})
	if err := joinInvalid(errs); err != nil {
		return err
	}
	w, err := s.cfg.Store.WalletByRef(c.UserContext(), ref)
	if err != nil {
		return err
	}
	q.WalletID = w.ID
	at := writeTime()
	saved, err := s.cfg.Store.SetQuota(c.UserContext(), q, auditOf(c), at)
	if err != nil {
		return err
	}
	qs, err := s.cfg.Store.Quotas(c.UserContext(), w.ID, at)
	if err != nil {
		return err
	}
	for _, st := range qs {
		if st.ID == saved.ID {
			return c.JSON(quotaJSON(st))
		}
	}
	return dw.Errorf(dw.KindConflict, "quota %s was removed meanwhile", saved.ID)
}

func (s *Server) deleteQuota(c *fiber.Ctx) error {
	id, err := idParam(c, "quota")
	if err != nil {
		return err
	}
	if err := s.cfg.Store.RemoveQuota(c.UserContext(), id, auditOf(c)); err != nil {
		return err
	}
	return c.SendStatus(fiber.StatusNoContent)
}

func (s *Server) listQuotaEvents(c *fiber.Ctx) error {
	if err := knownQuery(c); err != nil {
		return err
	}
	wallet, err := uuidQuery(c, "wallet_id")
	if err != nil {
		return err
	}
	limit, err := intQuery(c, "limit", 100, 1, 1000)
	if err != nil {
		return err
	}
	evs, err := s.cfg.Store.QuotaEvents(c.UserContext(), wallet, limit)
	if err != nil {
		return err
	}
	if evs == nil {
		evs = []persistence.QuotaEvent{}
	}
	return c.JSON(fiber.Map{"items": evs})
}

// ---- Charges and cluster users ----

func (s *Server) listCharges(c *fiber.Ctx) error {
	if err := knownQuery(c); err != nil {
		return err
	}
	var f persistence.ChargeFilter
	var err error
	if f.WalletID, err = uuidQuery(c, "wallet_id"); err != nil {
		return err
	}
	if f.Status, err = oneOf(c, "status", persistence.ChargePending, persistence.ChargeCharged, persistence.ChargeUnpaid); err != nil {
		return err
	}
	if f.Limit, err = intQuery(c, "limit", 100, 1, 1000); err != nil {
		return err
	}
	charges, err := s.cfg.Store.Charges(c.UserContext(), f)
	if err != nil {
		return err
	}
	if charges == nil {
		charges = []persistence.Charge{}
	}
	return c.JSON(fiber.Map{"items": charges})
}

func (s *Server) listClusterUsers(c *fiber.Ctx) error {
	if err := knownQuery(c); err != nil {
		return err
	}
	limit, err := intQuery(c, "limit", 500, 1, 10000)
	if err != nil {
		return err
	}
	cluster, prefix := c.Query("cluster"), c.Query("q")
	if len(cluster) > 200 || len(prefix) > 200 {
		return dw.Coded(dw.KindInvalid, "invalid_query", "cluster and q must be at most 200 bytes")
	}
	users, err := s.cfg.Store.ClusterUsers(c.UserContext(), cluster, prefix, limit)
	if err != nil {
		return err
	}
	if users == nil {
		users = []persistence.ClusterUser{}
	}
	return c.JSON(fiber.Map{"items": users})
}

type clusterUserLink struct {
	UserID *string `json:"user_id"` // "" unlinks
}

func (s *Server) linkClusterUser(c *fiber.Ctx) error {
	var in clusterUserLink
	if err := decode(c, &in, false); err != nil {
		return err
	}
	if in.UserID == nil {
		return dw.Errorf(dw.KindInvalid, `user_id is required: a user id, or "" to unlink`)
	}
	userID := *in.UserID
	if userID != "" {
		id, err := uuid.Parse(userID)
		if err != nil {
			return dw.Errorf(dw.KindInvalid, `user_id must be a user id (a UUID), or "" to unlink`)
		}
		userID = id.String()
	}
	cluster, err1 := url.PathUnescape(c.Params("cluster"))
	login, err2 := url.PathUnescape(c.Params("login"))
	if err1 != nil || err2 != nil {
		return dw.Errorf(dw.KindNotFound, "cluster user not found")
	}
	cu, err := s.cfg.Store.LinkClusterUser(c.UserContext(), cluster, login, userID, auditOf(c))
	if err != nil {
		return err
	}
	if cu.UserID != "" {
		u, err := s.cfg.Store.UserByID(c.UserContext(), cu.UserID)
		if err != nil {
			return err
		}
		cu.Email = u.Email
	}
	return c.JSON(cu)
}

// ---- Reports ----

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
	top, err := intQuery(c, "top", 10, 1, 100)
	if err != nil {
		return err
	}
	ov, err := s.cfg.Store.Overview(c.UserContext(), from, to, top)
	if err != nil {
		return err
	}
	return c.JSON(ov)
}

// usageDimensions are the report dimensions, in the order messages list them.
var usageDimensions = []string{"wallet", "user", "group", "account", "partition", "cluster"}

// UsageReport is the JSON form of a usage report.
type UsageReport struct {
	GroupBy string                 `json:"group_by"`
	Bucket  string                 `json:"bucket"` // "" = one row per key over the whole range
	From    time.Time              `json:"from"`
	To      time.Time              `json:"to"`
	Rows    []persistence.UsageSum `json:"rows"`
}

func (s *Server) usage(c *fiber.Ctx) error {
	if err := knownQuery(c); err != nil {
		return err
	}
	q := persistence.UsageQuery{GroupBy: c.Query("group_by"), Filters: map[string]string{}}
	if q.GroupBy == "" {
		return dw.Coded(dw.KindInvalid, "invalid_query", "group_by is required: one of %s", strings.Join(usageDimensions, ", "))
	}
	var err error
	if q.GroupBy, err = oneOf(c, "group_by", usageDimensions...); err != nil {
		return err
	}
	if q.Bucket, err = oneOf(c, "bucket", "day", "week", "month"); err != nil {
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
	for _, dim := range usageDimensions {
		v := c.Query(dim)
		if v == "" {
			continue
		}
		if len(v) > 200 {
			return dw.Coded(dw.KindInvalid, "invalid_query", "%s must be at most 200 bytes", dim)
		}
		if dim == "wallet" {
			switch v {
			case "unassigned":
				v = ""
			case "excluded":
			default:
				w, err := s.cfg.Store.WalletByRef(c.UserContext(), v)
				if err != nil {
					return err
				}
				v = w.ID
			}
		}
		q.Filters[dim] = v
	}
	if len(q.Filters) == 0 {
		q.Filters = nil
	}
	rows, err := s.cfg.Store.Usage(c.UserContext(), q)
	if err != nil {
		return err
	}
	if rows == nil {
		rows = []persistence.UsageSum{}
	}
	if format == "csv" {
		var buf bytes.Buffer
		if err := report.WriteUsage(&buf, "csv", q.GroupBy, rows); err != nil {
			return err
		}
		c.Set(fiber.HeaderContentType, "text/csv; charset=utf-8")
		return c.Send(buf.Bytes())
	}
	return c.JSON(UsageReport{GroupBy: q.GroupBy, Bucket: q.Bucket, From: q.From, To: q.To, Rows: rows})
}

// ---- Shared wallets ----

type sharedWalletRequest struct {
	Name string `json:"name"`
}

func (s *Server) createSharedWallet(c *fiber.Ctx) error {
	var in sharedWalletRequest
	if err := decode(c, &in, false); err != nil {
		return err
	}
	w, err := s.cfg.Store.CreateSharedWallet(c.UserContext(), in.Name, auditOf(c))
	if err != nil {
		return err
	}
	return c.Status(fiber.StatusCreated).JSON(w)
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
	bucket, err := oneOf(c, "bucket", "day", "week", "month")
	if err != nil {
		return err
	}
	from, to, err := reportRange(c)
	if err != nil {
		return err
	}
	ctx := c.UserContext()
	logins, err := s.cfg.Store.LinkedLogins(ctx, claimsOf(c).UserID)
	if err != nil {
		return err
	}
	rows := []loginUsage{}
	for _, l := range logins {
		sums, err := s.cfg.Store.Usage(ctx, persistence.UsageQuery{GroupBy: "user", Bucket: bucket, From: from, To: to,
			Filters: map[string]string{"cluster": l.Cluster, "user": l.Login}})
		if err != nil {
			return err
		}
		for _, u := range sums {
			rows = append(rows, loginUsage{Cluster: l.Cluster, Login: l.Login, Bucket: u.Bucket, Jobs: u.Jobs, CPUJobs: u.CPUJobs,
				GPUJobs: u.GPUJobs, NodeHours: u.NodeHours, CoreHours: u.CoreHours, Points: u.Points,
				NodeSeconds: u.NodeSeconds, GPUSeconds: u.GPUSeconds})
		}
	}
	if logins == nil {
		logins = []persistence.ClusterUser{}
	}
	return c.JSON(fiber.Map{"from": from, "to": to, "bucket": bucket, "logins": logins, "rows": rows})
}
