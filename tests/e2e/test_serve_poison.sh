#!/usr/bin/env bash
# test_serve_poison.sh - poison records and exports through a real `coffer serve`: a
# trail that would include a planted record is withheld and its principal suspended at
# once; mail to a poison address arriving through POST /v1/events raises poison.left;
# exports over the API need a reason, a second person and the export permission, hold
# the watermark, are fetched once, are withheld over a planted trap, and stop under a
# lockdown.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/serve_lib.sh"

printf '#!/bin/sh\ncat >>"%s"\necho >>"%s"\n' "$T/alerts.out" "$T/alerts.out" >"$T/sink.sh"
chmod 755 "$T/sink.sh"
CONF=$T/coffer.conf
printf 'data_dir = %s\nkey_file = %s\nalert.syslog = off\nalert.command = %s\n' \
  "$DATA" "$KEY" "$T/sink.sh" >"$CONF"
cof() { "$COFFER" --config "$CONF" "$@"; }
wait_for() { for _ in $(seq 1 100); do grep -q "$1" "$T/alerts.out" 2>/dev/null && return 0; sleep 0.1; done; return 1; }
suspended() { python3 -c "import json,sys; sys.exit(0 if json.load(open('$DATA/access.json'))['principals']['$1'].get('suspended') else 1)"; }

cof init --admins adm1,adm2,adm3 --token-dir "$ADMT" >/dev/null
for i in $(seq 1 9); do
  printf '{"time":"2026-11-20T10:00:0%dZ","queue_id":"R%d","sender":"shop@real.example","recipient":"user%d@real.example","status":"sent"}\n' "$i" "$i" "$i"
done >"$T/real.jsonl"
cof ingest --format json "$T/real.jsonl" 2>/dev/null
cof poison plant --tenant default --count 6 --domain traps.example.net \
  --from 2026-11-01T00:00:00Z --to 2026-11-02T00:00:00Z --reveal "$T/trap.txt" >/dev/null 2>&1
eq "six poison addresses revealed" 6 "$(sort -u "$T/trap.txt" | wc -l)"
trap1=$(head -1 "$T/trap.txt")
mktoken sup support default
mktoken sup2 support default
mktoken exa exporter default
mktoken exb exporter default
mktoken ing ingest default
mktoken a1 admin '*'
PORT=$(free_port)
check "server starts" serve_start

# ---- a trail that would include a trap record
eq "a real trail answers" 200 "$(status_of "$(api "$T/tok.sup" GET '/v1/trail?rcpt=user1@real.example')")"
r=$(api "$T/tok.sup" GET "/v1/trail?rcpt=$trap1")
eq "a trail reaching a poison record is withheld" 403 "$(status_of "$r")"
check "the answer does not say why" bash -c "! grep -qi poison <<<'$(body_of "$r")'"
check "the principal is suspended in access.json" suspended sup
check "poison.hit alert names the principal" wait_for '"kind": *"poison.hit"'
check "the alert carries no address" bash -c "! grep -qF '$trap1' '$T/alerts.out'"
sleep 0.3
st=$(status_of "$(api "$T/tok.sup" GET '/v1/trail?rcpt=user1@real.example')")
check "the suspended principal reads nothing more ($st)" bash -c "[ '$st' = 401 ] || [ '$st' = 403 ]"
eq "another support principal still reads" 200 "$(status_of "$(api "$T/tok.sup2" GET '/v1/trail?rcpt=user1@real.example')")"
check "the audit record names the set, not the address" bash -c \
  "grep '\"poison\"' $DATA/audit/*.log | grep -q '\"outcome\":\"denied\"' && ! grep -qF '$trap1' $DATA/audit/*.log"

# ---- mail to a poison address arriving through the API: data has left
printf '{"time":"2026-11-23T09:00:00Z","queue_id":"IN1","sender":"phisher@evil.example","recipient":"%s","status":"sent","direction":"inbound"}\n' "$trap1" >"$T/inbound.jsonl"
r=$(api "$T/tok.ing" POST /v1/events -H 'Content-Type: application/x-ndjson' --data-binary @"$T/inbound.jsonl")
eq "inbound event accepted" 202 "$(status_of "$r")"
check "poison.left alert (data has left)" wait_for '"kind": *"poison.left"'

