#!/usr/bin/env bash
# Makes sure a PostgreSQL streaming read replica of the local primary (cluster <ver>/main on
# 127.0.0.1:5432, trust auth) runs as cluster <ver>/replica on 127.0.0.1:5433, using only the
# Debian postgresql-common tools. Idempotent: a healthy replica is left alone. Run as root.
#
# Usage: scripts/pg-replica.sh [ensure|stop|pause|resume|drop]
#   ensure (default)  create, repair or restart the replica, then prove it replays the primary's WAL
#   stop              stop the replica; its slot keeps WAL on the primary until `ensure` restarts it
#   pause             pause WAL replay on the replica (a lagging replica); lasts until resume/restart
#   resume            resume WAL replay and wait until the replica has caught up with the primary
#   drop              stop and delete the replica cluster and its replication slot
set -euo pipefail

HOST=127.0.0.1
PRIMARY_PORT=5432
REPLICA_PORT=5433
PRIMARY=main
REPLICA=replica
SLOT=marquee_replica
WAIT=30 # seconds to wait for start-up and for catching up

log() { echo "pg-replica: $*" >&2; }
die() {
  log "error: $*"
  exit 1
}

# The PostgreSQL major version: that of the primary cluster, else the newest one installed.
VER=$(pg_lsclusters -h 2>/dev/null | awk -v c="$PRIMARY" -v p="$PRIMARY_PORT" '$2 == c && $3 == p {print $1; exit}' || true)
# shellcheck disable=SC2012 # version directories have plain names
[ -n "$VER" ] || VER=$(ls /etc/postgresql 2>/dev/null | sort -V | tail -n1 || true)
[ -n "$VER" ] || die "no PostgreSQL cluster found under /etc/postgresql"
CONF_DIR=/etc/postgresql/$VER/$REPLICA

# psql as the postgres superuser over TCP (trust), unaligned, no psqlrc, stop on error.
sql() { # sql PORT QUERY
  psql -XAtq -v ON_ERROR_STOP=1 -h "$HOST" -p "$1" -U postgres -d postgres -c "$2"
}
primary() { sql "$PRIMARY_PORT" "$1"; }
replica() { sql "$REPLICA_PORT" "$1"; }

# wait_until SECONDS COMMAND...: retries COMMAND every 0.2 s until it succeeds or time runs out.
wait_until() {
  local deadline=$((SECONDS + $1))
  shift
  until "$@"; do
    ((SECONDS < deadline)) || return 1
    sleep 0.2
  done
}

# One field of the replica's pg_lsclusters line: port, status (online, down, online,recovery)
# or datadir. Empty when the cluster does not exist.
replica_info() {
  { pg_lsclusters -h "$VER" "$REPLICA" 2>/dev/null || true; } |
    awk -v f="$1" '{print (f == "port" ? $3 : f == "status" ? $4 : $6)}'
}

# pg_ctlcluster without systemd. fd 9 (the lock, see lock()) is closed so that servers started
# here do not inherit it and hold the lock forever.
pgctl() { pg_ctlcluster --skip-systemctl-redirect "$@" 9>&-; }
ctl() { pgctl "$VER" "$REPLICA" "$@"; }

is_standby() { [ "$(replica "SELECT pg_is_in_recovery()" 2>/dev/null)" = t ]; }
is_streaming() { [ "$(replica "SELECT status FROM pg_stat_wal_receiver" 2>/dev/null)" = streaming ]; }
is_online() { [[ "$(replica_info status)" == online* ]]; }
ready_standby() { pg_isready -q -h "$HOST" -p "$REPLICA_PORT" && is_standby; }
replayed() { [ "$(replica "SELECT pg_last_wal_replay_lsn() >= '$1'::pg_lsn" 2>/dev/null)" = t ]; }
# 'not paused', 'pause requested' (no further WAL record will be applied) or 'paused'.
pause_state() {
  if [ "$(replica "SHOW server_version_num")" -ge 140000 ]; then
    replica "SELECT pg_get_wal_replay_pause_state()"
  else
    replica "SELECT CASE WHEN pg_is_wal_replay_paused() THEN 'paused' ELSE 'not paused' END"
  fi
}
is_paused() { [ "$(pause_state)" = paused ]; }

# Our replica is running on its port, is a standby and its WAL receiver streams from the primary
# (allowing a few seconds for a receiver that is (re)connecting).
healthy() {
  [ "$(replica_info port)" = "$REPLICA_PORT" ] && is_online && is_standby &&
    wait_until 10 is_streaming
}

