#!/usr/bin/env bash
# test_retention.sh - per-tenant retention by crypto-shredding with the real binary:
# a copy of the data directory made before expiry cannot be read afterwards with the
# current master key, its shredded segments do not decrypt under the current keyring,
# the live store lost exactly tenant A's expired days, --dry-run changes nothing, and
# late lines for a shredded day are skipped, not fatal.
. "$(dirname "$0")/lib.sh"

NOW=2026-11-24T12:00:00Z
cof init >/dev/null 2>&1

# 15 days (2026-11-10 .. 2026-11-24) x 4 events for tenants acme and beta.
for t in acme beta; do
  for d in $(seq 10 24); do
    for i in 0 1 2 3; do
      printf '{"time":"2026-11-%02dT%02d:00:00Z","status":"sent","recipient":"u%d-%d@%s.example","sender":"s@example.org","tenant":"%s","queue_id":"Q%s%d%d","host":"mx1"}\n' \
        "$d" $((i + 8)) "$i" "$d" "$t" "$t" "$t" "$d" "$i"
    done
  done
done > "$T/ev.jsonl"
cof ingest --format json "$T/ev.jsonl" 2>"$T/err"
check "ingest 120 events" grep -q "events stored  *120" "$T/err"

# Retention: 7 days for acme only, through a reviewed change of the access document.
govboot
cof acl show --json | python3 -c '
import json, sys
j = json.load(sys.stdin)
j["retention"] = {"default_days": 0, "tenants": {"acme": 7}}
print(json.dumps(j))' > "$T/doc.json"
out=$(as_admin 1 acl propose "$T/doc.json" --reason "retention for acme" --json 2>"$T/err")
id=$(jfield "$out" id); st=$(jfield "$out" state)
for n in 2 3; do
  [ "$st" = applied ] && break
  st=$(jfield "$(as_admin $n acl approve "$id" --json)" state)
