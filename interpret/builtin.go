package interpret

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/divinewhispers/dw/fortune"
)

// BuiltinModel is Result.Model for readings by the builtin interpreter.
const BuiltinModel = "builtin"

// Builtin composes a reading from the poem's own data, without a model: its level, two of its
// lines read by their place in the quatrain, the traditional meanings for the topic and overall,
// its story, and counsel keyed by the level and topic, all addressed to the person's question.
// It is deterministic (the same request gives the same reading) and takes microseconds.
type Builtin struct{}

// NewBuiltin returns the builtin interpreter.
func NewBuiltin() Builtin { return Builtin{} }

// Name returns "builtin".
func (Builtin) Name() string { return BuiltinModel }

// Interpret composes the reading and streams it to progress in three chunks (summary, aspects,
// advice and cautions). Errors: invalid_request (permanent) for an invalid request; canceled
// (retryable) when ctx is already done.
func (Builtin) Interpret(ctx context.Context, req Request, progress Progress) (Result, error) {
	if err := ctx.Err(); err != nil {
		return Result{}, retryable(CodeCanceled, "the interpretation was cancelled", err)
	}
	if err := req.Validate(); err != nil {
		return Result{}, err
	}
	res := compose(req)
	if progress != nil {
		streamText(res, progress)
	}
	return res, nil
}

func compose(req Request) Result {
	w, zh := &enWords, req.Language == LangZhTW
	if zh {
		w = &zhWords
	}
	p := req.Poem
	t := toneOf(p.Level)
	h := fnv64(req.Question, req.Topic)
	lines := pickLines(h)
	echo := echoQuestion(req.Question, zh)

	var b strings.Builder
	b.Grow(1024)
	opening(&b, req, w, zh, h)
	if zh {
		fmt.Fprintf(&b, "你心裡掛念的是「%s」，求問的是%s。", echo, w.topicNoun[req.Topic])
	} else {
		fmt.Fprintf(&b, " You asked, “%s” — a question of %s. ", echo, w.topicNoun[req.Topic])
	}
	b.WriteString(w.toneSummary[t])
	for i, li := range lines {
		switch {
		case zh && i == 0:
			fmt.Fprintf(&b, "籤中「%s」一句，%s", p.Lines[li], w.linePhrase[li][t])
		case zh:
			fmt.Fprintf(&b, "再看「%s」一句，%s", p.Lines[li], w.linePhrase[li][t])
		case i == 0:
			fmt.Fprintf(&b, " The line 「%s」 %s", p.Lines[li], w.linePhrase[li][t])
		default:
			fmt.Fprintf(&b, " And 「%s」 %s", p.Lines[li], w.linePhrase[li][t])
		}
	}
	if !zh {
		b.WriteByte(' ')
	}
	b.WriteString(w.closing[t])

	res := Result{
		Summary:   b.String(),
		PoemLines: []string{p.Lines[lines[0]], p.Lines[lines[1]]},
		Language:  req.Language,
		Model:     BuiltinModel,
	}
	res.Aspects = aspects(req, w, zh, t)
	line := p.Lines[lines[h>>40&1]]
	if zh {
		res.Advice = []string{w.topicAdvice[req.Topic][t], w.toneAdvice[t], "把「" + line + "」這句詩記在心上，遇到猶豫時拿出來想一想。"}
	} else {
		res.Advice = []string{w.topicAdvice[req.Topic][t], w.toneAdvice[t], "Keep the line 「" + line + "」 with you, and return to it when you waver."}
	}
	skip := int(h >> 32 % 3)
	for i, c := range w.cautions[t] {
		if i != skip {
			res.Cautions = append(res.Cautions, c)
		}
	}
	if c, ok := w.profession[req.Topic]; ok {
		res.Cautions = append(res.Cautions, c)
	}
	return res
}

