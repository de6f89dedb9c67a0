package gateway

import (
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/google/uuid"

	dw "github.com/divinewhispers/dw"
	"github.com/divinewhispers/dw/account"
	"github.com/divinewhispers/dw/persistence"
	"github.com/divinewhispers/dw/protos/walletpb"
	"github.com/divinewhispers/dw/wallet"
)

// Wallet is the JSON form of a wallet.
type Wallet struct {
	ID        string    `json:"id"`
	Balance   int64     `json:"balance"`
	Held      int64     `json:"held"`
	Available int64     `json:"available"`
	Seq       int64     `json:"seq"`
	UpdatedAt time.Time `json:"updated_at"`
}

// Transaction is the JSON form of a ledger entry.
type Transaction struct {
	ID           string     `json:"id"`
	WalletID     string     `json:"wallet_id"`
	Seq          int64      `json:"seq"`
	Type         string     `json:"type"`
	Status       string     `json:"status"`
	Amount       int64      `json:"amount"`
	BalanceDelta int64      `json:"balance_delta"`
	HeldDelta    int64      `json:"held_delta"`
	BalanceAfter int64      `json:"balance_after"`
	HeldAfter    int64      `json:"held_after"`
	ReferenceID  string     `json:"reference_id"`
	HoldID       string     `json:"hold_id,omitempty"`
	RefundOf     string     `json:"refund_of,omitempty"`
	ExpiresAt    *time.Time `json:"expires_at,omitempty"`
	Reason       string     `json:"reason,omitempty"`
	CreatedAt    time.Time  `json:"created_at"`
}

func walletJSON(w *walletpb.Wallet) Wallet {
	return Wallet{ID: w.Id, Balance: w.Balance, Held: w.Held, Available: w.Available, Seq: w.Seq,
		UpdatedAt: time.UnixMicro(w.UpdatedAtUnixMicro).UTC()}
}

func txFromPB(t *walletpb.Transaction) Transaction {
	out := Transaction{ID: t.Id, WalletID: t.WalletId, Seq: t.Seq, Type: t.Type, Status: t.Status,
		Amount: t.Amount, BalanceDelta: t.BalanceDelta, HeldDelta: t.HeldDelta, BalanceAfter: t.BalanceAfter,
		HeldAfter: t.HeldAfter, ReferenceID: t.ReferenceId, HoldID: t.HoldId, RefundOf: t.RefundOf,
		Reason: t.Reason, CreatedAt: time.UnixMicro(t.CreatedAtUnixMicro).UTC()}
	if t.ExpiresAtUnixMicro != 0 {
		e := time.UnixMicro(t.ExpiresAtUnixMicro).UTC()
		out.ExpiresAt = &e
	}
	return out
}

func txFromEntry(e wallet.Entry) Transaction {
	out := Transaction{ID: e.ID, WalletID: e.WalletID, Seq: e.Seq, Type: string(e.Type), Status: e.Status,
		Amount: e.Amount, BalanceDelta: e.BalanceDelta, HeldDelta: e.HeldDelta, BalanceAfter: e.BalanceAfter,
		HeldAfter: e.HeldAfter, ReferenceID: e.ReferenceID, HoldID: e.HoldID, RefundOf: e.RefundOf,
		Reason: e.Reason, CreatedAt: e.CreatedAt.UTC()}
	if !e.ExpiresAt.IsZero() {
		t := e.ExpiresAt.UTC()
		out.ExpiresAt = &t
	}
	return out
}

var errNoWallet = dw.Errorf(dw.KindNotFound, "wallet not found")

// walletParam reads a wallet id from the path; a malformed id is simply not found.
func walletParam(c *fiber.Ctx) (string, error) {
	id := c.Params("id")
	if _, err := uuid.Parse(id); err != nil {
		return "", errNoWallet
	}
	return id, nil
}

// mayRead says whether the caller may see a wallet: admins and services see all, others the
// wallets they own or belong to. A wallet one may not see is reported as not found.
func (s *Server) mayRead(c *fiber.Ctx, walletID string) error {
	cl := claimsOf(c)
	if cl.Role == account.RoleAdmin || cl.Role == account.RoleService || cl.WalletID == walletID {
		return nil
	}
	ok, err := s.cfg.Store.CanReadWallet(c.UserContext(), cl.UserID, walletID)
	if err != nil {
		return err
	}
	if !ok {
		return errNoWallet
	}
	return nil
}

func (s *Server) getWallet(c *fiber.Ctx) error {
	id, err := walletParam(c)
	if err != nil {
		return err
	}
	if err := s.mayRead(c, id); err != nil {
		return err
	}
	resp, err := s.cfg.Wallets.Do(c.UserContext(), &walletpb.Request{Op: walletpb.Op_OP_GET, WalletId: id, TraceId: traceOf(c)})
	if err != nil {
		return err
	}
	return c.JSON(walletJSON(resp.Wallet))
}

// TransactionPage is one page of a ledger.
type TransactionPage struct {
	Items      []Transaction `json:"items"`
	NextCursor string        `json:"next_cursor,omitempty"`
}

