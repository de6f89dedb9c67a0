package auth_test

import (
	"errors"
	"fmt"
	"time"

	"github.com/divinewhispers/dw/auth"
)

func ExampleIssuer() {
	key, err := auth.GenerateKey()
	if err != nil {
		panic(err)
	}
	iss, err := auth.NewIssuer(key, "divinewhispers", 15*time.Minute)
	if err != nil {
		panic(err)
	}

	token, expiresAt, err := iss.Issue(auth.Subject{UserID: "user-123", Role: "reader", WalletID: "wallet-9", SessionID: "login-1"}, time.Now())
	if err != nil {
		panic(err)
	}
	fmt.Println("expires in ~15m:", time.Until(expiresAt).Round(time.Minute))

	claims, err := iss.Verify(token)
	if err != nil {
		panic(err)
	}
	fmt.Println(claims.UserID, claims.Role, claims.WalletID, claims.Subject)

	_, err = iss.Verify(token + "tampered")
	fmt.Println(errors.Is(err, auth.ErrInvalidToken))
	// Output:
	// expires in ~15m: 15m0s
	// user-123 reader wallet-9 user-123
	// true
}
