package interpret

import (
	"errors"
	"strings"
	"testing"
	"time"

	dw "github.com/divinewhispers/dw"
	"github.com/divinewhispers/dw/fortune"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// Small in-test poems, one per tone, so that tests do not depend on the bundled set.
var (
	poemGood = fortune.Poem{
		Number: 1, Title: "甲子", Level: "上上",
		Lines: []string{"日出便見風雲散", "光明清淨照世間", "一向前途通大道", "萬事清吉保平安"},
		Meanings: map[string]string{
			"overall":  "凡事順利，前途光明。",
			"career":   "功名有望，宜努力進取。",
			"marriage": "婚姻和合，良緣可成。",
			"health":   "病漸癒，宜調養。",
		},
		Story: "孔明點將",
	}
	poemEven = fortune.Poem{
		Number: 23, Title: "丙戌", Level: "中平",
		Lines:    []string{"欲去長江水闊茫", "前途未遂運未通", "如今絲綸常在手", "只恐魚水不相逢"},
		Meanings: map[string]string{"overall": "時運未通，宜守待時。", "wealth": "求財難得，宜守舊業。"},
	}
	poemPoor = fortune.Poem{
		Number: 60, Title: "癸亥", Level: "下下",
		Lines:    []string{"月出光輝本清吉", "浮雲總是蔽陰色", "戶內用心再作福", "當官分理便有益"},
		Meanings: map[string]string{"overall": "目前多阻，修身積德，終可轉機。", "lawsuit": "官司宜和，不宜強爭。"},
		Story:    "蘇秦不第",
	}
	testPoems = []fortune.Poem{poemGood, poemEven, poemPoor}
)

func validRequest() Request {
	return Request{SetName: "六十甲子籤", Poem: poemGood, Question: "我該不該換工作？", Topic: "career"}
}

func TestRequestValidate(t *testing.T) {
	t.Parallel()
	long := strings.Repeat("問", MaxQuestionRunes+1)
	tests := []struct {
		name   string
		change func(*Request)
		want   []string // substrings of the message; none means valid
	}{
		{"valid", func(*Request) {}, nil},
		{"defaults", func(r *Request) { r.Topic, r.Language = "", "" }, nil},
		{"question required", func(r *Request) { r.Question = "  \n " }, []string{"question"}},
		{"question too long", func(r *Request) { r.Question = long }, []string{"question"}},
		{"question invalid utf-8", func(r *Request) { r.Question = "\xff\xfe" }, []string{"question"}},
		{"context too long", func(r *Request) { r.Context = strings.Repeat("x", MaxContextRunes+1) }, []string{"context"}},
		{"unknown topic", func(r *Request) { r.Topic = "lottery" }, []string{`topic "lottery"`}},
		{"unknown language", func(r *Request) { r.Language = "fr" }, []string{"language"}},
		{"three lines", func(r *Request) { r.Poem.Lines = r.Poem.Lines[:3] }, []string{"4 lines"}},
		{"empty line", func(r *Request) { r.Poem.Lines = []string{"a", " ", "c", "d"} }, []string{"line 2"}},
		{"every problem joined", func(r *Request) { r.Question, r.Topic, r.Language = "", "x", "fr" },
			[]string{"question", "topic", "language"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := validRequest()
			r.Poem.Lines = append([]string(nil), r.Poem.Lines...)
			tt.change(&r)
			err := r.Validate()
			if len(tt.want) == 0 {
				if err != nil {
					t.Fatalf("Validate: %v", err)
				}
				if r.Topic == "" || r.Language == "" {
					t.Fatalf("defaults not filled: %+v", r)
				}
				return
			}
			if err == nil {
				t.Fatal("Validate accepted an invalid request")
			}
			if !errors.Is(err, ErrPermanent) || errors.Is(err, ErrRetryable) || dw.KindOf(err) != dw.KindInvalid || dw.CodeOf(err) != CodeInvalidRequest {
				t.Fatalf("classification of %v: permanent=%v kind=%s code=%s", err, errors.Is(err, ErrPermanent), dw.KindOf(err), dw.CodeOf(err))
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %q", err, w)
				}
			}
		})
	}
}

