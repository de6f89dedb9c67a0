package fortune

import (
	"bytes"
	"embed"
	"fmt"
	"io/fs"
	"slices"
	"sync"
)

// The sets that ship with the program, one JSON file each (the form of ParseJSON).
//
//go:embed data/*.json
var bundledFS embed.FS

var bundled = sync.OnceValue(func() []*Set {
	names, err := fs.Glob(bundledFS, "data/*.json")
	if err != nil {
		panic(err)
	}
	slices.Sort(names)
	sets := make([]*Set, 0, len(names))
	for _, name := range names {
		b, err := bundledFS.ReadFile(name)
		if err != nil {
			panic(err)
		}
		s, err := ParseJSON(bytes.NewReader(b))
		if err != nil {
			// The data is part of the program: a bad file is a bug that TestBundled catches.
			panic(fmt.Sprintf("fortune: bundled set %s: %v", name, err))
		}
		sets = append(sets, s)
	}
	return sets
})

// Bundled returns the sets embedded in the program (today the 六十甲子籤, slug
// "liushi-jiazi"), parsed and validated once. Each call returns fresh copies, which the
// caller may change.
func Bundled() []*Set {
	sets := bundled()
	out := make([]*Set, len(sets))
	for i, s := range sets {
		out[i] = s.Clone()
	}
	return out
}