// opening names the lot: set, number, title and level, in one of two wordings chosen by h.
func opening(b *strings.Builder, req Request, w *words, zh bool, h uint64) {
	p := req.Poem
	num := ""
	if p.Number > 0 {
		num = strconv.Itoa(p.Number)
	}
	level := ""
	if p.Level != "" {
		if phrase, ok := w.levelPhrase[p.Level]; ok {
			level = phrase
		}
	}
	if zh {
		if h&1 == 1 {
			b.WriteString("這次")
		}
		if req.SetName != "" {
			b.WriteString("你在" + req.SetName + "求得")
		} else {
			b.WriteString("你求得")
		}
		if num != "" {
			b.WriteString("第" + num + "籤")
		} else {
			b.WriteString("此籤")
		}
		if p.Title != "" {
			b.WriteString("「" + p.Title + "」")
		}
		switch {
		case level != "" && h&1 == 0:
			b.WriteString("，為" + p.Level + "籤，" + level)
		case level != "":
			b.WriteString("，籤等" + p.Level + "，" + level)
		case p.Level != "":
			b.WriteString("，為" + p.Level + "籤")
		}
		b.WriteString("。")
		return
	}
	if h&1 == 0 {
		b.WriteString("You drew lot")
	} else {
		b.WriteString("The lot you drew is")
	}
	if num != "" {
		b.WriteString(" number " + num)
	}
	if p.Title != "" {
		b.WriteString(" (" + p.Title + ")")
	}
	if req.SetName != "" {
		b.WriteString(" of the " + req.SetName)
	}
	switch {
	case level != "":
		b.WriteString(": " + level)
	case p.Level != "":
		b.WriteString(", a " + p.Level + " lot")
	}
	b.WriteString(".")
}

func aspects(req Request, w *words, zh bool, t tone) []Aspect {
	p := req.Poem
	noun := w.topicNoun[req.Topic]
	name := w.topicName[req.Topic]
	if zh {
		name = fortune.Topics[topicIndex(req.Topic)].Label
	}
	overall := strings.TrimSpace(p.Meanings["overall"])
	meaning := strings.TrimSpace(p.Meanings[req.Topic])

	var b strings.Builder
	switch {
	case meaning != "" && zh:
		fmt.Fprintf(&b, "籤解論%s：「%s」", name, trimEnd(meaning))
	case meaning != "":
		fmt.Fprintf(&b, "The temple's traditional reading on %s: 「%s」.", noun, trimEnd(meaning))
	case overall != "" && zh:
		fmt.Fprintf(&b, "此籤未單論%s，依總論：「%s」", name, trimEnd(overall))
	case overall != "":
		fmt.Fprintf(&b, "The poem gives no separate reading on %s; its overall reading is 「%s」.", noun, trimEnd(overall))
	}
	if b.Len() > 0 {
		if zh {
			b.WriteString("。")
		} else {
			b.WriteByte(' ')
		}
	}
	fmt.Fprintf(&b, w.topicTone[t], noun)
	if req.Context != "" {
		ctx := echoText(req.Context, zh, false, pickInt(zh, 30, 90))
		if zh {
			fmt.Fprintf(&b, "再對照你提到的「%s」，%s", ctx, w.contextTone[t])
		} else {
			fmt.Fprintf(&b, " Set beside what you shared — “%s” — %s", ctx, w.contextTone[t])
		}
	}
	as := []Aspect{{Name: name, Guidance: b.String()}}

	if req.Topic != "overall" && overall != "" && meaning != "" {
		if zh {
			as = append(as, Aspect{"籤詩總意", "就全籤而論：「" + trimEnd(overall) + "」。" + w.overallTone[t]})
		} else {
			as = append(as, Aspect{"The lot as a whole", "On the whole, the traditional reading says: 「" + trimEnd(overall) + "」. " + w.overallTone[t]})
		}
	}
	if story := strings.TrimSpace(p.Story); story != "" {
		story = trimEnd(truncateRunes(story, 300))
		if zh {
			as = append(as, Aspect{"典故", "此籤典故：" + story + "。" + w.storyLesson[t]})
		} else {
			as = append(as, Aspect{"The story behind the lot", "This lot recalls the story 「" + story + "」. " + w.storyLesson[t]})
		}
	}
	decision, timing, people := intents(req.Question, zh)
	if decision {
		as = append(as, Aspect{pick(zh, "抉擇", "The decision"), w.decision[t]})
	}
	if timing {
		as = append(as, Aspect{pick(zh, "時機", "Timing"), w.timing[t]})
	}
	if people {
		as = append(as, Aspect{pick(zh, "人際", "The people involved"), w.people[t]})
	}
	return as
}

