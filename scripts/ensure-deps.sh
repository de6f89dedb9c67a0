#!/usr/bin/env bash
# Installs what a fresh machine lacks for building and testing dw: the PostgreSQL server
# binaries (Debian package "postgresql") and, with --proto, protoc and protoc-gen-go.
set -euo pipefail

have_pg() {
  command -v initdb >/dev/null 2>&1 && return 0
  ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1
}

apt_install() {
  if [ "$(id -u)" != 0 ]; then
    echo "missing $*: install it (Debian: sudo apt-get install $*)" >&2
    exit 1
  fi
  if [ ! -f /tmp/.dw-apt-updated ]; then
    apt-get update -qq && touch /tmp/.dw-apt-updated
  fi
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
}

if ! have_pg; then
  echo "installing the PostgreSQL server (Debian package postgresql)…" >&2
  apt_install postgresql
  # The package starts a system cluster; dw never uses it.
  (command -v pg_ctlcluster >/dev/null && service postgresql stop) >/dev/null 2>&1 || true
fi

if [ "${1:-}" = "--proto" ]; then
  command -v protoc >/dev/null 2>&1 || apt_install protobuf-compiler
  command -v protoc-gen-go >/dev/null 2>&1 || [ -x "$(go env GOPATH)/bin/protoc-gen-go" ] ||
    go install google.golang.org/protobuf/cmd/protoc-gen-go@v1.36.12
fi
