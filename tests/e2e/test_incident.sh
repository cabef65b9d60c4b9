#!/usr/bin/env bash
# `coffer incident report` against a trail a real `coffer serve` wrote: two principals
# reading trails of a few recipients from two loopback source addresses, refusals and
# failed logins from a third; tokens created while the server runs (CLI and server
# append to one trail); the report's numbers equal what curl received; filters by
# principal and source; offline with --pubkey on a copy; refusal of an edited trail.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/serve_lib.sh"

"$GEN" --events 3000 --seed 33 --truth "$T/truth.tsv" --out "$T/mail.log" 2>/dev/null
sender=$(awk -F'\t' 'NR>1 && $9!="" {print $9}' "$T/truth.tsv" | sort | uniq -c | sort -rn | head -1 | awk '{print $2}')
sdom=${sender#*@}
CONF=$T/coffer.conf
cat >"$CONF" <<EOF
data_dir = $DATA
key_file = $KEY
tenant_rule = sender_domain:$sdom => acme
budget_per_hour = 1000000
EOF
cof() { "$COFFER" --config "$CONF" "$@"; }
cof init >/dev/null 2>&1
cof ingest "$T/mail.log" 2>/dev/null
# three acme recipients and one of the default tenant
mapfile -t racme < <(awk -F'\t' -v d="$sdom" 'NR>1 && $10!="" && $9 ~ ("@" d "$") {print $10}' "$T/truth.tsv" | sort | uniq -c | sort -rn | head -3 | awk '{print $2}')
rdef=$(awk -F'\t' -v d="$sdom" 'NR>1 && $10!="" && $9!="" && $9 !~ ("@" d "$") {print $10}' "$T/truth.tsv" | sort | uniq -c | sort -rn | head -1 | awk '{print $2}')
check "test data: three acme recipients and one default" test "${#racme[@]}" -eq 3 -a -n "$rdef"

T0=$(date -u -d '-2 seconds' +%Y-%m-%dT%H:%M:%SZ)
PORT=$(free_port)
check "server starts" serve_start
# tokens made while the server runs: the CLI appends to the trail the server writes
check "token create while serve runs (alice)" mktoken alice support acme
check "token create while serve runs (bob)" mktoken bob support '*'
check "token create while serve runs (carol)" mktoken carol analyst acme
printf 'cof_0123456789abcdef_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\n' >"$T/tok.bogus"
chmod 600 "$T/tok.bogus"

count_of() { body_of "$1" | python3 -c 'import json,sys; print(json.load(sys.stdin)["count"])'; }
urlenc() { python3 -c 'import sys,urllib.parse; print(urllib.parse.quote(sys.argv[1]))' "$1"; }
# alice from 127.0.0.2: racme[0], racme[1], racme[0] again; one whoami; one refused
# audit read. carol (analyst) from 127.0.0.2 too: statistics only
alice_events=0
for r in "${racme[0]}" "${racme[1]}" "${racme[0]}"; do
  out=$(SRC=127.0.0.2 api "$T/tok.alice" GET "/v1/trail?rcpt=$(urlenc "$r")&limit=1000")
  eq "alice trail: 200" 200 "$(status_of "$out")"
  alice_events=$((alice_events + $(count_of "$out")))
done
eq "alice whoami: 200" 200 "$(status_of "$(SRC=127.0.0.2 api "$T/tok.alice" GET /v1/whoami)")"
eq "carol stats: 200" 200 "$(status_of "$(SRC=127.0.0.2 api "$T/tok.carol" GET /v1/stats)")"
eq "alice audit: 403" 403 "$(status_of "$(SRC=127.0.0.2 api "$T/tok.alice" GET /v1/audit)")"
# bob from 127.0.0.3: racme[2] in acme, rdef in default
out=$(SRC=127.0.0.3 api "$T/tok.bob" GET "/v1/trail?rcpt=$(urlenc "${racme[2]}")&tenant=acme&limit=1000")
eq "bob acme trail: 200" 200 "$(status_of "$out")"
bob_acme=$(count_of "$out")
out=$(SRC=127.0.0.3 api "$T/tok.bob" GET "/v1/trail?rcpt=$(urlenc "$rdef")&tenant=default&limit=1000")
eq "bob default trail: 200" 200 "$(status_of "$out")"
bob_def=$(count_of "$out")
check "every lookup returned events" test "$alice_events" -gt 0 -a "$bob_acme" -gt 0 -a "$bob_def" -gt 0
# two failed logins from 127.0.0.4
for _ in 1 2; do
  eq "bogus token: 401" 401 "$(status_of "$(SRC=127.0.0.4 api "$T/tok.bogus" GET "/v1/trail?rcpt=$(urlenc "${racme[0]}")")")"
done
check "token create while serve runs, after requests (dave)" mktoken dave analyst acme
check "audit verify while the server runs" cof audit verify
serve_stop
check "audit verify after the server stopped" cof audit verify
T1=$(date -u -d '+2 seconds' +%Y-%m-%dT%H:%M:%SZ)

cof incident report --from "$T0" --to "$T1" --json >"$T/rep.json" 2>"$T/err"
eq "report: exit 0" 0 $?
q() { python3 -c "import json,sys
r=json.load(open('$T/rep.json'))
def acc(p,s): return [a for a in r['accessors'] if a['principal']==p and a['source']==s][0]
def ten(a,t): return [x for x in a['tenants'] if x['tenant']==t][0]
print($1)"; }
eq "alice@127.0.0.2: acme events = what curl received" "$alice_events" "$(q "ten(acc('alice','127.0.0.2'),'acme')['events']")"
eq "alice@127.0.0.2: 2 distinct data subjects (one looked up twice)" 2 "$(q "ten(acc('alice','127.0.0.2'),'acme')['subjects']")"
eq "alice@127.0.0.2: 5 requests, 1 denied" "5 1" "$(q "acc('alice','127.0.0.2')['requests'], acc('alice','127.0.0.2')['denied']" | tr -d '(),')"
eq "alice: audit denied 1, trail ok 3, whoami ok 1" "audit:denied:1 trail:ok:3 whoami:ok:1" "$(q "' '.join(x['action']+':'+o+':'+str(n) for x in sorted(acc('alice','127.0.0.2')['actions'], key=lambda x: x['action']) for o,n in x['outcomes'].items())")"
eq "alice: the personal categories of an unsealed trail" "True False" "$(q "'recipient address' in acc('alice','127.0.0.2')['categories'], 'aggregate statistics (no personal data)' in acc('alice','127.0.0.2')['categories']" | tr -d '(),')"
eq "carol: aggregate statistics only, no events" "aggregate statistics (no personal data)|0" "$(q "'|'.join(acc('carol','127.0.0.2')['categories']) + '|' + str(sum(t['events'] for t in acc('carol','127.0.0.2')['tenants']))")"
eq "bob@127.0.0.3: acme events" "$bob_acme" "$(q "ten(acc('bob','127.0.0.3'),'acme')['events']")"
eq "bob@127.0.0.3: default events" "$bob_def" "$(q "ten(acc('bob','127.0.0.3'),'default')['events']")"
eq "bob: one subject per tenant" "1 1" "$(q "ten(acc('bob','127.0.0.3'),'acme')['subjects'], ten(acc('bob','127.0.0.3'),'default')['subjects']" | tr -d '(),')"
eq "unauthenticated from 127.0.0.4: 2 denied" 2 "$(q "acc('-','127.0.0.4')['denied']")"
eq "acme overall: 3 distinct subjects" 3 "$(q "[t for t in r['tenants'] if t['tenant']=='acme'][0]['subjects']")"
eq "article 33: 4 data subjects" 4 "$(q "r['article33']['subjects']")"
eq "article 33: records = every event received" $((alice_events + bob_acme + bob_def)) "$(q "r['article33']['records']")"
check "article 33: nature names the failed authentication attempts" grep -q '2 failed authentication attempts from 1 source address' "$T/rep.json"
check "article 33: subjects of tenants acme and default" bash -c "grep -q 'mail recipients and senders of tenant acme' '$T/rep.json' && grep -q 'mail recipients and senders of tenant default' '$T/rep.json'"
eq "the CLI's records are there too: adm1 created the 4 tokens (and its own)" 5 "$(q "sum(x['outcomes']['ok'] for x in acc('adm1','local')['actions'] if x['action']=='token.create')")"
check "no recipient address in the report" bash -c "! grep -qiF '${racme[0]}' '$T/rep.json' && ! grep -qiF '$rdef' '$T/rep.json'"

cof incident report --from "$T0" --to "$T1" --json --principal alice >"$T/rep.json"
eq "--principal alice: only alice" "alice" "$(q "' '.join(sorted(set(a['principal'] for a in r['accessors'])))")"
cof incident report --from "$T0" --to "$T1" --json --source 127.0.0.3/32 >"$T/rep.json"
eq "--source 127.0.0.3/32: only bob's requests" "bob@127.0.0.3" "$(q "' '.join(a['principal']+'@'+a['source'] for a in r['accessors'])")"
cof incident report --from "$T0" --to "$T1" --json --source 127.0.0.4/30 >"$T/rep.json"
eq "--source 127.0.0.4/30: only the failed logins" "-@127.0.0.4" "$(q "' '.join(a['principal']+'@'+a['source'] for a in r['accessors'])")"
cof incident report --from "$T1" --to "$(date -u -d '+1 hour' +%Y-%m-%dT%H:%M:%SZ)" --json >"$T/rep.json"
eq "a later window: no records" 0 "$(q "r['records_in_window']")"
cof incident report --from "$T0" --to "$T1" >"$T/rep.txt"
eq "text report: exit 0" 0 $?
check "text report: the article 33 section" grep -q 'FOR A GDPR ARTICLE 33 NOTIFICATION' "$T/rep.txt"
check "text report: alice's line" grep -q 'alice from 127.0.0.2: 5 requests, 1 denied' "$T/rep.txt"
cof incident report --from "$T1" --to "$T0" 2>/dev/null
eq "--from after --to: usage error" 2 $?
cof incident report --from "$T0" 2>/dev/null
eq "--to missing: usage error" 2 $?
cof incident report --from "$T0" --to "$T1" --source 127.0.0.1/8 2>/dev/null
eq "--source with host bits: usage error" 2 $?

# offline, on a copy, with only the public key
cof audit pubkey >"$T/audit.pub"
cp -r "$DATA" "$T/copy"
"$COFFER" --data-dir "$T/copy" --key-file "$T/nokey" incident report --from "$T0" --to "$T1" --json \
  --pubkey "$(cat "$T/audit.pub")" >"$T/rep.json" 2>"$T/err"
eq "offline with --pubkey HEX: exit 0" 0 $?
eq "offline: the same numbers" 4 "$(q "r['article33']['subjects']")"
"$COFFER" --data-dir "$T/copy" --key-file "$T/nokey" incident report --from "$T0" --to "$T1" \
  --pubkey "$T/audit.pub" >/dev/null 2>&1
eq "offline with --pubkey FILE: exit 0" 0 $?
other=$(python3 -c 'print("ab"*32)')
"$COFFER" --data-dir "$T/copy" --key-file "$T/nokey" incident report --from "$T0" --to "$T1" \
  --pubkey "$other" >/dev/null 2>"$T/err"
eq "another public key: refused" 1 $?
check "another public key: bad checkpoint signature named" grep -q 'bad checkpoint signature' "$T/err"

# one byte of one record edited: refused, with the file and line
f=$(ls "$T/copy/audit/"*.log | head -1)
line=$(grep -n '"principal":"bob"' "$f" | head -1 | cut -d: -f1)
sed -i "${line}s/\"principal\":\"bob\"/\"principal\":\"bxb\"/" "$f"
"$COFFER" --data-dir "$T/copy" --key-file "$T/nokey" incident report --from "$T0" --to "$T1" \
  --pubkey "$T/audit.pub" >"$T/out" 2>"$T/err"
eq "edited record: exit 1" 1 $?
check "edited record: names file and line" grep -q "BROKEN at $(basename "$f"):$line (seq [0-9]*): edited" "$T/err"
check "edited record: no report printed" test ! -s "$T/out"

finish
