// Command barefiber is the baseline of the HTTP benchmark: a fiber app that answers
// GET /api/v1/wallets/:id with a fixed wallet, no auth, no grain, no database.
package main

import (
	"log"
	"os"
	"time"

	"github.com/gofiber/fiber/v2"
)

type wallet struct {
	ID        string    `json:"id"`
	Balance   int64     `json:"balance"`
	Held      int64     `json:"held"`
	Available int64     `json:"available"`
	Seq       int64     `json:"seq"`
	UpdatedAt time.Time `json:"updated_at"`
}

func main() {
	app := fiber.New(fiber.Config{DisableStartupMessage: true})
	now := time.Now().UTC()
	app.Get("/api/v1/wallets/:id", func(c *fiber.Ctx) error {
		return c.JSON(wallet{ID: c.Params("id"), Balance: 100, Available: 100, Seq: 1, UpdatedAt: now})
	})
	log.Fatal(app.Listen(os.Args[1]))
}
