#!/usr/bin/env bash
# test_subject.sh - `coffer subject find|export|erase` with the real binary: scope by
# the caller's grants (TRAIL for find/export, ADMIN for erase), the article 15 export
# file, erasure that keeps every other event of the same segments, stats totals that
# drop by exactly the number erased, the address's index entries gone, a receipt and
# audit records that carry the blind token and never the address.
. "$(dirname "$0")/lib.sh"

A=alice@example.com
cof init >/dev/null 2>&1

# Two tenants, three days; alice appears in several roles among other people's events.
ev() { # day hour tenant queue field=value...
  local d=$1 h=$2 t=$3 q=$4; shift 4
  local extra=""
  for kv in "$@"; do extra="$extra,\"${kv%%=*}\":\"${kv#*=}\""; done
  printf '{"time":"2026-11-%02dT%02d:00:00Z","status":"sent","tenant":"%s","queue_id":"%s","host":"mx1"%s}\n' \
    "$d" "$h" "$t" "$q" "$extra"
}
{
  for d in 20 21 22; do
    for t in acme beta; do
      for i in 0 1 2 3 4; do
        ev $d $((i + 1)) $t "Q$t$d$i" "recipient=bob$i@$t.example" "sender=news@example.net"
      done
    done
  done
  ev 20 10 acme QA1 "recipient=$A" "sender=shop@example.net"
  ev 21 10 acme QA2 "recipient=$A" "sender=shop@example.net"
  ev 22 10 acme QA3 "recipient=$A" "sender=bank@example.net"
  ev 20 11 acme QA4 "recipient=carol@acme.example" "sender=$A"
  ev 21 11 acme QA5 "recipient=dave@acme.example" "sender=$A"
  ev 22 12 acme QA6 "recipient=list@acme.example" "orig_recipient=$A"
  ev 21 13 acme QA7 "recipient=erin@acme.example" "sender=x@acme.example" "sasl_username=$A"
  ev 20 10 beta QB1 "recipient=$A" "sender=shop@example.net"
  ev 21 10 beta QB2 "recipient=$A" "sender=$A"
  ev 22 14 beta QB3 "recipient=frank@beta.example" "sender=$A"
} > "$T/ev.jsonl"
cof ingest --format json "$T/ev.jsonl" 2>"$T/err"
check "ingest 40 events" grep -q "events stored  *40" "$T/err"

# Principals through reviewed grants (lib.sh mktoken: token in $T/tok.NAME); adm1 is
# one of the first administrators (admin on every tenant).
check "support on acme" mktoken sup_acme support acme
check "support on every tenant" mktoken sup_all support '*'
check "customer of beta" mktoken cust_beta customer beta
check "analyst" mktoken ana analyst '*'
check "admin of acme only" mktoken adm_acme admin acme
ROOT=$ADMT/adm1.token
total() { cof stats --json | python3 -c "import json,sys; print(sum(g['count'] for g in json.load(sys.stdin)['groups']))"; }
eq "stats total 40" 40 "$(total)"

# ---- find
out=$(cof subject find $A --token-file "$T/tok.sup_acme" --json); rc=$?
eq "find (support on acme): exit 0" 0 $rc
eq "find (support on acme): 7 events" 7 "$(grep -c . <<<"$out")"
check "find (support on acme): only acme" bash -c "! grep -q '\"tenant\":\"beta\"' <<<'$out'"
check "find: every event names the address in clear" \
  bash -c "[ \"\$(grep -c '$A' <<<'$out')\" = 7 ]"
check "find: the sasl_username match is there" grep -q "\"sasl_username\":\"$A\"" <<<"$out"
check "find: the orig_recipient match is there" grep -q "\"orig_recipient\":\"$A\"" <<<"$out"
out=$(cof subject find $A --token-file "$T/tok.sup_all" --json)
eq "find (support on *): 10 events across both tenants (mail to oneself once)" 10 "$(grep -c . <<<"$out")"
eq "find (support on *): 3 of them beta" 3 "$(grep -c '"tenant":"beta"' <<<"$out")"
out=$(cof subject find $A --token-file "$T/tok.cust_beta"); rc=$?
eq "find (customer of beta): exit 0" 0 $rc
check "find (customer of beta): the table shows beta's events only" \
  bash -c "grep -q 'tenant beta' <<<'$out' && ! grep -q 'tenant acme' <<<'$out'"
