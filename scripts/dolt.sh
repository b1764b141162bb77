#!/usr/bin/env bash
# Get, start, stop and bootstrap the project's Dolt SQL server.
#
#   scripts/dolt.sh install   use `dolt` from PATH if its version matches, else build it with Go
#   scripts/dolt.sh start     start dolt sql-server (idempotent), wait until it answers, bootstrap
#   scripts/dolt.sh stop      stop the server started by `start`
#   scripts/dolt.sh status    say whether it runs
#   scripts/dolt.sh path      print the dolt binary's path
#
# Settings (environment):
#   DOLT_PORT (3307)  DOLT_HOST (127.0.0.1)  DOLT_DATA_DIR (./var/dolt)
#   DOLT_DATABASE (youlab)  DOLT_APP_USER (youlab)  DOLT_APP_PASSWORD (youlab-dev-password)
#   DOLT_ROOT_PASSWORD (root password set on first start; default youlab-root-dev-password)
#   YOULAB_CACHE (~/.cache/youlab): where the built binary and its Go module live
set -euo pipefail

# Dolt release pinned for this project. The Go module proxy reachable here refuses v2.3.1
# (b15770fe, "This module version is not available."), so we pin v2.2.0, the newest release it
# serves. See README "Dolt".
DOLT_VERSION="${DOLT_VERSION:-2.2.0}"
DOLT_COMMIT="${DOLT_COMMIT:-a6690826d767743df7adf0b8bfea3830ee2c4cf6}"
DOLT_PSEUDO_VERSION="${DOLT_PSEUDO_VERSION:-v0.40.5-0.20260715172757-a6690826d767}"

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
CACHE="${YOULAB_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/youlab}"
BIN_DIR="$CACHE/dolt-$DOLT_VERSION"
BUILD_DIR="$CACHE/dolt-build-$DOLT_VERSION"
HOST="${DOLT_HOST:-127.0.0.1}"
PORT="${DOLT_PORT:-3307}"
DATA_DIR="${DOLT_DATA_DIR:-$ROOT/var/dolt}"
RUN_DIR="$(dirname "$DATA_DIR")"
DB="${DOLT_DATABASE:-youlab}"
APP_USER="${DOLT_APP_USER:-youlab}"
APP_PASSWORD="${DOLT_APP_PASSWORD:-youlab-dev-password}"
ROOT_PASSWORD="${DOLT_ROOT_PASSWORD:-youlab-root-dev-password}"
PIDFILE="$RUN_DIR/dolt-$PORT.pid"
LOGFILE="$RUN_DIR/dolt-$PORT.log"
CONFIG="$RUN_DIR/dolt-$PORT.yaml"
export DOLT_ROOT_PATH="$RUN_DIR/dolt-home"   # dolt's global config (metrics off) stays with the data

log() { echo "[dolt] $*" >&2; }

find_dolt() {
  # A dolt on PATH is used as is when it is the pinned version.
  if command -v dolt >/dev/null 2>&1; then
    local v
    v="$(dolt version 2>/dev/null | head -n1 | awk '{print $3}')"
    if [ "$v" = "$DOLT_VERSION" ]; then command -v dolt; return 0; fi
  fi
  if [ -x "$BIN_DIR/dolt" ]; then echo "$BIN_DIR/dolt"; return 0; fi
  return 1
}

