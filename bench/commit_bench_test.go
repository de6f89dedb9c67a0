package bench

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/divinewhispers/dw/persistence"
	"github.com/divinewhispers/dw/wallet"
)

// BenchmarkCommit measures one group commit of 64 deposits, to one wallet or to 64 wallets:
// the floor under the grain benchmarks' latency.
func BenchmarkCommit(b *testing.B) {
	setup(b)
	for _, n := range []int{1, 64} {
		b.Run(fmt.Sprintf("%dwallets", n), func(b *testing.B) {
			ids := wallets(b, 10_000)[:n]
			seq := make([]int64, n)
			for b.Loop() {
				units := make([]persistence.CommitUnit, n)
				for i := range 64 {
					w := i % n
					seq[w]++
					u := &units[w]
					if u.WalletID == "" {
						u.WalletID, u.OldSeq = ids[w], seq[w]-1
					}
					u.NewSeq, u.Balance = seq[w], seq[w]
					u.Entries = append(u.Entries, wallet.Entry{ID: uuid.Must(uuid.NewV7()).String(), WalletID: ids[w], Seq: seq[w],
						Type: wallet.Deposit, Status: "success", Amount: 1, BalanceDelta: 1, BalanceAfter: seq[w],
						IdempotencyKey: uuid.NewString(), RequestHash: []byte{byte(i)}, CreatedAt: time.Now()})
				}
				if fenced, err := store.Commit(context.Background(), units); err != nil || len(fenced) > 0 {
					b.Fatal(err, fenced)
				}
			}
		})
	}
}
