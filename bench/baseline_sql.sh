#!/usr/bin/env bash
# baseline_sql.sh - what the same delivery events cost in SQLite and PostgreSQL 15,
# and zstd -3 of the parsed rows: the yardsticks coffer's figures are set against.
#
# usage: bench/baseline_sql.sh TRUTH.tsv [--log RAW.log] [--skip-sqlite] [--skip-pg]
#
#   TRUTH.tsv  the --truth file of bench/gen_postfix (header line + one row per event)
#   --log      also report zstd -3 of the raw log, bytes per event
#
# Prints key=value lines on stdout (progress goes to stderr) for a later script to
# merge into BENCHMARKS.md. PostgreSQL runs as a throwaway cluster in a temp dir,
# listening on a Unix socket only (listen_addresses=''), as the postgres user when
# started as root; the cluster is stopped and the directory removed on any exit.
set -euo pipefail

PGBIN=${PGBIN:-/usr/lib/postgresql/15/bin}
PGBENCH_SECONDS=${PGBENCH_SECONDS:-10}

die() { echo "baseline_sql: $*" >&2; exit 1; }
say() { echo "baseline_sql: $*" >&2; }
now() { date +%s.%N; }
# elapsed START: seconds since START, 3 decimals
elapsed() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.3f", b - a }'; }
# div A B [DECIMALS]
div() { awk -v a="$1" -v b="$2" -v d="${3:-1}" 'BEGIN { printf "%.*f", d, (b > 0 ? a / b : 0) }'; }
kv() { echo "$1=$2"; }

TSV=""
LOG=""
DO_SQLITE=1
DO_PG=1
while [ $# -gt 0 ]; do
    case "$1" in
    --log) LOG=${2:?--log wants a file}; shift 2 ;;
    --skip-sqlite) DO_SQLITE=0; shift ;;
    --skip-pg) DO_PG=0; shift ;;
    -h | --help) sed -n '2,16p' "$0"; exit 0 ;;
    -*) die "unknown option $1" ;;
    *) [ -z "$TSV" ] || die "one TSV only"; TSV=$1; shift ;;
    esac
done
[ -n "$TSV" ] || die "usage: $0 TRUTH.tsv [--log RAW.log] [--skip-sqlite] [--skip-pg]"
[ -r "$TSV" ] || die "cannot read $TSV"
TSV=$(realpath "$TSV")
head -1 "$TSV" | grep -q '^time_iso	host	instance	queue_id' || die "$TSV is not a gen_postfix truth file"
for tool in sqlite3 zstd awk; do command -v "$tool" >/dev/null || die "$tool not installed"; done

EVENTS=$(($(wc -l <"$TSV") - 1))
[ "$EVENTS" -gt 0 ] || die "no rows in $TSV"
kv events "$EVENTS"
kv tsv_bytes "$(stat -c %s "$TSV")"

WORK=$(mktemp -d /tmp/cof-baseline.XXXXXX)
PGDATA=$WORK/pg
PGSOCK=$WORK/sock
PG_STARTED=0
RUNAS=""

