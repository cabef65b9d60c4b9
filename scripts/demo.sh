#!/usr/bin/env bash
# The coffer demo: build, create a store, generate a realistic Postfix log of 200,000
# deliveries, ingest it with a progress bar, then answer "what happened to this mail?"
# and "how is delivery going?" from it; then start the HTTPS server, create a support
# token and show the same trail through curl, with the audit trail that recorded it.
set -euo pipefail
cd "$(dirname "$0")/.."
EVENTS=${EVENTS:-200000}
scripts/deps.sh build
command -v curl >/dev/null || { sudo=""; [ "$(id -u)" -ne 0 ] && sudo=sudo; $sudo apt-get update -qq; $sudo apt-get install -y -qq curl >/dev/null; }
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

echo; echo "== coffer init --admins alice,bob   (two first administrators: access changes need two people)"
$C init --admins alice,bob --token-dir "$D/admins"

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
echo; echo "== coffer serve   (HTTPS on loopback, self-signed certificate from coffer init)"
PORT=${PORT:-$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])' 2>/dev/null || echo 18443)}
$C serve --listen "127.0.0.1:$PORT" 2>"$D/serve.log" &
SRV=$!
trap 'kill $SRV 2>/dev/null || true' EXIT
CA=$D/keys/tls/server.crt
for _ in $(seq 1 100); do curl -s --cacert "$CA" "https://127.0.0.1:$PORT/healthz" >/dev/null && break; sleep 0.1; done
cat "$D/serve.log"
echo; echo "== without a token, every route answers 401"
echo "   \$ curl --cacert $CA 'https://127.0.0.1:$PORT/v1/trail?rcpt=$rcpt'"
curl -s --cacert "$CA" "https://127.0.0.1:$PORT/v1/trail?rcpt=$rcpt" | sed 's/^/   /'; echo
echo; echo "== access changes are proposals: alice proposes a support grant..."
jid() { python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])'; }
$C acl grant demo-support --role support --tenant default --expires 1d --reason "demo support shift" \
  --token-file "$D/admins/alice.token" | tee "$D/change.txt"
id=$(awk '/^change /{print $2; exit}' "$D/change.txt")
echo; echo "== ...alice cannot approve her own change..."
$C acl approve "$id" --token-file "$D/admins/alice.token" || true
echo; echo "== ...bob approves it, and it applies"
$C acl approve "$id" --token-file "$D/admins/bob.token"
echo; echo "== coffer token create --principal demo-support  (an administrator issues it; shown once, kept in a 0600 file)"
$C token create --principal demo-support --expires 1d --out "$D/support.token" --token-file "$D/admins/alice.token"
echo; echo "== the same trail through the API"
echo "   \$ curl --cacert $CA -H \"Authorization: Bearer \$(cat $D/support.token)\" 'https://127.0.0.1:$PORT/v1/trail?rcpt=$rcpt'"
curl -s --cacert "$CA" -H "Authorization: Bearer $(cat "$D/support.token")" \
  "https://127.0.0.1:$PORT/v1/trail?rcpt=$rcpt" | python3 -m json.tool >"$D/trail.json"
head -40 "$D/trail.json"
echo; echo "== and through the CLI as a client of the server"
$C search --server "https://127.0.0.1:$PORT" --token-file "$D/support.token" --rcpt "$rcpt" >"$D/trail.txt"
head -12 "$D/trail.txt"
echo; echo "== an analyst token sees statistics, never a trail"
id=$($C acl grant demo-analyst --role analyst --tenant '*' --expires 1d --json --token-file "$D/admins/bob.token" | jid)
$C acl approve "$id" --token-file "$D/admins/alice.token" >/dev/null
$C token create --principal demo-analyst --expires 1d --out "$D/analyst.token" --token-file "$D/admins/bob.token" 2>/dev/null
curl -s --cacert "$CA" -H "Authorization: Bearer $(cat "$D/analyst.token")" "https://127.0.0.1:$PORT/v1/trail?rcpt=$rcpt" | sed 's/^/   /'; echo
curl -s --cacert "$CA" -H "Authorization: Bearer $(cat "$D/analyst.token")" "https://127.0.0.1:$PORT/v1/stats?by=status" | sed 's/^/   /'; echo
echo; echo "== an exposure is reported: one administrator declares a lockdown, at once"
$C lockdown --reason "demo: exposure reported" --token-file "$D/admins/bob.token" | head -3
sleep 0.3
curl -s --cacert "$CA" -H "Authorization: Bearer $(cat "$D/support.token")" "https://127.0.0.1:$PORT/v1/trail?rcpt=$rcpt" | sed 's/^/   /'; echo
echo "   statistics go on:"
curl -s --cacert "$CA" -H "Authorization: Bearer $(cat "$D/analyst.token")" "https://127.0.0.1:$PORT/v1/stats?by=status" | head -c 200 | sed 's/^/   /'; echo
echo; echo "== lifting it takes two administrators"
id=$($C lockdown lift --reason "demo: closed" --json --token-file "$D/admins/bob.token" | jid)
$C acl approve "$id" --token-file "$D/admins/alice.token" | tail -2
kill -TERM $SRV; wait $SRV || true
trap - EXIT
echo; echo "== coffer acl list --all   (every access change, its effects and who approved it)"
$C acl list --all | head -30
echo; echo "== coffer audit show   (who read what; the address appears only as a blind token)"
$C audit show >"$D/audit.txt"
tail -8 "$D/audit.txt"
echo; echo "== coffer audit verify"
$C audit verify
echo; echo "== coffer incident report --from 1h --to now   (who read what: the facts a GDPR art. 33 notice needs)"
$C incident report --from 1h --to "$(date -u +%Y-%m-%dT%H:%M:%SZ -d '+1 minute')" | head -40
echo; echo "== coffer check --evidence   (a signed report an auditor checks offline with the public key)"
$C check --evidence "$D/evidence.json" >/dev/null || true
$C verify-evidence "$D/evidence.json" --pubkey "$($C audit pubkey)"
echo; echo "The store is in $D/data, its master key in $D/keys/master.key. Try: $C search --help"
