#!/usr/bin/env bash
# coffer check: a fresh installation has no critical finding; each dangerous setting or
# file state is found with the right severity, and a critical one makes exit status 1.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/serve_lib.sh"

CONF=$T/coffer.conf
base() { printf 'data_dir = %s\nkey_file = %s\n' "$DATA" "$KEY"; }
base >"$CONF"
cof() { "$COFFER" --config "$CONF" "$@"; }
cof init --admins adm1,adm2,adm3 --token-dir "$ADMT" >/dev/null
has() { # description severity check-id [expected exit]
  cof check --json >"$T/c.json" 2>/dev/null
  local rc=$?
  eq "$1: exit status" "${4:-1}" "$rc"
  check "$1: $3 is $2" python3 -c "
import json,sys
ok = any(json.loads(l).get('check') == '$3' and json.loads(l)['severity'] == '$2' for l in open('$T/c.json'))
sys.exit(0 if ok else 1)"
}

cof check >"$T/fresh.txt"
eq "a fresh installation has no critical finding" 0 $?
check "the report ends with counts" grep -q '^0 critical' "$T/fresh.txt"
check "--json lines parse" bash -c "'$COFFER' --config '$CONF' check --json | python3 -c 'import json,sys; [json.loads(l) for l in sys.stdin]'"

chmod 644 "$KEY"
has "world-readable master key" critical file.mode
chmod 600 "$KEY"
chmod 755 "$DATA"
has "data directory open to others" critical file.mode
chmod 700 "$DATA"
chmod 644 "$DATA/tokens.json" 2>/dev/null || true
chmod 644 "$DATA/access.json"
has "readable access document" critical file.mode
chmod 600 "$DATA/access.json" "$DATA/tokens.json" 2>/dev/null

{ base; echo "listen = 0.0.0.0:8443"; } >"$CONF"
has "public API listener without a real certificate" critical listener.no_certificate
{ base; echo "syslog_plain_listen = 0.0.0.0:5514"; } >"$CONF"
has "public plain syslog" critical listener.plaintext
{ base; echo "policy.recipient = keep"; } >"$CONF"
has "recipients stored in the clear" high policy.clear_personal 0
{ base; echo "alert.syslog = off"; } >"$CONF"
has "no alert sink" high alerts.none 0
base >"$CONF"
mktoken everyone support '*'
has "support on every tenant" medium grant.all_tenants 0

# governance facts: access.json edited here as an applied reviewed change would leave it
cp -p "$DATA/access.json" "$T/access.bak"
gov() { # python statements on the document d
  python3 - "$DATA/access.json" "$1" <<'PY'
import json, sys
p = sys.argv[1]
d = json.load(open(p))
exec(sys.argv[2])
open(p, "w").write(json.dumps(d, indent=2, sort_keys=True))
PY
}
has "no retention anywhere" low retention.forever 0
check "the finding names the default tenant" grep -q 'tenant default: data is kept forever' "$T/c.json"
gov "d['retention'] = {'default_days': 30, 'tenants': {}}"
cof check --json >"$T/c.json"
check "a default retention: no keep-forever finding" bash -c "! grep -q retention.forever '$T/c.json'"
gov "d['principals']['adm2']['suspended'] = True; d['principals']['adm3']['grants'] = []"
has "one administrator left" critical access.single_admin
gov "d['governance']['single_admin'] = True; d['governance']['approvals'] = 1"
has "one administrator, explicit setting" medium access.single_admin 0
check "the explicit setting is named" grep -q 'single-administrator installation (explicit setting)' "$T/c.json"
gov "d['lockdown'] = {'since': '2026-11-24T00:00:00Z', 'by': 'adm1', 'reason': 'token leaked'}"
has "a lockdown in force" info access.lockdown 0
cp -p "$T/access.bak" "$DATA/access.json"
cof check --json >"$T/c.json"
check "two administrators again: no single-admin finding" bash -c "! grep -q access.single_admin '$T/c.json'"

# a broken audit trail is critical
PORT=$(free_port)
CERT=$T/keys/tls/server.crt
serve_start && curl -s --cacert "$CERT" "https://127.0.0.1:$PORT/v1/whoami" >/dev/null
serve_stop TERM
f=$(ls "$DATA"/audit/*.log | head -1)
python3 - "$f" <<'PY'
import sys
p = sys.argv[1]
b = bytearray(open(p, "rb").read())
i = b.index(b'"action":"auth"') + 11
b[i] = ord('X')
open(p, "wb").write(bytes(b))
PY
has "an edited audit record" critical audit.broken

finish
