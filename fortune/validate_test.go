package fortune

import (
	"strings"
	"testing"
)

func TestValidate(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name   string
		change func(*Set)
		want   string
	}{
		{"valid", func(*Set) {}, ""},
		{"no poems", func(s *Set) { s.Poems = nil }, `set: field "poems": the set has no poems`},
		{"unknown topic", func(s *Set) { s.Poems[0].Meanings["weather"] = "晴" },
			`poem 1: field "meanings": "weather" is not a topic (one of overall, family, marriage, wealth, career, health, travel, lawsuit, lost)`},
		{"invalid UTF-8", func(s *Set) { s.Poems[1].Story = "a\xffb" }, `poem 2: field "story": is not valid UTF-8`},
		{"control character", func(s *Set) { s.Poems[0].Title = "甲\x00子" }, `poem 1: field "title": contains the control character U+0000`},
		{"carriage return", func(s *Set) { s.Description = "a\r\nb" }, `set: field "description": contains the control character U+000D`},
		{"five lines", func(s *Set) { s.Poems[0].Lines = append(s.Poems[0].Lines, "五") }, `poem 1: field "lines": want 4 lines, got 5`},
		{"long meaning", func(s *Set) { s.Poems[0].Meanings["overall"] = strings.Repeat("吉", MaxMeaningRunes+1) },
			`poem 1: field "meanings": "overall" has 501 characters, at most 500`},
		{"numbers from zero", func(s *Set) { s.Poems[0].Number, s.Poems[1].Number = 0, 1 },
			"poem at index 0: field \"number\": 0 is not in 1..2 (poems are numbered 1 to the number of poems)\npoems: missing numbers: 2"},
		{"poems out of order are fine", func(s *Set) { s.Poems[0], s.Poems[1] = s.Poems[1], s.Poems[0] }, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s := smallSet()
			tc.change(s)
			if got := message(t, s.Validate()); got != tc.want {
				t.Errorf("Validate:\n got: %s\nwant: %s", got, tc.want)
			}
		})
	}
}

func TestValidateTooManyPoems(t *testing.T) {
	t.Parallel()
	s := smallSet()
	for len(s.Poems) <= MaxPoems {
		p := s.Poems[0]
		p.Number = len(s.Poems) + 1
		s.Poems = append(s.Poems, p)
	}
	if got, want := message(t, s.Validate()), `set: field "poems": the set has 1001 poems, at most 1000`; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
}

func TestPoemLookup(t *testing.T) {
	t.Parallel()
	s := smallSet()
	if p, ok := s.Poem(2); !ok || p.Title != "甲寅" {
		t.Errorf("Poem(2) = %v, %v", p.Title, ok)
	}
	s.Poems[0], s.Poems[1] = s.Poems[1], s.Poems[0]
	if p, ok := s.Poem(2); !ok || p.Title != "甲寅" {
		t.Errorf("Poem(2) of unsorted poems = %v, %v", p.Title, ok)
	}
	if _, ok := s.Poem(3); ok {
		t.Error("Poem(3) found a poem")
	}
}
