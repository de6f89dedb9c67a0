// The reset mail's link: <public-url>/reset-password?token=<token>, the token 32 random bytes
// in base64url (43 characters). Mail clients sometimes wrap or decorate links: tokenOf keeps
// only the token's own characters.

/** tokenOf returns the reset token of a query string (without stray spaces or line breaks), or "". */
export function tokenOf(query: URLSearchParams): string {
  return (query.get('token') ?? '').replace(/[^A-Za-z0-9_\-=.~+/]/g, '');
}
