package persistence

import (
	"strings"
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

// FuzzDecodeKeyCursor: a key cursor (compute accounting's lists) also comes from any caller's
// query string. It must decode to its n keys or to a bad_cursor error, never panic, and every
// cursor it accepts must round-trip.
func FuzzDecodeKeyCursor(f *testing.F) {
	f.Add(KeyCursor{Keys: []string{"src-a"}}.Encode(), 1)
	f.Add(KeyCursor{Keys: []string{"2026-01-02T03:04:05.000006Z", "42"}}.Encode(), 2)
	f.Add(KeyCursor{Keys: []string{"a", "b"}}.Encode(), 1)
	f.Add("", 1)
	f.Add("zzz", 1)
	f.Fuzz(func(t *testing.T, s string, n int) {
		n = n & 7
		keys, err := DecodeKeyCursor(s, n)
		if err != nil {
			if dw.CodeOf(err) != "bad_cursor" {
				t.Fatalf("DecodeKeyCursor(%q) = %v, want bad_cursor", s, err)
			}
			return
		}
		if keys == nil {
			if s != "" {
				t.Fatalf("DecodeKeyCursor(%q) = nil, nil", s)
			}
			return
		}
		again, err := DecodeKeyCursor(KeyCursor{Keys: keys}.Encode(), n)
		if err != nil || len(again) != n || strings.Join(again, "\x00") != strings.Join(keys, "\x00") {
			t.Fatalf("cursor %q does not round-trip: %q %v", keys, again, err)
		}
	})
}
