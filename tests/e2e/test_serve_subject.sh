#!/usr/bin/env bash
# test_serve_subject.sh - data-subject requests while `coffer serve` holds the store:
# find (art. 15) sees only the caller's tenants, unsealed; erase (art. 17) by an
# administrator returns a receipt and the events are gone from later answers; the
# address reaches the audit trail only as its blind token.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/serve_lib.sh"

CONF=$T/coffer.conf
printf 'data_dir = %s\nkey_file = %s\ntenant_rule = sender_domain:beta.example => beta\n' "$DATA" "$KEY" >"$CONF"
cof() { "$COFFER" --config "$CONF" "$@"; }
cof init --admins adm1,adm2,adm3 --token-dir "$ADMT" >/dev/null
{
  for i in 1 2 3; do
    printf '{"time":"2026-11-20T10:00:0%dZ","queue_id":"A%d","sender":"shop@alpha.example","recipient":"erin@mail.example","status":"sent"}\n' "$i" "$i"
  done
  printf '{"time":"2026-11-20T11:00:00Z","queue_id":"B1","sender":"news@beta.example","recipient":"erin@mail.example","status":"sent"}\n'
  printf '{"time":"2026-11-20T12:00:00Z","queue_id":"A9","sender":"shop@alpha.example","recipient":"frank@mail.example","status":"sent"}\n'
} >"$T/in.jsonl"
cof ingest --format json "$T/in.jsonl" 2>/dev/null
mktoken sup support default
mktoken boss admin '*'
PORT=$(free_port)
check "server starts" serve_start
find_() { api "$1" POST /v1/subjects/find --data-binary "{\"address\":\"$2\"}"; }
r=$(find_ "$T/tok.sup" erin@mail.example)
eq "find: 200" 200 "$(status_of "$r")"
eq "find sees the caller's tenant only (3 of 4 events)" 3 "$(jfield "$(body_of "$r")" count)"
check "find answers unsealed" bash -c "grep -q '\"recipient\":\"erin@mail.example\"' <<<'$(body_of "$r")'"
eq "an analyst may not find" 403 "$(status_of "$(api "$T/tok.boss" POST /v1/subjects/find --data-binary '{"address":"erin@mail.example"}')")"
eq "find is a POST (the address stays out of URLs)" 405 "$(status_of "$(api "$T/tok.sup" GET /v1/subjects/find)")"
eq "support may not erase" 403 "$(status_of "$(api "$T/tok.sup" POST /v1/subjects/erase --data-binary '{"address":"erin@mail.example"}')")"
r=$(api "$T/tok.boss" POST /v1/subjects/erase --data-binary '{"address":"erin@mail.example"}')
eq "erase by an administrator: 200" 200 "$(status_of "$r")"
eq "the receipt counts every tenant's events" 4 "$(jfield "$(body_of "$r")" events_erased)"
check "the receipt names the subject by blind token only" bash -c "grep -q '\"subject\":\"b:' <<<'$(body_of "$r")' && ! grep -q erin <<<'$(body_of "$r")'"
r=$(find_ "$T/tok.sup" erin@mail.example)
eq "after erasure find returns nothing" 0 "$(jfield "$(body_of "$r")" count)"
r=$(find_ "$T/tok.sup" frank@mail.example)
eq "another subject in the same segment stays" 1 "$(jfield "$(body_of "$r")" count)"
serve_stop
check "no address in the audit trail" bash -c "! grep -rq 'erin@' $DATA/audit/"
check "the erasure is audited" grep -q '"action":"subject.erase"' "$DATA"/audit/*.log
check "the audit trail verifies" cof audit verify
finish
