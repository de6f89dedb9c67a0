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
//
// The List methods answer one page of a list in the order their doc names (a unique key) and
// the cursor of the next page ("" after the last); they refuse a cursor they did not give out
// (invalid, code bad_cursor). Limit is already checked by the list's Page.
type Store interface {
	// ListSources: by name.
	ListSources(ctx context.Context, p PageRequest) ([]Source, string, error)
	SourceByID(ctx context.Context, id string) (Source, error)
	SourceByName(ctx context.Context, name string) (Source, error)
	AddSource(ctx context.Context, src Source, by Actor) (Source, error)
	UpdateSource(ctx context.Context, id string, p SourcePatch, by Actor) (Source, error)
	RemoveSource(ctx context.Context, id string, by Actor) error
	// AuditSource records an action on a source that changes no row of it (a scan asked for,
	// a refusal by the ingest roots); sourceID may be "".
	AuditSource(ctx context.Context, by Actor, action, sourceID string, detail map[string]string) error
	// ListProcessedFiles: a source's files by path.
	ListProcessedFiles(ctx context.Context, sourceID string, p PageRequest) ([]ProcessedFile, string, error)
	// ListIngestErrors: newest first (created, then id), of the source named source unless "".
	ListIngestErrors(ctx context.Context, source string, p PageRequest) ([]IngestError, string, error)

	// ListMappings: oldest first (created, then id).
	ListMappings(ctx context.Context, p PageRequest) ([]Mapping, string, error)
	AddMapping(ctx context.Context, m Mapping, by Actor, now time.Time) (Mapping, Reassigned, error)
	RemoveMapping(ctx context.Context, id string, by Actor) error
	// ListRates: by cluster, partition and effective date.
	ListRates(ctx context.Context, p PageRequest) ([]Rate, string, error)
	AddRate(ctx context.Context, r Rate, by Actor, now time.Time) (Rate, error)
	RemoveRate(ctx context.Context, id string, by Actor) error

	WalletByRef(ctx context.Context, ref string) (WalletRef, error)
	CreateSharedWallet(ctx context.Context, name string, by Actor) (WalletRef, error)
	SetQuota(ctx context.Context, q Quota, by Actor, now time.Time) (Quota, error)
	RemoveQuota(ctx context.Context, id string, by Actor) error
	// ListQuotas: by wallet id and period, of one wallet unless walletID is "", each with the
	// usage of its period that holds at now.
	ListQuotas(ctx context.Context, walletID string, p PageRequest, now time.Time) ([]QuotaStatus, string, error)
	// ListQuotaEvents: newest first (created, threshold, quota, period, metric), of one wallet
	// unless walletID is "".
	ListQuotaEvents(ctx context.Context, walletID string, p PageRequest) ([]QuotaEvent, string, error)
	// ListCharges: newest first (by id), after f.Cursor, at most f.Limit.
	ListCharges(ctx context.Context, f ChargeFilter) ([]Charge, string, error)

	// ListClusterUsers: by cluster and login.
	ListClusterUsers(ctx context.Context, cluster, prefix string, p PageRequest) ([]ClusterUser, string, error)
	LinkedLogins(ctx context.Context, userID string) ([]ClusterUser, error)
	LinkClusterUser(ctx context.Context, cluster, login, userID string, by Actor) (ClusterUser, error)
	UserEmail(ctx context.Context, userID string) (string, error)

	Overview(ctx context.Context, from, to time.Time, top int) (Overview, error)
	Usage(ctx context.Context, q UsageQuery) ([]UsageSum, error)
}
