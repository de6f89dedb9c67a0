package node

import (
	"context"
	"log/slog"

	dw "github.com/divinewhispers/dw"
	"github.com/divinewhispers/dw/account"
)

// Demo accounts of `make run`. Their passwords are documented in the README: they protect
// nothing but a local demo.
var demoUsers = []account.RegisterInput{
	{Email: "admin@example.com", Password: "demo-admin-pass", Role: account.RoleAdmin},
	{Email: "operator@example.com", Password: "demo-operator-pass", Role: account.RoleOperator},
	{Email: "service@example.com", Password: "demo-service-pass", Role: account.RoleService},
	{Email: "user@example.com", Password: "demo-user-pass", Role: account.RoleUser},
}

func seedDemo(ctx context.Context, accounts *account.Service, log *slog.Logger) error {
	for _, u := range demoUsers {
		_, err := accounts.Register(ctx, u)
		switch {
		case err == nil:
			log.Info("demo account created", "email", u.Email, "role", u.Role)
		case dw.CodeOf(err) == "email_taken":
		default:
			return err
		}
	}
	return nil
}
