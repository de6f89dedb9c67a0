// Package persistence is the only package that speaks SQL. It owns the embedded migrations, the
// wallet grain's load and group-commit statements, and the queries behind accounts, refresh
// tokens, the audit log and the read-side listings.
//
// Errors: pgx.ErrNoRows becomes not_found and unique violations become conflict, in one place
// (mapError); everything else is internal.
package persistence
