#!/usr/bin/env bash
# A three-node cluster on this machine: n1 runs the embedded PostgreSQL, n2 and n3 use it and
# join n1 through memberlist. HTTP on 8081-8083. `scripts/cluster.sh up|down|status`.
set -euo pipefail
cd "$(dirname "$0")/.."
dir=var/cluster
mkdir -p "$dir"; chmod 711 var "$dir" 2>/dev/null || true

up() {
  [ -x bin/dw ] || make build
  [ -s "$dir/jwt.key" ] || (umask 077; head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$dir/jwt.key")
  export DW_JWT_KEY; DW_JWT_KEY=$(cat "$dir/jwt.key")
  common=(--secure-cookies=false --log-format text)
  bin/dw serve --node-name n1 --data-dir "$dir/n1" --http 127.0.0.1:8081 --bind 127.0.0.1:7947 \
    --remote 127.0.0.1:8091 --demo "${common[@]}" >"$dir/n1.log" 2>&1 &
  echo $! >"$dir/n1.pid"
  for _ in $(seq 1 120); do curl -sf http://127.0.0.1:8081/readyz >/dev/null && break; sleep 0.5; done
  url=$(bin/dw db url --data-dir "$dir/n1")
  for i in 2 3; do
    DW_DATABASE_URL="$url" bin/dw serve --node-name "n$i" --data-dir "$dir/n$i" --http "127.0.0.1:808$i" \
      --bind "127.0.0.1:794$((6 + i))" --remote "127.0.0.1:809$i" --join 127.0.0.1:7947 "${common[@]}" \
      >"$dir/n$i.log" 2>&1 &
    echo $! >"$dir/n$i.pid"
  done
  for i in 2 3; do
    for _ in $(seq 1 120); do curl -sf "http://127.0.0.1:808$i/readyz" >/dev/null && break; sleep 0.5; done
  done
  status
}

down() {
  for i in 3 2 1; do
    [ -f "$dir/n$i.pid" ] || continue
    pid=$(cat "$dir/n$i.pid"); kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
    rm -f "$dir/n$i.pid"
  done
  echo "cluster stopped"
}

status() {
  for i in 1 2 3; do
    members=$(curl -sf "http://127.0.0.1:808$i/metrics" | awk '/^dw_cluster_members/{print $2}') || members="down"
    echo "n$i http://127.0.0.1:808$i members=${members:-down}"
  done
}

case "${1:-}" in
  up) up ;; down) down ;; status) status ;;
  *) echo "usage: $0 up|down|status" >&2; exit 2 ;;
esac
