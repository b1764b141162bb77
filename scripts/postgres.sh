#!/usr/bin/env bash
# A throwaway PostgreSQL 16 + pgvector for tests (the Letta 0.16.8 fixture dump needs pgvector).
#
#   scripts/postgres.sh install   pip-install the pinned `pgserver` wheel into the venv if missing
#   scripts/postgres.sh start     initdb on first use, start on 127.0.0.1:$POSTGRES_PORT (idempotent)
#   scripts/postgres.sh stop      stop the server started by `start`
#   scripts/postgres.sh status    say whether it runs (exit 1 when stopped)
#   scripts/postgres.sh url       print the connection URL (database `postgres`)
#   scripts/postgres.sh psql ARGS run the bundled psql against the server (e.g. -d db -f dump.sql)
#
# Settings (environment):
#   POSTGRES_PORT (55433)  POSTGRES_HOST (127.0.0.1)  POSTGRES_DATA_DIR (./var/postgres)
#   POSTGRES_RUN_USER (youlab-pg; only used when running as root)  VENV (./.venv)
#
# Why pgserver: it is a PyPI wheel carrying PostgreSQL 16.2 with pgvector 0.6.2 (what the fixture
# was dumped from), so a fresh machine needs pip only; Debian bookworm has no pgvector package.
# We use only its binaries, not its Python API (which listens on a unix socket only).
# PostgreSQL refuses to run as root, so as root (CI) the server runs as an unprivileged system
# user. Authentication is `trust`, and the server listens on loopback only: test data only.
set -euo pipefail

