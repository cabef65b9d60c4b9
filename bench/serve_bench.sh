#!/usr/bin/env bash
# bench/serve_bench.sh - coffer serve against PostgreSQL, in one run:
#
#   1. recipient trail lookups over HTTPS with wrk (64 keep-alive connections, 2
#      threads, random recipients) against a store of EVENTS events; the same lookups
#      against PostgreSQL 15 (plaintext TCP on loopback, indexed on recipient) driven by
#      pgbench with a custom script, 64 clients.
#   2. syslog-over-TLS intake: one connection (bench/syslog_send, RFC 5424, octet
#      counting, client certificate) into a fresh store; lines/s until every line is in
#      the durable spool, and events/s until every event is in segments.
#
#   EVENTS=10000000 INTAKE_EVENTS=1000000 SECS=30 bench/serve_bench.sh
#
# Prints key=value lines and appends them to $OUT/results.txt. Reuses $OUT/store if
# a previous run built it for the same EVENTS (REUSE=0 to rebuild).
set -euo pipefail
cd "$(dirname "$0")/.."
EVENTS=${EVENTS:-10000000}
INTAKE_EVENTS=${INTAKE_EVENTS:-1000000}
SECS=${SECS:-30}
CONNS=${CONNS:-64}
OUT=${OUT:-bench/out-serve}
REUSE=${REUSE:-1}
PGBIN=${PGBIN:-/usr/lib/postgresql/15/bin}
scripts/deps.sh bench
cmake -S . -B build-bench -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCOF_TESTS=OFF >/dev/null
cmake --build build-bench -j 2 >/dev/null
B=$PWD/build-bench
mkdir -p "$OUT"
OUT=$(realpath "$OUT")
R=$OUT/results.txt
: >"$R"
kv() { echo "$1=$2" | tee -a "$R"; }
say() { echo "== $*" >&2; }
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
PIDS=()
cleanup() {
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  if [ -n "${PGDATA:-}" ]; then $RUNAS "$PGBIN/pg_ctl" -D "$PGDATA" -m immediate -w stop >/dev/null 2>&1 || true; fi
  rm -rf "${PGWORK:-/nonexistent-cof}"
}
trap cleanup EXIT

kv events "$EVENTS"
kv machine "$(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo)"
ST=$OUT/store
C="$B/coffer --config $ST/coffer.conf"
if [ "$REUSE" != 1 ] || [ "$(cat "$ST/events" 2>/dev/null)" != "$EVENTS" ]; then
  say "generating $EVENTS events and ingesting them"
  rm -rf "$ST"
  mkdir -p "$ST"
  $B/gen_postfix --events "$EVENTS" --seed 1 --out "$ST/mail.log" --truth "$ST/truth.tsv" 2>/dev/null
  cat >"$ST/coffer.conf" <<EOF
data_dir = $ST/data
key_file = $ST/key/master.key
rate_limit = 10000000
budget_per_hour = 1000000000
cache_mb = 4096
EOF
  $C init >/dev/null
  $C ingest "$ST/mail.log" 2>/dev/null
  rm -f "$ST/mail.log"
  echo "$EVENTS" >"$ST/events"
fi
# 1,000 recipients with 50 to 150 events each (about 100, as in bench/run.sh's trail
# figure: a mailbox with some history, not a role address with 100,000 events).
awk -F'\t' 'NR>1 && $10!="" {c[$10]++} END {for (r in c) if (c[r] >= 50 && c[r] <= 150) print r}' "$ST/truth.tsv" |
  sort | shuf -n 1000 --random-source=<(yes) >"$OUT/rcpts.txt"
avg_events=$(awk -F'\t' 'NR==FNR {c[$1]++; next} FNR>1 && ($10 in c) {n[$10]++} END {for (r in c) {t+=c[r]*n[r]; k+=c[r]}; printf "%.1f", t/k}' "$OUT/rcpts.txt" "$ST/truth.tsv")
kv events_per_lookup_avg "$avg_events"

# grant_token "COFFER CMD" DIR NAME ROLE TENANTS OUT: the reviewed way to a token
# (docs/GOVERNANCE.md): three first administrators, a grant proposed by one and
# approved by the others, then a token issued by an administrator.
grant_token() {
  local c=$1 d=$2 id
  [ -s "$d/adm/b1.token" ] || $c acl bootstrap --admins b1,b2,b3 --token-dir "$d/adm" >/dev/null
  id=$($c acl grant "$3" --role "$4" --tenant "$5" --json --token-file "$d/adm/b1.token" |
       python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])')
  $c acl approve "$id" --token-file "$d/adm/b2.token" >/dev/null
  [ "$($c acl view "$id" --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["state"])')" = applied ] ||
    $c acl approve "$id" --token-file "$d/adm/b3.token" >/dev/null
  $c token create --principal "$3" --expires 30d --out "$6" --token-file "$d/adm/b1.token" 2>/dev/null
}

