package bench

import (
	"context"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/divinewhispers/dw/persistence"
	"github.com/divinewhispers/dw/wallet"
)

// BenchmarkCommit measures one group commit of 64 deposits to one wallet: the floor under the
// hot-wallet latency.
func BenchmarkCommit(b *testing.B) {
	setup(b)
	ids := wallets(b, 1)
	var seq int64
	for b.Loop() {
		u := persistence.CommitUnit{WalletID: ids[0], OldSeq: seq, NewSeq: seq + 64, Balance: seq + 64}
		for i := range 64 {
			seq++
			u.Entries = append(u.Entries, wallet.Entry{ID: uuid.Must(uuid.NewV7()).String(), WalletID: ids[0], Seq: seq,
				Type: wallet.Deposit, Status: "success", Amount: 1, BalanceDelta: 1, BalanceAfter: seq,
				IdempotencyKey: uuid.NewString(), RequestHash: []byte{byte(i)}, CreatedAt: time.Now()})
		}
		if fenced, err := store.Commit(context.Background(), []persistence.CommitUnit{u}); err != nil || len(fenced) > 0 {
			b.Fatal(err, fenced)
		}
	}
}
