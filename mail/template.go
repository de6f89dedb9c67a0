package mail

import (
	"fmt"
	"time"

	"golang.org/x/text/language"
)

// Languages the templates are written in.
const (
	LangEnglish = "en"
	LangZhTW    = "zh-TW"
)

var matcher = language.NewMatcher([]language.Tag{language.English, language.MustParse("zh-TW")})

// Language picks the template language for an Accept-Language header: zh-TW for Chinese
// (traditional or not: the templates are written in 繁體中文), else English.
func Language(acceptLanguage string) string {
	tags, _, err := language.ParseAcceptLanguage(acceptLanguage)
	if err != nil || len(tags) == 0 {
		return LangEnglish
	}
	_, i, conf := matcher.Match(tags...)
	if i == 1 && conf != language.No {
		return LangZhTW
	}
	return LangEnglish
}

// PreferredLanguage is Language for a header that names English or Chinese; "" for one that
// names neither (no header, "*", only other languages): a new account's language stays unchosen
// rather than guessed.
func PreferredLanguage(acceptLanguage string) string {
	tags, _, err := language.ParseAcceptLanguage(acceptLanguage)
	if err != nil || len(tags) == 0 {
		return ""
	}
	_, i, conf := matcher.Match(tags...)
	switch {
	case conf == language.No:
		return ""
	case i == 1:
		return LangZhTW
	}
	return LangEnglish
}

// KindPasswordReset is the outbox kind of a password-reset mail.
const KindPasswordReset = "password_reset"

// PasswordReset is the subject and plain-text body of a password-reset mail in lang holding
// link, valid for ttl.
func PasswordReset(lang, link string, ttl time.Duration) (subject, body string) {
	mins := int(ttl.Round(time.Minute) / time.Minute)
	if lang == LangZhTW {
		return "Divine Whispers 密碼重設",
			fmt.Sprintf("您好：\n\n我們收到了重設您 Divine Whispers 帳號密碼的要求。請在 %d 分鐘內開啟以下連結設定新密碼（連結只能使用一次）：\n\n%s\n\n"+
				"如果這不是您提出的要求，請忽略這封信，您的密碼不會改變。\n\nDivine Whispers\n", mins, link)
	}
	return "Reset your Divine Whispers password",
		fmt.Sprintf("Hello,\n\nSomeone (hopefully you) asked to reset the password of your Divine Whispers account. "+
			"Open this link within %d minutes to choose a new password (it works once):\n\n%s\n\n"+
			"If you did not ask for this, ignore this mail: your password stays as it is.\n\nDivine Whispers\n", mins, link)
}
