package actors

import "encoding/json"

// The JSON payloads of live events (jobpb.Event's progress_json and data), typed and marshalled
// once by payload: clients read these field names.

// JobProgress is the progress of a running job: its attempt, and after a failed attempt when
// the next one starts and why.
type JobProgress struct {
	Attempt     int    `json:"attempt"`
	MaxAttempts int    `json:"max_attempts"`
	RetryInMS   int64  `json:"retry_in_ms,omitempty"`
	ErrorCode   string `json:"error_code,omitempty"`
}

// JobFailed is the data of a job's failed event.
type JobFailed struct {
	ErrorCode string `json:"error_code"`
}

// WalletBalance is the data of a wallet.balance event: the committed balance.
type WalletBalance struct {
	Balance   int64 `json:"balance"`
	Held      int64 `json:"held"`
	Available int64 `json:"available"`
	Seq       int64 `json:"seq"`
}

// payload is v as an event's JSON text.
func payload(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err) // the payloads are plain structs: cannot fail
	}
	return string(b)
}
