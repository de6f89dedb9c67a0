// Package session decides on every request whether an access token's session is still open,
// at the cost of a map lookup.
//
// An access token names its user, its session (the refresh-token family of its login, claim
// "sid") and the user's token version when it was issued (claim "ver"). It holds while the user
// exists, is active, has the token's role and version, and the session is not revoked. Each node
// keeps what it read of those facts in memory; PostgreSQL tells every node when they change
// (LISTEN/NOTIFY on persistence.SessionChannel, sent in the transaction of the change), and the
// node forgets the user at once. While the listener is down nothing is cached: every check reads
// the database. Entries also expire after TTL, in case a notification is ever lost unnoticed.
package session
