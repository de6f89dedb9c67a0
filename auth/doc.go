// Package auth provides the credential primitives used by Divine Whispers:
//
//   - Password hashing with argon2id, encoded in the PHC string format
//     "$argon2id$v=19$m=<KiB>,t=<passes>,p=<lanes>$<salt>$<hash>" where salt
//     and hash are unpadded standard base64 (see [HashPassword],
//     [VerifyPassword], [NeedsRehash] and [ValidatePassword]), run under a bound on
//     concurrency and memory by a [Hasher].
//   - A password strength check ([CheckStrength]) with zxcvbn, which counts the
//     account's email as known to an attacker.
//   - Short-lived HS256 JWT access tokens carrying the user ID, role, wallet
//     ID, session (refresh-token family) ID and the user's token version (see
//     [Issuer] and [Claims]). Verification accepts only HS256, requires the
//     configured issuer, an expiry no further than the issuer's ttl from the
//     issue time, a subject and a session, and reports every failure as an
//     error wrapping [ErrInvalidToken]. Tokens name their key (kid), so former
//     keys can still verify during a rotation.
//   - Opaque refresh tokens: 32 random bytes, base64url encoded, of which
//     only the SHA-256 digest is meant to be stored (see [NewRefreshToken]
//     and [HashRefreshToken]).
//
// The package is pure Go and has no knowledge of storage or transport.
package auth
