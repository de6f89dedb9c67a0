package fortune

import (
	"bytes"
	"reflect"
	"testing"
)

// templeOrder is the order of the 六十甲子籤 as temples print it: each heavenly stem in turn,
// with the six earthly branches it pairs with, in branch order.
func templeOrder() []string {
	const stems, branches = "甲乙丙丁戊己庚辛壬癸", "子丑寅卯辰巳午未申酉戌亥"
	b := []rune(branches)
	var out []string
	for i, s := range []rune(stems) {
		for j := i % 2; j < 12; j += 2 {
			out = append(out, string(s)+string(b[j]))
		}
	}
	return out
}

func liushiJiazi(t *testing.T) *Set {
	t.Helper()
	for _, s := range Bundled() {
		if s.Slug == "liushi-jiazi" {
			return s
		}
	}
	t.Fatal("the bundled sets lack liushi-jiazi")
	return nil
}

func TestBundled(t *testing.T) {
	t.Parallel()
	sets := Bundled()
	if len(sets) != 1 {
		t.Fatalf("got %d bundled sets, want 1", len(sets))
	}
	s := liushiJiazi(t)
	if err := s.Validate(); err != nil {
		t.Fatal(err)
	}
	if len(s.Poems) != 60 {
		t.Fatalf("got %d poems, want 60", len(s.Poems))
	}
	order := templeOrder()
	titles := map[string]int{}
	uncertain := 0
	for i, p := range s.Poems {
		if p.Number != i+1 {
			t.Errorf("poems[%d] has number %d", i, p.Number)
		}
		if p.Title != order[i] {
			t.Errorf("poem %d: title %s, want %s (temple order)", p.Number, p.Title, order[i])
		}
		if j, dup := titles[p.Title]; dup {
			t.Errorf("poem %d: title %s is also poem %d's", p.Number, p.Title, j)
		}
		titles[p.Title] = p.Number
		for _, l := range p.Lines {
			if n := len([]rune(l)); n != 7 {
				t.Errorf("poem %d: line %q has %d characters, want 7", p.Number, l, n)
			}
		}
		for _, topic := range Topics {
			if p.Meanings[topic.Slug] == "" {
				t.Errorf("poem %d: no meaning for %s", p.Number, topic.Slug)
			}
		}
		if p.Uncertain {
			uncertain++
		}
	}
	t.Logf("%d of %d poems are marked uncertain", uncertain, len(s.Poems))
}

func TestBundledReturnsCopies(t *testing.T) {
	t.Parallel()
	a := liushiJiazi(t)
	a.Poems[0].Lines[0] = "changed"
	a.Poems[0].Meanings["overall"] = "changed"
	a.Poems = a.Poems[:1]
	b := liushiJiazi(t)
	if len(b.Poems) != 60 || b.Poems[0].Lines[0] == "changed" || b.Poems[0].Meanings["overall"] == "changed" {
		t.Fatal("a change to one result of Bundled shows in the next")
	}
}

func TestBundledRoundTrip(t *testing.T) {
	t.Parallel()
	s := liushiJiazi(t)
	for _, f := range []struct {
		name  string
		write func(*bytes.Buffer, *Set) error
		parse func(*bytes.Buffer) (*Set, error)
	}{
		{"json", func(b *bytes.Buffer, s *Set) error { return WriteJSON(b, s) }, func(b *bytes.Buffer) (*Set, error) { return ParseJSON(b) }},
		{"csv", func(b *bytes.Buffer, s *Set) error { return WriteCSV(b, s) }, func(b *bytes.Buffer) (*Set, error) { return ParseCSV(b) }},
	} {
		t.Run(f.name, func(t *testing.T) {
			t.Parallel()
			var b bytes.Buffer
			if err := f.write(&b, s); err != nil {
				t.Fatal(err)
			}
			got, err := f.parse(&b)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, s) {
				t.Fatal("the set read back differs from the one written")
			}
		})
	}
}
