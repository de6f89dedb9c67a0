package gateway_test

// Who may call the payment routes (rows of rbacTable, kept beside the routes' own file).
func init() {
	rbacTable["GET /api/v1/payments/packages"] = public
	rbacTable["POST /api/v1/payments/checkout"] = signedIn
	rbacTable["POST /api/v1/payments/webhooks/{provider}"] = public
	rbacTable["GET /api/v1/payments"] = signedIn
	rbacTable["GET /api/v1/payments/{id}"] = signedIn
	rbacTable["POST /api/v1/payments/{id}/refund"] = admins
}
