package gateway

import (
	"bytes"
	"encoding/json"
	"errors"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/gofiber/fiber/v2"

	dw "github.com/divinewhispers/dw"
	"github.com/divinewhispers/dw/account"
	"github.com/divinewhispers/dw/actors"
	"github.com/divinewhispers/dw/fortune"
	"github.com/divinewhispers/dw/job"
	"github.com/divinewhispers/dw/persistence"
)

func (s *Server) listSets(c *fiber.Ctx) error {
	sets, err := s.cfg.Store.ListSets(c.UserContext())
	if err != nil {
		return err
	}
	if sets == nil {
		sets = []persistence.SetInfo{}
	}
	return c.JSON(fiber.Map{"items": sets})
}

func (s *Server) getSet(c *fiber.Ctx) error {
	set, err := s.cfg.Store.Set(c.UserContext(), c.Params("set"))
	if err != nil {
		return err
	}
	return c.JSON(set)
}

func poemNumber(c *fiber.Ctx) (int, error) {
	n, err := strconv.Atoi(c.Params("n"))
	if err != nil || n < 1 || n > 10000 {
		return 0, dw.Errorf(dw.KindNotFound, "poem not found")
	}
	return n, nil
}

func (s *Server) getPoem(c *fiber.Ctx) error {
	n, err := poemNumber(c)
	if err != nil {
		return err
	}
	p, _, err := s.cfg.Store.Poem(c.UserContext(), c.Params("set"), n)
	if err != nil {
		return err
	}
	return c.JSON(p)
}

// putSet creates or replaces a whole set (admin): validated first, stored in one transaction.
func (s *Server) putSet(c *fiber.Ctx) error {
	if err := checkJSONText(c.Body()); err != nil {
		return err
	}
	set, err := fortune.ParseJSON(bytes.NewReader(c.Body()))
	if err != nil {
		return dw.Coded(dw.KindInvalid, "invalid_poem_set", "%s", err.Error())
	}
	if c.Params("set") != "" && c.Params("set") != set.Slug {
		return dw.Coded(dw.KindInvalid, "invalid_poem_set", "the body's slug %q differs from the path's %q", set.Slug, c.Params("set"))
	}
	if err := s.cfg.Store.SaveSet(c.UserContext(), set, false, persistence.AuditEntry{ActorID: claimsOf(c).UserID, Action: "poem_set.save", IP: c.IP()}); err != nil {
		return err
	}
	return c.Status(fiber.StatusCreated).JSON(fiber.Map{"slug": set.Slug, "poems": len(set.Poems)})
}

// putPoem replaces one poem of a set (admin), validated as part of its set.
func (s *Server) putPoem(c *fiber.Ctx) error {
	n, err := poemNumber(c)
	if err != nil {
		return err
	}
	var p fortune.Poem
	if err := decode(c, &p, false); err != nil {
		return err
	}
	if p.Number == 0 {
		p.Number = n
	}
	if p.Number != n {
		return dw.Coded(dw.KindInvalid, "invalid_poem", "the body's number %d differs from the path's %d", p.Number, n)
	}
	set, err := s.cfg.Store.Set(c.UserContext(), c.Params("set"))
	if err != nil {
		return err
	}
	if n > len(set.Poems) {
		return dw.Errorf(dw.KindNotFound, "poem not found: add poems by importing the whole set")
	}
	set.Poems[n-1] = p
	if err := set.Validate(); err != nil {
		return dw.Coded(dw.KindInvalid, "invalid_poem", "%s", err.Error())
	}
	if err := s.cfg.Store.SavePoem(c.UserContext(), set.Slug, p, persistence.AuditEntry{ActorID: claimsOf(c).UserID, Action: "poem.update", IP: c.IP()}); err != nil {
		return err
	}
	return c.JSON(p)
}

