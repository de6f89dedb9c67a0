package gateway_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
)

// testPoemSetsAndDraws: the bundled set is served publicly; an admin imports a set (a bad one
// changes nothing and says what is wrong where), edits a poem and deletes the set; a user
// draws, with and without moon blocks, and manages its history.
func testPoemSetsAndDraws(t *testing.T, tn *testNode) {
	sets := tn.do("GET", "/api/v1/poem-sets", "", nil)
	if sets.Status != 200 || !strings.Contains(string(sets.Body), `"liushi-jiazi"`) {
		t.Fatalf("poem sets: %s", sets)
	}
	poem := tn.do("GET", "/api/v1/poem-sets/liushi-jiazi/poems/1", "", nil)
	var p struct {
		Number   int               `json:"number"`
		Title    string            `json:"title"`
		Lines    []string          `json:"lines"`
		Meanings map[string]string `json:"meanings"`
	}
	if err := json.Unmarshal(poem.Body, &p); err != nil || p.Title != "甲子" || len(p.Lines) != 4 || p.Meanings["overall"] == "" {
		t.Fatalf("poem 1: %s", poem)
	}
	if r := tn.do("GET", "/api/v1/poem-sets/liushi-jiazi/poems/61", "", nil); r.Status != 404 {
		t.Fatalf("poem 61: %s", r)
	}

	admin := tn.admin.Access
	slug := fmt.Sprintf("test-set-%d", userSeq.Add(1))
	good := map[string]any{"slug": slug, "name": "測試籤", "language": "zh-TW", "poems": []map[string]any{
		{"number": 1, "title": "一", "lines": []string{"春來花自開", "夏至雨初來", "秋深葉漸落", "冬雪待春回"}, "level": "上", "meanings": map[string]string{"overall": "順其自然。"}},
		{"number": 2, "title": "二", "lines": []string{"山高路自遠", "水長舟自行", "莫愁前路險", "心定事自成"}, "level": "中", "meanings": map[string]string{"overall": "守成待時。", "travel": "宜緩行。"}},
	}}
	// A bad set: three lines in poem 2 and an unknown level. Nothing is stored.
	bad := map[string]any{"slug": slug, "name": "測試籤", "language": "zh-TW", "poems": []map[string]any{
		good["poems"].([]map[string]any)[0],
		{"number": 2, "title": "二", "lines": []string{"a", "b", "c"}, "level": "大吉", "meanings": map[string]string{"overall": "x"}},
	}}
	r := tn.do("POST", "/api/v1/poem-sets", admin, bad)
	if r.Status != 400 || r.code() != "invalid_poem_set" || !strings.Contains(r.problem().Detail, "poem 2") {
		t.Fatalf("bad set: %s", r)
	}
	if r := tn.do("GET", "/api/v1/poem-sets/"+slug+"/poems", "", nil); r.Status != 404 {
		t.Fatalf("a refused set was stored: %s", r)
	}
	if r := tn.do("POST", "/api/v1/poem-sets", tn.newUser("user").Access, good); r.Status != 403 {
		t.Fatalf("a user imported a set: %s", r)
	}
	if r := tn.do("POST", "/api/v1/poem-sets", admin, good); r.Status != 201 {
		t.Fatalf("good set: %s", r)
	}
	edited := map[string]any{"number": 2, "title": "二", "lines": []string{"山高路自遠", "水長舟自行", "莫愁前路險", "心定事必成"}, "level": "中吉", "meanings": map[string]string{"overall": "守成待時，終有所成。"}}
	if r := tn.do("PUT", "/api/v1/poem-sets/"+slug+"/poems/2", admin, edited); r.Status != 200 {
		t.Fatalf("edit poem: %s", r)
	}
	if r := tn.do("PUT", "/api/v1/poem-sets/"+slug+"/poems/2", admin, map[string]any{"number": 2, "title": "二", "lines": []string{"a"}, "level": "中", "meanings": map[string]string{"overall": "x"}}); r.Status != 400 {
		t.Fatalf("bad edit: %s", r)
	}
	if r := tn.do("GET", "/api/v1/poem-sets/"+slug+"/poems/2", "", nil); !strings.Contains(string(r.Body), "心定事必成") {
		t.Fatalf("edited poem: %s", r)
	}

	u := tn.newUser("user")
	plain := tn.do("POST", "/api/v1/draws", u.Access, map[string]any{"set": slug})
	var d struct {
		ID        string          `json:"id"`
		Number    int             `json:"number"`
		Confirmed bool            `json:"confirmed"`
		Throws    json.RawMessage `json:"throws"`
		Poem      struct {
			Number int `json:"number"`
		} `json:"poem"`
	}
	if err := json.Unmarshal(plain.Body, &d); err != nil || plain.Status != 201 || d.Number < 1 || d.Number > 2 || d.Poem.Number != d.Number {
		t.Fatalf("draw: %s", plain)
	}
	confirmed := tn.do("POST", "/api/v1/draws", u.Access, map[string]any{"set": "liushi-jiazi", "confirm": true})
	var c struct {
		Confirmed bool `json:"confirmed"`
		Throws    []struct {
			Number int    `json:"number"`
			Throw  string `json:"throw"`
		} `json:"throws"`
	}
	if err := json.Unmarshal(confirmed.Body, &c); err != nil || confirmed.Status != 201 || len(c.Throws) == 0 {
		t.Fatalf("confirmed draw: %s", confirmed)
	}
	if r := tn.do("POST", "/api/v1/draws", u.Access, map[string]any{"set": "nope"}); r.Status != 404 {
		t.Fatalf("draw from an unknown set: %s", r)
	}
	list := tn.do("GET", "/api/v1/draws?page_size=1", u.Access, nil)
	var page struct {
		Items      []json.RawMessage `json:"items"`
		NextCursor string            `json:"next_cursor"`
	}
	if err := json.Unmarshal(list.Body, &page); err != nil || len(page.Items) != 1 || page.NextCursor == "" {
		t.Fatalf("draw history: %s", list)
	}
	if r := tn.do("DELETE", "/api/v1/draws/"+d.ID, tn.newUser("user").Access, nil); r.Status != 404 {
		t.Fatalf("another user deleted a draw: %s", r)
	}
	if r := tn.do("DELETE", "/api/v1/draws/"+d.ID, u.Access, nil); r.Status != http.StatusNoContent {
		t.Fatalf("delete draw: %s", r)
	}
	// A job may name the user's own draw.
	if r := tn.do("POST", "/api/v1/jobs", u.Access, map[string]any{"type": "interpretation", "draw_id": d.ID, "question": "q"}); r.Status != 404 {
		t.Fatalf("job on a deleted draw: %s", r)
	}
	if r := tn.do("DELETE", "/api/v1/poem-sets/"+slug, admin, nil); r.Status != http.StatusNoContent {
		t.Fatalf("delete set: %s", r)
	}
}
