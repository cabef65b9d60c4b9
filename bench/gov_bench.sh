#!/usr/bin/env bash
# bench/gov_bench.sh - the governance operations at scale, against the 10 M event store
# that bench/serve_bench.sh builds (bench/out-serve/store), side by side with the tools
# operators use today, in one run:
#
#   1. backup of the live data directory: `coffer backup` (consistent, hashed, fsync'ed)
#      against `tar -cf` and `cp -a` of the same directory (neither consistent while a
#      writer runs, neither hashed);
#   2. `coffer backup --verify` (BLAKE2b-256 of every file) against `sha256sum` of the
#      same files;
#   3. `coffer restore` (hash check, copy, open with the key) into a new directory;
#   4. `coffer subject erase` of one recipient with about 100 events on the restored
#      copy (every segment holding one of them is rewritten). No peer: a row DELETE in
#      a database leaves the values in its pages and WAL until vacuum and checkpoint,
#      which is not erasure; BENCHMARKS.md says so.
#
#   bench/gov_bench.sh            (needs bench/serve_bench.sh to have built the store)
#
# Prints key=value lines and appends them to $OUT/results-gov.txt.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/deps.sh bench
OUT=${OUT:-bench/out-serve}
ST=$OUT/store
[ -s "$ST/coffer.conf" ] || { echo "no store: run bench/serve_bench.sh first" >&2; exit 2; }
cmake -S . -B build-bench -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCOF_TESTS=OFF >/dev/null
cmake --build build-bench -j 2 >/dev/null
B=$PWD/build-bench
W=$(mktemp -d "$PWD/bench/out-gov.XXXXXX")
trap 'rm -rf "$W"' EXIT
R=$OUT/results-gov.txt
: >"$R"
kv() { echo "$1=$2" | tee -a "$R"; }
secs() { local t0 t1; t0=$(date +%s.%N); "$@" >/dev/null 2>&1; t1=$(date +%s.%N); echo "$t1 - $t0" | bc; }
C="$B/coffer --config $ST/coffer.conf"
DATA=$(awk -F' = ' '/^data_dir/ {print $2}' "$ST/coffer.conf")
bytes=$(du -sb "$DATA" | awk '{print $1}')
kv events "$(cat "$ST/events")"
kv data_dir_bytes "$bytes"
sync; echo 3 >/proc/sys/vm/drop_caches 2>/dev/null || true
t=$(secs $C backup "$W/bk"); kv coffer_backup_s "$t"; kv coffer_backup_MBps "$(echo "scale=1; $bytes / 1048576 / $t" | bc)"
sync; echo 3 >/proc/sys/vm/drop_caches 2>/dev/null || true
t=$(secs bash -c "tar -cf '$W/data.tar' -C '$DATA' . && sync"); kv tar_s "$t"; rm -f "$W/data.tar"
sync; echo 3 >/proc/sys/vm/drop_caches 2>/dev/null || true
t=$(secs bash -c "cp -a '$DATA' '$W/cp' && sync"); kv cp_a_s "$t"; rm -rf "$W/cp"
t=$(secs $C backup --verify "$W/bk"); kv coffer_backup_verify_s "$t"
t=$(secs bash -c "cd '$W/bk' && find . -type f -print0 | xargs -0 sha256sum >/dev/null"); kv sha256sum_s "$t"
t=$(secs $C restore "$W/bk" --data-dir "$W/restored"); kv coffer_restore_s "$t"
# erase one recipient with about 100 events on the restored copy
rcpt=$(awk -F'\t' 'NR>1 && $10!="" {c[$10]++} END {for (r in c) if (c[r] >= 90 && c[r] <= 110) {print r; exit}}' "$ST/truth.tsv")
KEY=$(awk -F' = ' '/^key_file/ {print $2}' "$ST/coffer.conf")
RC="$B/coffer --data-dir $W/restored --key-file $KEY"
$RC acl bootstrap --admins g1,g2 --token-dir "$W/adm" >/dev/null 2>&1 || true
n=$($RC search --rcpt "$rcpt" --json 2>/dev/null | wc -l)
kv erase_events "$n"
t=$(secs $RC subject erase "$rcpt" --token-file "$W/adm/g1.token"); kv coffer_subject_erase_s "$t"
kv erase_left "$($RC search --rcpt "$rcpt" --json 2>/dev/null | wc -l)"
