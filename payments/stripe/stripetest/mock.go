// Package stripetest holds two Stripe servers for tests: stripe-mock, Stripe's own mock that
// validates every request against Stripe's published API specification (StartMock), and
// Server, a stateful stand-in of our own that remembers checkout sessions, can pay or expire
// them, and delivers signed webhooks the way Stripe does — or forged, stale, replayed and
// duplicated ones.
package stripetest

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// MockVersion is the stripe-mock StartMock runs.
const MockVersion = "v0.203.0"

const mockModule = "github.com/stripe/stripe-mock"

var install struct {
	once sync.Once
	bin  string
	err  error
}

// MockBinary returns the path of stripe-mock MockVersion, installed with `go install` into
// GOPATH/bin/stripe-mock-<version>/ the first time (the module proxy serves it; later runs
// reuse the binary).
func MockBinary() (string, error) {
	install.once.Do(func() { install.bin, install.err = installMock() })
	return install.bin, install.err
}

func installMock() (string, error) {
	goBin, err := exec.LookPath("go")
	if err != nil {
		return "", fmt.Errorf("stripe-mock is installed with the go command, which is not on PATH: %w", err)
	}
	out, err := exec.Command(goBin, "env", "GOPATH").Output()
	if err != nil {
		return "", fmt.Errorf("go env GOPATH: %w", err)
	}
	gopath := strings.TrimSpace(string(out))
	if i := strings.IndexRune(gopath, filepath.ListSeparator); i >= 0 {
		gopath = gopath[:i]
	}
	if gopath == "" {
		return "", errors.New("go env GOPATH is empty")
	}
	dir := filepath.Join(gopath, "bin", "stripe-mock-"+MockVersion)
	bin := filepath.Join(dir, "stripe-mock")
	if fi, err := os.Stat(bin); err == nil && fi.Mode().IsRegular() {
		return bin, nil
	}
	// Installed into a fresh directory beside the final one, then renamed into place: test
	// processes installing at once never run half a file (go install may copy, not rename).
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	tmp, err := os.MkdirTemp(filepath.Dir(dir), ".stripe-mock-install-")
	if err != nil {
		return "", err
	}
	defer os.RemoveAll(tmp)
	cmd := exec.Command(goBin, "install", mockModule+"@"+MockVersion)
	cmd.Env = append(os.Environ(), "GOBIN="+tmp, "GOWORK=off")
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go install %s@%s: %w\n%s", mockModule, MockVersion, err, out)
	}
	if err := os.Rename(filepath.Join(tmp, "stripe-mock"), bin); err != nil {
		return "", err
	}
	return bin, nil
}

// StartMock starts stripe-mock on a free 127.0.0.1 port for the test and returns its base URL
// (for stripe.Config.APIBase). It is stopped when the test ends. stripe-mock answers every
// valid request with fixture data and refuses, with Stripe's own error, any request its
// OpenAPI specification does not allow; it keeps no state.
func StartMock(t testing.TB) string {
	t.Helper()
	bin, err := MockBinary()
	if err != nil {
		t.Fatalf("stripe-mock: %v", err)
	}
	// -https-addr too: without it, stripe-mock also listens for HTTPS on the fixed port 12112.
	cmd := exec.Command(bin, "-http-addr", "127.0.0.1:", "-https-addr", "127.0.0.1:")
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr lockedBuffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatalf("start stripe-mock: %v", err)
	}
	done := make(chan struct{})
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-done
	})
	addr := make(chan string, 1)
	go func() {
		defer close(done)
		const prefix = "Listening for HTTP at address: "
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if a, ok := strings.CutPrefix(sc.Text(), prefix); ok {
				addr <- strings.TrimSpace(a)
			}
		}
		_, _ = io.Copy(io.Discard, stdout)
		_ = cmd.Wait()
	}()
	select {
	case a := <-addr:
		return "http://" + a
	case <-done:
		t.Fatalf("stripe-mock exited before listening: %s", stderr.String())
	case <-time.After(60 * time.Second):
		t.Fatalf("stripe-mock did not listen within a minute: %s", stderr.String())
	}
	return ""
}

type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.b.Len() > 64<<10 {
		return len(p), nil
	}
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}
