#!/usr/bin/env bash
# Get, start, stop and bootstrap the project's Dolt SQL server.
#
#   scripts/dolt.sh install   use `dolt` from PATH if its version matches, else build it with Go
#   scripts/dolt.sh start     start dolt sql-server (idempotent), wait until it answers, bootstrap
#   scripts/dolt.sh stop      stop the server started by `start`
#   scripts/dolt.sh status    say whether it runs
#   scripts/dolt.sh path      print the dolt binary's path
#   scripts/dolt.sh role      print this server's cluster role and epoch ("standalone 0" outside one)
#   scripts/dolt.sh promote [EPOCH]   make this standby the primary (default epoch: its own + 1);
#                             with YOULAB_ENV_FILE, point the app at it (rewrite DATABASE_URL and
#                             DATABASE_REPLICA_URLS there; HUP the gunicorn in GUNICORN_PIDFILE)
#   scripts/dolt.sh demote EPOCH      planned switch-over: make this primary a standby at EPOCH once
#                             its standbys have caught up (then promote one with the same EPOCH)
#   scripts/dolt.sh backup DIR        Dolt backup of every database (all branches, commits, working
#                             sets) into DIR while the server runs; DIR/databases lists them
#   scripts/dolt.sh restore DIR       restore a backup into DOLT_DATA_DIR, which must be empty or
#                             absent and not served; then `start` serves it
#
# Settings (environment):
#   DOLT_PORT (3307)  DOLT_HOST (127.0.0.1)  DOLT_DATA_DIR (./var/dolt)
#   DOLT_DATABASE (youlab)  DOLT_APP_USER (youlab)  DOLT_APP_PASSWORD (youlab-dev-password)
#   DOLT_ROOT_PASSWORD (root password set on first start; default youlab-root-dev-password)
#   YOULAB_CACHE (~/.cache/youlab): where the built binary and its Go module live
# Cluster (Dolt's direct-to-standby replication; scripts/cluster.sh sets these per node):
#   DOLT_CLUSTER_ROLE (unset = standalone; primary|standby: the role on first start only, later
#     the role and epoch the node persisted win)   DOLT_CLUSTER_EPOCH (1)
#   DOLT_CLUSTER_PEERS: the other nodes' remotesapi addresses, comma separated (host:port)
#   DOLT_REMOTESAPI_PORT (DOLT_PORT + 20000): this node's replication endpoint
#   DOLT_CLUSTER_ACK_TIMEOUT (5): seconds a COMMIT waits for the standbys to confirm it
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
CLUSTER_ROLE="${DOLT_CLUSTER_ROLE:-}"
CLUSTER_EPOCH="${DOLT_CLUSTER_EPOCH:-1}"
CLUSTER_PEERS="${DOLT_CLUSTER_PEERS:-}"
REMOTESAPI_PORT="${DOLT_REMOTESAPI_PORT:-$((PORT + 20000))}"
ACK_TIMEOUT="${DOLT_CLUSTER_ACK_TIMEOUT:-5}"
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
  # The CLI warns about the cluster role keys the server keeps in the same global config.
  "$DOLT" --host "$HOST" --port "$PORT" --no-tls --user root --password "$ROOT_PASSWORD" sql -q "$1" \
    2> >(grep -v "Unknown global config option 'sqlserver.cluster" >&2)
}