done
eq "retention change applied after review" applied "$st"
tenant_count() { cof stats --by tenant --json | python3 -c "
import json, sys
print(sum(g['count'] for g in json.load(sys.stdin)['groups'] if g.get('tenant') == '$1'))"; }
eq "acme holds 60 events before" 60 "$(tenant_count acme)"
eq "beta holds 60 events before" 60 "$(tenant_count beta)"

out=$(cof retention show --now $NOW); rc=$?
eq "show: exit 0" 0 $rc
check "show: acme 7 days, 15 held, 7 due (11-10..11-16), 28 events" \
  grep -Eq '^acme +7d +15 2026-11-10 +7 2026-11-10\.\.2026-11-16 +28$' <<<"$out"
check "show: beta forever, nothing due" grep -Eq '^beta +forever +15 2026-11-10 +0 - +0$' <<<"$out"

# The copy made BEFORE expiry, and the key that opened it.
cp -a "$DATA" "$T/copy"
cp -p "$KEY" "$T/old.key"
sum_before=$(cd "$DATA" && find . -type f ! -name LOCK | sort | xargs sha256sum)

# --dry-run changes nothing.
out=$(cof retention run --dry-run --now $NOW --json); rc=$?
eq "dry-run: exit 0" 0 $rc
check "dry-run: says 7 days of acme are due" \
  python3 -c "import json,sys; j=json.loads(sys.argv[1]); assert j['dry_run'] and j['tenants']['acme']['days_due']==7 and j['tenants']['beta']['days_due']==0" "$out"
eq "dry-run: no file in the data dir changed" "$sum_before" \
  "$(cd "$DATA" && find . -type f ! -name LOCK | sort | xargs sha256sum)"
check "dry-run: the key file is unchanged" cmp -s "$KEY" "$T/old.key"

# The run.
out=$(cof retention run --now $NOW --token-file "$ADMT/adm1.token"); rc=$?
eq "run: exit 0" 0 $rc
check "run: 7 tenant-days, 28 events shredded" grep -q "shredded 7 tenant-days: 28 events" <<<"$out"
check "run: says the master key rotated" grep -q "master key rotated" <<<"$out"
check "run: the key file changed" bash -c "! cmp -s '$KEY' '$T/old.key'"
eq "key file still 0600" 600 "$(stat -c %a "$KEY")"
check "run: no rotation left pending" test ! -e "$DATA/retention.pending"

# Live store: acme's old days gone, recent days intact, beta untouched.
eq "acme holds 32 events after (8 days x 4)" 32 "$(tenant_count acme)"
eq "beta still holds 60 events" 60 "$(tenant_count beta)"
eq "search: an expired acme day finds nothing" "no matching events" "$(cof search --rcpt u1-12@acme.example)"
check "search: a recent acme day is intact and unsealed" \
  bash -c "'$COFFER' --data-dir '$DATA' --key-file '$KEY' search --rcpt u1-20@acme.example --json | grep -q '\"recipient\":\"u1-20@acme.example\"'"
check "search: beta's old day is intact" \
  bash -c "'$COFFER' --data-dir '$DATA' --key-file '$KEY' search --rcpt u1-12@beta.example --json | grep -q '\"recipient\":\"u1-12@beta.example\"'"
out=$(cof retention show --now $NOW)
check "show after: acme holds 8 days from 2026-11-17, none due" \
  grep -Eq '^acme +7d +8 2026-11-17 +0 - +0$' <<<"$out"
out=$(cof retention run --now $NOW); rc=$?
eq "a second run: exit 0" 0 $rc
check "a second run shreds nothing" grep -q "shredded 0 tenant-days" <<<"$out"
check "a second run does not rotate again" bash -c "! grep -q 'master key rotated' <<<'$out'"

# The copy made before: the CURRENT key does not open it.
out=$("$COFFER" --data-dir "$T/copy" --key-file "$KEY" search --rcpt u1-12@acme.example 2>&1); rc=$?
eq "copy + current key: exit 1" 1 $rc
check "copy + current key: the keyring does not open" grep -q "does not open this keyring" <<<"$out"
# The old key still opens the copy (which is why it must not be kept), but not the store.
check "copy + old key: opens and reads the old day" \
  bash -c "'$COFFER' --data-dir '$T/copy' --key-file '$T/old.key' search --rcpt u1-12@acme.example --json | grep -q '\"recipient\":\"u1-12@acme.example\"'"
out=$("$COFFER" --data-dir "$DATA" --key-file "$T/old.key" search --rcpt u1-20@acme.example 2>&1); rc=$?
eq "current store + old key: exit 1" 1 $rc
check "current store + old key: the keyring does not open" grep -q "does not open this keyring" <<<"$out"

# The copy's segment files under the CURRENT keyring: the shredded days do not decrypt.
cp -a "$T/copy" "$T/mix"
cp -p "$DATA/keyring" "$T/mix/keyring"
mix() { "$COFFER" --data-dir "$T/mix" --key-file "$KEY" "$@"; }
out=$(mix search --rcpt u1-12@acme.example --json); rc=$?
eq "mix: search runs" 0 $rc
check "mix: the shredded day's row is found by its index but the address stays sealed" \
  bash -c "grep -q '\"recipient\":\"\*\*\*@acme.example\"' <<<'$out' && ! grep -q 'u1-12@acme.example' <<<'$out'"
check "mix: a kept day of the same copy still decrypts (the keyring itself is fine)" \
  bash -c "'$COFFER' --data-dir '$T/mix' --key-file '$KEY' search --rcpt u1-20@acme.example --json | grep -q '\"recipient\":\"u1-20@acme.example\"'"
n_sealed=0
for d in $(seq 10 16); do
  for i in 0 1 2 3; do
    o=$(mix search --rcpt "u$i-$d@acme.example" --json)
    if grep -q '"recipient":"\*\*\*@acme.example"' <<<"$o" && ! grep -q "u$i-$d@acme" <<<"$o"; then
      n_sealed=$((n_sealed + 1))
    fi
  done
done
eq "mix: each of the 28 shredded events is found, none decrypts" 28 "$n_sealed"

# Late lines for a shredded day are skipped with a reason; beta's are stored.
printf '%s\n' '{"time":"2026-11-12T10:00:00Z","status":"sent","recipient":"late@acme.example","tenant":"acme"}' \
  '{"time":"2026-11-12T10:00:00Z","status":"sent","recipient":"late@beta.example","tenant":"beta"}' > "$T/late.jsonl"
cof ingest --format json "$T/late.jsonl" 2>"$T/err"; rc=$?
eq "late ingest: exit 0" 0 $rc
check "late ingest: one skipped for a shredded day" grep -q "skipped: retention: day shredded *1" "$T/err"
check "late ingest: one stored" grep -q "events stored  *1$" "$T/err"
eq "late acme line not stored" "no matching events" "$(cof search --rcpt late@acme.example)"
eq "acme still 32 events" 32 "$(tenant_count acme)"
eq "beta now 61 events" 61 "$(tenant_count beta)"

# Audited, and the trail still verifies under the rotated key.
out=$(cof audit show --action retention.run --json)
eq "two retention.run records" 2 "$(grep -c '"action":"retention.run"' <<<"$out")"
check "the first names adm1 and acme, 28 events shredded, none returned" \
  bash -c "head -1 <<<'$out' | grep '\"events_shredded\":28' | grep -q '\"principal\":\"adm1\".*\"tenants\":\[\"acme\"\],\"events\":0'"
check "the audit trail verifies" cof audit verify

# The writer lock: a second writer is told why.
cof ingest --follow "$T/late.jsonl" --format json >/dev/null 2>&1 &
fpid=$!
# Wait until it holds the lock (read from /proc/locks: probing with flock could make
# the writer's own non-blocking lock fail).
ino=$(stat -c %i "$DATA/LOCK")
for _ in $(seq 200); do
  grep -q ":$ino " /proc/locks && break
  sleep 0.05
done
check "the other writer holds the lock" grep -q ":$ino " /proc/locks
out=$(cof retention run --now $NOW 2>&1); rc=$?
kill "$fpid" 2>/dev/null; wait "$fpid" 2>/dev/null
eq "run while another writer holds the store: exit 1" 1 $rc
check "it says coffer serve applies retention itself" grep -q "applies retention itself every hour" <<<"$out"

cof retention bogus >/dev/null 2>&1
eq "unknown subcommand: exit 2" 2 $?
cof retention run --now notatime >/dev/null 2>&1
eq "bad --now: exit 2" 2 $?
finish
