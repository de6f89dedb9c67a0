package gateway

import (
	"bytes"
	"encoding/json"
	"slices"
	"strconv"
	"strings"

	"github.com/gofiber/fiber/v2"
	"github.com/google/uuid"

	dw "github.com/divinewhispers/dw"
	"github.com/divinewhispers/dw/accounting"
	"github.com/divinewhispers/dw/ingest"
	"github.com/divinewhispers/dw/persistence"
)

// The compute-accounting API: ingest sources, group mappings, charge rates, quotas, charges,
// cluster users and usage reports, one file per resource (accounting_*.go). The rules live in
// package accounting; its Service does every read and write. These handlers only decode the
// request, call the service and encode the answer in the API's own JSON types.

// accountingService is cfg.Accounting, or a service over cfg.Store, the ingest roots and the
// charger when the node gives none.
func accountingService(cfg Config) *accounting.Service {
	if cfg.Accounting != nil || cfg.Store == nil {
		return cfg.Accounting
	}
	sc := accounting.ServiceConfig{Store: persistence.AccountingStore{Store: cfg.Store}, Dirs: ingest.Roots(cfg.IngestRoots)}
	if cfg.Charger != nil {
		sc.Charged = cfg.Charger.Kick
	}
	return accounting.NewService(sc)
}

// actorOf is who makes a change, for its audit row.
func actorOf(c *fiber.Ctx) accounting.Actor {
	return accounting.Actor{UserID: claimsOf(c).UserID, IP: c.IP()}
}

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

// queryErr gives the problems of a query's inputs their code, invalid_query; other errors pass.
func queryErr(err error) error {
	if _, ok := accounting.AsInvalid(err); ok {
		e := dw.Coded(dw.KindInvalid, "invalid_query", "%s", dw.MessageOf(err))
		e.Err, e.Extensions = err, dw.ExtensionsOf(err)
		return e
	}
	return err
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

// pageQuery reads a list's limit by the list's page rule.
func pageQuery(c *fiber.Ctx, name string, p accounting.Page) (int, error) {
	return intQuery(c, name, p.Default, 1, p.Max)
}

// listPage reads which page of a list is asked for: page_size (or limit, its name on the lists
// that took one before they were paged; both may be given if they agree) by the list's page
// rule, and cursor (checked where it is read: 400 bad_cursor).
func listPage(c *fiber.Ctx, rule accounting.Page) (accounting.PageRequest, error) {
	size, err := pageQuery(c, "page_size", rule)
	if err != nil {
		return accounting.PageRequest{}, err
	}
	if c.Query("limit") != "" {
		limit, err := pageQuery(c, "limit", rule)
		if err != nil {
			return accounting.PageRequest{}, err
		}
		if c.Query("page_size") != "" && limit != size {
			return accounting.PageRequest{}, dw.Coded(dw.KindInvalid, "invalid_query", "limit and page_size disagree: give one")
		}
		size = limit
	}
	return accounting.PageRequest{Limit: size, Cursor: c.Query("cursor")}, nil
}

// listJSON is a page of a list: its items and, when there are more, the cursor of the next
// page (absent after the last).
func listJSON[T any](items []T, next string) fiber.Map {
	m := fiber.Map{"items": items}
	if next != "" {
		m["next_cursor"] = next
	}
	return m
}

// milliJSON is thousandths as an exact JSON decimal number (1500 → 1.5).
func milliJSON(v int64) json.Number { return json.Number(accounting.FormatMilli(v)) }

// decimalText is the text of a decimal given as a JSON number or string ("1.5", 1.5), for
// the domain to read exactly (never through a float); nil when absent or null.
func decimalText(raw json.RawMessage) *string {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || string(raw) == "null" {
		return nil
	}
	text := string(raw)
	if raw[0] == '"' {
		_ = json.Unmarshal(raw, &text) // decode checked the body is JSON
	}
	return &text
}