ensure_build_deps() {
  # CGO needs a C/C++ compiler (gozstd, ICU regex) and ICU's headers.
  local missing=()
  command -v gcc >/dev/null 2>&1 || missing+=(gcc)
  command -v g++ >/dev/null 2>&1 || missing+=(g++)
  command -v pkg-config >/dev/null 2>&1 || missing+=(pkg-config)
  dpkg -s libicu-dev >/dev/null 2>&1 || missing+=(libicu-dev)
  if [ ${#missing[@]} -gt 0 ]; then
    log "installing build packages: ${missing[*]}"
    if [ "$(id -u)" = 0 ]; then SUDO=""; else SUDO="sudo"; fi
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  fi
  if ! command -v go >/dev/null 2>&1; then
    for g in /usr/local/go/bin/go /usr/lib/go/bin/go; do
      [ -x "$g" ] && export PATH="$(dirname "$g"):$PATH" && break
    done
  fi
  command -v go >/dev/null 2>&1 || { log "ERROR: Go >= 1.26 is needed to build Dolt and was not found"; exit 1; }
}

cmd_install() {
  if p="$(find_dolt)"; then log "using $p ($("$p" version | head -n1))"; return 0; fi
  ensure_build_deps
  log "building Dolt $DOLT_VERSION ($DOLT_COMMIT) from the Go module proxy into $BIN_DIR"
  log "this takes several minutes the first time; the binary is cached for later runs"
  mkdir -p "$BUILD_DIR" "$BIN_DIR"
  local start=$SECONDS
  (
    cd "$BUILD_DIR"
    export CGO_ENABLED=1 GOTOOLCHAIN=local GOFLAGS=-mod=mod
    if [ ! -f go.mod ]; then
      printf 'module localbuild/doltbuild\n\ngo 1.26.2\n' > go.mod
    fi
    # Ask for the module by its pseudo-version: the proxy answers 403 for the cmd/dolt path.
    go get "github.com/dolthub/dolt/go@$DOLT_PSEUDO_VERSION"
    go get -tool github.com/dolthub/dolt/go/cmd/dolt
    go build -trimpath -tags timetzdata -ldflags='-s -w' -o "$BIN_DIR/dolt.tmp" github.com/dolthub/dolt/go/cmd/dolt
  )
  mv "$BIN_DIR/dolt.tmp" "$BIN_DIR/dolt"
  log "built $("$BIN_DIR/dolt" version | head -n1) in $((SECONDS - start))s, $(du -h "$BIN_DIR/dolt" | cut -f1)"
}

is_running() {
  [ -f "$PIDFILE" ] && kill -0 "$(cat "$PIDFILE")" 2>/dev/null
}

sql_root() {
  "$DOLT" --host "$HOST" --port "$PORT" --no-tls --user root --password "$ROOT_PASSWORD" sql -q "$1"
}

wait_ready() {
  local i
  for i in $(seq 1 120); do
    if sql_root "SELECT 1" >/dev/null 2>&1; then return 0; fi
    if ! is_running; then log "ERROR: dolt sql-server exited; last log lines:"; tail -n 30 "$LOGFILE" >&2; exit 1; fi
    sleep 0.5
  done
  log "ERROR: dolt sql-server did not answer on $HOST:$PORT within 60s"; tail -n 30 "$LOGFILE" >&2; exit 1
}

bootstrap() {
  # Idempotent: database with a case-insensitive collation, and an app user that is not root.
  # The app user gets global privileges because Django's test runner creates test_<db>.
  sql_root "CREATE DATABASE IF NOT EXISTS \`$DB\` CHARACTER SET utf8mb4 COLLATE utf8mb4_0900_ai_ci;
ALTER DATABASE \`$DB\` CHARACTER SET utf8mb4 COLLATE utf8mb4_0900_ai_ci;
CREATE USER IF NOT EXISTS '$APP_USER'@'%' IDENTIFIED BY '$APP_PASSWORD';
ALTER USER '$APP_USER'@'%' IDENTIFIED BY '$APP_PASSWORD';
GRANT ALL PRIVILEGES ON *.* TO '$APP_USER'@'%' WITH GRANT OPTION;" >/dev/null
}

cmd_start() {
  DOLT="$(find_dolt)" || { cmd_install; DOLT="$(find_dolt)"; }
  mkdir -p "$DATA_DIR" "$DOLT_ROOT_PATH"
  "$DOLT" config --global --get metrics.disabled >/dev/null 2>&1 || "$DOLT" config --global --add metrics.disabled true >/dev/null
  "$DOLT" config --global --get user.name >/dev/null 2>&1 || "$DOLT" config --global --add user.name "YouLab System" >/dev/null
  "$DOLT" config --global --get user.email >/dev/null 2>&1 || "$DOLT" config --global --add user.email "system@youlab.local" >/dev/null
  if is_running; then
    log "already running on $HOST:$PORT (pid $(cat "$PIDFILE"))"
  else
    cat > "$CONFIG" <<YAML
log_level: warning
behavior:
  autocommit: true
listener:
  host: $HOST
  port: $PORT
  max_connections: 200
data_dir: $DATA_DIR
YAML
    log "starting dolt sql-server on $HOST:$PORT, data in $DATA_DIR"
    # setsid: the server outlives this shell (make run) but is stopped by `stop` via its pid.
    DOLT_ROOT_PASSWORD="$ROOT_PASSWORD" DOLT_ROOT_HOST='%' \
      setsid "$DOLT" sql-server --config "$CONFIG" >>"$LOGFILE" 2>&1 < /dev/null &
    echo $! > "$PIDFILE"
    wait_ready
  fi
  bootstrap
  log "ready: mysql://$APP_USER:***@$HOST:$PORT/$DB"
}

cmd_stop() {
  if is_running; then
    local pid; pid="$(cat "$PIDFILE")"
    kill "$pid"
    for _ in $(seq 1 60); do kill -0 "$pid" 2>/dev/null || break; sleep 0.5; done
    kill -0 "$pid" 2>/dev/null && { log "still running after 30s; killing"; kill -9 "$pid"; }
    rm -f "$PIDFILE"
    log "stopped"
  else
    rm -f "$PIDFILE"
    log "not running"
  fi
}

case "${1:-}" in
  install) cmd_install ;;
  start) cmd_start ;;
  stop) cmd_stop ;;
  status) if is_running; then echo "running (pid $(cat "$PIDFILE")) on $HOST:$PORT"; else echo "stopped"; exit 1; fi ;;
  path) find_dolt || { echo "dolt not installed; run: scripts/dolt.sh install" >&2; exit 1; } ;;
  *) sed -n '2,16p' "$0"; exit 2 ;;
esac
