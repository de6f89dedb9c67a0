package fortune_test

import (
	"errors"
	"fmt"
	"math/rand/v2"

	"github.com/divinewhispers/dw/fortune"
)

func ExampleDraw() {
	set := fortune.Bundled()[0] // 六十甲子籤
	// A seeded source makes the example repeatable; pass nil to draw with crypto/rand.
	rnd := rand.NewChaCha8([32]byte{7})
	poem, err := fortune.Draw(set, rnd)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Printf("第%d首 %s（%s）\n", poem.Number, poem.Title, poem.Level)
	for _, line := range poem.Lines {
		fmt.Println(line)
	}
	fmt.Println("解曰：" + poem.Meanings["overall"])
	// Output:
	// 第15首 丙辰（中平）
	// 八十原來是太公
	// 看看晚景遇文王
	// 目下緊事休相問
	// 勸君且守待運通
	// 解曰：太公八十方遇文王，大器晚成；眼前急事莫問，且守待運通。
}

func ExampleDrawConfirmed() {
	set := fortune.Bundled()[0]
	poem, attempts, err := fortune.DrawConfirmed(set, rand.NewChaCha8([32]byte{1}), 3)
	for _, a := range attempts {
		fmt.Printf("第%d首 %s\n", a.Number, a.Throw)
	}
	switch {
	case errors.Is(err, fortune.ErrNotConfirmed):
		fmt.Printf("no 聖筊 in 3 draws; the last poem was 第%d首\n", poem.Number)
	case err != nil:
		fmt.Println(err)
	default:
		fmt.Printf("confirmed: 第%d首 %s\n", poem.Number, poem.Title)
	}
	// Output:
	// 第40首 笑筊
	// 第35首 陰筊
	// 第51首 聖筊
	// confirmed: 第51首 壬辰
}
