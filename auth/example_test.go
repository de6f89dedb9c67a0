package auth_test

import (
	"context"
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

func ExampleHasher() {
	// Tests use cheap parameters; a node uses DefaultParams (64 MiB a hash), as many at once as
	// there are cores, a short queue, then *BusyError.
	h, err := auth.NewHasher(auth.HasherOptions{Params: auth.Params{Memory: 64, Time: 1, Threads: 1, KeyLen: 32, SaltLen: 16}})
	if err != nil {
		panic(err)
	}
	ctx := context.Background()

	_, err = h.HashNew(ctx, "password", "ada@example.com")
	fmt.Println(errors.Is(err, auth.ErrWeakPassword))

	hash, err := h.HashNew(ctx, "amber lantern over quiet hills", "ada@example.com")
	if err != nil {
		panic(err)
	}
	ok, _ := h.Verify(ctx, "amber lantern over quiet hills", hash)
	fmt.Println(ok)

	// An account that does not exist: the same cost, and never a match.
	ok, _ = h.Verify(ctx, "amber lantern over quiet hills", "")
	fmt.Println(ok)
	// Output:
	// true
	// true
	// false
}
