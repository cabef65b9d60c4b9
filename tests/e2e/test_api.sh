#!/usr/bin/env bash
# The HTTPS API against a real `coffer serve`, driven by curl: every route without
# credentials, with another tenant's token, expired and revoked tokens, and each role;
# nothing personal leaks into refusals, the server's log or the audit trail; ingest
# over HTTP with idempotent batches; the CLI's --server mode; the unseal budget.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/serve_lib.sh"

"$GEN" --events 3000 --seed 21 --truth "$T/truth.tsv" --out "$T/mail.log" 2>/dev/null
# Tenant "acme": mail from the most frequent sender's domain; the rest is "default".
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
check "init creates the loopback certificate" bash -c "'$COFFER' --config '$CONF' init >/dev/null && test -s '$CERT'"
eq "TLS key mode" 600 "$(stat -c %a "$T/keys/tls/server.key")"
eq "access document mode" 600 "$(stat -c %a "$DATA/access.json")"
cof ingest "$T/mail.log" 2>/dev/null

# An acme recipient and a default-tenant recipient (with the event counts of each).
rcpt_acme=$(awk -F'\t' -v d="$sdom" 'NR>1 && $10!="" && $9 ~ ("@" d "$") {print $10}' "$T/truth.tsv" | sort | uniq -c | sort -rn | head -1 | awk '{print $2}')
rcpt_def=$(awk -F'\t' -v d="$sdom" 'NR>1 && $10!="" && $9 !~ ("@" d "$") && $9!="" {print $10}' "$T/truth.tsv" | sort | uniq -c | sort -rn | head -1 | awk '{print $2}')
n_acme=$(awk -F'\t' -v r="$rcpt_acme" -v d="$sdom" 'NR>1 && $10==r && $9 ~ ("@" d "$")' "$T/truth.tsv" | wc -l)
check "test data has both tenants" test -n "$rcpt_acme" -a -n "$rcpt_def"

