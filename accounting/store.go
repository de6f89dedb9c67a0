package accounting

import (
	"context"
	"time"
)

// Actor is who makes a change, for its audit row.
type Actor struct {
	UserID string // "" for the operator at the node's CLI
	IP     string
}

// Store is what the Service needs from the database (implemented by persistence.AccountingStore).
// Every write records its audit row in its own transaction. Errors: not_found for an unknown
// id, conflict for a duplicate (with a finer code), internal for database failures.
type Store interface {
	Sources(ctx context.Context) ([]Source, error)
	SourceByID(ctx context.Context, id string) (Source, error)
	SourceByName(ctx context.Context, name string) (Source, error)
	AddSource(ctx context.Context, src Source, by Actor) (Source, error)
	UpdateSource(ctx context.Context, id string, p SourcePatch, by Actor) (Source, error)
	RemoveSource(ctx context.Context, id string, by Actor) error
	// AuditSource records an action on a source that changes no row of it (a scan asked for,
	// a refusal by the ingest roots); sourceID may be "".
	AuditSource(ctx context.Context, by Actor, action, sourceID string, detail map[string]string) error
	ProcessedFiles(ctx context.Context, sourceID string) (map[string]ProcessedFile, error)
	IngestErrors(ctx context.Context, source string, limit int) ([]IngestError, error)

	Mappings(ctx context.Context) ([]Mapping, error)
	AddMapping(ctx context.Context, m Mapping, by Actor, now time.Time) (Mapping, Reassigned, error)
	RemoveMapping(ctx context.Context, id string, by Actor) error
	Rates(ctx context.Context) ([]Rate, error)
	AddRate(ctx context.Context, r Rate, by Actor, now time.Time) (Rate, error)
	RemoveRate(ctx context.Context, id string, by Actor) error

	WalletByRef(ctx context.Context, ref string) (WalletRef, error)
	CreateSharedWallet(ctx context.Context, name string, by Actor) (WalletRef, error)
	SetQuota(ctx context.Context, q Quota, by Actor, now time.Time) (Quota, error)
	RemoveQuota(ctx context.Context, id string, by Actor) error
	Quotas(ctx context.Context, walletID string, now time.Time) ([]QuotaStatus, error)
	QuotaEvents(ctx context.Context, walletID string, limit int) ([]QuotaEvent, error)
	Charges(ctx context.Context, f ChargeFilter) ([]Charge, error)

	ClusterUsers(ctx context.Context, cluster, prefix string, limit int) ([]ClusterUser, error)
	LinkedLogins(ctx context.Context, userID string) ([]ClusterUser, error)
	LinkClusterUser(ctx context.Context, cluster, login, userID string, by Actor) (ClusterUser, error)
	UserEmail(ctx context.Context, userID string) (string, error)

	Overview(ctx context.Context, from, to time.Time, top int) (Overview, error)
	Usage(ctx context.Context, q UsageQuery) ([]UsageSum, error)
}
