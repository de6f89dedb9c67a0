package persistence

import (
	"context"
	"errors"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"

	dw "github.com/divinewhispers/dw"
	"github.com/divinewhispers/dw/wallet"
)

// ErrDuplicateKey says a commit carried an idempotency key the wallet had already used: the
// grain answers that operation from the stored entry.
var ErrDuplicateKey = dw.Coded(dw.KindConflict, "duplicate_idempotency_key", "idempotency key already used")

// LoadWallet reads a wallet's snapshot and its active holds. Errors: not_found, internal.
func (s *Store) LoadWallet(ctx context.Context, id string) (wallet.State, time.Time, error) {
	st := wallet.State{ID: id, Holds: map[string]wallet.HoldInfo{}, Refundable: map[string]int64{}}
	var updated time.Time
	err := s.pool.QueryRow(ctx, `SELECT balance, held, seq, updated_at FROM wallets WHERE id = $1`, id).
		Scan(&st.Balance, &st.Held, &st.Seq, &updated)
	if err != nil {
		return st, updated, mapError(err, "wallet")
	}
	rows, err := s.pool.Query(ctx, `
		SELECT h.id::text, h.amount, h.expires_at FROM transactions h
		WHERE h.wallet_id = $1 AND h.type = 'hold' AND h.status = 'success'
		  AND NOT EXISTS (SELECT 1 FROM transactions c
		                  WHERE c.hold_id = h.id AND c.type IN ('capture', 'release'))`, id)
	if err != nil {
		return st, updated, mapError(err, "wallet")
	}
	var sum int64
	for rows.Next() {
		var h wallet.HoldInfo
		if err := rows.Scan(&h.ID, &h.Amount, &h.ExpiresAt); err != nil {
			return st, updated, mapError(err, "hold")
		}
		st.Holds[h.ID] = h
		sum += h.Amount
	}
	if err := rows.Err(); err != nil {
		return st, updated, mapError(err, "hold")
	}
	if sum != st.Held {
		return st, updated, dw.Internal(errors.New("wallet " + id + ": held amount disagrees with its open holds"))
	}
	return st, updated, nil
}

// Refundable returns how much of a spend or capture entry of the wallet is still refundable.
// Errors: not_found (no such entry, or not a spend or capture of this wallet), internal.
func (s *Store) Refundable(ctx context.Context, walletID, txID string) (int64, error) {
	var left int64
	err := s.pool.QueryRow(ctx, `
		SELECT t.amount - COALESCE((SELECT sum(r.amount) FROM transactions r
		                            WHERE r.refund_of = t.id AND r.status = 'success'), 0)
		FROM transactions t
		WHERE t.id = $2 AND t.wallet_id = $1 AND t.type IN ('spend', 'capture') AND t.status = 'success'`,
		walletID, txID).Scan(&left)
	if err != nil {
		return 0, mapError(err, "refundable transaction")
	}
	return left, nil
}

const entryColumns = `id::text, wallet_id::text, seq, type, status, amount, balance_delta, held_delta,
	balance_after, held_after, reference_id, idempotency_key, request_hash, COALESCE(hold_id::text, ''),
	COALESCE(refund_of::text, ''), expires_at, reason, COALESCE(actor_id::text, ''), created_at`

func scanEntry(row pgx.Row) (wallet.Entry, error) {
	var e wallet.Entry
	var expires pgtype.Timestamptz
	err := row.Scan(&e.ID, &e.WalletID, &e.Seq, &e.Type, &e.Status, &e.Amount, &e.BalanceDelta,
		&e.HeldDelta, &e.BalanceAfter, &e.HeldAfter, &e.ReferenceID, &e.IdempotencyKey,
		&e.RequestHash, &e.HoldID, &e.RefundOf, &expires, &e.Reason, &e.ActorID, &e.CreatedAt)
	if expires.Valid {
		e.ExpiresAt = expires.Time
	}
	return e, err
}

// EntryByKey finds the entry a wallet wrote for an idempotency key. Errors: not_found, internal.
func (s *Store) EntryByKey(ctx context.Context, walletID, key string) (wallet.Entry, error) {
	e, err := scanEntry(s.pool.QueryRow(ctx, `SELECT `+entryColumns+` FROM transactions
		WHERE wallet_id = $1 AND idempotency_key = $2`, walletID, key))
	return e, mapError(err, "transaction")
}

// Entry reads one ledger entry. Errors: not_found, internal.
func (s *Store) Entry(ctx context.Context, id string) (wallet.Entry, error) {
	e, err := scanEntry(s.pool.QueryRow(ctx, `SELECT `+entryColumns+` FROM transactions WHERE id = $1`, id))
	return e, mapError(err, "transaction")
}

// CommitUnit is what one wallet grain asks to commit at once: its entries, which take the
// wallet's sequence from OldSeq to NewSeq, and the snapshot after them.
type CommitUnit struct {
	WalletID string
	OldSeq   int64
	NewSeq   int64
	Balance  int64
	Held     int64
	Entries  []wallet.Entry
}