# ---------------------------------------------------------------- coffer over HTTPS
[ -s "$ST/token" ] || grant_token "$C" "$ST" bench support '*' "$ST/token"
PORT=$(free_port)
$C serve --listen "127.0.0.1:$PORT" --quiet &
SRV=$!
PIDS+=("$SRV")
for _ in $(seq 1 300); do curl -s --cacert "$ST/key/tls/server.crt" "https://127.0.0.1:$PORT/healthz" >/dev/null && break; sleep 0.2; done
say "coffer: warm-up (every recipient once), then wrk ${SECS}s, $CONNS connections"
# Warm the reader cache the way PostgreSQL's buffers are warmed below: each of the
# 1,000 recipients looked up once over one keep-alive connection.
args=()
while read -r r; do args+=(-o /dev/null "https://127.0.0.1:$PORT/v1/trail?limit=1000&rcpt=${r/@/%40}"); done <"$OUT/rcpts.txt"
t0=$(date +%s.%N)
# the token goes to curl in a 0600 config file, never on a command line (ps shows those)
printf 'header = "Authorization: Bearer %s"\n' "$(cat "$ST/token")" >"$OUT/curl.auth"
chmod 600 "$OUT/curl.auth"
curl -s --cacert "$ST/key/tls/server.crt" -K "$OUT/curl.auth" "${args[@]}"
kv coffer_https_cold_ms_per_lookup "$(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN{printf "%.2f", (b-a)*1000/1000}')"
export RCPTS=$OUT/rcpts.txt TOKEN_FILE=$ST/token
wrk -t2 -c"$CONNS" -d10s -s bench/wrk_trail.lua "https://127.0.0.1:$PORT" >/dev/null 2>&1
wrk -t2 -c"$CONNS" -d"${SECS}s" --latency -s bench/wrk_trail.lua "https://127.0.0.1:$PORT" >"$OUT/wrk.txt" 2>"$OUT/wrk.err"
kv coffer_https_trail_rps "$(awk '/^Requests\/sec/ {printf "%.0f", $2}' "$OUT/wrk.txt")"
ms() { awk -v v="$1" 'BEGIN { if (v ~ /us$/) printf "%.3f", v/1000; else if (v ~ /ms$/) printf "%.3f", v+0; else if (v ~ /s$/) printf "%.3f", v*1000; }'; }
kv coffer_https_trail_p50_ms "$(ms "$(awk '$1=="50%" {print $2}' "$OUT/wrk.txt")")"
kv coffer_https_trail_p99_ms "$(ms "$(awk '$1=="99%" {print $2}' "$OUT/wrk.txt")")"
kv coffer_https_non2xx "$(awk '/Non-2xx/ {print $NF}' "$OUT/wrk.txt" | tail -1)"
kv coffer_https_errors "$(grep -c '^status' "$OUT/wrk.err" || true)"
# The same lookups asking for the first page of 10 events (a support UI's first screen).
LIMIT=10 wrk -t2 -c"$CONNS" -d"${SECS}s" --latency -s bench/wrk_trail.lua "https://127.0.0.1:$PORT" >"$OUT/wrk10.txt" 2>"$OUT/wrk10.err"
kv coffer_https_trail10_rps "$(awk '/^Requests\/sec/ {printf "%.0f", $2}' "$OUT/wrk10.txt")"
kv coffer_https_trail10_p50_ms "$(ms "$(awk '$1=="50%" {print $2}' "$OUT/wrk10.txt")")"
kv coffer_https_trail10_p99_ms "$(ms "$(awk '$1=="99%" {print $2}' "$OUT/wrk10.txt")")"
kill "$SRV"; wait "$SRV" || true

