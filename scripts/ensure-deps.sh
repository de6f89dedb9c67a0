#!/usr/bin/env bash
# Installs what a fresh machine lacks for building and testing dw: the PostgreSQL server
# binaries (Debian package "postgresql"); with --proto, protoc and protoc-gen-go; with --web,
# Node.js and npm (Debian packages nodejs, npm) for the web app; with --browser, Debian's
# Chromium for the web app's end-to-end test (never a browser downloaded by a test tool).
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

for arg in "$@"; do
  case "$arg" in
  --proto)
    command -v protoc >/dev/null 2>&1 || apt_install protobuf-compiler
    command -v protoc-gen-go >/dev/null 2>&1 || [ -x "$(go env GOPATH)/bin/protoc-gen-go" ] ||
      go install google.golang.org/protobuf/cmd/protoc-gen-go@v1.36.12
    ;;
  --web)
    if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
      echo "installing Node.js and npm (Debian packages nodejs, npm)…" >&2
      apt_install nodejs npm
    fi
    # Vite needs Node.js 20.19 or later.
    if ! node -e 'const [a,b]=process.versions.node.split(".").map(Number); process.exit(a>20||(a===20&&b>=19)?0:1)'; then
      echo "warning: Node.js $(node --version) is older than Vite needs (20.19): the web app may not build" >&2
    fi
    ;;
  --browser)
    [ -x /usr/bin/chromium ] || { echo "installing Chromium (Debian package chromium)…" >&2; apt_install chromium; }
    # The pages are 繁體中文 first: without CJK fonts the screenshots show boxes.
    [ -d /usr/share/fonts/opentype/noto ] && ls /usr/share/fonts/opentype/noto/NotoSansCJK* >/dev/null 2>&1 ||
      { echo "installing CJK fonts for the screenshots (Debian package fonts-noto-cjk)…" >&2; apt_install fonts-noto-cjk; }
    ;;
  esac
done
