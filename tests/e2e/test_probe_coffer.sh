#!/usr/bin/env bash
# coffer probe against a real `coffer serve`: locked down (TLS the probe can verify,
# every route 401 without a token, /healthz says only ok) gives nothing at or above
# medium; the same server with a certificate the probe cannot verify is a high
# finding that names the fingerprint to pin, and pinning it clears the finding.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/serve_lib.sh"
source "$(dirname "$0")/probe_lib.sh"

CONF=$T/coffer.conf
printf 'data_dir = %s\nkey_file = %s\n' "$DATA" "$KEY" >"$CONF"
"$COFFER" --config "$CONF" init >/dev/null
PORT=$(free_port)
check "coffer serve starts" serve_start
PIDS+=("$SRVPID")

probe_json "$PORT" --ca "$CERT" >"$T/locked.json"
check "the probe reached the server" grep -q '"open":1' "$T/locked.json"
m=$(max_sev "$T/locked.json")
if below_medium "$m"; then ok "a locked-down coffer gives nothing at or above medium ($m)"; else bad "locked-down coffer gives $m"; cat "$T/locked.json"; fi
check "the probe recognised a coffer endpoint" grep -qi 'coffer' "$T/locked.json"

probe_json "$PORT" >"$T/untrusted.json"
m=$(max_sev "$T/untrusted.json")
eq "a certificate the probe cannot verify is a high finding" high "$m"
fp=$(python3 -c "import ssl,hashlib; print(hashlib.sha256(ssl.PEM_cert_to_DER_cert(open('$CERT').read())).hexdigest())")
check "the finding names the fingerprint to pin" grep -q "$fp" "$T/untrusted.json"
printf 'probe.pin_sha256 = %s\n' "$fp" >"$T/pin.conf"
"$COFFER" --config "$T/pin.conf" probe --json --timeout 1500 "127.0.0.1:$PORT" >"$T/pinned.json" 2>/dev/null
m=$(max_sev "$T/pinned.json")
if below_medium "$m"; then ok "pinning the certificate clears it ($m)"; else bad "pinned probe gives $m"; cat "$T/pinned.json"; fi
"$COFFER" --config "$CONF" audit show --json >"$T/audit.jsonl" 2>/dev/null || true
serve_stop TERM
"$COFFER" --config "$CONF" audit show --json >"$T/audit.jsonl" 2>/dev/null
check "the server audited the probe's unauthenticated requests" grep -q '"action":"auth".*"outcome":"denied"' "$T/audit.jsonl"

finish
