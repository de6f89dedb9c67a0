package testutil

import (
	"errors"
	"fmt"
	"testing"
	"time"
)

func TestPollReportsTheLastError(t *testing.T) {
	t.Parallel()
	n := 0
	err := poll(100*time.Millisecond, func() error { n++; return fmt.Errorf("try %d: not yet", n) })
	if want := fmt.Sprintf("try %d: not yet", n); err == nil || err.Error() != want || n < 2 {
		t.Errorf("poll: %v after %d tries, want %q", err, n, want)
	}
	n = 0
	if err := poll(time.Second, func() error {
		if n++; n < 3 {
			return errors.New("not yet")
		}
		return nil
	}); err != nil || n != 3 {
		t.Errorf("poll: %v after %d tries, want nil after 3", err, n)
	}
}
