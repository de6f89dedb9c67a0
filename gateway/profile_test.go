package gateway_test

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
)

// testProfile: PATCH /api/v1/me sets the display name (trimmed) and the language, GET shows
// them; bad values are refused with a message per field and change nothing.
func testProfile(t *testing.T, tn *testNode) {
	u := tn.newUser("user")
	var me map[string]any
	decodeInto(t, tn.do("GET", "/api/v1/me", u.Access, nil), 200, &me)
	if me["display_name"] != "" || me["language"] != "" || me["email"] != u.Email {
		t.Fatalf("new user's profile (no language chosen): %v", me)
	}
	// Registration keeps the language the page (the body) or the browser (Accept-Language) says.
	for i, tc := range []struct {
		body map[string]any
		h    hdr
		want string
	}{
		{map[string]any{"language": "en"}, hdr{"Accept-Language": "zh-TW"}, "en"},
		{map[string]any{}, hdr{"Accept-Language": "zh-TW,zh;q=0.9,en;q=0.5"}, "zh-TW"},
		{map[string]any{}, hdr{"Accept-Language": "en-GB"}, "en"},
		{map[string]any{}, nil, ""},
	} {
		email := fmt.Sprintf("lang-%d-%d@example.com", i, userSeq.Add(1))
		tc.body["email"], tc.body["password"] = email, "a long enough passphrase 1"
		var hs []hdr
		if tc.h != nil {
			hs = append(hs, tc.h)
		}
		var created map[string]any
		decodeInto(t, tn.do("POST", "/api/v1/auth/register", "", tc.body, hs...), 201, &created)
		if created["language"] != tc.want {
			t.Errorf("registered with %v %v: language %v, want %q", tc.body["language"], tc.h, created["language"], tc.want)
		}
	}
	wantProblem(t, "unknown language at registration", tn.do("POST", "/api/v1/auth/register", "",
		map[string]any{"email": "lang-bad@example.com", "password": "a long enough passphrase 1", "language": "fr"}), 400, "invalid")
	decodeInto(t, tn.do("PATCH", "/api/v1/me", u.Access, map[string]any{"display_name": "  林小明 ", "language": "en"}), 200, &me)
	if me["display_name"] != "林小明" || me["language"] != "en" || me["id"] != u.ID || me["wallet_id"] != u.WalletID {
		t.Fatalf("patched: %v", me)
	}
	decodeInto(t, tn.do("PATCH", "/api/v1/me", u.Access, map[string]any{"language": "zh-TW"}), 200, &me)
	if me["display_name"] != "林小明" || me["language"] != "zh-TW" {
		t.Fatalf("language only: %v", me)
	}

	for _, tc := range []struct {
		name   string
		body   any
		fields []string
	}{
		{"too long", map[string]any{"display_name": strings.Repeat("名", 65)}, []string{"display_name"}},
		{"bidi override", map[string]any{"display_name": "admin\u202e"}, []string{"display_name"}},
		{"zero-width joiner", map[string]any{"display_name": "a\u200db"}, []string{"display_name"}},
		{"unknown language", map[string]any{"language": "fr"}, []string{"language"}},
		{"both bad", map[string]any{"display_name": strings.Repeat("x", 65), "language": "zh-CN"}, []string{"display_name", "language"}},
		{"nothing", map[string]any{}, []string{"display_name"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := tn.with(t).do("PATCH", "/api/v1/me", u.Access, tc.body)
			wantProblem(t, tc.name, r, 400, "invalid")
			var p struct {
				Errors map[string]string `json:"errors"`
			}
			_ = json.Unmarshal(r.Body, &p)
			if len(p.Errors) != len(tc.fields) {
				t.Errorf("errors %v, want fields %v", p.Errors, tc.fields)
			}
			for _, f := range tc.fields {
				if p.Errors[f] == "" || !strings.Contains(r.problem().Detail, f) {
					t.Errorf("field %s not named: %s", f, r)
				}
			}
		})
	}
	decodeInto(t, tn.do("GET", "/api/v1/me", u.Access, nil), 200, &me)
	if me["display_name"] != "林小明" || me["language"] != "zh-TW" {
		t.Fatalf("refused patches changed the profile: %v", me)
	}
	// A control character is refused by the body's decoder already.
	wantProblem(t, "control character", tn.do("PATCH", "/api/v1/me", u.Access, `{"display_name":"a\u0007b"}`), 400, "invalid_body")
}