func (s *Server) deleteSet(c *fiber.Ctx) error {
	if err := s.cfg.Store.DeleteSet(c.UserContext(), c.Params("set"), persistence.AuditEntry{ActorID: claimsOf(c).UserID, Action: "poem_set.delete", IP: c.IP()}); err != nil {
		return err
	}
	return c.SendStatus(fiber.StatusNoContent)
}

type drawRequest struct {
	Set     string `json:"set"`
	Confirm bool   `json:"confirm"` // throw moon blocks (擲筊) until a 聖筊 confirms the poem
}

// DrawResponse is a recorded draw with its poem.
type DrawResponse struct {
	persistence.Draw
	Poem fortune.Poem `json:"poem"`
}

const maxConfirmDraws = 10

func (s *Server) createDraw(c *fiber.Ctx) error {
	var in drawRequest
	if err := decode(c, &in, false); err != nil {
		return err
	}
	if in.Set == "" {
		return dw.Coded(dw.KindInvalid, "invalid_body", "set is required (see GET /api/v1/poem-sets)")
	}
	set, err := s.cfg.Store.Set(c.UserContext(), in.Set)
	if err != nil {
		return err
	}
	d := persistence.Draw{UserID: claimsOf(c).UserID, Set: set.Slug}
	var poem fortune.Poem
	if in.Confirm {
		var attempts []fortune.DrawAttempt
		poem, attempts, err = fortune.DrawConfirmed(set, nil, maxConfirmDraws)
		d.Confirmed = err == nil
		if err != nil && !errors.Is(err, fortune.ErrNotConfirmed) {
			return dw.Internal(err)
		}
		d.Throws, _ = json.Marshal(attempts)
	} else {
		poem, err = fortune.Draw(set, nil)
		if err != nil {
			return dw.Internal(err)
		}
	}
	d.Number = poem.Number
	if err := s.cfg.Store.CreateDraw(c.UserContext(), &d); err != nil {
		return err
	}
	return c.Status(fiber.StatusCreated).JSON(DrawResponse{Draw: d, Poem: poem})
}

// DrawPage is one page of draws.
type DrawPage struct {
	Items      []persistence.Draw `json:"items"`
	NextCursor string             `json:"next_cursor,omitempty"`
}

func (s *Server) listDraws(c *fiber.Ctx) error {
	page, err := pageParams(c)
	if err != nil {
		return err
	}
	items, next, err := s.cfg.Store.ListDraws(c.UserContext(), persistence.DrawFilter{UserID: claimsOf(c).UserID, Set: c.Query("set"), Page: page})
	if err != nil {
		return err
	}
	if items == nil {
		items = []persistence.Draw{}
	}
	return c.JSON(DrawPage{Items: items, NextCursor: next})
}

// getDraw answers one of the caller's draws with its poem (the web app's ask and job pages show
// the poem beside the question). Errors: not_found (no such draw of the caller, or its poem set since deleted), internal.
func (s *Server) getDraw(c *fiber.Ctx) error {
	d, err := s.cfg.Store.DrawOf(c.UserContext(), claimsOf(c).UserID, c.Params("id"))
	if err != nil {
		return err
	}
	poem, _, err := s.cfg.Store.Poem(c.UserContext(), d.Set, d.Number)
	if err != nil {
		return err
	}
	return c.JSON(DrawResponse{Draw: d, Poem: poem})
}

func (s *Server) deleteDraw(c *fiber.Ctx) error {
	if err := s.cfg.Store.DeleteDraw(c.UserContext(), claimsOf(c).UserID, c.Params("id")); err != nil {
		return err
	}
	return c.SendStatus(fiber.StatusNoContent)
}

type jobRequest struct {
	Type string `json:"type"`
	job.Params
}

// JobAccepted is the 202 answer to a job submission.
type JobAccepted struct {
	JobID  string     `json:"job_id"`
	Status job.Status `json:"status"`
}