# ---------------------------------------------------------------- PostgreSQL + pgbench
say "PostgreSQL 15: load, index, pgbench ${SECS}s, $CONNS clients"
PGWORK=$(mktemp -d /tmp/cof-pgb.XXXXXX)
PGDATA=$PGWORK/pg
RUNAS=""
if [ "$(id -u)" = 0 ]; then RUNAS="runuser -u postgres --"; chown postgres "$PGWORK"; fi
chmod 755 "$PGWORK"
PGPORT=$(free_port)
$RUNAS "$PGBIN/initdb" -D "$PGDATA" -U bench -A trust -E UTF8 --locale=C --no-instructions >/dev/null
$RUNAS "$PGBIN/pg_ctl" -D "$PGDATA" -l "$PGDATA/log" -w -o "-c listen_addresses=127.0.0.1 -p $PGPORT -c unix_socket_directories='' -c max_connections=200 -c shared_buffers=2GB -c fsync=off -c synchronous_commit=off" start >/dev/null
PSQL="psql -q -h 127.0.0.1 -p $PGPORT -U bench -d postgres -v ON_ERROR_STOP=1"
$PSQL <<EOF
CREATE TABLE events(time text, host text, instance text, queue_id text, message_id text,
  client_host text, client_ip text, sasl_username text, sender text, recipient text,
  orig_recipient text, relay_host text, relay_ip text, relay_port text, status text, dsn text,
  delay_ms text, size text, nrcpt text, response text, subject text, tls text);
\copy events FROM program 'tail -n +2 $ST/truth.tsv' WITH (FORMAT text, DELIMITER E'\t', NULL '')
CREATE INDEX events_recipient ON events(recipient);
CREATE TABLE rcpts(id int PRIMARY KEY, r text);
ANALYZE;
EOF
awk '{gsub(/\\/,"\\\\"); print NR "\t" $0}' "$OUT/rcpts.txt" | $PSQL -c "\copy rcpts FROM STDIN"
cat >"$PGWORK/lookup.sql" <<'EOF'
\set id random(1, 1000)
SELECT * FROM events WHERE recipient = (SELECT r FROM rcpts WHERE id = :id);
EOF
pgbench -n -h 127.0.0.1 -p "$PGPORT" -U bench -M prepared -c "$CONNS" -j 2 -T 10 -f "$PGWORK/lookup.sql" postgres >/dev/null 2>&1
(cd "$PGWORK" && pgbench -n -h 127.0.0.1 -p "$PGPORT" -U bench -M prepared -c "$CONNS" -j 2 -T "$SECS" \
  -f "$PGWORK/lookup.sql" -l --log-prefix=pgb postgres >"$OUT/pgbench.txt" 2>&1)
kv pg_trail_tps "$(awk '/^tps/ {printf "%.0f", $3}' "$OUT/pgbench.txt")"
cat "$PGWORK"/pgb.* | awk '{print $3}' | sort -n >"$PGWORK/lat"
n=$(wc -l <"$PGWORK/lat")
kv pg_trail_p50_ms "$(awk -v n="$n" 'NR==int(n*0.50)+1 {printf "%.3f", $1/1000}' "$PGWORK/lat")"
kv pg_trail_p99_ms "$(awk -v n="$n" 'NR==int(n*0.99)+1 {printf "%.3f", $1/1000}' "$PGWORK/lat")"
sed 's/;$/ LIMIT 10;/' "$PGWORK/lookup.sql" >"$PGWORK/lookup10.sql"
rm -f "$PGWORK"/pgb.*
(cd "$PGWORK" && pgbench -n -h 127.0.0.1 -p "$PGPORT" -U bench -M prepared -c "$CONNS" -j 2 -T "$SECS" \
  -f "$PGWORK/lookup10.sql" -l --log-prefix=pgb postgres >"$OUT/pgbench10.txt" 2>&1)
kv pg_trail10_tps "$(awk '/^tps/ {printf "%.0f", $3}' "$OUT/pgbench10.txt")"
cat "$PGWORK"/pgb.* | awk '{print $3}' | sort -n >"$PGWORK/lat"
n=$(wc -l <"$PGWORK/lat")
kv pg_trail10_p50_ms "$(awk -v n="$n" 'NR==int(n*0.50)+1 {printf "%.3f", $1/1000}' "$PGWORK/lat")"
kv pg_trail10_p99_ms "$(awk -v n="$n" 'NR==int(n*0.99)+1 {printf "%.3f", $1/1000}' "$PGWORK/lat")"
$RUNAS "$PGBIN/pg_ctl" -D "$PGDATA" -m fast -w stop >/dev/null
PGDATA=""

