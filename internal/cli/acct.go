package cli

import (
	"strings"

	"github.com/divinewhispers/dw/accounting"
	"github.com/divinewhispers/dw/ingest"
	"github.com/divinewhispers/dw/node"
	"github.com/divinewhispers/dw/persistence"

	dw "github.com/divinewhispers/dw"
)

// cliActor is the operator at the console, for audit rows: no user, "cli" as the source.
var cliActor = accounting.Actor{IP: "cli"}

// accountingService is compute accounting's service over the command's database; roots are the
// command's ingest roots (for sources).
func accountingService(db *node.Database, roots []string) *accounting.Service {
	return accounting.NewService(accounting.ServiceConfig{Store: persistence.AccountingStore{Store: db.Store}, Dirs: ingest.Roots(roots)})
}

// checker is the service's checks without a database: what a command checks before it opens one.
func checker(roots []string) *accounting.Service {
	return accounting.NewService(accounting.ServiceConfig{Dirs: ingest.Roots(roots)})
}

// fieldFlags names the domain's fields by the commands' flags where the name is not simply
// --field-name.
var fieldFlags = map[string]string{"effective_from": "--from", "interval_seconds": "--interval"}

// flagName is the flag of a domain field.
func flagName(field string) string {
	if f, ok := fieldFlags[field]; ok {
		return f
	}
	return ingest.Flag(field)
}

// flagged speaks of an input's problems by the command's flags, one per line, each followed by
// its example (examples: field → example, e.g. "--period month"); other errors pass.
func flagged(err error, examples map[string]string) error {
	inv, ok := accounting.AsInvalid(err)
	if !ok {
		return err
	}
	lines := make([]string, len(inv.Problems))
	for i, p := range inv.Problems {
		msg := p.Render(flagName)
		if ex, ok := examples[p.Field]; ok && !strings.Contains(msg, "e.g.") {
			msg += ", e.g. " + ex
		}
		lines[i] = msg
	}
	return dw.Coded(dw.KindInvalid, inv.Code, "%s", strings.Join(lines, "\n"))
}