func (s *Server) createJob(c *fiber.Ctx) error {
	var in jobRequest
	if err := decode(c, &in, false); err != nil {
		return err
	}
	if in.Type != job.TypeInterpretation {
		return dw.Coded(dw.KindInvalid, "invalid_body", `type must be "interpretation"`)
	}
	key := c.Get("Idempotency-Key")
	if len(key) > 200 {
		return dw.Coded(dw.KindInvalid, "invalid_idempotency_key", "Idempotency-Key must be at most 200 bytes")
	}
	cl := claimsOf(c)
	rec, existing, err := s.cfg.Jobs.Submit(c.UserContext(), actors.SubmitInput{UserID: cl.UserID, WalletID: cl.WalletID, Key: key, Params: in.Params})
	if err != nil {
		return err
	}
	if existing {
		c.Set("Idempotent-Replayed", "true")
	}
	c.Set(fiber.HeaderLocation, "/api/v1/jobs/"+rec.ID)
	return c.Status(fiber.StatusAccepted).JSON(JobAccepted{JobID: rec.ID, Status: rec.Status})
}

var errNoJob = dw.Errorf(dw.KindNotFound, "job not found")

// ownJob reads a job its caller may see (its owner, or an admin).
func (s *Server) ownJob(c *fiber.Ctx) (persistence.Job, error) {
	rec, err := s.cfg.Store.JobByID(c.UserContext(), c.Params("id"))
	if err != nil {
		return rec, err
	}
	if cl := claimsOf(c); rec.UserID != cl.UserID && cl.Role != account.RoleAdmin {
		return rec, errNoJob
	}
	return rec, nil
}

func (s *Server) getJob(c *fiber.Ctx) error {
	rec, err := s.ownJob(c)
	if err != nil {
		return err
	}
	return c.JSON(rec)
}

// JobPage is one page of jobs.
type JobPage struct {
	Items      []persistence.Job `json:"items"`
	NextCursor string            `json:"next_cursor,omitempty"`
}

// maxJobQuery bounds a history search (GET /api/v1/jobs?q=), in characters.
const maxJobQuery = 100

func (s *Server) listJobs(c *fiber.Ctx) error {
	f := persistence.JobFilter{UserID: claimsOf(c).UserID}
	var err error
	if f.Status, err = oneOf(c, "status", "pending", "running", "completed", "failed", "cancelled"); err != nil {
		return err
	}
	if f.Type, err = oneOf(c, "type", job.TypeInterpretation); err != nil {
		return err
	}
	if f.Topic, err = oneOf(c, "topic", fortune.TopicSlugs()...); err != nil {
		return err
	}
	if f.Query = strings.TrimSpace(c.Query("q")); utf8.RuneCountInString(f.Query) > maxJobQuery {
		return dw.Coded(dw.KindInvalid, "invalid_query", "q must be at most %d characters", maxJobQuery)
	}
	if f.Page, err = pageParams(c); err != nil {
		return err
	}
	items, next, err := s.cfg.Store.ListJobs(c.UserContext(), f)
	if err != nil {
		return err
	}
	if items == nil {
		items = []persistence.Job{}
	}
	return c.JSON(JobPage{Items: items, NextCursor: next})
}

func (s *Server) cancelJob(c *fiber.Ctx) error {
	rec, err := s.ownJob(c)
	if err != nil {
		return err
	}
	rec, err = s.cfg.Jobs.Cancel(c.UserContext(), rec.UserID, rec.ID)
	if err != nil {
		return err
	}
	return c.JSON(rec)
}

func (s *Server) jobResult(c *fiber.Ctx) error {
	rec, err := s.ownJob(c)
	if err != nil {
		return err
	}
	if rec.Status != job.Completed {
		return dw.Coded(dw.KindConflict, "result_not_ready", "the job is %s; its result exists once it is completed", rec.Status)
	}
	res, err := s.cfg.Store.ResultOf(c.UserContext(), rec.ID)
	if dw.KindOf(err) == dw.KindNotFound {
		return dw.Coded(dw.KindNotFound, "result_expired", "the result has passed its retention date and was removed")
	}
	if err != nil {
		return err
	}
	return c.JSON(res)
}
