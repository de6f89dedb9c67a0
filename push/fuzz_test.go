package push_test

import (
	"strings"
	"testing"

	"github.com/divinewhispers/dw/push"
)

// FuzzSubscribeInput: a browser's subscription is outside input; Validate never panics, and
// what it accepts is an https endpoint with keys of the right lengths.
func FuzzSubscribeInput(f *testing.F) {
	f.Add("https://fcm.googleapis.com/fcm/send/abc", "BCVxsr7N_eNgVRqvHtD0zTZsEc6-VV-JvLexhqUzORcxaOzi6-AYWXvTBHm4bjyPjs7Vd8pZGH6SRpkNtoIAiw4", "BTBZMqHH6r4Tts7J_aSIgg", "en")
	f.Add("http://127.0.0.1/x", "", "", "zh-TW")
	f.Add("https://u:p@x/#f", "BA==", "====", "fr")
	f.Fuzz(func(t *testing.T, endpoint, p256dh, auth, lang string) {
		in := push.SubscribeInput{Endpoint: endpoint, P256dh: p256dh, Auth: auth, Lang: lang}
		if in.Validate() != nil {
			return
		}
		if len(endpoint) < 9 || !strings.EqualFold(endpoint[:8], "https://") {
			t.Fatalf("accepted endpoint %q", endpoint)
		}
		if lang != "" && lang != "en" && lang != "zh-TW" {
			t.Fatalf("accepted language %q", lang)
		}
	})
}
