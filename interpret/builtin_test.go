package interpret

import (
	"context"
	"errors"
	"reflect"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/divinewhispers/dw/fortune"
)

var testQuestions = map[string][]string{
	LangZhTW: {
		"我在現在的公司待了五年，最近有新的工作機會，薪水比較高但要搬到台中，我該不該換工作？",
		"請問我和男友交往三年，他一直不提結婚，我還要繼續等嗎？",
		"媽媽最近身體不好，什麼時候會好轉？",
		"錢包不見了",
		"？",
	},
	LangEn: {
		"I've been with my company for five years. A new offer pays more but means moving. Should I take it, and when?",
		"My partner and I keep arguing about money. Will things get better?",
		"I lost my grandmother's ring last week",
		"Is this a good year to start a business",
	},
}

func TestBuiltinDeterministicAndValid(t *testing.T) {
	t.Parallel()
	b := NewBuiltin()
	for _, p := range testPoems {
		for _, topic := range fortune.Topics {
			for lang, qs := range testQuestions {
				for _, q := range qs {
					req := Request{SetName: "六十甲子籤", Poem: p, Question: q, Topic: topic.Slug, Language: lang, Context: "家裡有兩個小孩。"}
					var streamed strings.Builder
					chunks := 0
					r1, err := b.Interpret(t.Context(), req, func(d string) { streamed.WriteString(d); chunks++ })
					if err != nil {
						t.Fatalf("poem %d %s %s %q: %v", p.Number, topic.Slug, lang, q, err)
					}
					r2, err := b.Interpret(t.Context(), req, nil)
					if err != nil {
						t.Fatal(err)
					}
					if !reflect.DeepEqual(r1, r2) {
						t.Fatalf("not deterministic:\n%+v\n%+v", r1, r2)
					}
					if err := r1.Validate(p); err != nil {
						t.Fatalf("poem %d %s %s %q: invalid result: %v", p.Number, topic.Slug, lang, q, err)
					}
					if r1.Model != BuiltinModel || r1.Language != lang || len(r1.PoemLines) != 2 {
						t.Fatalf("model %q language %q lines %v", r1.Model, r1.Language, r1.PoemLines)
					}
					if chunks < 2 || !strings.HasPrefix(streamed.String(), r1.Summary) {
						t.Fatalf("streamed %d chunks: %q", chunks, streamed.String())
					}
					checkLanguage(t, r1)
				}
			}
		}
	}
}

// checkLanguage checks that a zh-TW reading is Chinese throughout and that an English one is
// English apart from quotations of the poem.
func checkLanguage(t *testing.T, r Result) {
	t.Helper()
	texts := []string{r.Summary}
	for _, a := range r.Aspects {
		texts = append(texts, a.Name, a.Guidance)
	}
	texts = append(texts, r.Advice...)
	texts = append(texts, r.Cautions...)
	for _, s := range texts {
		han := 0
		for _, c := range s {
			if c >= 0x4e00 && c <= 0x9fff {
				han++
			}
		}
		n := utf8.RuneCountInString(s)
		if r.Language == LangZhTW && han*2 < n {
			t.Errorf("zh-TW text is mostly not Chinese: %q", s)
		}
		if r.Language == LangEn && han*2 > n {
			t.Errorf("English text is mostly Chinese: %q", s)
		}
		if strings.Contains(s, "%!") || strings.Contains(s, "%s") {
			t.Errorf("formatting slip in %q", s)
		}
	}
}