# ---- exports over the API
body() { printf '{"tenant":"default","since":"%s","until":"%s","reason":"%s"}' "$1" "$2" "$3"; }
r=$(api "$T/tok.sup2" POST /v1/exports --data-binary "$(body 2026-11-19T00:00:00Z 2026-11-21T00:00:00Z 'copy')")
eq "support may not export" 403 "$(status_of "$r")"
r=$(api "$T/tok.exa" POST /v1/exports --data-binary "$(body 2026-11-19T00:00:00Z 2026-11-21T00:00:00Z '')")
eq "an export without a reason" 400 "$(status_of "$r")"
r=$(api "$T/tok.exa" POST /v1/exports --data-binary "$(body 2026-11-19T00:00:00Z 2026-11-21T00:00:00Z 'article 15 request, ticket 7')")
eq "an export request with a reason: 201" 201 "$(status_of "$r")"
xid=$(jfield "$(body_of "$r")" id)
eq "fetch before approval: refused" 403 "$(status_of "$(api "$T/tok.exa" GET "/v1/exports/$xid/data")")"
eq "the requester approving itself: 403" 403 "$(status_of "$(api "$T/tok.exa" POST "/v1/exports/$xid/approve")")"
eq "a second person approves: 200" 200 "$(status_of "$(api "$T/tok.a1" POST "/v1/exports/$xid/approve")")"
eq "only the requester fetches" 403 "$(status_of "$(api "$T/tok.exb" GET "/v1/exports/$xid/data")")"
r=$(api "$T/tok.exa" GET "/v1/exports/$xid/data")
eq "the requester fetches: 200" 200 "$(status_of "$r")"
api "$T/tok.exa" GET "/v1/exports/$xid/data" >/dev/null # second fetch
curl -s --cacert "$CERT" -H "Authorization: Bearer $(cat "$T/tok.a1")" "https://127.0.0.1:$PORT/v1/exports/$xid" >"$T/x.json"
eq "the export is done after one fetch" done "$(python3 -c "import json; print(json.load(open('$T/x.json'))['state'])")"
curl -s --cacert "$CERT" -H "Authorization: Bearer $(cat "$T/tok.exa")" "https://127.0.0.1:$PORT/v1/exports/$xid/data" -o "$T/second.out" -w '%{http_code}' >"$T/second.code"
check "a second fetch is refused" bash -c "[ \"\$(cat '$T/second.code')\" != 200 ]"
# the first fetch again, to count its lines: re-run a fresh export
r=$(api "$T/tok.exb" POST /v1/exports --data-binary "$(body 2026-11-19T00:00:00Z 2026-11-21T00:00:00Z 'second copy')")
x2=$(jfield "$(body_of "$r")" id)
api "$T/tok.a1" POST "/v1/exports/$x2/approve" >/dev/null
curl -s --cacert "$CERT" -H "Authorization: Bearer $(cat "$T/tok.exb")" "https://127.0.0.1:$PORT/v1/exports/$x2/data" -o "$T/export.jsonl"
eq "the export holds the 9 real events plus 8 watermark records" 17 "$(wc -l <"$T/export.jsonl")"
check "the real events are unsealed" grep -q '"recipient":"user5@real.example"' "$T/export.jsonl"
check "export.fetched alert" wait_for '"kind": *"export.fetched"'
check "the fetch audit record counts subjects and categories" bash -c \
  "grep '\"action\":\"export.fetch\"' $DATA/audit/*.log | grep -q '\"subjects\":'"

# an export over the planted traps is withheld, its requester suspended
r=$(api "$T/tok.exa" POST /v1/exports --data-binary "$(body 2026-10-30T00:00:00Z 2026-11-03T00:00:00Z 'broad pull')")
x3=$(jfield "$(body_of "$r")" id)
api "$T/tok.a1" POST "/v1/exports/$x3/approve" >/dev/null
r=$(api "$T/tok.exa" GET "/v1/exports/$x3/data")
eq "an export over planted records is withheld" 403 "$(status_of "$r")"
check "its requester is suspended" suspended exa
check "no trap address left in the answer" bash -c "! grep -qF '$trap1' <<<'$(body_of "$r")'"

# a lockdown stops export requests
as_admin 1 lockdown --reason "drill" >/dev/null
sleep 0.3
r=$(api "$T/tok.exb" POST /v1/exports --data-binary "$(body 2026-11-19T00:00:00Z 2026-11-21T00:00:00Z 'during lockdown')")
eq "export requests stop under a lockdown" 423 "$(status_of "$r")"
serve_stop
check "no token in any alert" bash -c "! grep -q 'cof_' '$T/alerts.out'"
finish
