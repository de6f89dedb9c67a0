package persistence

import (
	"testing"
	"time"

	dw "github.com/divinewhispers/dw"
)

// FuzzDecodeCursor: a cursor comes from the query string of any caller. It must decode to a
// cursor or to a bad_cursor error, never panic, and every cursor it accepts must round-trip.
func FuzzDecodeCursor(f *testing.F) {
	f.Add(Cursor{At: time.Date(2026, 1, 2, 3, 4, 5, 6, time.UTC), ID: "42"}.Encode())
	f.Add(Cursor{At: time.Now(), ID: "t01a20246-7542-7262-a37e-6422aece16b6"}.Encode())
	f.Add("")
	f.Add("zzz")
	f.Add("eyJ0IjoiMjAyNi0wMS0wMVQwMDowMDowMFoiLCJpIjoibm9wZSctLSJ9")
	f.Fuzz(func(t *testing.T, s string) {
		c, err := DecodeCursor(s)
		if err != nil {
			if dw.CodeOf(err) != "bad_cursor" {
				t.Fatalf("DecodeCursor(%q) = %v, want bad_cursor", s, err)
			}
			return
		}
		if c == nil {
			if s != "" {
				t.Fatalf("DecodeCursor(%q) = nil, nil", s)
			}
			return
		}
		again, err := DecodeCursor(c.Encode())
		if err != nil || !again.At.Equal(c.At) || again.ID != c.ID {
			t.Fatalf("cursor %+v does not round-trip: %+v %v", c, again, err)
		}
	})
}
