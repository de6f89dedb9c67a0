package sandbox

import (
	"html/template"
	"io"

	"github.com/divinewhispers/dw/payments"
)

// PageCSP is the Content-Security-Policy of the page: no script, its own inline style, forms
// posted back to the node only.
const PageCSP = "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"

var page = template.Must(template.New("page").Parse(`<!doctype html>
<html lang="{{.Lang}}">
<head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>{{.T.Title}}</title>
<style>
body{font-family:system-ui,sans-serif;max-width:28rem;margin:2rem auto;padding:0 1rem;color:#222}
.box{border:1px solid #ccc;border-radius:.5rem;padding:1rem 1.25rem}
.amount{font-size:2rem;margin:.5rem 0}
.note{color:#666;font-size:.9rem}
button{font-size:1rem;padding:.6rem 1.2rem;margin-right:.5rem;border-radius:.4rem;border:1px solid #888;cursor:pointer}
button.pay{background:#1a7f37;color:#fff;border-color:#1a7f37}
</style></head>
<body>
<h1>{{.T.Title}}</h1>
<div class="box">
<p>{{.R.Description}}</p>
<p class="amount">{{.Amount}} {{.R.Amount.Currency}}</p>
{{if eq .State "pending"}}
<form method="post" action="/pay/sandbox/{{.R.PaymentID}}">
<button class="pay" type="submit" name="action" value="pay">{{.T.Pay}}</button>
<button type="submit" name="action" value="cancel">{{.T.Cancel}}</button>
</form>
{{else}}
<p>{{.T.Done}}: <strong>{{.State}}</strong></p>
<p><a href="{{.Back}}">{{.T.Back}}</a></p>
{{end}}
</div>
<p class="note">{{.T.Note}}</p>
</body></html>
`))

type texts struct{ Title, Pay, Cancel, Done, Back, Note string }

var lang = map[string]texts{
	"zh-TW": {Title: "沙盒付款", Pay: "付款", Cancel: "取消", Done: "此筆付款已處理", Back: "返回",
		Note: "這是測試用的沙盒付款頁：不會收取任何費用，也不需要輸入卡號。"},
	"en": {Title: "Sandbox payment", Pay: "Pay", Cancel: "Cancel", Done: "This payment is settled", Back: "Back",
		Note: "This is the sandbox provider's test page: no money moves and no card is asked for."},
}

// RenderPage writes the checkout page of r in its language (zh-TW unless en).
func RenderPage(w io.Writer, r Record) error {
	l := r.Language
	if l != "en" {
		l = "zh-TW"
	}
	back := r.SuccessURL
	if r.Outcome != payments.OutcomePaid && r.Outcome != payments.OutcomeRefunded {
		back = r.CancelURL
	}
	return page.Execute(w, map[string]any{"Lang": l, "T": lang[l], "R": r, "Amount": r.Amount.Major(),
		"State": string(r.Outcome), "Back": template.URL(back)})
}
