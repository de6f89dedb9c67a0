package node

import (
	"context"
	"time"

	"github.com/divinewhispers/dw/fortune"
	"github.com/divinewhispers/dw/interpret"
	"github.com/divinewhispers/dw/persistence"
)

// seedPoems stores the poem sets shipped with the binary, unless an operator already has a set
// of the same slug.
func seedPoems(ctx context.Context, store *persistence.Store) error {
	for _, set := range fortune.Bundled() {
		if err := store.EnsureSet(ctx, set); err != nil {
			return err
		}
	}
	return nil
}

// newInterpreter is the LLM when one is configured, else the built-in interpreter (so that a
// node works offline).
func newInterpreter(cfg Config) (interpret.Interpreter, error) {
	if cfg.LLMBaseURL == "" {
		return interpret.NewBuiltin(), nil
	}
	return interpret.NewLLM(interpret.LLMConfig{BaseURL: cfg.LLMBaseURL, Model: cfg.LLMModel, APIKey: cfg.LLMAPIKey,
		Timeout: cfg.JobAttemptTimeout + 5*time.Second})
}