out=$(cof subject find $A --token-file "$ROOT" 2>&1); rc=$?
eq "find as admin: exit 1 (separation of duties)" 1 $rc
check "find as admin: says which role it needs" grep -q "support or customer role" <<<"$out"
cof subject find $A --token-file "$T/tok.ana" >/dev/null 2>&1
eq "find as analyst: exit 1" 1 $?
out=$(cof subject find $A --token-file "$T/tok.sup_acme" --tenant beta 2>&1); rc=$?
eq "find --tenant outside the scope: exit 1" 1 $rc
check "find --tenant outside the scope: refused, not silently empty" grep -q "lacks it" <<<"$out"
cof subject find $A >/dev/null 2>&1
eq "find without a token: exit 1" 1 $?
COFFER_TOKEN_FILE="$T/tok.sup_acme" cof subject find $A --json > "$T/env.out"
eq "COFFER_TOKEN_FILE works too" 7 "$(grep -c . < "$T/env.out")"
cof subject find >/dev/null 2>&1
eq "find without ADDRESS: exit 2" 2 $?

# ---- export
cof subject export $A --token-file "$T/tok.sup_all" --out "$T/alice.json" 2>"$T/err"; rc=$?
eq "export: exit 0" 0 $rc
eq "export file mode 0600" 600 "$(stat -c %a "$T/alice.json")"
check "export: a complete article 15 document" python3 - "$T/alice.json" "$A" <<'EOF'
import json, sys
d = json.load(open(sys.argv[1])); a = sys.argv[2]
assert d["format"] == "coffer-subject-export-1", d["format"]
assert d["generated"].endswith("Z")
assert sorted(d["tenants"]) == ["acme", "beta"], d["tenants"]
assert d["events_total"] == 10 and len(d["events"]) == 10 and d["complete"] is True
assert d["subject_reference"].startswith("b:")
for f in ("recipient", "sender", "orig_recipient", "sasl_username", "time", "status", "tenant"):
    assert f in d["fields"], f
for e in d["events"]:
    assert a in (e.get("recipient"), e.get("sender"), e.get("orig_recipient"), e.get("sasl_username")), e
    assert e["matched_as"], e
both = [e for e in d["events"] if set(e["matched_as"]) == {"recipient", "sender"}]
assert len(both) == 1, both
EOF
before=$(sha256sum < "$T/alice.json")
cof subject export $A --token-file "$T/tok.sup_all" --out "$T/alice.json" >/dev/null 2>&1
eq "export onto an existing file: exit 1" 1 $?
eq "export: the existing file is untouched" "$before" "$(sha256sum < "$T/alice.json")"

# ---- lockdown: no personal-field read or export
as_admin 1 lockdown --reason "test" >/dev/null 2>&1
eq "lockdown declared" 0 $?
out=$(cof subject find $A --token-file "$T/tok.sup_all" 2>&1); rc=$?
eq "find during a lockdown: exit 1" 1 $rc
check "find during a lockdown: says so" grep -q "lockdown" <<<"$out"
cof subject export $A --token-file "$T/tok.sup_all" --out "$T/locked.json" >/dev/null 2>&1
eq "export during a lockdown: exit 1" 1 $?
check "export during a lockdown: no file" test ! -e "$T/locked.json"
out=$(as_admin 1 lockdown lift --reason "over" --json 2>/dev/null)
lid=$(jfield "$out" id); st=$(jfield "$out" state)
for n in 2 3; do
  [ "$st" = applied ] && break
  st=$(jfield "$(as_admin $n acl approve "$lid" --json)" state)
