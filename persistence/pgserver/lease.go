package pgserver

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
	"time"
)

// leaseFile, under the dw data directory, is locked (flock) by every process that uses the
// embedded server: shared while it uses it, exclusive while it starts or stops it. The kernel
// drops a dead process's lock (even after kill -9), so the locks count the live users exactly,
// with no count to repair.
const leaseFile = "postgres.lease"

// lease is one process's hold on the embedded server.
type lease struct{ f *os.File }

// takeLease locks the lease file of dataDir: exclusively when no other process uses the server
// (exclusive is then true), otherwise shared, waiting while another process holds it
// exclusively (starts or stops the server).
func takeLease(ctx context.Context, dataDir string) (l *lease, exclusive bool, err error) {
	mode := os.FileMode(0o700)
	if os.Geteuid() == 0 {
		mode = 0o711 // the postgres user must be able to traverse it
	}
	if err := os.MkdirAll(dataDir, mode); err != nil {
		return nil, false, fmt.Errorf("pgserver: create data dir: %w", err)
	}
	f, err := os.OpenFile(filepath.Join(dataDir, leaseFile), os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, false, fmt.Errorf("pgserver: %w", err)
	}
	l = &lease{f}
	if l.try(syscall.LOCK_EX) {
		return l, true, nil
	}
	for !l.try(syscall.LOCK_SH) {
		if ctx.Err() != nil {
			f.Close()
			return nil, false, fmt.Errorf("pgserver: waiting for another dw process to start or stop PostgreSQL: %w", ctx.Err())
		}
		sleep(ctx, 50*time.Millisecond)
	}
	return l, false, nil
}

// try takes the lock how (LOCK_EX or LOCK_SH) without waiting.
func (l *lease) try(how int) bool {
	for {
		err := syscall.Flock(int(l.f.Fd()), how|syscall.LOCK_NB)
		if !errors.Is(err, syscall.EINTR) {
			return err == nil
		}
	}
}

// share turns the exclusive lock into a shared one (no other process holds any lock then,
// so it cannot wait).
func (l *lease) share() error {
	if err := syscall.Flock(int(l.f.Fd()), syscall.LOCK_SH); err != nil {
		return fmt.Errorf("pgserver: lock %s: %w", l.f.Name(), err)
	}
	return nil
}

// last drops the shared lock and reports whether this process was the last user: then it holds
// the lock exclusively, and nobody can start using the server until close.
//
// flock changes a lock by dropping it first, so two users leaving at once may both find the
// other's lock; unlocking before trying makes sure the later of the two finds none.
func (l *lease) last() bool {
	_ = syscall.Flock(int(l.f.Fd()), syscall.LOCK_UN)
	return l.try(syscall.LOCK_EX)
}

func (l *lease) close() { l.f.Close() }