cleanup() {
    local rc=$?
    if [ "$PG_STARTED" = 1 ]; then
        say "stopping PostgreSQL"
        $RUNAS "$PGBIN/pg_ctl" -D "$PGDATA" -m immediate -w stop >/dev/null 2>&1 || true
    fi
    rm -rf "$WORK"
    exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# ------------------------------------------------------------------ zstd
say "zstd -3 of the parsed rows"
Z=$(zstd -3 -q -c -T1 "$TSV" | wc -c)
kv zstd3_rows_bytes "$Z"
kv zstd3_rows_bytes_per_event "$(div "$Z" "$EVENTS")"
if [ -n "$LOG" ]; then
    [ -r "$LOG" ] || die "cannot read $LOG"
    kv log_bytes "$(stat -c %s "$LOG")"
    kv log_bytes_per_event "$(div "$(stat -c %s "$LOG")" "$EVENTS")"
    Z=$(zstd -3 -q -c -T1 "$LOG" | wc -c)
    kv zstd3_log_bytes "$Z"
    kv zstd3_log_bytes_per_event "$(div "$Z" "$EVENTS")"
fi

COLS_SQLITE="time TEXT, host TEXT, instance TEXT, queue_id TEXT, message_id TEXT,
  client_host TEXT, client_ip TEXT, sasl_username TEXT, sender TEXT, recipient TEXT,
  orig_recipient TEXT, relay_host TEXT, relay_ip TEXT, relay_port INTEGER, status TEXT,
  dsn TEXT, delay_ms INTEGER, size INTEGER, nrcpt INTEGER, response TEXT, subject TEXT,
  tls TEXT"
INDEXES="CREATE INDEX events_recipient ON events(recipient);
CREATE INDEX events_sender ON events(sender);
CREATE INDEX events_message_id ON events(message_id);
CREATE INDEX events_time ON events(time);"

# ---------------------------------------------------------------- SQLite
if [ "$DO_SQLITE" = 1 ]; then
    DB=$WORK/events.db
    say "SQLite $(sqlite3 --version | cut -d' ' -f1): load $EVENTS rows in one transaction"
    t0=$(now)
    sqlite3 "$DB" <<EOF
CREATE TABLE events($COLS_SQLITE);
.mode tabs
BEGIN;
.import --skip 1 '$TSV' events
COMMIT;
EOF
    load_s=$(elapsed "$t0")
    got=$(sqlite3 "$DB" 'SELECT count(*) FROM events')
    [ "$got" = "$EVENTS" ] || die "SQLite loaded $got rows, expected $EVENTS"
    say "SQLite: indexes"
    t1=$(now)
    sqlite3 "$DB" "$INDEXES"
    index_s=$(elapsed "$t1")
    total_s=$(awk -v a="$load_s" -v b="$index_s" 'BEGIN { printf "%.3f", a + b }')
    bytes=$(stat -c %s "$DB")
    kv sqlite_version "$(sqlite3 --version | cut -d' ' -f1)"
    kv sqlite_load_s "$load_s"
    kv sqlite_index_s "$index_s"
    kv sqlite_load_index_rows_per_s "$(div "$EVENTS" "$total_s" 0)"
    kv sqlite_bytes "$bytes"
    kv sqlite_bytes_per_event "$(div "$bytes" "$EVENTS")"

    R=$(sqlite3 "$DB" "SELECT recipient FROM events GROUP BY recipient
                       ORDER BY abs(count(*) - 100), recipient LIMIT 1")
    RN=$(sqlite3 "$DB" "SELECT count(*) FROM events WHERE recipient = '$R'")
    say "SQLite: 1000 lookups of a recipient with $RN events"
    for _ in $(seq 1000); do
        echo "SELECT * FROM events WHERE recipient = '$R' ORDER BY time;"
    done >"$WORK/lookups.sql"
    t1=$(now)
    sqlite3 "$DB" <"$WORK/lookups.sql" >/dev/null
    kv sqlite_lookup_avg_ms "$(awk -v s="$(elapsed "$t1")" 'BEGIN { printf "%.3f", s }')"
    say "SQLite: stats query"
    t1=$(now)
    sqlite3 "$DB" "SELECT status, substr(recipient, instr(recipient, '@') + 1) AS domain,
                   count(*) FROM events GROUP BY 1, 2" >/dev/null
    s=$(elapsed "$t1")
    kv sqlite_stats_s "$s"
    kv sqlite_stats_rows_per_s "$(div "$EVENTS" "$s" 0)"
    rm -f "$DB"
fi

# ------------------------------------------------------------ PostgreSQL
if [ "$DO_PG" = 1 ]; then
    [ -x "$PGBIN/initdb" ] || die "PostgreSQL 15 not found in $PGBIN (apt-get install -y postgresql)"
    command -v psql >/dev/null && command -v pgbench >/dev/null || die "psql/pgbench missing"
    if [ "$(id -u)" = 0 ]; then
        # PostgreSQL refuses to run as root.
        id postgres >/dev/null 2>&1 || die "no postgres user to run the cluster as"
        RUNAS="runuser -u postgres --"
        chmod 755 "$WORK"
        mkdir -p "$PGDATA" "$PGSOCK"
        chown postgres: "$PGDATA" "$PGSOCK"
    else
        mkdir -p "$PGDATA" "$PGSOCK"
    fi
    # A port number nobody listens on; it also names the Unix socket.
    PORT=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
    say "PostgreSQL: initdb, start on $PGSOCK/.s.PGSQL.$PORT (no TCP)"
    $RUNAS "$PGBIN/initdb" -D "$PGDATA" -U bench -A trust -E UTF8 --locale=C --no-instructions \
        >"$WORK/initdb.log" 2>&1 || { cat "$WORK/initdb.log" >&2; die "initdb failed"; }
    PG_STARTED=1
    $RUNAS "$PGBIN/pg_ctl" -D "$PGDATA" -l "$PGDATA/server.log" -w -o \
        "-c listen_addresses='' -k $PGSOCK -p $PORT -c shared_buffers=1GB \
         -c maintenance_work_mem=1GB -c work_mem=64MB -c max_wal_size=8GB \
         -c wal_level=minimal -c max_wal_senders=0 -c checkpoint_timeout=30min" \
        start >/dev/null || { cat "$PGDATA/server.log" >&2 || true; die "pg_ctl start failed"; }
    PSQL=(psql -X -q -v ON_ERROR_STOP=1 -h "$PGSOCK" -p "$PORT" -U bench -d postgres)
    kv pg_version "$("${PSQL[@]}" -At -c 'SHOW server_version' | cut -d' ' -f1)"

    say "PostgreSQL: COPY $EVENTS rows (table created in the same transaction)"
    t0=$(now)
    "${PSQL[@]}" <<EOF
BEGIN;
CREATE TABLE events(time timestamptz, host text, instance text, queue_id text,
  message_id text, client_host text, client_ip text, sasl_username text, sender text,
  recipient text, orig_recipient text, relay_host text, relay_ip text, relay_port int,
  status text, dsn text, delay_ms bigint, size bigint, nrcpt int, response text,
  subject text, tls text);
\copy events FROM '$TSV' WITH (FORMAT csv, DELIMITER E'\t', HEADER true, NULL '')
COMMIT;
EOF
    load_s=$(elapsed "$t0")
    got=$("${PSQL[@]}" -At -c 'SELECT count(*) FROM events')
    [ "$got" = "$EVENTS" ] || die "PostgreSQL loaded $got rows, expected $EVENTS"
    say "PostgreSQL: indexes"
    t1=$(now)
    "${PSQL[@]}" -c "$INDEXES" -c "VACUUM ANALYZE events" >/dev/null
    index_s=$(elapsed "$t1")
    total_s=$(awk -v a="$load_s" -v b="$index_s" 'BEGIN { printf "%.3f", a + b }')
    bytes=$("${PSQL[@]}" -At -c "SELECT pg_total_relation_size('events')")
    kv pg_load_s "$load_s"
    kv pg_index_s "$index_s"
    kv pg_load_index_rows_per_s "$(div "$EVENTS" "$total_s" 0)"
    kv pg_bytes "$bytes"
    kv pg_bytes_per_event "$(div "$bytes" "$EVENTS")"

    R=$("${PSQL[@]}" -At -c "SELECT recipient FROM events GROUP BY recipient
                             ORDER BY abs(count(*) - 100), recipient LIMIT 1")
    RN=$("${PSQL[@]}" -At -v r="$R" -c "SELECT count(*) FROM events WHERE recipient = :'r'" 2>/dev/null ||
        "${PSQL[@]}" -At -c "SELECT count(*) FROM events WHERE recipient = '$R'")
    kv lookup_recipient_events "$RN"
    echo "SELECT * FROM events WHERE recipient = :r ORDER BY time;" >"$WORK/lookup.sql"
    say "PostgreSQL: pgbench recipient lookup, ${PGBENCH_SECONDS}s, 1 client ($RN events)"
    pgbench -n -h "$PGSOCK" -p "$PORT" -U bench -M prepared -D r="$R" -f "$WORK/lookup.sql" \
        -c 1 -T "$PGBENCH_SECONDS" postgres >"$WORK/pgbench.out" 2>&1 ||
        { cat "$WORK/pgbench.out" >&2; die "pgbench failed"; }
    kv pg_lookup_avg_ms "$(awk '/^latency average/ { print $4 }' "$WORK/pgbench.out")"
    kv pg_lookup_tps "$(awk '/^tps/ { printf "%.0f", $3 }' "$WORK/pgbench.out")"

    say "PostgreSQL: stats query (second run reported)"
    STATS="SELECT status, split_part(recipient, '@', 2) AS domain, count(*) FROM events GROUP BY 1, 2"
    "${PSQL[@]}" -c "$STATS" >/dev/null
    ms=$("${PSQL[@]}" -c '\timing on' -c "$STATS" | awk '/^Time:/ { print $2 }')
    s=$(awk -v m="$ms" 'BEGIN { printf "%.3f", m / 1000 }')
    kv pg_stats_s "$s"
    kv pg_stats_rows_per_s "$(div "$EVENTS" "$s" 0)"
fi
say "done"
