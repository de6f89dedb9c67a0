// Package fortune is the domain of temple fortune poems (籤詩): poem sets and their poems, the
// topics a poem speaks to, and the draw (抽籤) with its moon-block confirmation (擲筊). It is
// pure Go: no actors, SQL or HTTP.
package fortune

// Topic is one matter a person asks about. Poems carry a traditional meaning per topic.
type Topic struct {
	Slug  string `json:"slug"`  // stable key used by the API, e.g. "marriage"
	Label string `json:"label"` // Traditional Chinese name, e.g. "婚姻"
}

// Topics lists every topic in display order; "overall" is the general meaning.
var Topics = []Topic{
	{"overall", "總論"},
	{"family", "家宅"},
	{"marriage", "婚姻"},
	{"wealth", "求財"},
	{"career", "功名"},
	{"health", "疾病"},
	{"travel", "出行"},
	{"lawsuit", "訴訟"},
	{"lost", "失物"},
}

// TopicSlugs lists the slugs of Topics, in order.
func TopicSlugs() []string {
	out := make([]string, len(Topics))
	for i, t := range Topics {
		out[i] = t.Slug
	}
	return out
}

// Levels are the fortune levels in order from best to worst.
var Levels = []string{"上上", "上吉", "上", "中吉", "中", "中平", "下", "下下"}

// Poem is one poem of a set.
type Poem struct {
	Number int      `json:"number"` // 1-based position in the set
	Title  string   `json:"title"`  // e.g. the 干支 "甲子"
	Lines  []string `json:"lines"`  // exactly four lines
	Level  string   `json:"level"`  // one of Levels
	// Meanings maps a topic slug to its traditional meaning; "overall" is required.
	Meanings map[string]string `json:"meanings"`
	Story    string            `json:"story,omitempty"` // the story or allusion, where the tradition has one
	// Uncertain marks a poem whose wording the set's author could not confirm; Note says why.
	Uncertain bool   `json:"uncertain,omitempty"`
	Note      string `json:"note,omitempty"`
}

// Set is a poem set, e.g. 六十甲子籤.
type Set struct {
	Slug        string `json:"slug"` // stable key, e.g. "liushi-jiazi"
	Name        string `json:"name"` // e.g. "六十甲子籤"
	Description string `json:"description,omitempty"`
	Language    string `json:"language"` // BCP 47, e.g. "zh-TW"
	Poems       []Poem `json:"poems"`
}
