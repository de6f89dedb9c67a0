// Package webhooks tells integrators' systems what happened here: an integrator (role service
// or admin) registers an endpoint URL and the events it wants, and every such event is POSTed
// to it as a Standard Webhooks message (webhook-id, webhook-timestamp and webhook-signature
// headers; a {"type","timestamp","data"} body) signed with the endpoint's whsec_ secret.
//
// The path of an event: a source writes it to the database (job and quota events by triggers
// in the transaction that finished the job or recorded the crossing, low balances by a
// sweeper over the ledger, payments by Publish); Publish fans it out to one delivery per
// subscribed endpoint, once per (endpoint, event) however often it is published; the Worker on
// every node claims due deliveries (FOR UPDATE SKIP LOCKED, with a lease) and sends them,
// recording each attempt and retrying with exponential backoff and jitter for up to 24 h. A
// node that dies mid-delivery loses nothing: its lease runs out and another node sends again.
//
// Endpoint URLs are checked against SSRF twice: at registration (every address the host
// resolves to) and at delivery (the address actually dialed, so DNS rebinding cannot slip
// through), unless private addresses are allowed (AllowPrivate; tests and on-premises use).
// Redirects are not followed.
package webhooks
