package gateway_test

// Who may call the Web Push routes (TestGateway/RBACMatrix), beside rbac_test.go's table.
func init() {
	for route, roles := range map[string][]string{
		"GET /api/v1/push/key":                   public,
		"GET /api/v1/push/subscriptions":         signedIn,
		"POST /api/v1/push/subscriptions":        signedIn,
		"DELETE /api/v1/push/subscriptions/{id}": signedIn,
	} {
		rbacTable[route] = roles
	}
}
