package captcha_test

import (
	"os"
	"testing"

	"github.com/divinewhispers/dw/internal/pgtest"
	"github.com/divinewhispers/dw/persistence"
)

func TestMain(m *testing.M) {
	os.Exit(pgtest.Main(m, pgtest.Options{Migrate: persistence.Migrate}))
}
