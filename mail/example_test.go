package mail_test

import (
	"fmt"
	"strings"
	"time"

	"github.com/divinewhispers/dw/mail"
)

// A reset mail in the language of the request that asked for it.
func ExamplePasswordReset() {
	lang := mail.Language("zh-TW,zh;q=0.9,en;q=0.5")
	subject, body := mail.PasswordReset(lang, "https://dw.example.com/reset-password?token=…", time.Hour)
	fmt.Println(lang)
	fmt.Println(subject)
	fmt.Println(strings.Contains(body, "https://dw.example.com/reset-password?token=…"))
	// Output:
	// zh-TW
	// Divine Whispers 密碼重設
	// true
}