# Waits until the replica has replayed the primary's current WAL position, then prints a summary.
# With "probe", first writes a WAL record on the primary (a logical message, no table touched)
# so that the check covers WAL written after the replica came up.
prove() {
  local target lag
  if [ "${1:-}" = probe ]; then
    primary "SELECT pg_logical_emit_message(true, 'marquee_replica_probe', now()::text)" >/dev/null
  fi
  if [ "$(pause_state)" != "not paused" ]; then
    lag=$(replica "SELECT pg_wal_lsn_diff('$(primary "SELECT pg_current_wal_lsn()")', pg_last_wal_replay_lsn())")
    echo "replica on $HOST:$REPLICA_PORT streaming from $PRIMARY_PORT, replay PAUSED, lag ${lag} bytes"
    return
  fi
  target=$(primary "SELECT pg_current_wal_lsn()")
  wait_until "$WAIT" replayed "$target" ||
    die "replica did not replay up to $target within ${WAIT}s (replayed: $(replica "SELECT pg_last_wal_replay_lsn()"))"
  lag=$(replica "SELECT greatest(pg_wal_lsn_diff('$(primary "SELECT pg_current_wal_lsn()")', pg_last_wal_replay_lsn()), 0)")
  echo "replica on $HOST:$REPLICA_PORT streaming from $PRIMARY_PORT, replay lag ${lag} bytes"
}

# The primary must be up, keep WAL for replicas and accept replication connections.
prepare_primary() {
  if ! pg_isready -q -h "$HOST" -p "$PRIMARY_PORT"; then
    log "starting primary $VER/$PRIMARY"
    pgctl "$VER" "$PRIMARY" start
    wait_until "$WAIT" pg_isready -q -h "$HOST" -p "$PRIMARY_PORT" || die "primary did not start"
  fi

  # wal_level and max_wal_senders only change with a restart: done only when they forbid replicas.
  local restart=
  if [ "$(primary "SHOW wal_level")" = minimal ]; then
    primary "ALTER SYSTEM SET wal_level = replica"
    restart=1
  fi
  if [ "$(primary "SHOW max_wal_senders")" -lt 1 ]; then
    primary "ALTER SYSTEM SET max_wal_senders = 10"
    restart=1
  fi
  if [ -n "$restart" ]; then
    log "restarting primary $VER/$PRIMARY for wal_level/max_wal_senders"
    pgctl "$VER" "$PRIMARY" restart -m fast
    wait_until "$WAIT" pg_isready -q -h "$HOST" -p "$PRIMARY_PORT" || die "primary did not restart"
  fi

  # pg_hba.conf: rules for database "all" do not cover replication connections, so add one.
  if ! replication_allowed; then
    local hba marker tmp
    hba=$(primary "SHOW hba_file")
    marker="# added by marquee scripts/pg-replica.sh: the streaming replica on $HOST:$REPLICA_PORT"
    if ! grep -qF "$marker" "$hba"; then
      log "allowing replication connections from $HOST in $hba"
      # First matching rule wins: put ours first. Rewrite in place to keep owner and mode.
      tmp=$(mktemp)
      { printf '%s\nhost    replication     postgres        %s/32            trust\n' "$marker" "$HOST"; cat "$hba"; } >"$tmp"
      cat "$tmp" >"$hba"
      rm -f "$tmp"
    fi
    primary "SELECT pg_reload_conf()" >/dev/null
    wait_until 10 replication_allowed ||
      die "primary still refuses replication connections; see $hba and: $(primary "SELECT string_agg(error, '; ') FROM pg_hba_file_rules WHERE error IS NOT NULL")"
  fi
}

replication_allowed() {
  psql -X "host=$HOST port=$PRIMARY_PORT user=postgres replication=true connect_timeout=5" \
    -c IDENTIFY_SYSTEM >/dev/null 2>&1
}

# Drops the replication slot when no walsender uses it (it is released shortly after the replica stops).
drop_slot() {
  slot_inactive() { [ "$(primary "SELECT count(*) FROM pg_replication_slots WHERE slot_name = '$SLOT' AND active")" = 0 ]; }
  [ "$(primary "SELECT count(*) FROM pg_replication_slots WHERE slot_name = '$SLOT'")" = 1 ] || return 0
  wait_until 10 slot_inactive || die "replication slot $SLOT is in use by another server"
  primary "SELECT pg_drop_replication_slot('$SLOT')" >/dev/null
  log "dropped old replication slot $SLOT"
}

stop_replica() {
  if is_online; then ctl stop -m fast; fi
}