sql_root_csv() {
  # One query, CSV without the header line; on HOST:PORT unless a third argument names host:port.
  local target="${2:-$HOST:$PORT}"
  timeout 10 "$DOLT" --host "${target%:*}" --port "${target##*:}" --no-tls --user root \
    --password "$ROOT_PASSWORD" sql -r csv -q "$1" 2>/dev/null | tail -n +2
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
  # A standby is read-only: the primary's database, users and grants replicate to it (Dolt 2.2
  # replicates users and grants too; verified), so there is nothing to create there.
  if [ "$(current_role)" = standby ]; then return 0; fi
  sql_root "CREATE DATABASE IF NOT EXISTS \`$DB\` CHARACTER SET utf8mb4 COLLATE utf8mb4_0900_ai_ci;
ALTER DATABASE \`$DB\` CHARACTER SET utf8mb4 COLLATE utf8mb4_0900_ai_ci;
CREATE USER IF NOT EXISTS '$APP_USER'@'%' IDENTIFIED BY '$APP_PASSWORD';
ALTER USER '$APP_USER'@'%' IDENTIFIED BY '$APP_PASSWORD';
GRANT ALL PRIVILEGES ON *.* TO '$APP_USER'@'%' WITH GRANT OPTION;" >/dev/null
}

global_config() {
  "$DOLT" config --global --get metrics.disabled >/dev/null 2>&1 || "$DOLT" config --global --add metrics.disabled true >/dev/null
  "$DOLT" config --global --get user.name >/dev/null 2>&1 || "$DOLT" config --global --add user.name "YouLab System" >/dev/null
  "$DOLT" config --global --get user.email >/dev/null 2>&1 || "$DOLT" config --global --add user.email "system@youlab.local" >/dev/null
}

cmd_start() {
  DOLT="$(find_dolt)" || { cmd_install; DOLT="$(find_dolt)"; }
  mkdir -p "$DATA_DIR" "$DOLT_ROOT_PATH"
  global_config
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
    if [ -n "$CLUSTER_ROLE" ]; then write_cluster_config >> "$CONFIG"; fi
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

write_cluster_config() {
  # Every node lists every other node as a standby remote: whichever is primary replicates to the
  # rest, and a node that comes back with an older epoch learns the newer one and becomes standby.
  case "$CLUSTER_ROLE" in primary|standby) ;; *) log "ERROR: DOLT_CLUSTER_ROLE must be primary or standby"; exit 2 ;; esac
  [ -n "$CLUSTER_PEERS" ] || { log "ERROR: DOLT_CLUSTER_PEERS (the other nodes' host:remotesapi-port) is empty"; exit 2; }
  # dolt_cluster_ack_writes_timeout_secs is 0 (asynchronous) by default in Dolt 2.2.0; > 0 makes
  # each COMMIT wait until the standbys have it. After one wait times out (a standby is gone) a
  # circuit breaker stops the waiting until that standby has caught up again.
  echo "system_variables:"
  echo "  dolt_cluster_ack_writes_timeout_secs: $ACK_TIMEOUT"
  echo "cluster:"
  echo "  standby_remotes:"
  local peer n=0
  IFS=, read -ra peers <<<"$CLUSTER_PEERS"
  for peer in "${peers[@]}"; do
    n=$((n + 1))
    echo "    - name: node$n"
    echo "      remote_url_template: http://$peer/{database}"
  done
  echo "  bootstrap_role: $CLUSTER_ROLE"
  echo "  bootstrap_epoch: $CLUSTER_EPOCH"
  echo "  remotesapi:"
  echo "    address: $HOST"
  echo "    port: $REMOTESAPI_PORT"
}

current_role() {
  # "primary", "standby", "detected_broken_config", or "standalone".
  local row
  row="$(sql_root_csv "SHOW VARIABLES LIKE 'dolt_cluster_role'")"
  [ -n "$row" ] && echo "${row#*,}" || echo standalone
}

current_epoch() {
  local row
  row="$(sql_root_csv "SHOW VARIABLES LIKE 'dolt_cluster_role_epoch'")"
  [ -n "$row" ] && echo "${row#*,}" || echo 0
}

require_running() {
  DOLT="$(find_dolt)" || { log "ERROR: dolt is not installed (scripts/dolt.sh install)"; exit 1; }
  sql_root "SELECT 1" >/dev/null 2>&1 || { log "ERROR: no dolt sql-server answers on $HOST:$PORT"; exit 1; }
}

cmd_role() {
  require_running
  echo "$(current_role) $(current_epoch)"
}

cmd_promote() {
  require_running
  local role epoch
  role="$(current_role)"
  [ "$role" = standalone ] && { log "ERROR: $HOST:$PORT is not part of a cluster"; exit 1; }
  epoch="${1:-$(( $(current_epoch) + 1 ))}"
  if [ "$role" = primary ] && [ "$(current_epoch)" = "$epoch" ]; then
    log "$HOST:$PORT is already primary at epoch $epoch"
  else
    log "promoting $HOST:$PORT ($role, epoch $(current_epoch)) to primary at epoch $epoch"
    sql_root "CALL dolt_assume_cluster_role('primary', $epoch)" >/dev/null
  fi
  [ "$(current_role)" = primary ] || { log "ERROR: $HOST:$PORT did not become primary"; exit 1; }
  log "primary: $HOST:$PORT at epoch $(current_epoch)"
  if [ -n "${YOULAB_ENV_FILE:-}" ]; then point_app_at_primary; fi
}

point_app_at_primary() {
  # The env file (written by scripts/cluster.sh, read by youlab/gunicorn.conf.py at every start
  # and HUP) names the nodes and a URL template; the new primary becomes DATABASE_URL and every
  # other node that answers as a standby a replica.
  local file="$YOULAB_ENV_FILE" template nodes node role replicas=""
  template="$(sed -n 's/^YOULAB_DATABASE_URL_TEMPLATE=//p' "$file")"
  nodes="$(sed -n 's/^YOULAB_CLUSTER_NODES=//p' "$file")"
  [ -n "$template" ] && [ -n "$nodes" ] || { log "ERROR: $file lacks YOULAB_DATABASE_URL_TEMPLATE / YOULAB_CLUSTER_NODES"; exit 1; }
  IFS=, read -ra all <<<"$nodes"
  for node in "${all[@]}"; do
    [ "$node" = "$HOST:$PORT" ] && continue
    role="$(sql_root_csv "SHOW VARIABLES LIKE 'dolt_cluster_role'" "$node" || true)"  # a dead node: ""
    if [ "${role#*,}" = standby ]; then replicas="${replicas:+$replicas,}${template//\{node\}/$node}"; fi
  done
  local tmp="$file.tmp"
  grep -v -E '^(DATABASE_URL|DATABASE_REPLICA_URLS)=' "$file" > "$tmp" || true
  { echo "DATABASE_URL=${template//\{node\}/$HOST:$PORT}"; echo "DATABASE_REPLICA_URLS=$replicas"; } >> "$tmp"
  chmod 600 "$tmp"; mv "$tmp" "$file"
  log "app env $file: primary $HOST:$PORT, standbys: ${replicas:+$(echo "$replicas" | sed -E 's#[^,@]*@([^/,]*)/[^,]*#\1#g')}${replicas:-none}"
  local pidfile="${GUNICORN_PIDFILE:-}"
  if [ -n "$pidfile" ] && [ -f "$pidfile" ] && kill -0 "$(cat "$pidfile")" 2>/dev/null; then
    kill -HUP "$(cat "$pidfile")"
    log "sent HUP to gunicorn $(cat "$pidfile"): new workers use the new primary"
  fi
}

cmd_demote() {
  require_running
  local epoch="${1:?usage: scripts/dolt.sh demote EPOCH (higher than the current one)}"
  log "switching $HOST:$PORT to standby at epoch $epoch (waits until its standbys have caught up)"
  sql_root "CALL dolt_assume_cluster_role('standby', $epoch)" >/dev/null
  log "now: $(current_role) $(current_epoch); promote a caught-up standby with: scripts/dolt.sh promote $epoch"
}

user_databases() {
  sql_root_csv "SHOW DATABASES" | grep -v -x -E 'information_schema|mysql|dolt_cluster' | grep -v '/' || true
}

cmd_backup() {
  local dir="${1:?usage: scripts/dolt.sh backup DIR}"
  require_running
  mkdir -p "$dir"
  dir="$(cd "$dir" && pwd)"
  if [ -n "$(ls -A "$dir")" ] && [ ! -f "$dir/backup.json" ]; then
    log "ERROR: $dir is not empty and holds no backup (backup.json); choose an empty directory"; exit 1
  fi
  local db dbs=() heads=()
  mapfile -t dbs < <(user_databases)
  [ ${#dbs[@]} -gt 0 ] || { log "ERROR: no database to back up on $HOST:$PORT"; exit 1; }
  for db in "${dbs[@]}"; do
    [[ "$db" =~ ^[A-Za-z0-9_][A-Za-z0-9_-]*$ ]] || { log "skipping database with an unusual name: $db"; continue; }
    log "backing up $db (every branch, tag and working set) to $dir/$db"
    sql_root "USE \`$db\`; CALL dolt_backup('sync-url', 'file://$dir/$db')" >/dev/null
    heads+=("\"$db\": \"$(sql_root_csv "USE \`$db\`; SELECT HASHOF('main')" | tail -n 1)\"")
  done
  printf '%s\n' "${dbs[@]}" > "$dir/databases"
  local IFS=,
  printf '{"created": "%s", "source": "%s:%s", "dolt": "%s", "databases": {%s}}\n' \
    "$(date -u +%Y-%m-%dT%H:%M:%SZ)" "$HOST" "$PORT" "$DOLT_VERSION" "${heads[*]}" > "$dir/backup.json"
  log "backup complete: $dir ($(du -sh "$dir" | cut -f1))"
}

cmd_restore() {
  local dir="${1:?usage: scripts/dolt.sh restore DIR}"
  [ -f "$dir/backup.json" ] || { log "ERROR: $dir/backup.json not found: not a backup made by 'scripts/dolt.sh backup'"; exit 1; }
  dir="$(cd "$dir" && pwd)"
  if is_running; then log "ERROR: a server runs on $DATA_DIR (port $PORT); stop it and restore into an empty directory"; exit 1; fi
  if [ -d "$DATA_DIR" ] && [ -n "$(ls -A "$DATA_DIR")" ]; then
    log "ERROR: $DATA_DIR is not empty; restore only into an empty or new data directory"; exit 1
  fi
  DOLT="$(find_dolt)" || { cmd_install; DOLT="$(find_dolt)"; }
  mkdir -p "$DATA_DIR" "$DOLT_ROOT_PATH"
  global_config
  local db
  while read -r db; do
    [[ "$db" =~ ^[A-Za-z0-9_][A-Za-z0-9_-]*$ ]] || continue
    [ -d "$dir/$db" ] || { log "ERROR: $dir/$db missing"; exit 1; }
    log "restoring $db into $DATA_DIR/$db"
    (cd "$DATA_DIR" && "$DOLT" backup restore "file://$dir/$db" "$db" >/dev/null)
  done < "$dir/databases"
  log "restored; serve it with: DOLT_DATA_DIR=$DATA_DIR DOLT_PORT=$PORT scripts/dolt.sh start"
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
  role) cmd_role ;;
  promote) shift; cmd_promote "$@" ;;
  demote) shift; cmd_demote "$@" ;;
  backup) shift; cmd_backup "$@" ;;
  restore) shift; cmd_restore "$@" ;;
  *) sed -n '2,36p' "$0"; exit 2 ;;
esac
