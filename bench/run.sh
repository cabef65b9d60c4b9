#!/usr/bin/env bash
# bench/run.sh - coffer against SQLite and PostgreSQL on the same generated log, in
# one run. Prints key=value lines and writes them to bench/out/results.txt.
#
#   EVENTS=10000000 bench/run.sh        (default 10 M delivery events)
#
# coffer runs pinned to one core (taskset -c 0): ingest (Postfix text -> durable
# sealed segments, fsync=always), bytes on disk, warm in-process recipient trails,
# and a stats scan by status and recipient domain. SQLite and PostgreSQL are handed the
# parsed rows (the generator's truth file) and indexed on recipient, sender,
# message-id and time (bench/baseline_sql.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
EVENTS=${EVENTS:-10000000}
OUT=${OUT:-bench/out}
scripts/deps.sh bench
cmake -S . -B build-bench -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCOF_TESTS=OFF >/dev/null
cmake --build build-bench -j 2 >/dev/null
B=build-bench
rm -rf "$OUT"; mkdir -p "$OUT"
R=$OUT/results.txt
kv() { echo "$1=$2" | tee -a "$R"; }

kv events "$EVENTS"
kv machine "$(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo), $(uname -r)"
echo "== generating" >&2
t0=$(date +%s.%N)
$B/gen_postfix --events "$EVENTS" --seed 1 --out "$OUT/mail.log" --truth "$OUT/truth.tsv" 2>"$OUT/gen.err"
kv gen_seconds "$(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN{printf "%.1f", b-a}')"
kv log_bytes_per_event "$(awk -v s="$(stat -c %s "$OUT/mail.log")" -v n="$EVENTS" 'BEGIN{printf "%.1f", s/n}')"

C="$B/coffer --data-dir $OUT/data --key-file $OUT/key/master.key"
$C init >/dev/null
echo "== coffer ingest (one core)" >&2
sync; echo 3 > /proc/sys/vm/drop_caches 2>/dev/null || true
cat "$OUT/mail.log" > /dev/null   # the log in page cache: measure coffer, not the disk
/usr/bin/time -v taskset -c 0 $C ingest "$OUT/mail.log" 2>"$OUT/ingest.err" || { cat "$OUT/ingest.err"; exit 1; }
secs=$(awk -F': ' '/Elapsed \(wall clock\)/ {n=split($2,a,":"); s=0; for(i=1;i<=n;i++) s=s*60+a[i]; print s}' "$OUT/ingest.err")
stored=$(awk '/^events stored/ {print $3}' "$OUT/ingest.err")
kv coffer_events_stored "$stored"
kv coffer_ingest_seconds "$secs"
kv coffer_ingest_events_per_s "$(awk -v n="$stored" -v s="$secs" 'BEGIN{printf "%.0f", n/s}')"
kv coffer_ingest_peak_rss_mb "$(awk '/Maximum resident/ {printf "%.0f", $6/1024}' "$OUT/ingest.err")"
$C info > "$OUT/info.txt"
kv coffer_bytes_per_event "$(awk '/^bytes\/event/ {print $2}' "$OUT/info.txt")"
kv coffer_segments "$(awk '/^segments/ {print $2}' "$OUT/info.txt")"

echo "== coffer trail lookups" >&2
taskset -c 0 $B/trail_bench "$OUT/data" "$OUT/key/master.key" "$OUT/truth.tsv" 200 5 | tee -a "$R"

scan_rate() { # --by value -> best rows/s of 3 runs on one core
  local best=0 out rate
  for i in 1 2 3; do
    out=$(taskset -c 0 $C stats --by "$1" | tail -1)
    rate=$(echo "$out" | awk '{gsub(/[()]/,""); for(i=1;i<=NF;i++) if($i=="rows") r=$(i-1); for(i=1;i<=NF;i++) if($i=="s") s=$(i-1); printf "%.0f", r/s}')
    [ "$rate" -gt "$best" ] && best=$rate
  done
  echo "$best"
}
echo "== coffer stats scans (one core, best of 3)" >&2
kv coffer_stats_status_rcpt_domain_rows_per_s "$(scan_rate status,rcpt_domain)"
kv coffer_stats_status_rows_per_s "$(scan_rate status)"

echo "== SQLite and PostgreSQL" >&2
bench/baseline_sql.sh "$OUT/truth.tsv" --log "$OUT/mail.log" | tee -a "$R"
echo "results in $R" >&2
