package fortune

import "slices"

// Poem returns the poem with the given number.
func (s *Set) Poem(number int) (Poem, bool) {
	if number >= 1 && number <= len(s.Poems) && s.Poems[number-1].Number == number {
		return s.Poems[number-1], true
	}
	for _, p := range s.Poems {
		if p.Number == number {
			return p, true
		}
	}
	return Poem{}, false
}

// Clone returns a deep copy of the set, so that a caller may change it without touching the
// original (e.g. the bundled sets).
func (s *Set) Clone() *Set {
	c := *s
	c.Poems = make([]Poem, len(s.Poems))
	for i, p := range s.Poems {
		p.Lines = slices.Clone(p.Lines)
		if p.Meanings != nil {
			m := make(map[string]string, len(p.Meanings))
			for k, v := range p.Meanings {
				m[k] = v
			}
			p.Meanings = m
		}
		c.Poems[i] = p
	}
	return &c
}
