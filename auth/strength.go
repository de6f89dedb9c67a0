package auth

import (
	"errors"
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/trustelem/zxcvbn"
	"github.com/trustelem/zxcvbn/match"
)

// MinPasswordScore is the least zxcvbn score a new password needs: 3 is "safely unguessable",
// about 10^8 guesses or more, which zxcvbn rates as modest protection from an offline attack on a
// slow salted hash such as ours; 4 would refuse many passphrases people remember.
const MinPasswordScore = 3

// strengthRunes is how much of a password is scored: zxcvbn's matching grows faster than the
// square of the length (128 runes of l33t characters cost seconds, 32 runes at most about 0.1 s),
// and a password whose first 32 runes are easy to guess is refused whatever follows.
const strengthRunes = 32

// ErrWeakPassword is wrapped by the errors of CheckStrength.
var ErrWeakPassword = errors.New("weak password")

// siteWords are guessed first by anyone attacking this site's accounts.
var siteWords = []string{"divine", "whispers", "divinewhispers", "fortune", "dw"}

// CheckStrength refuses a password that zxcvbn scores below MinPasswordScore, counting the
// account's email, its local part and the words in it as already known to an attacker. The
// error wraps ErrWeakPassword and says why, from what zxcvbn found in the password. Only the
// first 32 runes are scored, which bounds the time it takes.
func CheckStrength(pw, email string) error {
	if r := []rune(pw); len(r) > strengthRunes {
		pw = string(r[:strengthRunes])
	}
	r := zxcvbn.PasswordStrength(pw, userInputs(email))
	if r.Score >= MinPasswordScore {
		return nil
	}
	why := strings.Join(feedback(r.Sequence), " ")
	return fmt.Errorf("%w: password is too easy to guess (strength %d of 4, at least %d needed). %s",
		ErrWeakPassword, r.Score, MinPasswordScore, why)
}

// userInputs are the words of an email zxcvbn should treat as known.
func userInputs(email string) []string {
	in := append([]string(nil), siteWords...)
	email = strings.ToLower(strings.TrimSpace(email))
	if email == "" {
		return in
	}
	in = append(in, email)
	local, domain, _ := strings.Cut(email, "@")
	in = append(in, local)
	words := strings.FieldsFunc(local+"."+domain, func(r rune) bool { return !unicode.IsLetter(r) && !unicode.IsDigit(r) })
	for _, w := range words {
		if utf8.RuneCountInString(w) >= 3 && w != "com" && w != "org" && w != "net" {
			in = append(in, w)
		}
	}
	return in
}

// feedback explains a weak password from its longest match, in the words of zxcvbn's own
// feedback (the Go port computes scores only).
func feedback(seq []*match.Match) []string {
	const more = "Add another word or two; uncommon words are better."
	if len(seq) == 0 {
		return []string{"Use a few words, avoid common phrases."}
	}
	longest := seq[0]
	for _, m := range seq[1:] {
		if len(m.Token) > len(longest.Token) {
			longest = m
		}
	}
	sole := len(seq) == 1
	var warning, suggestion string
	switch longest.Pattern {
	case "dictionary":
		warning, suggestion = dictionaryFeedback(longest, sole)
	case "spatial":
		warning, suggestion = "Short keyboard patterns are easy to guess.", "Use a longer keyboard pattern with more turns."
		if longest.Turns == 1 {
			warning = "Straight rows of keys are easy to guess."
		}
	case "repeat":
		warning = `Repeats like "abcabcabc" are only slightly harder to guess than "abc".`
		if utf8.RuneCountInString(longest.BaseToken) == 1 {
			warning = `Repeats like "aaa" are easy to guess.`
		}
		suggestion = "Avoid repeated words and characters."
	case "sequence":
		warning, suggestion = "Sequences like abc or 6543 are easy to guess.", "Avoid sequences."
	case "regex":
		if longest.RegexName == "recent_year" {
			warning, suggestion = "Recent years are easy to guess.", "Avoid recent years and years that are associated with you."
		}
	case "date":
		warning, suggestion = "Dates are often easy to guess.", "Avoid dates and years that are associated with you."
	}
	var out []string
	for _, s := range []string{warning, suggestion, more} {
		if s != "" {
			out = append(out, s)
		}
	}
	return out
}

func dictionaryFeedback(m *match.Match, sole bool) (warning, suggestion string) {
	switch m.DictionaryName {
	case "passwords":
		switch {
		case sole && !m.L33t && !m.Reversed && m.Rank <= 10:
			warning = "This is a top-10 common password."
		case sole && !m.L33t && !m.Reversed && m.Rank <= 100:
			warning = "This is a top-100 common password."
		case sole && !m.L33t && !m.Reversed:
			warning = "This is a very common password."
		default:
			warning = "This is similar to a commonly used password."
		}
	case "user_inputs":
		warning = "It contains your email address, a part of it, or the name of this site."
	case "english_wikipedia", "us_tv_and_film":
		if sole {
			warning = "A word by itself is easy to guess."
		}
	case "surnames", "male_names", "female_names":
		warning = "Common names and surnames are easy to guess."
	}
	word := m.Token
	switch {
	case m.L33t:
		suggestion = `Predictable substitutions like "@" instead of "a" don't help very much.`
	case m.Reversed && utf8.RuneCountInString(word) >= 4:
		suggestion = "Reversed words aren't much harder to guess."
	case strings.ToUpper(word) == word && strings.ToLower(word) != word:
		suggestion = "All-uppercase is almost as easy to guess as all-lowercase."
	case word != "" && strings.ToLower(word) != word:
		suggestion = "Capitalization doesn't help very much."
	}
	return warning, suggestion
}
