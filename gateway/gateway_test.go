package gateway_test

import (
	"testing"

	"github.com/divinewhispers/dw/node"
)

// TestGateway runs every gateway scenario over real HTTP against one real node (database,
// committer, one-node Proto.Actor cluster, fiber gateway). The scenarios run in parallel on that
// node; each makes its own users and wallets, so they do not see each other's data.
//
// One node, not one per scenario: several Proto.Actor nodes in one process race inside
// protoactor-go and grpc under -race (remote.Start sets grpc's global logger on every start
// while other nodes' gRPC goroutines log; see cluster/multinode_norace_test.go), which would
// make `go test -race ./gateway` fail for reasons outside this repository.
func TestGateway(t *testing.T) {
	tn := startNode(t)
	for _, sc := range []struct {
		name string
		run  func(*testing.T, *testNode)
	}{
		{"RBACMatrix", testRBACMatrix},
		{"OpenAPIMatchesRouter", testOpenAPIMatchesRouter},
		{"JWTValidation", testJWTValidation},
		{"RefreshRotation", testRefreshRotation},
		{"PasswordChange", testPasswordChange},
		{"MoneyRoutes", testMoneyRoutes},
		{"HoldExpiryOverflow", testHoldExpiryOverflow},
		{"ConcurrentSpends", testConcurrentSpends},
		{"BadInputWritesNothing", testBadInputWritesNothing},
		{"UsersAndAudit", testUsersAndAudit},
		{"WalletVisibility", testWalletVisibility},
		{"HealthAndMetrics", testHealthAndMetrics},
		{"MetricLabelsStable", testMetricLabelsStable},
		{"PoemSetsAndDraws", testPoemSetsAndDraws},
		{"SessionTokens", testSessionTokens},
		{"SessionsEnd", testSessionsEnd},
		{"HostileInput", testHostileInput},
		{"RefusedJobHoldsNothing", testRefusedJobHoldsNothing},
		{"UnknownWalletsLeaveNoGrain", testUnknownWalletsLeaveNoGrain},
		{"SecurityHeaders", testSecurityHeaders},
		{"WebSocketsPerUser", testWebSocketsPerUser},
		{"Profile", testProfile},
	} {
		t.Run(sc.name, func(t *testing.T) {
			t.Parallel()
			sc.run(t, tn.with(t))
		})
	}
}

// TestLoginLimits runs the login-limit scenarios on a node of their own, with the default
// limits (the shared node of TestGateway lifts them: its scenarios log in from one address).
func TestLoginLimits(t *testing.T) {
	t.Parallel()
	tn := authGateway(t, func(c *node.Config) {
		c.LoginLimits.RegisterFree, c.LoginLimits.RegisterLimit = 1_000_000, 1_000_000
	})
	tn.makeAdmin("limits-admin@example.com")
	for _, sc := range []struct {
		name string
		run  func(*testing.T, *testNode)
	}{
		{"LoginThrottle", testLoginThrottle},
		{"LoginCaptcha", testLoginCaptcha},
		{"LoginBurst", testLoginBurst},
	} {
		t.Run(sc.name, func(t *testing.T) {
			t.Parallel()
			sc.run(t, tn.with(t))
		})
	}
}