func TestBuiltinAddressesTheQuestion(t *testing.T) {
	t.Parallel()
	b := NewBuiltin()
	tests := []struct {
		req     Request
		echo    string   // quoted back in the summary
		aspects []string // among the aspect names
		also    []string // in the reading somewhere
	}{
		{
			req:     Request{SetName: "六十甲子籤", Poem: poemGood, Topic: "career", Question: "請問，我在現在的公司待了五年，最近有新的工作機會，薪水比較高但要搬到台中，我該不該換工作？"},
			echo:    "「最近有新的工作機會，薪水比較高但要搬到台中，我該不該換工作」",
			aspects: []string{"功名", "籤詩總意", "典故", "抉擇"},
			also:    []string{"功名有望，宜努力進取", "凡事順利，前途光明", "孔明點將", "上上"},
		},
		{
			req:     Request{Poem: poemPoor, Topic: "marriage", Question: "他一直不提結婚，我還要等多久？"},
			echo:    "「他一直不提結婚，我還要等多久」",
			aspects: []string{"婚姻", "時機", "人際"},
			also:    []string{"此籤未單論婚姻，依總論：「目前多阻，修身積德，終可轉機」", "籤不好不代表命不好"},
		},
		{
			req:     Request{Poem: poemEven, Topic: "wealth", Language: LangEn, Question: "My partner wants us to invest our savings in his friend's shop. Should we?"},
			echo:    "“My partner wants us to invest our savings in his friend's shop. Should we?”",
			aspects: []string{"Wealth", "The lot as a whole", "The decision", "The people involved"},
			also:    []string{"求財難得，宜守舊業", "not financial advice", "中平"},
		},
		{
			req:     Request{Poem: poemGood, Topic: "health", Language: LangEn, Question: "My mother has been ill since spring."},
			echo:    "“My mother has been ill since spring”",
			aspects: []string{"Health", "The people involved"},
			also:    []string{"doctor"},
		},
	}
	for _, tt := range tests {
		r, err := b.Interpret(t.Context(), tt.req, nil)
		if err != nil {
			t.Fatal(err)
		}
		all := r.Summary
		var names []string
		for _, a := range r.Aspects {
			names = append(names, a.Name)
			all += a.Guidance
		}
		all += strings.Join(r.Advice, "") + strings.Join(r.Cautions, "")
		if !strings.Contains(r.Summary, tt.echo) {
			t.Errorf("summary does not echo %s:\n%s", tt.echo, r.Summary)
		}
		for _, want := range tt.aspects {
			if !contains(names, want) {
				t.Errorf("aspects %v lack %q", names, want)
			}
		}
		for _, want := range tt.also {
			if !strings.Contains(all, want) {
				t.Errorf("reading lacks %q:\n%s", want, all)
			}
		}
		for _, l := range r.PoemLines {
			if !strings.Contains(r.Summary, "「"+l+"」") {
				t.Errorf("summary does not quote the line it rests on, %s", l)
			}
		}
	}
}

func TestBuiltinLinesFollowTheQuestion(t *testing.T) {
	t.Parallel()
	seen := map[[2]string]bool{}
	for i := range 40 {
		req := Request{Poem: poemGood, Question: "第" + string(rune('A'+i)) + "個問題", Topic: "overall"}
		r, err := NewBuiltin().Interpret(t.Context(), req, nil)
		if err != nil {
			t.Fatal(err)
		}
		seen[[2]string(r.PoemLines)] = true
	}
	if len(seen) < 4 {
		t.Errorf("40 questions rest on only %d pairs of lines", len(seen))
	}
}

func TestBuiltinErrors(t *testing.T) {
	t.Parallel()
	_, err := NewBuiltin().Interpret(t.Context(), Request{Poem: poemGood}, nil)
	if !errors.Is(err, ErrPermanent) || codeOf(err) != CodeInvalidRequest {
		t.Errorf("empty question: %v", err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	_, err = NewBuiltin().Interpret(ctx, validRequest(), nil)
	if !errors.Is(err, ErrRetryable) || codeOf(err) != CodeCanceled || !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled: %v", err)
	}
}

func TestEchoQuestion(t *testing.T) {
	t.Parallel()
	tests := []struct {
		q    string
		zh   bool
		want string
	}{
		{"我該換工作嗎？", true, "我該換工作嗎"},
		{"  請問：我   該換工作嗎？？ ", true, "我該換工作嗎"},
		{"想請問" + strings.Repeat("很長的背景", 10) + "，所以我該怎麼辦？後來又想到別的事。", true, "所以我該怎麼辦"},
		{strings.Repeat("長", 60), true, strings.Repeat("長", 40) + "…"},
		{"Should I move?", false, "Should I move?"},
		{"I want to ask: should I move", false, "should I move"},
		{"I have lived here for ten years and my whole family is nearby, which matters to me a lot. Should I move abroad for the job? It pays double.", false,
			"Should I move abroad for the job?"},
		{strings.Repeat("word ", 40), false, strings.TrimSpace(strings.Repeat("word ", 20)) + "…"},
		{"???", false, "…"},
	}
	for _, tt := range tests {
		if got := echoQuestion(tt.q, tt.zh); got != tt.want {
			t.Errorf("echoQuestion(%q) = %q, want %q", tt.q, got, tt.want)
		}
	}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func codeOf(err error) string {
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return ""
}

func BenchmarkBuiltin(b *testing.B) {
	in := NewBuiltin()
	req := validRequest()
	req.Context = "家裡有兩個小孩，太太在台北上班。"
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := in.Interpret(ctx, req, nil); err != nil {
			b.Fatal(err)
		}
	}
}
