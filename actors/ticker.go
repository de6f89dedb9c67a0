package actors

import (
	"time"

	"github.com/asynkron/protoactor-go/actor"
)

// tickSelf sends msg to pid every d until the returned channel is closed: a grain's timer that
// never blocks its mailbox.
func tickSelf(root *actor.RootContext, pid *actor.PID, d time.Duration, msg any) chan struct{} {
	stop := make(chan struct{})
	go func() {
		t := time.NewTicker(d)
		defer t.Stop()
		for {
			select {
			case <-stop:
				return
			case <-t.C:
				root.Send(pid, msg)
			}
		}
	}()
	return stop
}
