package persistence

import (
	"context"
	"encoding/json"
	"time"

	"github.com/divinewhispers/dw/accounting"
)

// AccountingStore is the Store as compute accounting's service uses it (accounting.Store):
// the writes take the accounting.Actor who makes them, for their audit rows.
type AccountingStore struct{ *Store }

var _ accounting.Store = AccountingStore{}

func auditBy(by accounting.Actor) AuditEntry { return AuditEntry{ActorID: by.UserID, IP: by.IP} }

// AddSource stores a validated source. Errors: conflict (source_name_taken).
func (s AccountingStore) AddSource(ctx context.Context, src IngestSource, by accounting.Actor) (IngestSource, error) {
	return s.Store.AddSource(ctx, src, auditBy(by))
}

// UpdateSource applies a validated patch. Errors: not_found.
func (s AccountingStore) UpdateSource(ctx context.Context, id string, p SourcePatch, by accounting.Actor) (IngestSource, error) {
	return s.Store.UpdateSource(ctx, id, p, auditBy(by))
}

// RemoveSource removes a source with its file and error rows. Errors: not_found.
func (s AccountingStore) RemoveSource(ctx context.Context, id string, by accounting.Actor) error {
	return s.Store.RemoveSourceByID(ctx, id, auditBy(by))
}

// AuditSource appends an audit row on a source (sourceID "" for one not stored).
// Errors: internal.
func (s AccountingStore) AuditSource(ctx context.Context, by accounting.Actor, action, sourceID string, detail map[string]string) error {
	a := auditBy(by)
	a.Action, a.TargetType, a.TargetID = action, "ingest_source", sourceID
	if detail != nil {
		a.Detail, _ = json.Marshal(detail)
	}
	return s.Store.Audit(ctx, a)
}

// AddMapping stores a rule and applies it to the unassigned usage it covers (Store.AddMapping).
func (s AccountingStore) AddMapping(ctx context.Context, m accounting.Mapping, by accounting.Actor, now time.Time) (accounting.Mapping, Reassigned, error) {
	return s.Store.AddMapping(ctx, m, auditBy(by), now)
}

// RemoveMapping removes a rule. Errors: not_found.
func (s AccountingStore) RemoveMapping(ctx context.Context, id string, by accounting.Actor) error {
	return s.Store.RemoveMapping(ctx, id, auditBy(by))
}

// AddRate stores a rate. Errors: conflict (rate_exists).
func (s AccountingStore) AddRate(ctx context.Context, r accounting.Rate, by accounting.Actor, now time.Time) (accounting.Rate, error) {
	return s.Store.AddRate(ctx, r, auditBy(by), now)
}

// RemoveRate removes a rate. Errors: not_found.
func (s AccountingStore) RemoveRate(ctx context.Context, id string, by accounting.Actor) error {
	return s.Store.RemoveRate(ctx, id, auditBy(by))
}

// CreateSharedWallet creates a shared wallet. Errors: invalid, conflict (wallet_name_taken).
func (s AccountingStore) CreateSharedWallet(ctx context.Context, name string, by accounting.Actor) (WalletRef, error) {
	return s.Store.CreateSharedWallet(ctx, name, auditBy(by))
}

// SetQuota stores a quota in place of the wallet's quota of its period. Errors: not_found.
func (s AccountingStore) SetQuota(ctx context.Context, q Quota, by accounting.Actor, now time.Time) (Quota, error) {
	return s.Store.SetQuota(ctx, q, auditBy(by), now)
}

// RemoveQuota removes a quota. Errors: not_found.
func (s AccountingStore) RemoveQuota(ctx context.Context, id string, by accounting.Actor) error {
	return s.Store.RemoveQuota(ctx, id, auditBy(by))
}

// LinkClusterUser links a login to a user ("" unlinks). Errors: not_found (user_not_found).
func (s AccountingStore) LinkClusterUser(ctx context.Context, cluster, login, userID string, by accounting.Actor) (ClusterUser, error) {
	return s.Store.LinkClusterUser(ctx, cluster, login, userID, auditBy(by))
}

// UserEmail is a user's email. Errors: not_found.
func (s AccountingStore) UserEmail(ctx context.Context, userID string) (string, error) {
	u, err := s.Store.UserByID(ctx, userID)
	return u.Email, err
}
