package pgserver

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

func running(dir string) bool {
	_, ok := RunningURL(dir)
	return ok
}

func sharedBuffers(t *testing.T, s *Server) string {
	t.Helper()
	conn, err := pgx.Connect(t.Context(), s.URL())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	var v string
	if err := conn.QueryRow(t.Context(), "SHOW shared_buffers").Scan(&v); err != nil {
		t.Fatal(err)
	}
	return v
}

// TestReleaseLastUserStops: two users of one server (two processes; here two leases of one
// process, which flock tells apart the same way): the first to let go leaves it running for the
// other, the last one stops it; either order.
func TestReleaseLastUserStops(t *testing.T) {
	needBinaries(t)
	dir := dataDir(t)
	for _, firstStarts := range []bool{true, false} {
		a := start(t, dir)
		b := start(t, dir)
		if a.Adopted() || !b.Adopted() {
			t.Fatalf("adopted: first %v, second %v", a.Adopted(), b.Adopted())
		}
		first, last := a, b
		if !firstStarts {
			first, last = b, a
		}
		if err := first.Release(t.Context()); err != nil {
			t.Fatal(err)
		}
		if err := first.Release(t.Context()); err != nil {
			t.Fatalf("second Release: %v", err)
		}
		if !running(dir) {
			t.Fatal("the first Release stopped a server another user still uses")
		}
		if err := last.Release(t.Context()); err != nil {
			t.Fatal(err)
		}
		if running(dir) {
			t.Fatal("the last Release left the server running")
		}
		if _, err := os.Stat(filepath.Join(dir, pgDirName, "postmaster.pid")); !errors.Is(err, os.ErrNotExist) {
			t.Fatalf("postmaster.pid after the last Release: %v", err)
		}
	}
}

// TestLeftoverAdoptedOrRestarted: a server whose process died without letting it go (kill -9:
// the kernel drops its lease) is adopted as it is by a command, and restarted with the asked
// shared_buffers by a RestartSmaller start (dw serve) when it runs with less.
func TestLeftoverAdoptedOrRestarted(t *testing.T) {
	needBinaries(t)
	dir := dataDir(t)
	ctx := t.Context()
	small, err := Start(ctx, Options{DataDir: dir, NoFsync: true, SharedBuffers: CommandSharedBuffers})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = small.Stop(context.Background()) })
	small.dropLease() // its process "died"

	cmd, err := Start(ctx, Options{DataDir: dir, NoFsync: true, SharedBuffers: "64MB"})
	if err != nil {
		t.Fatal(err)
	}
	if !cmd.Adopted() || sharedBuffers(t, cmd) != CommandSharedBuffers {
		t.Fatalf("a command's start: adopted %v, shared_buffers %s", cmd.Adopted(), sharedBuffers(t, cmd))
	}
	cmd.dropLease()

	serve, err := Start(ctx, Options{DataDir: dir, NoFsync: true, SharedBuffers: "64MB", RestartSmaller: true})
	if err != nil {
		t.Fatal(err)
	}
	if serve.Adopted() || sharedBuffers(t, serve) != "64MB" {
		t.Fatalf("a RestartSmaller start: adopted %v, shared_buffers %s", serve.Adopted(), sharedBuffers(t, serve))
	}
	// A bigger one is kept.
	serve.dropLease()
	again, err := Start(ctx, Options{DataDir: dir, NoFsync: true, SharedBuffers: "32MB", RestartSmaller: true})
	if err != nil {
		t.Fatal(err)
	}
	if !again.Adopted() {
		t.Fatal("a RestartSmaller start restarted a server with more shared_buffers than it asks")
	}
	if err := again.Release(ctx); err != nil {
		t.Fatal(err)
	}
	if running(dir) {
		t.Fatal("the only user's Release left the leftover running")
	}
}

// TestStartCancelled: a Start whose context ends while the server comes up (a command
// interrupted at its start) leaves no server running.
func TestStartCancelled(t *testing.T) {
	needBinaries(t)
	dir := dataDir(t)
	if err := start(t, dir).Stop(t.Context()); err != nil { // initdb done
		t.Fatal(err)
	}
	for range 3 {
		ctx, cancel := context.WithCancel(t.Context())
		pidFile := filepath.Join(dir, pgDirName, "postmaster.pid")
		go func() { // cancel as soon as pg_ctl has forked the postmaster
			defer cancel()
			for ctx.Err() == nil {
				if _, err := os.Stat(pidFile); err == nil {
					return
				}
				time.Sleep(time.Millisecond)
			}
		}()
		s, err := Start(ctx, Options{DataDir: dir, NoFsync: true})
		cancel()
		if err == nil {
			t.Log("the server came up before the cancellation")
			if err := s.Release(t.Context()); err != nil {
				t.Fatal(err)
			}
		} else {
			t.Logf("cancelled start: %v", err)
		}
		if running(dir) {
			t.Fatal("server left running after a cancelled Start")
		}
	}
}
