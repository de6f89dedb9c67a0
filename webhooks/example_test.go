package webhooks_test

import (
	"fmt"
	"time"

	"github.com/divinewhispers/dw/webhooks"
)

// The body every delivery of a job.completed event carries (the same bytes at every attempt,
// signed with the endpoint's secret).
func ExamplePayload() {
	body, _ := webhooks.Payload(webhooks.Event{
		ID: "job.completed.0193a4d0-7c1e-7b3a-9f00-5b1c2d3e4f50", Type: webhooks.JobCompleted,
		At: time.Date(2026, 12, 4, 10, 0, 0, 0, time.UTC),
		Data: webhooks.JobData{JobID: "0193a4d0-7c1e-7b3a-9f00-5b1c2d3e4f50", UserID: "u1", WalletID: "w1",
			Type: "interpretation", Status: "completed", Price: 10, FinishedAt: time.Date(2026, 12, 4, 10, 0, 0, 0, time.UTC)},
	})
	fmt.Println(string(body))
	// Output:
	// {"type":"job.completed","timestamp":"2026-12-04T10:00:00Z","data":{"job_id":"0193a4d0-7c1e-7b3a-9f00-5b1c2d3e4f50","user_id":"u1","wallet_id":"w1","type":"interpretation","status":"completed","price":10,"finished_at":"2026-12-04T10:00:00Z"}}
}

// An endpoint that subscribes to an event that does not exist is refused, naming the field.
func ExampleValidateEvents() {
	_, err := webhooks.ValidateEvents([]string{"job.completed", "job.exploded"})
	fmt.Println(err)
	// Output:
	// invalid: events[1]: unknown event "job.exploded" (one of job.completed, job.failed, payment.succeeded, wallet.low_balance, quota.threshold_crossed)
}