done
eq "lockdown lifted after review" applied "$st"
out=$(cof subject find $A --token-file "$T/tok.sup_acme" --json)
eq "find works again after the lift" 7 "$(grep -c . <<<"$out")"

# ---- erase
cof subject erase $A --token-file "$T/tok.sup_all" >/dev/null 2>&1
eq "erase as support: exit 1 (needs admin)" 1 $?
out=$(cof subject erase $A --token-file "$T/tok.adm_acme" --tenant beta 2>&1); rc=$?
eq "erase by an admin of acme on beta: exit 1" 1 $rc
eq "nothing erased by refused requests" 40 "$(total)"
segs_before=$(ls "$DATA/seg" | sort)
out=$(cof subject erase $A --token-file "$ROOT"); rc=$?
eq "erase: exit 0" 0 $rc
echo "$out"
check "receipt: has a time" grep -Eq '^  time +2026-|^  time +20[0-9][0-9]-' <<<"$out"
blind=$(awk '/subject reference/ {print $3}' <<<"$out")
check "receipt: the blind token of the address" grep -Eq '^b:[0-9a-f]{32}$' <<<"$blind"
check "receipt: never the address" bash -c "! grep -q '$A' <<<'$out'"
check "receipt: acme 7 events" grep -Eq '^  acme +7 +[0-9]+ +[0-9]+$' <<<"$out"
check "receipt: beta 3 events" grep -Eq '^  beta +3 +[0-9]+ +[0-9]+$' <<<"$out"
check "receipt: total 10" grep -q "total events      10" <<<"$out"
seq=$(awk '/audit record/ {print $4}' <<<"$out")
check "receipt: the audit record's seq" grep -Eq '^[0-9]+$' <<<"$seq"
check "erase: every touched segment file replaced" \
  bash -c "[ -n \"\$(comm -23 <(echo '$segs_before') <(ls '$DATA/seg' | sort))\" ]"

eq "after erase: stats total dropped by exactly 10" 30 "$(total)"
out=$(cof subject find $A --token-file "$T/tok.sup_all" --json)
eq "after erase: find returns nothing" 0 "$(grep -c . <<<"$out")"
for opt in --rcpt --sender --orig-rcpt --sasl; do
  eq "after erase: search $opt (blind index) finds nothing" "no matching events" "$(cof search $opt $A)"
done
eq "an event where the address was the sender is gone with it" "no matching events" \
  "$(cof search --rcpt carol@acme.example)"
n=0
for d in 20 21 22; do for t in acme beta; do for i in 0 1 2 3 4; do
  cof search --rcpt "bob$i@$t.example" --json | grep -q "\"recipient\":\"bob$i@$t.example\"" && n=$((n + 1))
done; done; done
eq "the 30 other events of the same segments are still found, unsealed" 30 "$n"
check "the store verifies after the rewrite" cof verify
check "the address appears nowhere in the data directory" bash -c "! grep -rqF '$A' '$DATA'"

out=$(cof subject erase $A --token-file "$ROOT" --json); rc=$?
eq "a second erase: exit 0" 0 $rc
check "a second erase: JSON receipt, 0 events, complete" \
  python3 -c "import json,sys; r=json.loads(sys.argv[1]); assert r['events_erased']==0 and r['complete'] and r['subject_reference']=='$blind'" "$out"

# ---- audit records
out=$(cof audit show --json)
check "audit: subject.find records with the blind token" \
  bash -c "grep '\"action\":\"subject.find\"' <<<'$out' | grep -q '\"value\":\"$blind\",\"subjects\":1,\"unsealed\":true'"
check "audit: find names the categories returned" \
  bash -c "grep '\"action\":\"subject.find\"' <<<'$out' | head -1 | grep -q '\"categories\":\[\"recipient address\",\"sender address\",\"SASL username\",\"delivery metadata\"\]'"
check "audit: find records the event ids (SEG:ROW ranges)" \
  bash -c "grep '\"action\":\"subject.find\"' <<<'$out' | head -1 | grep -Eq '\"ids\":\"[0-9]+:[0-9]+(-[0-9]+)?(,[0-9]+:[0-9]+(-[0-9]+)?)*\"'"