// streamText sends the reading as text in three chunks, as a model would stream it.
func streamText(r Result, progress Progress) {
	zh := r.Language == LangZhTW
	progress(r.Summary + "\n")
	var b strings.Builder
	for _, a := range r.Aspects {
		if zh {
			b.WriteString("\n【" + a.Name + "】" + a.Guidance + "\n")
		} else {
			b.WriteString("\n" + a.Name + ": " + a.Guidance + "\n")
		}
	}
	progress(b.String())
	b.Reset()
	b.WriteString(pick(zh, "\n建議：\n", "\nAdvice:\n"))
	for _, s := range r.Advice {
		b.WriteString(pick(zh, "・", "- ") + s + "\n")
	}
	b.WriteString(pick(zh, "\n提醒：\n", "\nCautions:\n"))
	for _, s := range r.Cautions {
		b.WriteString(pick(zh, "・", "- ") + s + "\n")
	}
	progress(b.String())
}

// pickLines chooses two distinct lines (indexes 0–3, in poem order) from the question's hash.
func pickLines(h uint64) [2]int {
	a := int(h % 4)
	b := (a + 1 + int(h>>8%3)) % 4
	if b < a {
		a, b = b, a
	}
	return [2]int{a, b}
}

// intents says whether the question weighs a decision, asks about timing, or involves others.
func intents(q string, zh bool) (decision, timing, people bool) {
	if zh {
		return containsAny(q, zhDecision), containsAny(q, zhTiming), containsAny(q, zhPeople) || containsHe(q)
	}
	words := " " + strings.Map(func(r rune) rune {
		if unicode.IsLetter(r) || r == '\'' {
			return unicode.ToLower(r)
		}
		return ' '
	}, q) + " "
	has := func(list []string) bool {
		for _, w := range list {
			if strings.Contains(words, " "+w+" ") {
				return true
			}
		}
		return false
	}
	return has(enDecision), has(enTiming), has(enPeople)
}

func containsAny(s string, list []string) bool {
	for _, w := range list {
		if strings.Contains(s, w) {
			return true
		}
	}
	return false
}

// containsHe reports 他 (he) other than in 其他 (other).
func containsHe(s string) bool {
	for i := strings.Index(s, "他"); i >= 0; {
		if !strings.HasSuffix(s[:i], "其") {
			return true
		}
		j := strings.Index(s[i+len("他"):], "他")
		if j < 0 {
			break
		}
		i += len("他") + j
	}
	return false
}

// echoQuestion is the part of the question to quote back: all of it when short, else its asking
// sentence, without opening fillers ("請問") or closing punctuation.
func echoQuestion(q string, zh bool) string {
	q = squeezeSpace(q)
	fillers := enFillers
	if zh {
		fillers = zhFillers
	}
	for _, f := range fillers {
		if len(q) >= len(f) && strings.EqualFold(q[:len(f)], f) {
			q = strings.TrimLeftFunc(q[len(f):], isPunctOrSpace)
			break
		}
	}
	if q == "" {
		return "…"
	}
	if zh {
		return echoText(q, true, true, 40)
	}
	return echoText(q, false, true, 100)
}

// echoText shortens s to at most limit runes, keeping whole clauses where it can. A question
// (asking) keeps the clauses that lead up to its first question mark, since the ask comes
// last; background keeps its opening clauses.
func echoText(s string, zh, asking bool, limit int) string {
	s = squeezeSpace(s)
	// English quotes keep the question mark of a question quoted up to its end.
	qmark := false
	if utf8.RuneCountInString(s) > limit {
		if asking {
			qmark = !zh && strings.ContainsAny(s, "?？")
			s = askingTail(s, limit)
		} else {
			s = leadingHead(s, limit)
		}
	} else {
		qmark = !zh && asking && strings.ContainsAny(s[len(strings.TrimRightFunc(s, isPunctOrSpace)):], "?？")
	}
	s = strings.TrimRightFunc(s, isPunctOrSpace)
	if s == "" {
		return "…"
	}
	if utf8.RuneCountInString(s) <= limit {
		if qmark {
			s += "?"
		}
		return s
	}
	cut := truncateRunes(s, limit)
	if !zh {
		// End at a word boundary.
		cut = strings.TrimSuffix(cut, "…")
		if i := strings.LastIndexByte(cut, ' '); i > len(cut)/2 {
			cut = cut[:i]
		}
		cut = strings.TrimRightFunc(cut, isPunctOrSpace) + "…"
	}
	return cut
}

