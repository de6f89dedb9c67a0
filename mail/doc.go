// Package mail sends the system's mails through a durable outbox: a mail is written to the
// outbox table (in the transaction of what caused it, where there is one) and an Outbox worker
// on every node claims due mails, hands them to a Sender (SMTP) and records each attempt,
// retrying with backoff. A node that stops or dies loses none: a mail it had claimed is
// claimed again when its lease runs out. With no Sender configured mails stay queued, listed
// by `dw mail outbox`.
package mail
