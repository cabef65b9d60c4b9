#!/usr/bin/env bash
# test_governance.sh - access changes under two-person review, with the real binary and
# a real server: every rule of docs/GOVERNANCE.md has a step here that fails without it.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/serve_lib.sh"

printf '#!/bin/sh\ncat >>"%s"\necho >>"%s"\n' "$T/alerts.out" "$T/alerts.out" >"$T/sink.sh"
chmod 755 "$T/sink.sh"
CONF=$T/coffer.conf
printf 'data_dir = %s\nkey_file = %s\nalert.syslog = off\nalert.command = %s\n' \
  "$DATA" "$KEY" "$T/sink.sh" >"$CONF"
cof() { "$COFFER" --config "$CONF" "$@"; }
alerted() { grep -q "\"kind\": *\"$1\"" "$T/alerts.out" 2>/dev/null; }
state_of() { cof acl view "$1" --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["state"])'; }

# ---- bootstrap: one administrator needs an explicit setting
cof init --admins solo --token-dir "$T/solo" >/dev/null 2>"$T/err"
eq "init with one administrator and no --single-admin: exit 2" 2 $?
check "it says why" grep -q "two-person rule" "$T/err"
cof init --admins adm1,adm2,adm3 --token-dir "$ADMT" >"$T/init.out" 2>&1
eq "init with three administrators: exit 0" 0 $?
check "init wrote each administrator's token (0600)" test "$(stat -c %a "$ADMT/adm2.token")" = 600
check "bootstrap raised an alert" alerted acl.bootstrap
cof acl bootstrap --admins late1,late2 --token-dir "$T/late" >/dev/null 2>"$T/err"
eq "bootstrap once administrators exist: exit 1" 1 $?

for i in $(seq 1 3); do
  printf '{"time":"2026-11-20T10:00:0%dZ","queue_id":"G%d","sender":"shop@gov.example","recipient":"dora@acme.example","status":"sent"}\n' "$i" "$i"
done >"$T/in.jsonl"
cof ingest --format json "$T/in.jsonl" 2>/dev/null
cof ingest --format json "$T/in.jsonl" 2>/dev/null

# ---- a widening change waits for a second person
out=$(as_admin 1 acl grant sup --role support --tenant default --reason "ticket 42" --json)
id=$(jfield "$out" id)
eq "a new support grant is pending" pending "$(jfield "$out" state)"
check "the evaluation names the gain" bash -c "grep -q 'sup gains support on default' <<<'$out'"
check "change.proposed alert" alerted change.proposed
as_admin 1 token create --principal sup --out "$T/tok.sup" 2>/dev/null
eq "no token for a principal whose change waits" 1 $?

# the proposer approving itself
as_admin 1 acl approve "$id" 2>"$T/err"
eq "the proposer approving itself: exit 1" 1 $?
check "the proposer cannot approve: message" grep -q "proposer cannot approve" "$T/err"
# one administrator with two tokens
as_admin 2 token create --principal adm1 --out "$T/adm1-second.token" 2>/dev/null
COFFER_TOKEN_FILE=$T/adm1-second.token cof acl approve "$id" 2>"$T/err"
eq "the proposer's second token approving: exit 1" 1 $?
check "a second token is the same person" grep -q "proposer cannot approve" "$T/err"
eq "still pending after both tries" pending "$(state_of "$id")"
check "the refusals are in the audit trail" bash -c "grep -c '\"action\":\"acl.approve\".*\"outcome\":\"denied\"' $DATA/audit/*.log | grep -q '^2$'"
as_admin 2 acl approve "$id" >/dev/null
eq "a second administrator approves: applied" applied "$(state_of "$id")"
check "change.applied alert" alerted change.applied
check "a token for the approved principal" as_admin 1 token create --principal sup --out "$T/tok.sup"
check "token.created alert" alerted token.created

# ---- a critical change needs one more approver
out=$(as_admin 1 acl grant wide --role support --tenant '*' --json)
wid=$(jfield "$out" id)
eq "support on every tenant needs three people" 3 "$(jfield "$out" required)"
check "the finding is critical and named" bash -c "grep -q 'grant.all_tenants' <<<'$out'"
as_admin 2 acl approve "$wid" >/dev/null
eq "with two of three it still waits" pending "$(state_of "$wid")"
as_admin 3 acl approve "$wid" >/dev/null
eq "with three of three it applies" applied "$(state_of "$wid")"
out=$(as_admin 1 acl grant boss --role admin --tenant '*' --json)
eq "a new administrator is critical" 3 "$(jfield "$out" required)"
as_admin 1 acl reject "$(jfield "$out" id)" --reason "not now" >/dev/null
eq "a rejected change" rejected "$(state_of "$(jfield "$out" id)")"

# ---- an expired proposal cannot be approved
out=$(as_admin 1 acl grant late --role analyst --tenant default --json)
lid=$(jfield "$out" id)
python3 - "$DATA/changes/$lid.json" <<'PY'
import json, sys
p = sys.argv[1]; d = json.load(open(p)); d["expires"] = "2020-01-01T00:00:00Z"
open(p, "w").write(json.dumps(d))
PY
as_admin 2 acl approve "$lid" 2>"$T/err"
eq "approving an expired proposal: exit 1" 1 $?
check "it says expired" grep -q "expired" "$T/err"
eq "it reads as expired" expired "$(state_of "$lid")"
check "access.json never gained it" bash -c "! grep -q '\"late\"' '$DATA/access.json'"