func validResult() Result {
	return Result{
		Summary:   "s",
		Aspects:   []Aspect{{"a", "g"}},
		Advice:    []string{"do"},
		Cautions:  []string{"mind"},
		PoemLines: []string{poemGood.Lines[2]},
		Language:  LangEn,
		Model:     "m",
	}
}

func TestResultValidate(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		change func(*Result)
		want   string
	}{
		{"valid", func(*Result) {}, ""},
		{"no summary", func(r *Result) { r.Summary = " " }, "summary is empty"},
		{"long summary", func(r *Result) { r.Summary = strings.Repeat("字", maxSummaryRunes+1) }, "summary is longer"},
		{"no aspects", func(r *Result) { r.Aspects = nil }, "aspects: none"},
		{"empty aspect", func(r *Result) { r.Aspects = []Aspect{{"", "g"}} }, "aspects[0].name is empty"},
		{"no advice", func(r *Result) { r.Advice = nil }, "advice: none"},
		{"too much advice", func(r *Result) { r.Advice = make([]string, maxItems+1) }, "advice: more than"},
		{"no cautions", func(r *Result) { r.Cautions = []string{} }, "cautions: none"},
		{"no lines", func(r *Result) { r.PoemLines = nil }, "poem_lines: none"},
		{"foreign line", func(r *Result) { r.PoemLines = []string{"床前明月光"} }, "not a line of the poem"},
		{"near line", func(r *Result) { r.PoemLines = []string{poemGood.Lines[0] + "。"} }, "not a line of the poem"},
		{"repeated line", func(r *Result) { r.PoemLines = []string{poemGood.Lines[0], poemGood.Lines[0]} }, "given twice"},
		{"language", func(r *Result) { r.Language = "fr" }, "language"},
		{"model", func(r *Result) { r.Model = "" }, "model is empty"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := validResult()
			tt.change(&r)
			err := r.Validate(poemGood)
			switch {
			case tt.want == "" && err != nil:
				t.Fatalf("Validate: %v", err)
			case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
				t.Fatalf("Validate = %v, want an error containing %q", err, tt.want)
			}
		})
	}
}

func TestErrorClassification(t *testing.T) {
	t.Parallel()
	cause := errors.New("boom")
	tests := []struct {
		err       *Error
		retryable bool
		kind      dw.Kind
	}{
		{retryable(CodeRateLimited, "m", cause), true, dw.KindUnavailable},
		{retryable(CodeUnavailable, "m", nil), true, dw.KindUnavailable},
		{retryable(CodeTimeout, "m", nil), true, dw.KindUnavailable},
		{retryable(CodeBadOutput, "m", nil), true, dw.KindUnavailable},
		{retryable(CodeCanceled, "m", nil), true, dw.KindUnavailable},
		{permanent(CodeRejected, "m", nil), false, dw.KindInternal},
		{permanent(CodeInvalidRequest, "m", nil), false, dw.KindInvalid},
	}
	for _, tt := range tests {
		wrapped := errors.Join(errors.New("job 7"), tt.err)
		if errors.Is(wrapped, ErrRetryable) != tt.retryable || errors.Is(wrapped, ErrPermanent) == tt.retryable {
			t.Errorf("%s: retryable = %v, want %v", tt.err.Code, errors.Is(wrapped, ErrRetryable), tt.retryable)
		}
		if k := dw.KindOf(wrapped); k != tt.kind {
			t.Errorf("%s: kind %s, want %s", tt.err.Code, k, tt.kind)
		}
		if c := dw.CodeOf(wrapped); c != tt.err.Code {
			t.Errorf("code %s, want %s", c, tt.err.Code)
		}
		if m := dw.MessageOf(wrapped); tt.kind != dw.KindInternal && m != "m" {
			t.Errorf("%s: message %q", tt.err.Code, m)
		}
	}
	e := retryable(CodeRateLimited, "m", cause)
	e.RetryAfter = 3 * time.Second
	if d, ok := RetryAfter(errors.Join(e)); !ok || d != 3*time.Second {
		t.Errorf("RetryAfter = %v, %v", d, ok)
	}
	if !errors.Is(e, cause) {
		t.Error("the cause is not in the chain")
	}
}
