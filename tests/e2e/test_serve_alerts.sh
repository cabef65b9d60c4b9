#!/usr/bin/env bash
# The server's alarms reach the alert sinks: a support principal past its hourly unseal
# budget gets masked trails and raises budget.breach; a brute force raises
# auth.lockout. The sink is a command that appends the alert JSON to a file.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/serve_lib.sh"

printf '#!/bin/sh\ncat >>"%s"\necho >>"%s"\n' "$T/alerts.out" "$T/alerts.out" >"$T/sink.sh"
chmod 755 "$T/sink.sh"
CONF=$T/coffer.conf
printf 'data_dir = %s\nkey_file = %s\nbudget_per_hour = 5\nlockout_failures = 6\nalert.syslog = off\nalert.command = %s\n' \
  "$DATA" "$KEY" "$T/sink.sh" >"$CONF"
cof() { "$COFFER" --config "$CONF" "$@"; }
cof init >/dev/null
for i in $(seq 1 4); do
  printf '{"time":"2026-11-20T10:00:0%dZ","queue_id":"B%d","sender":"shop@budget.example","recipient":"carol@budget.example","status":"sent"}\n' "$i" "$i"
done >"$T/four.jsonl"
cof ingest --format json "$T/four.jsonl" 2>/dev/null
mktoken sup support '*'
printf 'cof_0123456789abcdef_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\n' >"$T/tok.bogus"
chmod 600 "$T/tok.bogus"
PORT=$(free_port)
check "server starts" serve_start

# 4 unsealed events fit in the budget of 5; the next 4 do not.
r1=$(api "$T/tok.sup" GET "/v1/trail?rcpt=carol@budget.example")
check "within budget: unsealed" bash -c "echo '$(body_of "$r1")' | grep -q '\"recipient\":\"carol@budget.example\".*\"unsealed\":true'"
r2=$(api "$T/tok.sup" GET "/v1/trail?rcpt=carol@budget.example")
eq "past the budget the trail still answers" 200 "$(status_of "$r2")"
check "but personal fields are masked" bash -c "! echo '$(body_of "$r2")' | grep -q 'carol@budget'"
check "and it says why" bash -c "echo '$(body_of "$r2")' | grep -q '\"budget_exhausted\":true'"
check "the masked answer keeps the clear columns" bash -c "echo '$(body_of "$r2")' | grep -q '\*\*\*@budget.example'"
wait_for() { for _ in $(seq 1 100); do grep -q "$1" "$T/alerts.out" 2>/dev/null && return 0; sleep 0.1; done; return 1; }
check "a budget.breach alert reached the sink" wait_for '"kind": *"budget.breach"'
check "the alert names the principal, not the address" bash -c "grep 'budget.breach' '$T/alerts.out' | grep -q sup && ! grep -q carol '$T/alerts.out'"

for i in $(seq 1 12); do SRC=127.0.0.7 api "$T/tok.bogus" GET /v1/whoami >/dev/null; done
check "a brute force raises auth.lockout" wait_for '"kind": *"auth.lockout"'
check "the lockout alert names the source" bash -c "grep 'auth.lockout' '$T/alerts.out' | grep -q 127.0.0.7"
check "no token in any alert" bash -c "! grep -q 'cof_' '$T/alerts.out'"
serve_stop TERM

finish
