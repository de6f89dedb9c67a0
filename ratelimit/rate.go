package ratelimit

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// The route classes. Each has its own limit (Rates) per key and window.
const (
	ClassAuth   = "auth"   // register, login, refresh, logout, password change: per client address
	ClassMoney  = "money"  // deposits, spends, holds, captures, releases, refunds, adjustments
	ClassJobs   = "jobs"   // job submission and cancellation
	ClassDraws  = "draws"  // drawing a poem
	ClassReads  = "reads"  // every other GET
	ClassWrites = "writes" // every other write (admin, accounting, poem sets)
	ClassWS     = "ws"     // WebSocket connections opened, per user
)

// Classes lists the route classes in the order flags and docs show them.
var Classes = []string{ClassAuth, ClassMoney, ClassJobs, ClassDraws, ClassReads, ClassWrites, ClassWS}

// Rate is a limit of requests per window. The zero Rate is no limit.
type Rate struct {
	Limit int
	Per   time.Duration
}

// DefaultRates are the limits of a node started without --rate-limit-* flags: generous for
// people and scripts, tight where a request is expensive (password hashing) or moves money.
func DefaultRates() map[string]Rate {
	return map[string]Rate{
		ClassAuth:   {20, time.Minute},
		ClassMoney:  {600, time.Minute},
		ClassJobs:   {60, time.Minute},
		ClassDraws:  {60, time.Minute},
		ClassReads:  {1200, time.Minute},
		ClassWrites: {300, time.Minute},
		ClassWS:     {30, time.Minute},
	}
}

// Off reports whether r limits nothing.
func (r Rate) Off() bool { return r.Limit <= 0 || r.Per <= 0 }

// String is the form ParseRate reads: "20/m", "100/10s", or "off".
func (r Rate) String() string {
	if r.Off() {
		return "off"
	}
	for _, u := range units {
		if r.Per == u.d {
			return fmt.Sprintf("%d/%s", r.Limit, u.name)
		}
	}
	// A whole number of the largest unit that divides the window ("100/10m", "10/24h"), as
	// written, rather than time.Duration's "24h0m0s".
	for i := len(units) - 1; i >= 0; i-- {
		if r.Per%units[i].d == 0 {
			return fmt.Sprintf("%d/%d%s", r.Limit, r.Per/units[i].d, units[i].name)
		}
	}
	return fmt.Sprintf("%d/%s", r.Limit, r.Per)
}

var units = []struct {
	name string
	d    time.Duration
}{{"s", time.Second}, {"m", time.Minute}, {"h", time.Hour}}

// ParseRate reads a limit: COUNT/WINDOW, where WINDOW is s, m, h or a Go duration of 1s to 24h
// ("20/m", "5/s", "100/10m"); "off" or "0" is no limit.
// Errors: a message saying which form is expected.
func ParseRate(s string) (Rate, error) {
	s = strings.TrimSpace(s)
	if s == "off" || s == "0" {
		return Rate{}, nil
	}
	n, per, ok := strings.Cut(s, "/")
	if !ok {
		return Rate{}, fmt.Errorf("%q is not a rate such as 20/m, 5/s or 100/10m (or off)", s)
	}
	limit, err := strconv.Atoi(n)
	if err != nil || limit < 1 || limit > 1_000_000_000 {
		return Rate{}, fmt.Errorf("%q: the count must be a whole number from 1 to 1000000000", s)
	}
	var d time.Duration
	for _, u := range units {
		if per == u.name {
			d = u.d
		}
	}
	if d == 0 {
		if d, err = time.ParseDuration(per); err != nil || d < time.Second || d > 24*time.Hour || d%time.Second != 0 {
			return Rate{}, fmt.Errorf("%q: the window must be s, m, h or whole seconds from 1s to 24h (e.g. 10m)", s)
		}
	}
	return Rate{Limit: limit, Per: d}, nil
}
