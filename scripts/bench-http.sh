#!/usr/bin/env bash
# HTTP benchmark: wrk on GET /api/v1/wallets/{id} with a valid JWT against a real dw node, and
# the same request against a bare fiber handler, in the same run. Prints the ratio. The node runs
# with its rate limits on (counts shared through PostgreSQL as in a cluster), the reads limit set
# high enough not to refuse the benchmark; the limiter's own cost per request is printed after.
set -euo pipefail
cd "$(dirname "$0")/.."
command -v wrk >/dev/null || { [ "$(id -u)" = 0 ] && { apt-get update -qq; apt-get install -y -qq wrk >/dev/null; }; }
DUR=${WRK_DURATION:-10s}; CONNS=${WRK_CONNECTIONS:-64} # RATE_LIMIT=off: the node without limits, for comparison
work=$(mktemp -d /tmp/dw-bench-http-XXXX); chmod 711 "$work"
go build -o "$work/barefiber" ./bench/barefiber
cleanup() { kill "${DW_PID:-}" "${BARE_PID:-}" 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT

bin/dw serve --data-dir "$work/data" --demo --http 127.0.0.1:18181 --bind 127.0.0.1:17981 \
  --remote 127.0.0.1:18191 --secure-cookies=false --log-level warn \
  --rate-limit "${RATE_LIMIT:-on}" --rate-limit-reads 100000000/m >"$work/dw.log" 2>&1 &
DW_PID=$!
for _ in $(seq 1 120); do curl -sf http://127.0.0.1:18181/readyz >/dev/null && break; sleep 0.5; done
json() { python3 -c "import json,sys; print(json.load(sys.stdin)$1)"; }
TOKEN=$(curl -sf -XPOST http://127.0.0.1:18181/api/v1/auth/login \
  -d '{"email":"user@example.com","password":"demo-user-pass"}' | json '["access_token"]')
WALLET=$(curl -sf http://127.0.0.1:18181/api/v1/me -H "Authorization: Bearer $TOKEN" | json '["wallet_id"]')

"$work/barefiber" 127.0.0.1:18182 & BARE_PID=$!
sleep 1
run() { wrk -t2 -c"$CONNS" -d"$DUR" --latency "$@" | tee -a "$work/wrk.txt"; }
echo "== dw node: GET /api/v1/wallets/{id} with JWT (user's own wallet), $CONNS connections, $DUR"
dw=$(run -H "Authorization: Bearer $TOKEN" "http://127.0.0.1:18181/api/v1/wallets/$WALLET" | awk '/Requests\/sec/{print $2}')
if grep -q 'Non-2xx' "$work/wrk.txt"; then echo "!! the dw node answered errors (rate limits too low?)"; fi
echo "== bare fiber handler: same path and JSON shape"
bare=$(run "http://127.0.0.1:18182/api/v1/wallets/$WALLET" | awk '/Requests\/sec/{print $2}')
python3 -c "print(f'HTTP: dw {float(\"$dw\"):.0f} req/s, bare fiber {float(\"$bare\"):.0f} req/s, ratio {float(\"$dw\")/float(\"$bare\"):.1%}')"
limiter=$(go test -run '^$' -bench 'Allow$' -benchtime 1s -count 1 ./ratelimit/ | awk '/^BenchmarkAllow/{print $3}')
echo "rate limiter: $limiter ns per admitted request (BenchmarkAllow, tokens in hand; make bench runs BenchmarkRateLimit for the PostgreSQL-shared cases)"