// askingTail returns the text of s up to its first question mark (or all of s), shortened
// from the front to at most limit runes: whole sentences if the last one fits, else whole
// clauses. When the last clause alone is too long it is returned whole, for the caller to cut.
func askingTail(s string, limit int) string {
	if i := strings.IndexAny(s, "?？"); i >= 0 {
		s = s[:i]
	}
	s = strings.TrimRightFunc(s, isPunctOrSpace)
	if utf8.RuneCountInString(s) <= limit {
		return s
	}
	if start, ok := tailStart(s, limit, isSentenceEnd); ok {
		return strings.TrimSpace(s[start:])
	}
	start, ok := tailStart(s, limit, isClauseEnd)
	if !ok {
		start = 0
		if i := strings.LastIndexFunc(s, isClauseEnd); i >= 0 {
			_, size := utf8.DecodeRuneInString(s[i:])
			start = i + size
		}
	}
	return strings.TrimSpace(s[start:])
}

// tailStart is where the longest tail of s after a boundary (a rune for which isEnd holds) and
// of at most limit runes starts; ok is false when there is none.
func tailStart(s string, limit int, isEnd func(rune) bool) (start int, ok bool) {
	for i := len(s); i > 0; {
		r, size := utf8.DecodeLastRuneInString(s[:i])
		i -= size
		if !isEnd(r) {
			continue
		}
		if utf8.RuneCountInString(s[i+size:]) > limit {
			break
		}
		start, ok = i+size, true
	}
	return start, ok
}

func isSentenceEnd(r rune) bool {
	switch r {
	case '。', '！', '!', '.', '；', ';', '\n':
		return true
	}
	return false
}

// leadingHead returns the opening clauses of s that fit in limit runes, or the first clause.
func leadingHead(s string, limit int) string {
	end, n := 0, 0
	for i, r := range s {
		n++
		if n > limit {
			break
		}
		if isClauseEnd(r) {
			end = i
		}
	}
	if end == 0 {
		return s
	}
	return s[:end]
}

func isClauseEnd(r rune) bool {
	switch r {
	case '，', ',', '、', '：', ':', '?', '？':
		return true
	}
	return isSentenceEnd(r)
}

// squeezeSpace turns runs of white space into one space, or none beside a CJK character or
// full-width punctuation, where Chinese writing has no spaces.
func squeezeSpace(s string) string {
	fields := strings.Fields(s)
	if len(fields) < 2 {
		return strings.Join(fields, "")
	}
	var b strings.Builder
	b.Grow(len(s))
	for i, f := range fields {
		if i > 0 {
			prev, _ := utf8.DecodeLastRuneInString(fields[i-1])
			next, _ := utf8.DecodeRuneInString(f)
			if prev < 0x2e80 && next < 0x2e80 {
				b.WriteByte(' ')
			}
		}
		b.WriteString(f)
	}
	return b.String()
}

func isPunctOrSpace(r rune) bool { return unicode.IsPunct(r) || unicode.IsSpace(r) }

// trimEnd drops closing punctuation, so a quoted meaning can end with our own.
func trimEnd(s string) string {
	return strings.TrimRightFunc(s, func(r rune) bool { return r == '。' || r == '.' || r == '，' || r == ',' || unicode.IsSpace(r) })
}

func pickInt(zh bool, a, b int) int {
	if zh {
		return a
	}
	return b
}

func pick(zh bool, a, b string) string {
	if zh {
		return a
	}
	return b
}

// fnv64 is FNV-1a over the question and topic: stable across runs and platforms, unlike maphash.
func fnv64(question, topic string) uint64 {
	const offset, prime = 14695981039346656037, 1099511628211
	h := uint64(offset)
	for i := 0; i < len(question); i++ {
		h ^= uint64(question[i])
		h *= prime
	}
	h *= prime // a separator, so ("ab", "c") and ("a", "bc") differ
	for i := 0; i < len(topic); i++ {
		h ^= uint64(topic[i])
		h *= prime
	}
	return h
}