// commitSQL writes a whole group commit in one statement, so one round trip and one fsync
// carry any number of wallets; it runs on its generic plan (see genericPlans). The snapshot update is the fence: a wallet whose seq is no
// longer OldSeq was written by another activation; its entries are left out (they are joined
// to the updated rows only) and its id is missing from the result.
const commitSQL = `
WITH w AS (
	SELECT * FROM unnest($1::uuid[], $2::bigint[], $3::bigint[], $4::bigint[], $5::bigint[])
		AS w(id, old_seq, new_seq, balance, held)
), upd AS (
	UPDATE wallets t SET balance = w.balance, held = w.held, seq = w.new_seq, updated_at = now()
	FROM w WHERE t.id = w.id AND t.seq = w.old_seq
	RETURNING t.id
), e AS (
	SELECT * FROM unnest($6::uuid[], $7::uuid[], $8::bigint[], $9::text[], $10::bigint[],
		$11::bigint[], $12::bigint[], $13::bigint[], $14::bigint[], $15::text[], $16::text[],
		$17::bytea[], $18::text[], $19::text[], $20::timestamptz[], $21::text[], $22::text[],
		$23::timestamptz[])
		AS e(id, wallet_id, seq, type, amount, balance_delta, held_delta, balance_after, held_after,
		     reference_id, idempotency_key, request_hash, hold_id, refund_of, expires_at, reason,
		     actor_id, created_at)
	WHERE e.wallet_id IN (SELECT id FROM upd)
), ins AS (
	INSERT INTO transactions (id, wallet_id, seq, type, status, amount, balance_delta, held_delta,
		balance_after, held_after, reference_id, idempotency_key, request_hash, hold_id, refund_of,
		expires_at, reason, actor_id, created_at)
	SELECT id, wallet_id, seq, type, 'success', amount, balance_delta, held_delta, balance_after,
		held_after, reference_id, idempotency_key, request_hash, NULLIF(hold_id, '')::uuid,
		NULLIF(refund_of, '')::uuid, expires_at, reason, NULLIF(actor_id, '')::uuid, created_at
	FROM e
)
SELECT id::text FROM upd`

// Commit writes units in one transaction and returns the wallets that were fenced out (their
// entries were not written). Errors: ErrDuplicateKey when an entry reuses a wallet's
// idempotency key (nothing was written), unavailable, internal.
func (s *Store) Commit(ctx context.Context, units []CommitUnit) (fenced []string, err error) {
	n := 0
	for _, u := range units {
		n += len(u.Entries)
	}
	var (
		wid                                 = make([]string, len(units))
		oldSeq, newSeq, balance, held       = make([]int64, len(units)), make([]int64, len(units)), make([]int64, len(units)), make([]int64, len(units))
		id, walletID, typ, ref, key         = make([]string, 0, n), make([]string, 0, n), make([]string, 0, n), make([]string, 0, n), make([]string, 0, n)
		holdID, refundOf, reason, actor     = make([]string, 0, n), make([]string, 0, n), make([]string, 0, n), make([]string, 0, n)
		seq, amount, bd, hd, bAfter, hAfter = make([]int64, 0, n), make([]int64, 0, n), make([]int64, 0, n), make([]int64, 0, n), make([]int64, 0, n), make([]int64, 0, n)
		hash                                = make([][]byte, 0, n)
		expires, created                    = make([]pgtype.Timestamptz, 0, n), make([]time.Time, 0, n)
	)
	for i, u := range units {
		wid[i], oldSeq[i], newSeq[i], balance[i], held[i] = u.WalletID, u.OldSeq, u.NewSeq, u.Balance, u.Held
		for _, e := range u.Entries {
			id, walletID, typ, ref, key = append(id, e.ID), append(walletID, e.WalletID), append(typ, string(e.Type)), append(ref, e.ReferenceID), append(key, e.IdempotencyKey)
			holdID, refundOf, reason, actor = append(holdID, e.HoldID), append(refundOf, e.RefundOf), append(reason, e.Reason), append(actor, e.ActorID)
			seq, amount, bd, hd = append(seq, e.Seq), append(amount, e.Amount), append(bd, e.BalanceDelta), append(hd, e.HeldDelta)
			bAfter, hAfter, hash = append(bAfter, e.BalanceAfter), append(hAfter, e.HeldAfter), append(hash, e.RequestHash)
			expires = append(expires, pgtype.Timestamptz{Time: e.ExpiresAt, Valid: !e.ExpiresAt.IsZero()})
			created = append(created, e.CreatedAt)
		}
	}
	written := make(map[string]bool, len(units))
	b := &pgx.Batch{}
	b.Queue(genericPlans)
	b.Queue(commitSQL, uuidArray(wid), oldSeq, newSeq, balance, held,
		uuidArray(id), uuidArray(walletID), seq, typ, amount, bd, hd, bAfter, hAfter, ref, key, hash, holdID, refundOf,
		expires, reason, actor, created).Query(collectIDs(written))
	if err := s.pool.SendBatch(ctx, b).Close(); err != nil {
		return nil, commitError(err)
	}
	for _, u := range units {
		if !written[u.WalletID] {
			fenced = append(fenced, u.WalletID)
		}
	}
	return fenced, nil
}

func commitError(err error) error {
	if isUniqueViolation(err, "transactions_wallet_id_idempotency_key_key") {
		return ErrDuplicateKey
	}
	if isUniqueViolation(err, "transactions_wallet_id_seq_key") {
		// Only a second activation can reuse a sequence number: the snapshot fence normally
		// catches it first. Treat it as fenced.
		return &dw.Error{Kind: dw.KindConflict, Code: "fenced", Message: "wallet written by another activation", Err: err}
	}
	return mapError(err, "commit")
}

// WalletsWithExpiredHolds lists wallets that have a hold past its expiry still open.
func (s *Store) WalletsWithExpiredHolds(ctx context.Context, now time.Time, limit int) ([]string, error) {
	rows, err := s.pool.Query(ctx, `
		SELECT DISTINCT h.wallet_id::text FROM transactions h
		WHERE h.type = 'hold' AND h.expires_at <= $1
		  AND NOT EXISTS (SELECT 1 FROM transactions c
		                  WHERE c.hold_id = h.id AND c.type IN ('capture', 'release'))
		LIMIT $2`, now, limit)
	if err != nil {
		return nil, mapError(err, "holds")
	}
	return pgx.CollectRows(rows, pgx.RowTo[string])
}
