#!/usr/bin/env bash
# The coffer demo: build, create a store, generate a realistic Postfix log of 200,000
# deliveries, ingest it with a progress bar, then answer "what happened to this mail?"
# and "how is delivery going?" from it.
set -euo pipefail
cd "$(dirname "$0")/.."
EVENTS=${EVENTS:-200000}
scripts/deps.sh build
echo "== building"
cmake -S . -B build-demo -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCOF_TESTS=OFF >/dev/null
cmake --build build-demo -j 2 >/dev/null

D=demo-run
rm -rf "$D"; mkdir -p "$D"
export COFFER_DEMO=1
C="build-demo/coffer --data-dir $D/data --key-file $D/keys/master.key"

echo "== generating a Postfix log of $EVENTS deliveries ($D/maillog)"
build-demo/gen_postfix --events "$EVENTS" --seed 2026 --out "$D/maillog" --truth "$D/truth.tsv"
ls -lh "$D/maillog" | awk '{print "   " $5 " of log text"}'

echo; echo "== coffer init"
$C init

echo; echo "== coffer ingest $D/maillog"
$C ingest --progress "$D/maillog"

echo; echo "== coffer info"
$C info

# A recipient with a deferral in its history makes the most telling trail.
rcpt=$(awk -F'\t' 'NR>1 && $15=="deferred" && $10!="" {print $10; exit}' "$D/truth.tsv")
echo; echo "== coffer search --rcpt $rcpt      (what happened to this mail?)"
$C search --rcpt "$rcpt"
echo; echo "== the same trail, masked (what a caller without unseal rights sees)"
$C search --rcpt "$rcpt" --masked | head -12 || true

echo; echo "== coffer stats --by status      (how is delivery going?)"
$C stats --by status
echo; echo "== coffer stats --by status,rcpt_domain   (top groups)"
$C stats --by status,rcpt_domain | head -15 || true
echo; echo "== coffer stats --by dsn_class --bucket 6h"
$C stats --by dsn_class --bucket 6h | head -20 || true

echo; echo "== is any personal value readable in the data directory?"
if grep -rqaF "$rcpt" "$D/data"; then echo "   FOUND (this is a bug)"; exit 1; else echo "   grep -r '$rcpt' $D/data: nothing found"; fi
echo; echo "The store is in $D/data, its master key in $D/keys/master.key. Try: $C search --help"