PGSERVER_VERSION="${PGSERVER_VERSION:-0.1.4}"

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${VENV:-$ROOT/.venv}"
case "$VENV" in /*) ;; *) VENV="$ROOT/$VENV" ;; esac
PY="$VENV/bin/python"
HOST="${POSTGRES_HOST:-127.0.0.1}"
PORT="${POSTGRES_PORT:-55433}"
BASE_DIR="${POSTGRES_DATA_DIR:-$ROOT/var/postgres}"
case "$BASE_DIR" in /*) ;; *) BASE_DIR="$ROOT/$BASE_DIR" ;; esac
PGDATA="$BASE_DIR/data"
LOGFILE="$BASE_DIR/postgres.log"
RUN_USER="${POSTGRES_RUN_USER:-youlab-pg}"
SUPERUSER=postgres

log() { echo "[postgres] $*" >&2; }
die() { log "ERROR: $*"; exit 1; }

pg_bin_dir() {
  # find_spec locates the package without importing it (importing would start nothing, but
  # pulls in psutil etc. for no reason).
  [ -x "$PY" ] || return 1
  local pkg
  pkg="$("$PY" -c 'import importlib.util, os, sys
spec = importlib.util.find_spec("pgserver")
sys.exit(1) if spec is None else print(os.path.dirname(spec.origin))' 2>/dev/null)" || return 1
  [ -x "$pkg/pginstall/bin/postgres" ] || return 1
  echo "$pkg/pginstall/bin"
}

cmd_install() {
  if BIN="$(pg_bin_dir)"; then return 0; fi
  [ -x "$PY" ] || die "no Python venv at $VENV (run 'make venv' first)"
  log "installing pgserver==$PGSERVER_VERSION (PostgreSQL 16.2 + pgvector) into $VENV"
  "$PY" -m pip install -q "pgserver==$PGSERVER_VERSION"
  BIN="$(pg_bin_dir)" || die "pgserver installed but its PostgreSQL binaries were not found"
}

as_owner() {
  # Run a PostgreSQL binary as the data directory's owner (never root).
  if [ "$(id -u)" = 0 ]; then
    runuser -u "$RUN_USER" -- "$@"
  else
    "$@"
  fi
}

ensure_run_user() {
  [ "$(id -u)" = 0 ] || return 0
  if ! getent passwd "$RUN_USER" >/dev/null; then
    log "creating system user $RUN_USER (PostgreSQL will not run as root)"
    useradd --system --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin "$RUN_USER"
  fi
  # The server user must be able to traverse to its binaries and its data directory. A clone
  # under a 0700 home (e.g. /root) blocks that: grant traverse-only (o+x, no listing) on the
  # blocking ancestors, and say so.
  chown -R "$RUN_USER:" "$BASE_DIR"
  local target dir part
  for target in "$BIN" "$BASE_DIR"; do
    dir=""
    IFS=/ read -ra parts <<<"${target#/}"
    for part in "${parts[@]}"; do  # from / down, so only the real blocker is changed
      dir="$dir/$part"
      if ! runuser -u "$RUN_USER" -- test -x "$dir" 2>/dev/null; then
        log "granting o+x on $dir so $RUN_USER can reach $target"
        chmod o+x "$dir"
      fi
    done
  done
}

is_running() {
  [ -n "${BIN:-}" ] || BIN="$(pg_bin_dir)" || return 1
  [ -f "$PGDATA/PG_VERSION" ] && as_owner "$BIN/pg_ctl" -D "$PGDATA" status >/dev/null 2>&1
}

running_port() {
  # Line 4 of postmaster.pid is the port the running server listens on.
  sed -n 4p "$PGDATA/postmaster.pid" 2>/dev/null
}

cmd_start() {
  cmd_install
  mkdir -p "$BASE_DIR"
  touch "$LOGFILE"
  ensure_run_user
  if [ ! -f "$PGDATA/PG_VERSION" ]; then
    log "initdb in $PGDATA"
    rm -rf "$PGDATA"
    as_owner "$BIN/initdb" -D "$PGDATA" -U "$SUPERUSER" --auth=trust --encoding=UTF8 --locale=C.UTF-8 \
      >>"$LOGFILE" 2>&1 || { tail -n 20 "$LOGFILE" >&2; die "initdb failed"; }
  fi
  if is_running; then
    local p; p="$(running_port)"
    [ "$p" = "$PORT" ] || die "a server already runs on $PGDATA with port $p (asked for $PORT)"
    log "already running on $HOST:$PORT (pid $(head -n1 "$PGDATA/postmaster.pid"))"
    return 0
  fi
  log "starting PostgreSQL $("$BIN/postgres" --version | awk '{print $3}') on $HOST:$PORT, data in $PGDATA"
  # TCP only (empty unix_socket_directories): a deep checkout path would overflow the 107-byte
  # socket path limit, and nothing here needs the socket.
  if ! as_owner "$BIN/pg_ctl" -D "$PGDATA" -l "$LOGFILE" -w -t 60 \
      -o "-c listen_addresses=$HOST -p $PORT -c unix_socket_directories=''" start >/dev/null; then
    tail -n 30 "$LOGFILE" >&2
    die "PostgreSQL did not start on $HOST:$PORT"
  fi
  as_owner "$BIN/pg_isready" -q -h "$HOST" -p "$PORT" || die "PostgreSQL started but does not answer"
  log "ready: $(cmd_url)"
}

cmd_stop() {
  if is_running; then
    as_owner "$BIN/pg_ctl" -D "$PGDATA" -m fast -w -t 60 stop >/dev/null
    log "stopped"
  else
    log "not running"
  fi
}

cmd_url() { echo "postgresql://$SUPERUSER@$HOST:$PORT/postgres"; }

cmd_psql() {
  BIN="$(pg_bin_dir)" || die "pgserver is not installed (scripts/postgres.sh install)"
  "$BIN/psql" -X -h "$HOST" -p "$PORT" -U "$SUPERUSER" "$@"
}

case "${1:-}" in
  install) cmd_install ;;
  start) cmd_start ;;
  stop) cmd_stop ;;
  status) if is_running; then echo "running (pid $(head -n1 "$PGDATA/postmaster.pid")) on $HOST:$(running_port)"; else echo "stopped"; exit 1; fi ;;
  url) cmd_url ;;
  psql) shift; cmd_psql "$@" ;;
  *) sed -n '2,20p' "$0"; exit 2 ;;
esac
