#!/usr/bin/env bash
# coffer probe --watch: repeats, sends each NEW finding once to the alert sinks (an
# HTTPS webhook whose receiver checks the HMAC signature, and a command), and stops
# cleanly on SIGTERM/SIGINT. The webhook refuses http:// URLs. Loopback only.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/probe_lib.sh"

mkdir -p "$T/pki"
printf 'cn = "watch test CA"\nca\ncert_signing_key\nexpiration_days = 2\n' >"$T/pki/ca.tmpl"
printf 'cn = "127.0.0.1"\nip_address = "127.0.0.1"\ntls_www_server\nexpiration_days = 2\n' >"$T/pki/srv.tmpl"
certtool --generate-privkey --key-type ecdsa --outfile "$T/pki/ca.key" 2>/dev/null
certtool --generate-self-signed --load-privkey "$T/pki/ca.key" --template "$T/pki/ca.tmpl" --outfile "$T/pki/ca.pem" 2>/dev/null
certtool --generate-privkey --key-type ecdsa --outfile "$T/pki/srv.key" 2>/dev/null
certtool --generate-certificate --load-privkey "$T/pki/srv.key" --load-ca-certificate "$T/pki/ca.pem" \
  --load-ca-privkey "$T/pki/ca.key" --template "$T/pki/srv.tmpl" --outfile "$T/pki/srv.pem" 2>/dev/null

head -c 48 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$T/hook.key"; echo >>"$T/hook.key"
chmod 600 "$T/hook.key"
W=$(freeport)
SECRET_FILE=$T/hook.key OUT_FILE=$T/hook.out responder webhook "$W" "$T/pki/srv.pem" "$T/pki/srv.key"
cat >"$T/sink.sh" <<SH
#!/bin/sh
cat >>"$T/cmd.out"
SH
chmod 755 "$T/sink.sh"
cat >"$T/alert.conf" <<C
alert.syslog = off
alert.webhook = https://127.0.0.1:$W/hook
alert.webhook_secret_file = $T/hook.key
alert.webhook_ca = $T/pki/ca.pem
alert.command = $T/sink.sh
C

p=$(freeport); responder coffer-plain "$p"   # critical from the first round on
q=$(freeport)                                # appears later
wait_lines() { # file pattern count
  local i c
  for i in $(seq 1 300); do
    c=$(grep -c "$2" "$1" 2>/dev/null)
    [ "${c:-0}" -ge "$3" ] && return 0
    sleep 0.1
  done
  return 1
}
"$COFFER" --config "$T/alert.conf" probe --watch 1s --timeout 1000 "127.0.0.1:$p" "127.0.0.1:$q" \
  >"$T/watch.out" 2>"$T/watch.err" &
WP=$!
check "first finding reaches the command sink" wait_lines "$T/cmd.out" probe_finding 1
check "first finding reaches the webhook" wait_lines "$T/hook.out" probe_finding 1
responder coffer-leaky "$q" "$T/pki/srv.pem" "$T/pki/srv.key"
check "the new finding is alerted in a later round" wait_lines "$T/cmd.out" probe_finding 2
check "at least three rounds ran" wait_lines "$T/watch.out" '^round ' 3
kill -TERM "$WP"; wait "$WP"; rc=$?
check "SIGTERM stops --watch cleanly (exit 0 or 3, not a signal death)" test "$rc" = 0 -o "$rc" = 3
n_cmd=$(grep -c probe_finding "$T/cmd.out")
n_hook=$(grep -c '^ok probe_finding' "$T/hook.out")
crit=$(grep -c '"severity":"critical"' "$T/cmd.out")
echo "# rounds: $(grep -c '^round ' "$T/watch.out"), command alerts: $n_cmd, webhook alerts: $n_hook"
# New findings: coffer.plaintext on p; on q the unverified certificate (no --ca) and the
# leaky /healthz; each once, however many rounds ran.
eq "each new finding alerted once on the command sink" 3 "$n_cmd"
eq "each new finding alerted once on the webhook, signature valid" 3 "$n_hook"
eq "the critical one is marked critical" 1 "$crit"
check "no webhook delivery had a bad signature" bash -c "! grep -q badsig '$T/hook.out'"
check "webhook alert id header matches the body" bash -c "! grep -q ' False$' '$T/hook.out'"
check "alert JSON carries kind, severity, summary, details, host, id" python3 - "$T/cmd.out" <<'PY'
import json, sys
for line in open(sys.argv[1]):
    if line.strip():
        o = json.loads(line)
        assert all(k in o for k in ("time", "kind", "severity", "summary", "details", "host", "id")), o
        assert o["kind"] == "probe_finding" and o["details"]["port"] > 0
PY

# SIGINT as well.
"$COFFER" --config "$T/alert.conf" probe --watch 1s "127.0.0.1:$p" >"$T/w2.out" 2>&1 &
WP=$!
wait_lines "$T/w2.out" '^round ' 1
kill -INT "$WP"; wait "$WP"; rc=$?
check "SIGINT stops --watch cleanly" test "$rc" = 0 -o "$rc" = 3

# The webhook is https only.
sed 's|https://|http://|' "$T/alert.conf" >"$T/http.conf"
"$COFFER" --config "$T/http.conf" probe --watch 1s --rounds 1 "127.0.0.1:$p" >"$T/h.out" 2>"$T/h.err"; rc=$?
check "http:// webhook refused (non-zero exit)" test "$rc" -ne 0 -a "$rc" -ne 3
check "http:// webhook refusal says https" grep -q 'https' "$T/h.err"
# A webhook secret file readable by others is refused.
chmod 644 "$T/hook.key"
"$COFFER" --config "$T/alert.conf" probe --watch 1s --rounds 1 "127.0.0.1:$p" >"$T/h.out" 2>"$T/h.err"; rc=$?
eq "world-readable webhook secret refused: exit 1" 1 "$rc"
chmod 600 "$T/hook.key"
# A webhook outside allowed_networks is refused.
sed 's|https://127.0.0.1:[0-9]*|https://192.0.2.1:443|' "$T/alert.conf" >"$T/far.conf"
unshare -n "$COFFER" --config "$T/far.conf" probe --watch 1s --rounds 1 "127.0.0.1:$p" >"$T/h.out" 2>"$T/h.err"; rc=$?
eq "webhook outside allowed_networks refused: exit 1" 1 "$rc"
check "refusal names allowed_networks" grep -q allowed_networks "$T/h.err"

finish
