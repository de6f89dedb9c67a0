// Package job holds the pure rules of a paid job's lifecycle: its statuses and the transitions
// between them, the parameters of an interpretation job, and the retry schedule. The job grain
// applies them; persistence records them.
package job

import (
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/google/uuid"

	dw "github.com/divinewhispers/dw"
	"github.com/divinewhispers/dw/fortune"
)

// Status is where a job is in its life.
type Status string

const (
	Pending   Status = "pending"   // accepted (points held), not started
	Running   Status = "running"   // an attempt runs, or the next one is scheduled
	Completed Status = "completed" // result stored; the hold is captured
	Failed    Status = "failed"    // gave up; the hold is released
	Cancelled Status = "cancelled" // the owner cancelled it; the hold is released
)

// Terminal says whether no transition leaves s.
func (s Status) Terminal() bool { return s == Completed || s == Failed || s == Cancelled }

var transitions = map[Status][]Status{
	Pending: {Running, Failed, Cancelled},
	Running: {Running, Completed, Failed, Cancelled},
}

// CanTransition says whether a job may go from one status to another.
func CanTransition(from, to Status) bool {
	for _, s := range transitions[from] {
		if s == to {
			return true
		}
	}
	return false
}

// TypeInterpretation is the one job type so far.
const TypeInterpretation = "interpretation"

// Limits on an interpretation request.
const (
	MaxQuestionRunes = 2000
	MaxContextRunes  = 4000
)

// Params are what an interpretation job needs: a poem (by draw, or by set and number, for a
// poem drawn at a temple), and the person's own situation.
type Params struct {
	DrawID   string `json:"draw_id,omitempty"`
	Set      string `json:"set,omitempty"`
	Number   int    `json:"number,omitempty"`
	Question string `json:"question"`
	Topic    string `json:"topic"`
	Context  string `json:"context,omitempty"`
	Language string `json:"language"`
}

// Validate checks the parameters on their own and fills defaults (language zh-TW, topic
// overall). Errors: invalid, joining every problem.
func (p *Params) Validate() error {
	var errs []error
	if p.DrawID == "" && (p.Set == "" || p.Number <= 0) {
		errs = append(errs, errors.New("give draw_id, or set and number of a poem drawn elsewhere"))
	}
	if p.DrawID != "" && (p.Set != "" || p.Number != 0) {
		errs = append(errs, errors.New("give draw_id or set and number, not both"))
	}
	if _, err := uuid.Parse(p.DrawID); p.DrawID != "" && err != nil {
		errs = append(errs, errors.New("draw_id must be the id of one of your draws (a UUID)"))
	}
	if p.Set != "" && !fortune.ValidSlug(p.Set) {
		errs = append(errs, fmt.Errorf("set must be a poem set's slug (1 to %d lowercase letters, digits and '-')", fortune.MaxSlugLen))
	}
	if p.Number < 0 || p.Number > fortune.MaxPoems {
		errs = append(errs, fmt.Errorf("number must be a poem's number, from 1 to %d", fortune.MaxPoems))
	}
	if n := utf8.RuneCountInString(p.Question); n == 0 || n > MaxQuestionRunes || !plainText(p.Question) {
		errs = append(errs, fmt.Errorf("question must be 1 to %d characters of your own situation (no control characters)", MaxQuestionRunes))
	}
	if utf8.RuneCountInString(p.Context) > MaxContextRunes || !plainText(p.Context) {
		errs = append(errs, fmt.Errorf("context must be at most %d characters (no control characters)", MaxContextRunes))
	}
	if p.Topic == "" {
		p.Topic = "overall"
	}
	if !knownTopic(p.Topic) {
		errs = append(errs, fmt.Errorf("topic %q is not one of %s", p.Topic, topicList()))
	}
	if p.Language == "" {
		p.Language = "zh-TW"
	}
	if p.Language != "zh-TW" && p.Language != "en" {
		errs = append(errs, errors.New(`language must be "zh-TW" or "en"`))
	}
	if len(errs) == 0 {
		return nil
	}
	return dw.Errorf(dw.KindInvalid, "%s", errors.Join(errs...).Error())
}

// plainText: valid UTF-8 without control characters but tab, newline and carriage return (a NUL
// cannot be stored, and none of them belongs in a question).
func plainText(s string) bool {
	if !utf8.ValidString(s) {
		return false
	}
	for _, r := range s {
		if unicode.IsControl(r) && r != '\t' && r != '\n' && r != '\r' {
			return false
		}
	}
	return true
}

// Hash fingerprints the parameters, so that a reused Idempotency-Key with other parameters is
// told apart from a replay.
func (p Params) Hash() []byte {
	b, _ := json.Marshal(p)
	h := sha256.Sum256(b)
	return h[:]
}

func knownTopic(slug string) bool {
	for _, t := range fortune.Topics {
		if t.Slug == slug {
			return true
		}
	}
	return false
}

func topicList() string {
	s := ""
	for i, t := range fortune.Topics {
		if i > 0 {
			s += ", "
		}
		s += t.Slug + " (" + t.Label + ")"
	}
	return s
}

// Backoff is the wait before attempt n+1 after n failed attempts (n ≥ 1): exponential from base,
// capped at max, with "full jitter" (a uniform draw in [d/2, d]) so that retries of many jobs do
// not arrive together. rnd returns a uniform float in [0, 1).
func Backoff(n int, base, max time.Duration, rnd func() float64) time.Duration {
	if n < 1 {
		n = 1
	}
	d := float64(base) * math.Pow(2, float64(n-1))
	if d > float64(max) || math.IsInf(d, 0) {
		d = float64(max)
	}
	return time.Duration(d/2 + rnd()*d/2)
}
