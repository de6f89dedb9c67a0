package interpret_test

import (
	"context"
	"fmt"

	"github.com/divinewhispers/dw/fortune"
	"github.com/divinewhispers/dw/interpret"
)

func ExampleBuiltin() {
	poem := fortune.Poem{
		Number: 1, Title: "甲子", Level: "上上",
		Lines:    []string{"日出便見風雲散", "光明清淨照世間", "一向前途通大道", "萬事清吉保平安"},
		Meanings: map[string]string{"overall": "凡事順利，前途光明。", "career": "功名有望，宜努力進取。"},
		Story:    "孔明點將",
	}
	req := interpret.Request{
		SetName:  "六十甲子籤",
		Poem:     poem,
		Question: "我在公司待了五年，最近有新的工作機會，但要搬到台中，我該不該換工作？",
		Topic:    "career",
	}
	chunks := 0
	r, err := interpret.NewBuiltin().Interpret(context.Background(), req, func(string) { chunks++ })
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(r.Summary)
	for _, a := range r.Aspects {
		fmt.Printf("【%s】%s\n", a.Name, a.Guidance)
	}
	fmt.Println(r.Advice[0])
	fmt.Println(r.PoemLines, r.Model, chunks)
	// Output:
	// 這次你在六十甲子籤求得第1籤「甲子」，籤等上上，是最上等的好籤。你心裡掛念的是「我在公司待了五年，最近有新的工作機會，但要搬到台中，我該不該換工作」，求問的是功名事業。此籤氣象開朗，所求之事有天時相助，只要把握機會、腳踏實地，多能如願。籤中「光明清淨照世間」一句，承接起句，說明事情會順勢發展，你的努力會得到回應。再看「萬事清吉保平安」一句，是全詩的結語，預示終有圓滿的結果。好籤更須惜福，持續努力，福氣才留得住。
	// 【功名】籤解論功名：「功名有望，宜努力進取」。對你而言，這表示功名事業方面運勢向好，可以放心去做。
	// 【籤詩總意】就全籤而論：「凡事順利，前途光明」。放到你的處境來看，大方向是順的，可以安心前行。
	// 【典故】此籤典故：孔明點將。古人得時而興，提醒你機會來時要勇於承擔。
	// 【抉擇】面對抉擇，此籤傾向支持你往前一步，但要先想清楚需要承擔的代價。
	// 主動爭取表現的機會，把平日累積的準備化為行動。
	// [光明清淨照世間 萬事清吉保平安] builtin 3
}
