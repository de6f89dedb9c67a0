package job_test

import (
	"strings"
	"testing"
	"time"

	dw "github.com/divinewhispers/dw"
	"github.com/divinewhispers/dw/job"
)

func TestTransitions(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		from, to job.Status
		ok       bool
	}{
		{job.Pending, job.Running, true}, {job.Pending, job.Cancelled, true}, {job.Pending, job.Completed, false},
		{job.Running, job.Completed, true}, {job.Running, job.Failed, true}, {job.Running, job.Running, true},
		{job.Completed, job.Failed, false}, {job.Failed, job.Running, false}, {job.Cancelled, job.Completed, false},
	} {
		if got := job.CanTransition(tc.from, tc.to); got != tc.ok {
			t.Errorf("%s → %s: %v, want %v", tc.from, tc.to, got, tc.ok)
		}
	}
	for _, s := range []job.Status{job.Completed, job.Failed, job.Cancelled} {
		if !s.Terminal() {
			t.Errorf("%s should be terminal", s)
		}
	}
}

func TestParamsValidate(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		p    job.Params
		want string // substring of the error; "" = valid
	}{
		{"by set and number", job.Params{Set: "liushi-jiazi", Number: 7, Question: "我該換工作嗎？"}, ""},
		{"by draw", job.Params{DrawID: "0195f3c2-7b7e-7c4e-9d5e-8e1f2a3b4c5d", Question: "q", Topic: "marriage", Language: "en"}, ""},
		{"multiline question", job.Params{Set: "s", Number: 1, Question: "line 1\n\tline 2\r\n"}, ""},
		{"draw id not a uuid", job.Params{DrawID: "x'--", Question: "q"}, "draw_id"},
		{"number beyond int4", job.Params{Set: "s", Number: 99999999999, Question: "q"}, "number"},
		{"number beyond the largest set", job.Params{Set: "s", Number: 1001, Question: "q"}, "number"},
		{"negative number", job.Params{Set: "s", Number: -1, Question: "q"}, "number"},
		{"set not a slug", job.Params{Set: "S\x00", Number: 1, Question: "q"}, "set"},
		{"NUL in question", job.Params{Set: "s", Number: 1, Question: "a\x00b"}, "question"},
		{"invalid UTF-8 in question", job.Params{Set: "s", Number: 1, Question: "a\xffb"}, "question"},
		{"control in context", job.Params{Set: "s", Number: 1, Question: "q", Context: "a\x07b"}, "context"},
		{"no poem", job.Params{Question: "q"}, "give draw_id"},
		{"both", job.Params{DrawID: "x", Set: "s", Number: 1, Question: "q"}, "not both"},
		{"empty question", job.Params{Set: "s", Number: 1}, "question"},
		{"long question", job.Params{Set: "s", Number: 1, Question: strings.Repeat("問", 2001)}, "question"},
		{"bad topic", job.Params{Set: "s", Number: 1, Question: "q", Topic: "lottery"}, "topic"},
		{"bad language", job.Params{Set: "s", Number: 1, Question: "q", Language: "fr"}, "language"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.p.Validate()
			if tc.want == "" {
				if err != nil {
					t.Fatal(err)
				}
				if tc.p.Language == "" || tc.p.Topic == "" {
					t.Fatal("defaults not filled")
				}
				return
			}
			if dw.KindOf(err) != dw.KindInvalid || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want invalid mentioning %q", err, tc.want)
			}
		})
	}
}

func TestBackoff(t *testing.T) {
	t.Parallel()
	base, max := 100*time.Millisecond, 5*time.Second
	for n, want := range map[int]time.Duration{1: 100 * time.Millisecond, 2: 200 * time.Millisecond, 4: 800 * time.Millisecond, 10: 5 * time.Second, 1000: 5 * time.Second} {
		lo, hi := job.Backoff(n, base, max, func() float64 { return 0 }), job.Backoff(n, base, max, func() float64 { return 0.999999 })
		if lo != want/2 || hi < want*99/100 || hi > want {
			t.Errorf("attempt %d: backoff in [%v, %v], want [%v, %v]", n, lo, hi, want/2, want)
		}
	}
}

func TestHashIgnoresNothingThatMatters(t *testing.T) {
	t.Parallel()
	a := job.Params{Set: "s", Number: 1, Question: "q", Topic: "overall", Language: "zh-TW"}
	b := a
	b.Question = "q2"
	if string(a.Hash()) == string(b.Hash()) {
		t.Fatal("different questions hash alike")
	}
}