mktoken sup support acme
mktoken supdef support default
mktoken ana analyst acme
mktoken aud auditor '*'
mktoken adm admin '*'
mktoken cus customer acme
mktoken ing ingest '*'
mktoken met metrics '*'
mkgrant old support acme && as_admin 1 token create --principal old --expires 1s --out "$T/tok.old" 2>/dev/null
mktoken rev support acme
revid=$(cof token list --json | python3 -c "import json,sys
print([t['id'] for t in json.load(sys.stdin) if t['principal']=='rev'][0])")
check "revoke a token" as_admin 1 token revoke "$revid"
printf 'cof_0123456789abcdef_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\n' >"$T/tok.bogus"
chmod 600 "$T/tok.bogus"
sleep 1.2 # the 1-second token has expired

PORT=$(free_port)
check "server starts" serve_start

# ---- no credentials: every route is 401 with one uniform body; /healthz says only ok
r=$(api "" GET /healthz)
eq "healthz" '200 {"status":"ok"}' "$r"
routes="GET:/v1/trail?rcpt=$rcpt_acme GET:/v1/stats GET:/v1/audit GET:/v1/whoami GET:/metrics POST:/v1/events GET:/nonexistent GET:/v1/trail"
first=""
k=0 # each refusal from its own loopback address: back-off is per source
for rt in $routes; do
  m=${rt%%:*}; p=${rt#*:}
  for tf in "" "$T/tok.bogus" "$T/tok.old" "$T/tok.rev"; do
    k=$((k + 1))
    r=$(SRC=127.0.1.$k api "$tf" "$m" "$p")
    eq "$m $p with ${tf##*/}${tf:-no token}: 401" 401 "$(status_of "$r")"
    [ -z "$first" ] && first=$(body_of "$r")
    eq "$m $p: the same body for every refusal" "$first" "$(body_of "$r")"
  done
done

# ---- roles (default deny; separation of duties)
expect() { # token route method expected-status
  local r; r=$(api "$T/tok.$1" "$3" "$2")
  eq "$1 $3 ${2%%\?*}" "$4" "$(status_of "$r")"
}
for row in \
  "sup /v1/trail?rcpt=$rcpt_acme GET 200" "sup /v1/stats GET 403" "sup /v1/audit GET 403" "sup /metrics GET 403" \
  "sup /v1/events POST 403" "sup /v1/whoami GET 200" \
  "ana /v1/stats GET 200" "ana /v1/trail?rcpt=$rcpt_acme GET 403" "ana /v1/audit GET 403" \
  "aud /v1/audit GET 200" "aud /metrics GET 200" "aud /v1/trail?rcpt=$rcpt_acme GET 403" "aud /v1/stats GET 403" \
  "adm /v1/trail?rcpt=$rcpt_acme GET 403" "adm /v1/stats GET 403" "adm /metrics GET 200" \
  "cus /v1/trail?rcpt=$rcpt_acme GET 200" "cus /v1/stats GET 200" "cus /v1/audit GET 403" \
  "ing /v1/trail?rcpt=$rcpt_acme GET 403" "ing /v1/stats GET 403" \
  "met /metrics GET 200" "met /v1/trail?rcpt=$rcpt_acme GET 403" \
  "sup /v1/nothing GET 404" "sup /v1/trail POST 405"; do
  set -- $row
  expect "$1" "$2" "$3" "$4"
done

# ---- support: exact match, unsealed, own tenant only
r=$(api "$T/tok.sup" GET "/v1/trail?rcpt=$rcpt_acme&limit=1000")
eq "support sees every event of an acme recipient" "$n_acme" "$(body_of "$r" | python3 -c 'import json,sys; print(json.load(sys.stdin)["count"])')"
check "support sees the unsealed recipient" bash -c "echo '$(body_of "$r" | head -c 100000)' | grep -qF '$rcpt_acme'"
other=$(api "$T/tok.sup" GET "/v1/trail?rcpt=$rcpt_def")
none=$(api "$T/tok.sup" GET "/v1/trail?rcpt=nobody-at-all@nowhere.invalid")
eq "another tenant's data answers like no data" "$(body_of "$none")" "$(body_of "$other")"
eq "asking for another tenant by name answers like no data" "$(body_of "$none")" "$(body_of "$(api "$T/tok.sup" GET "/v1/trail?rcpt=$rcpt_def&tenant=default")")"
check "the default-tenant support principal does see it" bash -c "test \$(echo '$(body_of "$(api "$T/tok.supdef" GET "/v1/trail?rcpt=$rcpt_def")")' | python3 -c 'import json,sys; print(json.load(sys.stdin)[\"count\"])') -gt 0"
for bad in "rcpt=*" "rcpt=a*%40b.example" "rcpt=" "sender=x%40y&rcpt=x%40y" "rcpt=x%40y&foo=1" "rcpt=x%40y&limit=0" "rcpt=x%40y&cursor=AAAA"; do
  eq "trail rejects '$bad'" 400 "$(status_of "$(api "$T/tok.sup" GET "/v1/trail?$bad")")"
done
# pagination: pages of 2 add up to the whole trail; a forged cursor is refused
total=0; cursor=""; pages=0
while :; do
  r=$(api "$T/tok.sup" GET "/v1/trail?rcpt=$rcpt_acme&limit=2${cursor:+&cursor=$cursor}")
  c=$(body_of "$r" | python3 -c 'import json,sys; d=json.load(sys.stdin); print(d["count"], d["next_cursor"] or "")')
  total=$((total + ${c%% *})); cursor=${c#* }; cursor=${cursor# }; pages=$((pages + 1))
  [ -z "$cursor" ] || [ $pages -gt 500 ] && break
done
eq "cursor pagination returns every event once" "$n_acme" "$total"
r=$(api "$T/tok.sup" GET "/v1/trail?rcpt=$rcpt_acme&limit=1")
cur=$(body_of "$r" | python3 -c 'import json,sys; print(json.load(sys.stdin)["next_cursor"] or "")')
eq "a cursor of one query does not work for another" 400 "$(status_of "$(api "$T/tok.sup" GET "/v1/trail?rcpt=$rcpt_def&cursor=$cur")")"

# ---- analyst and customer statistics are tenant-scoped and carry no personal field
r=$(api "$T/tok.ana" GET "/v1/stats?by=status,rcpt_domain")
check "analyst stats have rows" bash -c "echo '$(body_of "$r")' | python3 -c 'import json,sys; assert json.load(sys.stdin)[\"rows\"]'"
check "analyst stats hold no address" bash -c "! echo '$(body_of "$r")' | grep -qF '@'"
acme_total=$(body_of "$(api "$T/tok.cus" GET /v1/stats)" | python3 -c 'import json,sys; print(json.load(sys.stdin)["total"])')
all_total=$(cof stats --json | python3 -c 'import json,sys; print(sum(g["count"] for g in json.load(sys.stdin)["groups"]))')
check "customer statistics cover its tenant only ($acme_total of $all_total)" test "$acme_total" -gt 0 -a "$acme_total" -lt "$all_total"

# ---- ingest over HTTP: JSON lines, idempotent by batch id
cat >"$T/batch.jsonl" <<'EOF'
{"time":"2026-11-20T10:00:00Z","queue_id":"4XyzHTTP01","sender":"api-sender@acme-http.example","recipient":"api-rcpt@dest-http.example","status":"sent","relay_host":"mx.dest-http.example","dsn":"2.0.0"}
{"time":"2026-11-20T10:00:01Z","queue_id":"4XyzHTTP02","sender":"api-sender@acme-http.example","recipient":"api-rcpt@dest-http.example","status":"bounced","dsn":"5.1.1"}
EOF
r=$(api "$T/tok.ing" POST "/v1/events" -H 'Content-Type: application/x-ndjson' -H 'Idempotency-Key: batch-0001' --data-binary @"$T/batch.jsonl")
eq "POST /v1/events accepted" 202 "$(status_of "$r")"
check "202 says how many lines" bash -c "echo '$(body_of "$r")' | grep -q '\"accepted\":2'"
r=$(api "$T/tok.ing" POST "/v1/events" -H 'Content-Type: application/x-ndjson' -H 'Idempotency-Key: batch-0001' --data-binary @"$T/batch.jsonl")
check "the same batch id again is a duplicate" bash -c "echo '$(body_of "$r")' | grep -q '\"duplicate\":true'"
eq "a batch without a content type is refused" 400 "$(status_of "$(api "$T/tok.ing" POST /v1/events -H 'Content-Type: image/png' --data-binary @"$T/batch.jsonl")")"
sleep 2.5 # the intake releases and flushes after 1 s idle
n=$(body_of "$(api "$T/tok.supdef" GET "/v1/trail?rcpt=api-rcpt@dest-http.example")" | python3 -c 'import json,sys; print(json.load(sys.stdin)["count"])')
eq "events posted over HTTP are found, once" 2 "$n"

# ---- the CLI against the server
out=$(cof search --server "https://127.0.0.1:$PORT" --token-file "$T/tok.sup" --rcpt "$rcpt_acme" --json | wc -l)
eq "coffer search --server returns the trail" "$n_acme" "$out"
check "coffer stats --server works for an analyst" bash -c "'$COFFER' --config '$CONF' stats --server https://127.0.0.1:$PORT --token-file '$T/tok.ana' --json | grep -q count"
check "coffer search --server refuses http://" bash -c "! '$COFFER' --config '$CONF' search --server http://127.0.0.1:$PORT --token-file '$T/tok.sup' --rcpt a@b.example 2>/dev/null"
chmod 644 "$T/tok.sup"
check "a world-readable token file is refused" bash -c "! '$COFFER' --config '$CONF' search --server https://127.0.0.1:$PORT --token-file '$T/tok.sup' --rcpt a@b.example 2>/dev/null"
chmod 600 "$T/tok.sup"

# ---- whoami and metrics
check "whoami names the principal and role" bash -c "echo '$(body_of "$(api "$T/tok.cus" GET /v1/whoami)")' | grep -q '\"principal\":\"cus\".*customer'"
m=$(body_of "$(api "$T/tok.met" GET /metrics)")
for k in coffer_requests_total coffer_auth_failures_total coffer_lockouts_total coffer_request_seconds_bucket 'coffer_events{status="sent"}' coffer_ingest_events_total; do
  check "metrics has $k" bash -c "echo '$m' | grep -qF '$k'"
done

# ---- TLS: no plain HTTP, no TLS 1.1
check "plain HTTP gets no HTTP answer" bash -c "! curl -s -m 3 http://127.0.0.1:$PORT/healthz | grep -q ok"
check "TLS 1.1 is refused" bash -c "! curl -s -m 3 --cacert '$CERT' --tls-max 1.1 https://127.0.0.1:$PORT/healthz >/dev/null 2>&1"
check "TLS 1.2 is accepted" bash -c "curl -s -m 3 --cacert '$CERT' --tls-max 1.2 https://127.0.0.1:$PORT/healthz | grep -q ok"

# ---- stop; the audit trail holds every request, verifies, and holds no personal value
check "SIGTERM stops the server cleanly" serve_stop TERM
check "audit trail verifies" cof audit verify
cof audit show --json >"$T/audit.jsonl" 2>/dev/null
check "audit has the support lookups" grep -q '"principal":"sup".*"action":"trail"' "$T/audit.jsonl"
check "audit records refused requests" grep -q '"action":"auth".*"outcome":"denied"' "$T/audit.jsonl"
check "audit records events returned with their ids" grep -q '"events":[1-9][0-9]*,"ids":"' "$T/audit.jsonl"
leak=0
for v in "$rcpt_acme" "$rcpt_def" "$sender" api-rcpt@dest-http.example; do
  grep -rqF "$v" "$DATA/audit" && leak=1
  grep -qF "$v" "$SRVLOG" && leak=1
done
eq "no personal value in the audit files or the server log" 0 "$leak"
for tf in sup ana aud adm cus ing met; do
  grep -rqF "$(cat "$T/tok.$tf")" "$DATA" "$SRVLOG" && leak=1
done
eq "no token in the data directory or the server log" 0 "$leak"

# ---- secure defaults: public listeners need a real certificate; plain syslog stays local
out=$("$COFFER" --config "$CONF" serve --listen 0.0.0.0:$(free_port) 2>&1); rc=$?
eq "0.0.0.0 without a real certificate refuses to start" 1 "$rc"
check "the refusal says what to configure" bash -c "echo '$out' | grep -q 'tls_cert'"
printf 'tls_cert = %s\ntls_key = %s\n' "$CERT" "$T/keys/tls/server.key" >>"$CONF"
out=$("$COFFER" --config "$CONF" serve --listen 0.0.0.0:$(free_port) 2>&1); rc=$?
eq "the self-signed loopback certificate does not count" 1 "$rc"
out=$("$COFFER" --config "$CONF" serve --syslog-plain-listen 0.0.0.0:$(free_port) 2>&1); rc=$?
eq "plain syslog on a public address refuses to start" 1 "$rc"
check "and says why" bash -c "echo '$out' | grep -qi 'loopback'"

finish
