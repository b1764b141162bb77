#!/usr/bin/env bash
# A local Dolt cluster: one primary and N standbys with Dolt's direct-to-standby replication,
# each a scripts/dolt.sh server with its own data directory, and the app's environment for it.
#
#   scripts/cluster.sh start    start every node (standbys first), bootstrap on the primary, wait
#                               until the standbys have the database and the app user, and write
#                               the app's env file (DATABASE_URL = primary, DATABASE_REPLICA_URLS
#                               = standbys)
#   scripts/cluster.sh stop     stop every node
#   scripts/cluster.sh status   each node's role and epoch
#   scripts/cluster.sh env      print the env file's path
#
# Settings (environment):
#   CLUSTER_PORTS ("3307 3308"): SQL ports, the first is the primary on first start
#   CLUSTER_REMOTESAPI_PORTS (each SQL port + 20000): the nodes' replication ports, same order
#   CLUSTER_DIR (./var/cluster): node-<port>/dolt data directories, app.env
#   DOLT_APP_PASSWORD, DOLT_ROOT_PASSWORD, DOLT_DATABASE, DOLT_CLUSTER_ACK_TIMEOUT: as for dolt.sh
# Fail-over (docs/deploy.md): DOLT_PORT=<standby> YOULAB_ENV_FILE=$(scripts/cluster.sh env) \
#   GUNICORN_PIDFILE=<pidfile> scripts/dolt.sh promote
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
DOLT_SH="$ROOT/scripts/dolt.sh"
read -ra PORTS <<<"${CLUSTER_PORTS:-3307 3308}"
read -ra RPORTS <<<"${CLUSTER_REMOTESAPI_PORTS:-}"
DIR="${CLUSTER_DIR:-$ROOT/var/cluster}"
case "$DIR" in /*) ;; *) DIR="$ROOT/$DIR" ;; esac
HOST="${DOLT_HOST:-127.0.0.1}"
DB="${DOLT_DATABASE:-youlab}"
APP_USER="${DOLT_APP_USER:-youlab}"
APP_PASSWORD="${DOLT_APP_PASSWORD:-youlab-dev-password}"
ENV_FILE="$DIR/app.env"

log() { echo "[cluster] $*" >&2; }

rport() { local i=$1; if [ ${#RPORTS[@]} -gt "$i" ]; then echo "${RPORTS[$i]}"; else echo $(( PORTS[i] + 20000 )); fi; }

node() {
  # node INDEX COMMAND...: run scripts/dolt.sh for one node
  local i=$1; shift
  local peers="" j
  for j in "${!PORTS[@]}"; do
    [ "$j" = "$i" ] && continue
    peers="${peers:+$peers,}$HOST:$(rport "$j")"
  done
  local role=standby; [ "$i" = 0 ] && role=primary
  DOLT_PORT="${PORTS[$i]}" DOLT_DATA_DIR="$DIR/node-${PORTS[$i]}/dolt" DOLT_CLUSTER_ROLE="$role" \
    DOLT_CLUSTER_PEERS="$peers" DOLT_REMOTESAPI_PORT="$(rport "$i")" "$DOLT_SH" "$@"
}

cmd_start() {
  [ ${#PORTS[@]} -ge 2 ] || { log "ERROR: CLUSTER_PORTS needs a primary and at least one standby"; exit 2; }
  mkdir -p "$DIR"
  local i primary=""
  # Standbys first: the primary's first writes (users, the database) then replicate at once
  # instead of waiting for a standby that is not up yet.
  for i in $(seq $(( ${#PORTS[@]} - 1 )) -1 0); do node "$i" start; done
  for i in "${!PORTS[@]}"; do
    if [ "$(node "$i" role | cut -d' ' -f1)" = primary ]; then primary="$i"; fi
  done
  [ -n "$primary" ] || { log "ERROR: no node is primary"; exit 1; }
  for i in "${!PORTS[@]}"; do
    [ "$i" = "$primary" ] && continue
    wait_replicated "$i"
  done
  write_env "$primary"
  log "ready: primary $HOST:${PORTS[$primary]}; app env in $ENV_FILE"
  local pidfile="${GUNICORN_PIDFILE:-$DIR/gunicorn.pid}"
  if [ -f "$pidfile" ] && kill -0 "$(cat "$pidfile")" 2>/dev/null; then
    kill -HUP "$(cat "$pidfile")"; log "sent HUP to gunicorn $(cat "$pidfile") (re-reads $ENV_FILE)"
  fi
}

wait_replicated() {
  # The database and the app user reach a standby through replication, not through bootstrap.
  local i=$1 n
  for n in $(seq 1 120); do
    if mysql_ok "${PORTS[$i]}"; then return 0; fi
    sleep 0.5
  done
  log "ERROR: standby ${PORTS[$i]} did not receive the database and the app user within 60 s"; exit 1
}

mysql_ok() {
  local dolt; dolt="$("$DOLT_SH" path)"
  DOLT_ROOT_PATH="$DIR/node-$1/dolt-home" "$dolt" --host "$HOST" --port "$1" --no-tls --user "$APP_USER" \
    --password "$APP_PASSWORD" --use-db "$DB" sql -q "SELECT 1" >/dev/null 2>&1
}

write_env() {
  local primary=$1 i nodes="" replicas="" template
  template="mysql://$APP_USER:$APP_PASSWORD@{node}/$DB"
  for i in "${!PORTS[@]}"; do
    nodes="${nodes:+$nodes,}$HOST:${PORTS[$i]}"
    [ "$i" = "$primary" ] && continue
    replicas="${replicas:+$replicas,}${template//\{node\}/$HOST:${PORTS[$i]}}"
  done
  umask 077
  cat > "$ENV_FILE" <<ENV
# Written by scripts/cluster.sh; rewritten by scripts/dolt.sh promote. Read by
# youlab/gunicorn.conf.py (YOULAB_ENV_FILE) at every start and HUP.
YOULAB_CLUSTER_NODES=$nodes
YOULAB_DATABASE_URL_TEMPLATE=$template
DATABASE_URL=${template//\{node\}/$HOST:${PORTS[$primary]}}
DATABASE_REPLICA_URLS=$replicas
ENV
}

cmd_stop() {
  local i
  for i in "${!PORTS[@]}"; do node "$i" stop || true; done
}

cmd_status() {
  local i
  for i in "${!PORTS[@]}"; do
    echo "$HOST:${PORTS[$i]} $(node "$i" role 2>/dev/null || echo down)"
  done
}

case "${1:-}" in
  start) cmd_start ;;
  stop) cmd_stop ;;
  status) cmd_status ;;
  env) echo "$ENV_FILE" ;;
  *) sed -n '2,21p' "$0"; exit 2 ;;
esac
