package payments_test

import (
	"fmt"

	"github.com/divinewhispers/dw/payments"
)

func ExampleParsePackages() {
	pkgs, err := payments.ParsePackages("small:100:TWD:150,intl:500:USD:4.99")
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, p := range pkgs {
		fmt.Printf("%s: %d points for %s (%d minor units)\n", p.ID, p.Points, p.Price, p.Price.Minor)
	}
	_, err = payments.ParsePackages("big:0:TWD:1.5")
	fmt.Println(err)
	// Output:
	// small: 100 points for 150 TWD (150 minor units)
	// intl: 500 points for 4.99 USD (499 minor units)
	// invalid_packages: packages[0].points: "0" must be a whole number from 1 to 1099511627776
	// packages[0].price: "1.5" must be a positive amount with at most 0 decimals
}