func (s *Server) listTransactions(c *fiber.Ctx) error {
	id, err := walletParam(c)
	if err != nil {
		return err
	}
	if err := s.mayRead(c, id); err != nil {
		return err
	}
	f := persistence.TxFilter{WalletID: id}
	var errs []error
	collect := func(err error) {
		if err != nil {
			errs = append(errs, err)
		}
	}
	var e error
	f.Type, e = oneOf(c, "type", "deposit", "spend", "refund", "hold", "capture", "release", "adjust")
	collect(e)
	f.Status, e = oneOf(c, "status", "pending", "success", "failed")
	collect(e)
	f.Page, e = pageParams(c)
	collect(e)
	if len(errs) > 0 {
		return errs[0]
	}
	entries, next, err := s.cfg.Store.ListTransactions(c.UserContext(), f)
	if err != nil {
		return err
	}
	page := TransactionPage{Items: make([]Transaction, len(entries)), NextCursor: next}
	for i, e := range entries {
		page.Items[i] = txFromEntry(e)
	}
	return c.JSON(page)
}

type amountRequest struct {
	Amount      int64  `json:"amount"`
	ReferenceID string `json:"reference_id"`
}

type holdRequest struct {
	Amount           int64  `json:"amount"`
	ExpiresInSeconds int64  `json:"expires_in_seconds"`
	ReferenceID      string `json:"reference_id"`
}

type captureRequest struct {
	Amount      int64  `json:"amount"`
	ReferenceID string `json:"reference_id"`
}

type adjustRequest struct {
	Amount int64  `json:"amount"`
	Reason string `json:"reason"`
}

// move sends one money-moving request to a wallet grain and answers 201 with its entry; a
// replay of an Idempotency-Key answers the first entry again.
func (s *Server) move(c *fiber.Ctx, req *walletpb.Request) error {
	key := c.Get("Idempotency-Key")
	if len(key) > wallet.MaxKeyLength {
		return dw.Coded(dw.KindInvalid, "invalid_idempotency_key", "Idempotency-Key must be at most %d bytes", wallet.MaxKeyLength)
	}
	if key == "" {
		key = "auto:" + uuid.NewString() // no key: the request is simply not retry-safe
	}
	req.IdempotencyKey, req.ActorId, req.TraceId = key, claimsOf(c).UserID, traceOf(c)
	resp, err := s.cfg.Wallets.Do(c.UserContext(), req)
	if err != nil {
		return err
	}
	if resp.Replayed {
		c.Set("Idempotent-Replayed", "true")
	}
	return c.Status(fiber.StatusCreated).JSON(txFromPB(resp.Transaction))
}

func (s *Server) deposit(c *fiber.Ctx) error { return s.amountOp(c, walletpb.Op_OP_DEPOSIT) }
func (s *Server) spend(c *fiber.Ctx) error   { return s.amountOp(c, walletpb.Op_OP_SPEND) }
func (s *Server) amountOp(c *fiber.Ctx, op walletpb.Op) error {
	id, err := walletParam(c)
	if err != nil {
		return err
	}
	var in amountRequest
	if err := decode(c, &in, false); err != nil {
		return err
	}
	return s.move(c, &walletpb.Request{Op: op, WalletId: id, Amount: in.Amount, ReferenceId: in.ReferenceID})
}

func (s *Server) hold(c *fiber.Ctx) error {
	id, err := walletParam(c)
	if err != nil {
		return err
	}
	var in holdRequest
	if err := decode(c, &in, false); err != nil {
		return err
	}
	return s.move(c, &walletpb.Request{Op: walletpb.Op_OP_HOLD, WalletId: id, Amount: in.Amount,
		ExpiresInSeconds: in.ExpiresInSeconds, ReferenceId: in.ReferenceID})
}

func (s *Server) adjust(c *fiber.Ctx) error {
	id, err := walletParam(c)
	if err != nil {
		return err
	}
	var in adjustRequest
	if err := decode(c, &in, false); err != nil {
		return err
	}
	return s.move(c, &walletpb.Request{Op: walletpb.Op_OP_ADJUST, WalletId: id, Amount: in.Amount, Reason: in.Reason})
}

func (s *Server) holdWallet(c *fiber.Ctx) (string, string, error) {
	holdID := c.Params("id")
	if _, err := uuid.Parse(holdID); err != nil {
		return "", "", dw.Errorf(dw.KindNotFound, "hold not found")
	}
	w, err := s.cfg.Store.HoldWallet(c.UserContext(), holdID)
	return holdID, w, err
}

func (s *Server) capture(c *fiber.Ctx) error {
	var in captureRequest
	if err := decode(c, &in, true); err != nil {
		return err
	}
	holdID, w, err := s.holdWallet(c)
	if err != nil {
		return err
	}
	return s.move(c, &walletpb.Request{Op: walletpb.Op_OP_CAPTURE, WalletId: w, HoldId: holdID, Amount: in.Amount, ReferenceId: in.ReferenceID})
}

func (s *Server) release(c *fiber.Ctx) error {
	if err := decode(c, &struct{}{}, true); err != nil {
		return err
	}
	holdID, w, err := s.holdWallet(c)
	if err != nil {
		return err
	}
	return s.move(c, &walletpb.Request{Op: walletpb.Op_OP_RELEASE, WalletId: w, HoldId: holdID})
}

func (s *Server) refund(c *fiber.Ctx) error {
	var in captureRequest
	if err := decode(c, &in, true); err != nil {
		return err
	}
	txID := c.Params("id")
	if _, err := uuid.Parse(txID); err != nil {
		return dw.Errorf(dw.KindNotFound, "transaction not found")
	}
	e, err := s.cfg.Store.Entry(c.UserContext(), txID)
	if err != nil {
		return err
	}
	return s.move(c, &walletpb.Request{Op: walletpb.Op_OP_REFUND, WalletId: e.WalletID, TransactionId: txID, Amount: in.Amount, ReferenceId: in.ReferenceID})
}