# Builds the replica from scratch: new cluster, base backup of the primary, start, wait.
rebuild() {
  local other datadir slot_args=()
  other=$(pg_lsclusters -h | awk -v p="$REPLICA_PORT" -v c="$REPLICA" '$3 == p && $2 != c {print $1 "/" $2}')
  [ -z "$other" ] || die "port $REPLICA_PORT is used by cluster $other"

  if [ -n "$(replica_info port)" ]; then
    log "dropping broken replica cluster $VER/$REPLICA"
    stop_replica
    pg_dropcluster "$VER" "$REPLICA"
  fi
  # Nothing else may listen on the port (pg_dropcluster leaves a running server alone if stop failed).
  if pg_isready -q -h "$HOST" -p "$REPLICA_PORT"; then die "something already listens on $HOST:$REPLICA_PORT"; fi
  # A data directory left without its cluster would be adopted by pg_createcluster: remove it.
  [ -d "$CONF_DIR" ] || rm -rf "/var/lib/postgresql/$VER/$REPLICA"

  log "creating cluster $VER/$REPLICA on port $REPLICA_PORT"
  pg_createcluster "$VER" "$REPLICA" -p "$REPLICA_PORT" >/dev/null
  datadir=$(replica_info datadir)
  [[ "$datadir" == /*/* && -d "$datadir" ]] || die "unexpected data directory '$datadir'"

  # Our settings, read after postgresql.conf. A standby needs these limits at least as high as
  # the primary's, so copy them.
  {
    echo "# Written by marquee scripts/pg-replica.sh"
    echo "port = $REPLICA_PORT"
    echo "listen_addresses = '$HOST'"
    echo "hot_standby = on"
    for name in max_connections max_worker_processes max_wal_senders max_prepared_transactions max_locks_per_transaction; do
      echo "$name = $(primary "SHOW $name")"
    done
  } >"$CONF_DIR/conf.d/90-marquee-replica.conf"
  # Clients authenticate on the replica as on the primary.
  install -o postgres -g postgres -m 640 "$(primary "SHOW hba_file")" "$CONF_DIR/pg_hba.conf"

  # Replace the fresh cluster's data with a base backup of the primary, taken as postgres. -R
  # writes standby.signal and primary_conninfo (and primary_slot_name with -S).
  find "$datadir" -mindepth 1 -delete
  if [ "$(primary "SHOW max_replication_slots")" -gt 0 ]; then
    drop_slot
    slot_args=(-C -S "$SLOT")
  else
    log "max_replication_slots is 0 on the primary: replicating without a slot"
  fi
  log "taking base backup into $datadir"
  (cd / && runuser -u postgres -- pg_basebackup -h "$HOST" -p "$PRIMARY_PORT" -U postgres \
    -D "$datadir" -R -X stream -c fast "${slot_args[@]}")
  # ALTER SYSTEM settings copied from the primary would override ours.
  sed -i -E '/^[[:space:]]*(port|listen_addresses|hot_standby)[[:space:]]*=/d' "$datadir/postgresql.auto.conf"
  chown -R postgres:postgres "$datadir"
  chmod 700 "$datadir"

  log "starting replica"
  ctl start
  wait_until "$WAIT" ready_standby || {
    tail -n 20 "$(pg_lsclusters -h "$VER" "$REPLICA" | awk '{print $7}')" >&2 || true
    die "replica did not come up as a standby on $HOST:$REPLICA_PORT within ${WAIT}s"
  }
}

need_root() { [ "$(id -u)" = 0 ] || die "run as root"; }
need_replica() {
  if ! { is_online && is_standby; }; then die "no replica running on $HOST:$REPLICA_PORT; run $0 first"; fi
}
lock() { # one run at a time
  exec 9>/run/lock/marquee-pg-replica.lock
  flock -w 120 9 || die "another pg-replica.sh run holds the lock"
}

case "${1:-ensure}" in
ensure)
  need_root
  lock
  if healthy; then
    prove
    exit 0
  fi
  prepare_primary
  # A cleanly stopped replica (e.g. by `stop`) catches up from its slot: just start it.
  datadir=$(replica_info datadir)
  if [ "$(replica_info port)" = "$REPLICA_PORT" ] && ! is_online && [ -f "$datadir/standby.signal" ]; then
    log "starting stopped replica"
    if ctl start && wait_until "$WAIT" ready_standby && wait_until 10 is_streaming; then
      prove probe
      exit 0
    fi
    log "stopped replica did not come back; rebuilding it"
  fi
  rebuild
  prove probe
  ;;
stop)
  need_root
  lock
  if is_online; then
    stop_replica
    echo "replica $VER/$REPLICA stopped"
  else
    echo "replica $VER/$REPLICA is not running"
  fi
  ;;
pause)
  need_replica
  replica "SELECT pg_wal_replay_pause()" >/dev/null
  # Idle, the startup process may stay at 'pause requested'; it applies no further record then either.
  wait_until 5 is_paused || true
  echo "replica replay $(pause_state) at $(replica "SELECT pg_last_wal_replay_lsn()")"
  ;;
resume)
  need_replica
  replica "SELECT pg_wal_replay_resume()" >/dev/null
  prove
  ;;
drop)
  need_root
  lock
  if [ -n "$(replica_info port)" ]; then
    stop_replica
    pg_dropcluster "$VER" "$REPLICA"
    echo "replica $VER/$REPLICA dropped"
  fi
  drop_slot
  ;;
*)
  echo "usage: $0 [ensure|stop|pause|resume|drop]" >&2
  exit 2
  ;;
esac
