package account_test

import (
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"

	dw "github.com/divinewhispers/dw"
	"github.com/divinewhispers/dw/account"
)

func TestProfileInput(t *testing.T) {
	t.Parallel()
	s := func(v string) *string { return &v }
	for _, tc := range []struct {
		name     string
		in       account.ProfileInput
		bad      []string // fields refused
		wantName string
	}{
		{"name trimmed", account.ProfileInput{DisplayName: s("  小明\t")}, nil, "小明"},
		{"empty name clears it", account.ProfileInput{DisplayName: s("   ")}, nil, ""},
		{"64 characters", account.ProfileInput{DisplayName: s(strings.Repeat("籤", 64))}, nil, strings.Repeat("籤", 64)},
		{"65 characters", account.ProfileInput{DisplayName: s(strings.Repeat("籤", 65))}, []string{"display_name"}, ""},
		{"newline inside", account.ProfileInput{DisplayName: s("a\nb")}, []string{"display_name"}, ""},
		{"bidi override", account.ProfileInput{DisplayName: s("x\u202ey")}, []string{"display_name"}, ""},
		{"invalid UTF-8", account.ProfileInput{DisplayName: s("a\xffb")}, []string{"display_name"}, ""},
		{"language en", account.ProfileInput{Language: s("en")}, nil, ""},
		{"language zh-TW", account.ProfileInput{Language: s("zh-TW")}, nil, ""},
		{"language EN", account.ProfileInput{Language: s("EN")}, []string{"language"}, ""},
		{"both bad", account.ProfileInput{DisplayName: s("\x00"), Language: s("ja")}, []string{"display_name", "language"}, ""},
		{"nothing", account.ProfileInput{}, []string{"display_name"}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.in.Validate()
			if len(tc.bad) == 0 {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				if tc.in.DisplayName != nil && *tc.in.DisplayName != tc.wantName {
					t.Fatalf("name %q, want %q", *tc.in.DisplayName, tc.wantName)
				}
				return
			}
			if dw.KindOf(err) != dw.KindInvalid || dw.CodeOf(err) != "invalid" {
				t.Fatalf("got %v, want invalid", err)
			}
			errs, _ := dw.ExtensionsOf(err)["errors"].(map[string]any)
			if len(errs) != len(tc.bad) {
				t.Fatalf("errors %v, want fields %v", errs, tc.bad)
			}
			for _, f := range tc.bad {
				if errs[f] == nil || !strings.Contains(dw.MessageOf(err), f+": ") {
					t.Fatalf("field %s not named: %v", f, err)
				}
			}
		})
	}
}

// FuzzProfile: a display name is accepted only trimmed, of at most 64 characters of valid
// UTF-8 without control or format characters.
func FuzzProfile(f *testing.F) {
	for _, s := range []string{"小明", "  a  ", strings.Repeat("x", 65), "a\u200db", "\x00", "\xff", "Ｍｉｎｇ"} {
		f.Add(s, "en")
	}
	f.Fuzz(func(t *testing.T, name, lang string) {
		in := account.ProfileInput{DisplayName: &name, Language: &lang}
		if in.Validate() != nil {
			return
		}
		got := *in.DisplayName
		if got != strings.TrimSpace(got) || !utf8.ValidString(got) || utf8.RuneCountInString(got) > account.MaxDisplayName {
			t.Fatalf("accepted %q", got)
		}
		for _, r := range got {
			if unicode.IsControl(r) || unicode.Is(unicode.Cf, r) {
				t.Fatalf("accepted %q with %U", got, r)
			}
		}
		if lang != "en" && lang != "zh-TW" {
			t.Fatalf("accepted language %q", lang)
		}
	})
}