# ---------------------------------------------------------------- syslog over TLS intake
say "syslog intake: $INTAKE_EVENTS events over one TLS connection"
IN=$OUT/intake
rm -rf "$IN"
mkdir -p "$IN"
$B/gen_postfix --events "$INTAKE_EVENTS" --seed 7 --out "$IN/mail.log" --truth "$IN/truth.tsv" 2>/dev/null
nlines=$(wc -l <"$IN/mail.log")
nev=$(($(wc -l <"$IN/truth.tsv") - 1))
(
  cd "$IN"
  printf 'cn = "bench CA"\nca\ncert_signing_key\nexpiration_days = 2\n' >ca.tmpl
  printf 'cn = "mta"\ntls_www_client\nsigning_key\nexpiration_days = 2\n' >cl.tmpl
  certtool --generate-privkey --key-type ecdsa --outfile ca.key 2>/dev/null
  certtool --generate-self-signed --load-privkey ca.key --template ca.tmpl --outfile ca.crt 2>/dev/null
  certtool --generate-privkey --key-type ecdsa --outfile cl.key 2>/dev/null
  certtool --generate-certificate --load-privkey cl.key --load-ca-certificate ca.crt \
    --load-ca-privkey ca.key --template cl.tmpl --outfile cl.crt 2>/dev/null
)
cat >"$IN/coffer.conf" <<EOF
data_dir = $IN/data
key_file = $IN/key/master.key
syslog_client_ca = $IN/ca.crt
EOF
CI="$B/coffer --config $IN/coffer.conf"
$CI init >/dev/null
grant_token "$CI" "$IN" mta ingest '*' "$IN/tok.mta"
grant_token "$CI" "$IN" met metrics '*' "$IN/tok.met"
fp=$(python3 -c "import ssl,hashlib; print(hashlib.sha256(ssl.PEM_cert_to_DER_cert(open('$IN/cl.crt').read())).hexdigest())")
python3 - "$IN/data/access.json" "$fp" <<'PY'
import json, os, sys
p, fp = sys.argv[1], sys.argv[2]
d = json.load(open(p)); d["principals"]["mta"]["cert_sha256"] = fp; d["version"] += 1
fd = os.open(p + ".tmp", os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600); os.write(fd, json.dumps(d).encode()); os.close(fd)
os.rename(p + ".tmp", p)
PY
PORT=$(free_port)
SPORT=$(free_port)
$CI serve --listen "127.0.0.1:$PORT" --syslog-listen "127.0.0.1:$SPORT" --quiet &
SRV=$!
PIDS+=("$SRV")
for _ in $(seq 1 300); do curl -s --cacert "$IN/key/tls/server.crt" "https://127.0.0.1:$PORT/healthz" >/dev/null && break; sleep 0.2; done
printf 'header = "Authorization: Bearer %s"\n' "$(cat "$IN/tok.met")" >"$IN/curl.auth"
chmod 600 "$IN/curl.auth"
metric() { curl -s --cacert "$IN/key/tls/server.crt" -K "$IN/curl.auth" "https://127.0.0.1:$PORT/metrics" | awk -v k="$1" '$1==k {print $2}'; }
cat "$IN/mail.log" >/dev/null
t0=$(date +%s.%N)
$B/syslog_send --host 127.0.0.1 --port "$SPORT" --cert "$IN/cl.crt" --key "$IN/cl.key" --ca "$IN/key/tls/server.crt" \
  --format 5424 --framing octet "$IN/mail.log" 2>"$IN/send.err" &
SEND=$!
tl=""
while :; do
  l=$(metric coffer_ingest_lines_total)
  [ -z "$tl" ] && [ "${l:-0}" -ge "$nlines" ] && tl=$(date +%s.%N)
  e=$(metric coffer_ingest_events_total)
  [ "${e:-0}" -ge "$nev" ] && break
  kill -0 "$SRV" 2>/dev/null || break
  sleep 0.05
done
te=$(date +%s.%N)
wait "$SEND" || true
kv intake_lines "$nlines"
kv intake_events "$nev"
kv intake_spool_lines_per_s "$(awk -v a="$t0" -v b="${tl:-$te}" -v n="$nlines" 'BEGIN{printf "%.0f", n/(b-a)}')"
kv intake_events_per_s "$(awk -v a="$t0" -v b="$te" -v n="$nev" 'BEGIN{printf "%.0f", n/(b-a)}')"
kill "$SRV"; wait "$SRV" || true
stored=$($CI stats --json | python3 -c 'import json,sys; print(sum(g["count"] for g in json.load(sys.stdin)["groups"]))')
kv intake_events_stored "$stored"
rm -f "$IN/mail.log"
