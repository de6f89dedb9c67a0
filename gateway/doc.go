// Package gateway is the fiber HTTP front of a node. It authenticates, validates bodies and
// turns each call into one core call: an account.Service or accounting.Service method, or one
// request to a wallet grain through actors.Wallets. It reads listings from persistence but does
// not write there (TestGatewayMakesNoStoreWrites; poem sets and draws are the last exceptions).
//
// One table (routes) declares every route with the roles allowed on it; the router, the RBAC
// middleware and the OpenAPI document are all built from it. Handlers return errors; one
// ErrorHandler turns them into application/problem+json with a stable code.
package gateway
