#!/usr/bin/env bash
# The shared cache (CACHE_URL): Debian's redis-server, installed and run by the project.
#
#   scripts/redis.sh install   apt-get install redis-server if missing (its own service not started)
#   scripts/redis.sh start     start redis-server on 127.0.0.1:$REDIS_PORT (idempotent), wait for PONG
#   scripts/redis.sh stop      stop the server started by `start`
#   scripts/redis.sh status    say whether it runs (exit 1 when stopped)
#   scripts/redis.sh url       print its URL (the value for CACHE_URL)
#
# Settings (environment):
#   REDIS_PORT (6380; Debian's own service, when enabled, takes 6379)  REDIS_HOST (127.0.0.1)
#   REDIS_DATA_DIR (./var/redis)  REDIS_PASSWORD (none)  REDIS_MAXMEMORY (256mb)
# A cache only: nothing is saved to disk (rate limits, the verified-key cache and session reads
# are rebuilt from the database after a restart).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
HOST="${REDIS_HOST:-127.0.0.1}"
PORT="${REDIS_PORT:-6380}"
DIR="${REDIS_DATA_DIR:-$ROOT/var/redis}"
case "$DIR" in /*) ;; *) DIR="$ROOT/$DIR" ;; esac
PIDFILE="$DIR/redis-$PORT.pid"
LOGFILE="$DIR/redis-$PORT.log"
PASSWORD="${REDIS_PASSWORD:-}"

log() { echo "[redis] $*" >&2; }

cmd_install() {
  command -v redis-server >/dev/null 2>&1 && command -v redis-cli >/dev/null 2>&1 && return 0
  log "installing Debian's redis-server"
  if [ "$(id -u)" = 0 ]; then SUDO=""; else SUDO="sudo"; fi
  # Keep the package from starting its own service on 6379: we run ours per project/port.
  local policy=/usr/sbin/policy-rc.d added=0
  if [ ! -e "$policy" ]; then
    printf '#!/bin/sh\nexit 101\n' | $SUDO tee "$policy" >/dev/null && $SUDO chmod +x "$policy" && added=1
  fi
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends redis-server >/dev/null || {
    [ "$added" = 1 ] && $SUDO rm -f "$policy"; exit 1; }
  [ "$added" = 1 ] && $SUDO rm -f "$policy"
  log "installed $(redis-server --version | awk '{print $3}')"
}

cli() {
  if [ -n "$PASSWORD" ]; then REDISCLI_AUTH="$PASSWORD" redis-cli -h "$HOST" -p "$PORT" "$@"
  else redis-cli -h "$HOST" -p "$PORT" "$@"; fi
}

is_running() {
  [ -f "$PIDFILE" ] && kill -0 "$(cat "$PIDFILE")" 2>/dev/null
}

cmd_start() {
  cmd_install
  mkdir -p "$DIR"
  if is_running; then
    log "already running on $HOST:$PORT (pid $(cat "$PIDFILE"))"
    return 0
  fi
  log "starting redis-server on $HOST:$PORT"
  local args=(--bind "$HOST" --port "$PORT" --daemonize yes --pidfile "$PIDFILE" --logfile "$LOGFILE"
              --dir "$DIR" --save "" --appendonly no --protected-mode yes
              --maxmemory "${REDIS_MAXMEMORY:-256mb}" --maxmemory-policy allkeys-lru)
  [ -n "$PASSWORD" ] && args+=(--requirepass "$PASSWORD")
  redis-server "${args[@]}"
  local i
  for i in $(seq 1 100); do
    [ "$(cli ping 2>/dev/null)" = PONG ] && { log "ready: $(cmd_url | sed 's#//:[^@]*@#//:***@#')"; return 0; }
    sleep 0.1
  done
  tail -n 20 "$LOGFILE" >&2
  log "ERROR: redis-server did not answer on $HOST:$PORT"; exit 1
}

cmd_stop() {
  if is_running; then
    local pid; pid="$(cat "$PIDFILE")"
    kill "$pid"
    for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    rm -f "$PIDFILE"
    log "stopped"
  else
    rm -f "$PIDFILE"
    log "not running"
  fi
}

cmd_url() {
  if [ -n "$PASSWORD" ]; then echo "redis://:$PASSWORD@$HOST:$PORT/0"; else echo "redis://$HOST:$PORT/0"; fi
}

case "${1:-}" in
  install) cmd_install ;;
  start) cmd_start ;;
  stop) cmd_stop ;;
  status) if is_running; then echo "running (pid $(cat "$PIDFILE")) on $HOST:$PORT"; else echo "stopped"; exit 1; fi ;;
  url) cmd_url ;;
  *) sed -n '2,16p' "$0"; exit 2 ;;
esac