# ---- the server: lapsed grant, narrowing at once, lockdown
mkgrant brief support default 3s && as_admin 1 token create --principal brief --expires 1d --out "$T/tok.brief" 2>/dev/null
PORT=$(free_port)
check "server starts" serve_start
eq "a live grant reads" 200 "$(status_of "$(api "$T/tok.brief" GET '/v1/trail?rcpt=dora@acme.example')")"
sleep 3.2
eq "a lapsed grant reads nothing (its token still valid)" 403 "$(status_of "$(api "$T/tok.brief" GET '/v1/trail?rcpt=dora@acme.example')")"

eq "sup reads the trail" 200 "$(status_of "$(api "$T/tok.sup" GET '/v1/trail?rcpt=dora@acme.example')")"
out=$(as_admin 1 acl grant sup --role analyst --tenant default --json)
waiting=$(jfield "$out" id)
out=$(as_admin 2 acl revoke sup --role support --reason "left the team" --json)
eq "a narrowing change applies at once on one word" applied "$(jfield "$out" state)"
eq "it needed one person" 1 "$(jfield "$out" required)"
sleep 0.3
eq "the server refuses at once" 403 "$(status_of "$(api "$T/tok.sup" GET '/v1/trail?rcpt=dora@acme.example')")"
eq "meanwhile the widening one still waits" pending "$(state_of "$waiting")"
as_admin 3 acl approve "$waiting" 2>"$T/err"
eq "approving it after the document moved: exit 1 (stale)" 1 $?
check "stale: propose again" grep -q "stale" "$T/err"

# the API: propose a whole document, approve as another administrator
mktoken a1 admin '*' && mktoken a2 admin '*' || bad "admin tokens for the API"
cof acl show >"$T/doc.json"
python3 - "$T/doc.json" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
d["principals"]["viaapi"] = {"grants": [{"role": "analyst", "tenants": ["default"]}]}
open(sys.argv[1], "w").write(json.dumps({"document": d, "reason": "dashboard"}))
PY
r=$(api "$T/tok.a1" POST /v1/changes -H 'Content-Type: application/json' --data-binary @"$T/doc.json")
eq "POST /v1/changes: 201" 201 "$(status_of "$r")"
aid=$(jfield "$(body_of "$r")" id)
eq "the proposal waits" pending "$(jfield "$(body_of "$r")" state)"
r=$(api "$T/tok.a1" POST "/v1/changes/$aid/approve")
eq "the proposer approving over the API: 403" 403 "$(status_of "$r")"
r=$(api "$T/tok.sup" GET /v1/changes)
eq "a non-administrator cannot list changes" 403 "$(status_of "$r")"
r=$(api "$T/tok.a2" POST "/v1/changes/$aid/approve")
eq "another administrator approves over the API: 200" 200 "$(status_of "$r")"
eq "applied" applied "$(jfield "$(body_of "$r")" state)"
check "viaapi is in access.json" grep -q '"viaapi"' "$DATA/access.json"
r=$(api "$T/tok.a1" POST /v1/changes --data-binary '{"format":"nope"}')
eq "a malformed document: 400" 400 "$(status_of "$r")"

# lockdown: at once on one word, lifted by two
mktoken sup2 support default
eq "before the lockdown a trail answers" 200 "$(status_of "$(api "$T/tok.sup2" GET '/v1/trail?rcpt=dora@acme.example')")"
r=$(api "$T/tok.a1" POST /v1/lockdown --data-binary '{"reason":"exposure reported"}')
eq "POST /v1/lockdown by one administrator: 200" 200 "$(status_of "$r")"
sleep 0.3
eq "trails stop at once: 423" 423 "$(status_of "$(api "$T/tok.sup2" GET '/v1/trail?rcpt=dora@acme.example')")"
mktoken ana analyst default
eq "statistics go on" 200 "$(status_of "$(api "$T/tok.ana" GET '/v1/stats?by=status')")"
check "lockdown alert" alerted change.applied
check "lockdown status says so" bash -c "'$COFFER' --config '$CONF' lockdown status | grep -q 'lockdown in force'"
out=$(as_admin 1 lockdown lift --reason "fixed" --json)
lift=$(jfield "$out" id)
eq "lifting needs two people" 2 "$(jfield "$out" required)"
as_admin 1 acl approve "$lift" 2>/dev/null
eq "the lifter cannot approve its own lift: still locked" 423 "$(status_of "$(api "$T/tok.sup2" GET '/v1/trail?rcpt=dora@acme.example')")"
as_admin 2 acl approve "$lift" >/dev/null
sleep 0.3
eq "lifted by a second administrator: trails answer again" 200 "$(status_of "$(api "$T/tok.sup2" GET '/v1/trail?rcpt=dora@acme.example')")"

# ---- every event is on the record
check "audit records for proposals, approvals, rejections, lockdown" bash -c \
  "for a in acl.grant acl.approve acl.reject acl.revoke lockdown lockdown.lift changes.propose changes.approve; do grep -q \"\\\"action\\\":\\\"\$a\\\"\" $DATA/audit/*.log || { echo missing \$a; exit 1; }; done"
serve_stop
check "the audit trail verifies" cof audit verify
check "no token in any alert" bash -c "! grep -q 'cof_' '$T/alerts.out'"
finish
