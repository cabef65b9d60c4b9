#!/usr/bin/env bash
# The server refuses to answer what it cannot record (audit trail on a full disk ->
# 503, no data), and SIGHUP swaps the TLS certificate without a restart.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/serve_lib.sh"

# ---- SIGHUP reloads the certificate
CONF=$T/coffer.conf
mkdir -p "$T/certs"
printf 'data_dir = %s\nkey_file = %s\ntls_cert = %s\ntls_key = %s\n' "$DATA" "$KEY" \
  "$T/certs/server.crt" "$T/certs/server.key" >"$CONF"
cof() { "$COFFER" --config "$CONF" "$@"; }
cof init >/dev/null
mkcert() { # name -> self-signed certificate for 127.0.0.1 in $T/certs/NAME.{crt,key}
  printf 'cn = "%s"\nip_address = "127.0.0.1"\ntls_www_server\nsigning_key\nexpiration_days = 2\n' "$1" >"$T/certs/$1.tmpl"
  certtool --generate-privkey --key-type ecdsa --outfile "$T/certs/$1.key" 2>/dev/null
  certtool --generate-self-signed --load-privkey "$T/certs/$1.key" --template "$T/certs/$1.tmpl" \
    --outfile "$T/certs/$1.crt" 2>/dev/null
  chmod 600 "$T/certs/$1.key"
}
mkcert first
mkcert second
cp "$T/certs/first.crt" "$T/certs/server.crt"
cp "$T/certs/first.key" "$T/certs/server.key"
chmod 600 "$T/certs/server.key"
CERT=$T/certs/first.crt
PORT=$(free_port)
check "server starts with the operator's certificate" serve_start
hz() { curl -s -m 5 --cacert "$1" "https://127.0.0.1:$PORT/healthz"; }
eq "the first certificate is served" '{"status":"ok"}' "$(hz "$T/certs/first.crt")"
cp "$T/certs/second.crt" "$T/certs/server.crt"
cp "$T/certs/second.key" "$T/certs/server.key"
kill -HUP "$SRVPID"
sleep 1
eq "after SIGHUP the second certificate is served" '{"status":"ok"}' "$(hz "$T/certs/second.crt")"
check "and the first one no longer" bash -c "! curl -s -m 5 --cacert '$T/certs/first.crt' https://127.0.0.1:$PORT/healthz >/dev/null"
check "the server logged the reload" grep -q "reload done" "$SRVLOG"
CERT=$T/certs/second.crt
serve_stop TERM
check "the reload is in the audit trail" bash -c "'$COFFER' --config '$CONF' audit show --action serve.reload | grep -q serve.reload"

# ---- no audit record, no answer: the data directory on a full disk
if mkdir -p "$T/small" && mount -t tmpfs -o size=2m tmpfs "$T/small" 2>/dev/null; then
  D2=$T/small/data
  CONF2=$T/coffer2.conf
  printf 'data_dir = %s\nkey_file = %s\n' "$D2" "$T/keys2/master.key" >"$CONF2"
  "$COFFER" --config "$CONF2" init >/dev/null
  printf '{"time":"2026-11-20T10:00:00Z","queue_id":"F1","recipient":"full@disk.example","status":"sent"}\n' >"$T/one.jsonl"
  "$COFFER" --config "$CONF2" ingest --format json "$T/one.jsonl" 2>/dev/null
  ( cof() { "$COFFER" --config "$CONF2" "$@"; }; ADMT=$T/adm2; mktoken s support '*' )
  saved=(DATA KEY CONF CERT)
  DATA=$D2 KEY=$T/keys2/master.key CONF=$CONF2 CERT=$T/keys2/tls/server.crt
  PORT=$(free_port)
  check "server starts on the small disk" serve_start
  r=$(api "$T/tok.s" GET "/v1/trail?rcpt=full@disk.example")
  eq "with room for the audit trail the trail answers" 200 "$(status_of "$r")"
  dd if=/dev/zero of="$T/small/filler" bs=64k 2>/dev/null # fill the disk
  r=""
  for i in 1 2 3 4 5 6 7 8 9 10; do # a few records fit in the last free bytes
    r=$(api "$T/tok.s" GET "/v1/trail?rcpt=full@disk.example")
    [ "$(status_of "$r")" = 503 ] && break
  done
  eq "when the audit trail cannot be written the answer is 503" 503 "$(status_of "$r")"
  check "and carries no data" bash -c "! echo '$(body_of "$r")' | grep -q 'full@disk'"
  rm -f "$T/small/filler"
  r=$(api "$T/tok.s" GET "/v1/trail?rcpt=full@disk.example")
  eq "a failed trail stays failed until a restart (no silent gap)" 503 "$(status_of "$r")"
  serve_stop KILL
  DATA=$T/data KEY=$T/keys/master.key
  umount "$T/small"
else
  bad "cannot mount a tmpfs for the full-disk test (needs root)"
fi

finish
