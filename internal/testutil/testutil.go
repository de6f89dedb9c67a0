// Package testutil holds what tests of several packages share: waiting for a condition with a
// deadline (Eventually), the goroutines of libraries goleak may ignore (LeakOptions), and
// whole-struct comparisons that say which field differs (Diff).
package testutil

import (
	"regexp"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"go.uber.org/goleak"
)

// Eventually calls check until it returns nil, and fails t when timeout passes first, with the
// last error check returned: what was still wrong, not only that time ran out. It polls every
// 10 ms at first, then less often (up to every 200 ms).
func Eventually(t testing.TB, timeout time.Duration, check func() error) {
	t.Helper()
	if err := poll(timeout, check); err != nil {
		t.Fatalf("not so after %v: %v", timeout, err)
	}
}

// poll is Eventually without a testing.TB: the last error, or nil once check passed.
func poll(timeout time.Duration, check func() error) error {
	deadline := time.Now().Add(timeout)
	wait := 10 * time.Millisecond
	for {
		last := check()
		if last == nil {
			return nil
		}
		if time.Now().Add(wait).After(deadline) {
			return last
		}
		time.Sleep(wait) // polling a condition with a deadline: the one sleep allowed
		if wait < 200*time.Millisecond {
			wait *= 2
		}
	}
}

// libraryGoroutines match goroutines that libraries start and never (or only lazily) stop,
// whatever the caller does: protoactor's throttles sleep out their period and cannot be
// cancelled; fasthttp keeps one process-wide date updater, and a stopped server's worker pool
// cleaner ends only after its next 10 s sleep.
var libraryGoroutines = regexp.MustCompile(`^(github\.com/asynkron/protoactor-go/.*\.NewThrottle(WithLogger)?\.func\d+(\.\d+)?` +
	`|github\.com/valyala/fasthttp\.updateServerDate\.func\d+` +
	`|github\.com/valyala/fasthttp\.\(\*workerPool\)\.Start\.func\d+)$`)

// LeakOptions tells goleak to ignore the library goroutines alive now (their function names
// depend on inlining, so they are read from the stacks rather than spelled out).
func LeakOptions() []goleak.Option {
	buf := make([]byte, 1<<20)
	for {
		n := runtime.Stack(buf, true)
		if n < len(buf) {
			buf = buf[:n]
			break
		}
		buf = make([]byte, 2*len(buf))
	}
	seen := map[string]bool{}
	var opts []goleak.Option
	for _, line := range strings.Split(string(buf), "\n") {
		fn := line
		if i := strings.LastIndex(fn, "("); i > 0 && strings.HasSuffix(fn, ")") {
			fn = fn[:i]
		}
		if libraryGoroutines.MatchString(fn) && !seen[fn] {
			seen[fn] = true
			opts = append(opts, goleak.IgnoreAnyFunction(fn))
		}
	}
	return opts
}

// Diff fails t when got differs from want, saying which fields differ (-want +got).
func Diff[T any](t testing.TB, what string, want, got T, opts ...cmp.Option) {
	t.Helper()
	if d := cmp.Diff(want, got, opts...); d != "" {
		t.Errorf("%s differs (-want +got):\n%s", what, d)
	}
}
