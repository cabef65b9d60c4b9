#!/usr/bin/env bash
# test_serve_retention.sh - a running server applies retention itself: tenant-days past
# the reviewed retention are crypto-shredded and removed while it serves, the run is
# audited and alerted, newer days stay.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/serve_lib.sh"

printf '#!/bin/sh\ncat >>"%s"\necho >>"%s"\n' "$T/alerts.out" "$T/alerts.out" >"$T/sink.sh"
chmod 755 "$T/sink.sh"
CONF=$T/coffer.conf
printf 'data_dir = %s\nkey_file = %s\nalert.syslog = off\nalert.command = %s\nretention_seconds = 1\n' \
  "$DATA" "$KEY" "$T/sink.sh" >"$CONF"
cof() { "$COFFER" --config "$CONF" "$@"; }
wait_for() { for _ in $(seq 1 150); do grep -q "$1" "$T/alerts.out" 2>/dev/null && return 0; sleep 0.1; done; return 1; }

cof init --admins adm1,adm2,adm3 --token-dir "$ADMT" >/dev/null
old=$(date -u -d '-30 days' +%Y-%m-%dT10:00:00Z)
new=$(date -u -d '-1 day' +%Y-%m-%dT10:00:00Z)
{
  printf '{"time":"%s","queue_id":"O1","sender":"s@x.example","recipient":"old@keep.example","status":"sent"}\n' "$old"
  printf '{"time":"%s","queue_id":"N1","sender":"s@x.example","recipient":"new@keep.example","status":"sent"}\n' "$new"
} >"$T/in.jsonl"
cof ingest --format json "$T/in.jsonl" 2>/dev/null
cof acl show >"$T/doc.json"
python3 - "$T/doc.json" <<'PY'
import json, sys
d = json.load(open(sys.argv[1])); d["retention"] = {"default_days": 7, "tenants": {}}
open(sys.argv[1], "w").write(json.dumps(d))
PY
id=$(jfield "$(as_admin 1 acl propose "$T/doc.json" --reason "7 days" --json)" id)
eq "a retention change waits for review" pending "$(jfield "$(cof acl view "$id" --json)" state)"
as_admin 2 acl approve "$id" >/dev/null
mktoken sup support default
PORT=$(free_port)
check "server starts" serve_start
check "the server shreds the expired day by itself (retention.shredded)" wait_for '"kind": *"retention.shredded"'
r=$(api "$T/tok.sup" GET '/v1/trail?rcpt=old@keep.example')
check "the expired day's event is gone" bash -c "grep -q '\"count\":0' <<<'$(body_of "$r")'"
r=$(api "$T/tok.sup" GET '/v1/trail?rcpt=new@keep.example')
check "yesterday's event stays" bash -c "grep -q '\"count\":1' <<<'$(body_of "$r")'"
serve_stop
cof audit show --action retention.run --json >"$T/ret.json"
check "the run is in the audit trail" grep -q '"days_shredded":1' "$T/ret.json"
check "the audit trail verifies" cof audit verify
finish