check "audit: subject.export record with 10 events" \
  bash -c "grep '\"action\":\"subject.export\"' <<<'$out' | grep -q '\"events\":10'"
check "audit: subject.erase record at the receipt's seq, both tenants, 10 erased, none returned" \
  bash -c "grep '\"seq\":$seq,' <<<'$out' | grep '\"events_erased\":10' | grep -q '\"action\":\"subject.erase\".*\"tenants\":\[\"acme\",\"beta\"\],\"events\":0'"
check "audit: the address is in no record" bash -c "! grep -q '$A' <<<'$out'"
check "audit: the trail verifies" cof audit verify
# The incident report reads these records: the lookups disclosed one subject's data to
# sup_all; the erasure disclosed nothing to adm1.
inc=$(cof incident report --from 1d --to "$(date -u -d "+1 hour" +%Y-%m-%dT%H:%M:%SZ)" --principal sup_all --json)
check "incident: sup_all received one distinct subject with recipient addresses" \
  python3 -c "
import json, sys
r = json.loads(sys.argv[1]); t = json.dumps(r)
assert 'recipient address' in t, t
assert '\"subjects\": 1' in t or '\"subjects\":1' in t, t" "$inc"
inc=$(cof incident report --from 1d --to "$(date -u -d "+1 hour" +%Y-%m-%dT%H:%M:%SZ)" --principal adm1 --json)
check "incident: the erasure counts as no disclosure to adm1" \
  python3 -c "
import json, sys
t = json.dumps(json.loads(sys.argv[1]))
assert 'recipient address' not in t and 'sender address' not in t, t" "$inc"

# ---- a poison record in the answer: withheld, the caller suspended
as_admin 1 poison plant --tenant acme --count 3 --domain traps.example.net \
  --reveal "$T/traps.txt" >/dev/null 2>&1
eq "poison plant: exit 0" 0 $?
trap_addr=$(head -1 "$T/traps.txt")
out=$(cof subject find "$trap_addr" --token-file "$T/tok.sup_acme" --json 2>"$T/err"); rc=$?
eq "find of a poison address: exit 1" 1 $rc
eq "find of a poison address: nothing shown" "" "$out"
check "find of a poison address: withheld" grep -q "withheld" "$T/err"
cof subject export "$trap_addr" --token-file "$T/tok.sup_all" --out "$T/trap.json" 2>/dev/null
eq "export of a poison address: exit 1" 1 $?
check "export of a poison address: no file" test ! -e "$T/trap.json"
cof subject find $A --token-file "$T/tok.sup_acme" >/dev/null 2>&1
eq "the caller is suspended at once" 1 $?
out=$(cof audit show --json)
check "audit: the withheld find is recorded as denied with the poison set" \
  bash -c "grep '\"action\":\"subject.find\"' <<<'$out' | grep '\"principal\":\"sup_acme\"' | grep -q '\"poison\":\"[0-9a-f]*\".*\"outcome\":\"denied\"'"
check "audit: the poison address is in no record" bash -c "! grep -q '$trap_addr' <<<'$out'"

# ---- the writer lock
cof ingest --follow "$T/ev.jsonl" --format json >/dev/null 2>&1 &
fpid=$!
# Wait until it holds the lock (read from /proc/locks: probing with flock could make
# the writer's own non-blocking lock fail).
ino=$(stat -c %i "$DATA/LOCK")
for _ in $(seq 200); do
  grep -q ":$ino " /proc/locks && break
  sleep 0.05
done
check "the other writer holds the lock" grep -q ":$ino " /proc/locks
out=$(cof subject erase bob0@acme.example --token-file "$ROOT" 2>&1); rc=$?
kill "$fpid" 2>/dev/null; wait "$fpid" 2>/dev/null
eq "erase while another writer holds the store: exit 1" 1 $rc
check "erase while held: says it needs the writer lock" grep -q "needs the writer lock" <<<"$out"
finish
