#!/usr/bin/env bash
# `coffer check --evidence FILE` and `coffer verify-evidence`: a signed report of a real
# store (principals, tokens, approval history, audit chain) verifies offline with the
# key `coffer audit pubkey` prints; one changed byte, another key, or a report signed by
# another store is refused; the file is 0600 and never silently overwritten; no secret
# (token, master key, webhook secret) is in it.
source "$(dirname "$0")/lib.sh"

cof init >/dev/null 2>&1
check "three administrators and alice (support on acme) through reviewed changes" mktoken alice support acme
# a webhook secret and an approval history in the lead's change-file format
printf 'webhook-secret-value-do-not-leak\n' >"$T/hook.secret"
chmod 600 "$T/hook.secret"
CONF=$T/coffer.conf
cat >"$CONF" <<EOF
alert.webhook = https://user:pw@127.0.0.1:9/hook?key=querysecret
alert.webhook_secret_file = $T/hook.secret
EOF
mkdir -p "$DATA/changes"
cat >"$DATA/changes/c-00112233aabbccdd.json" <<'EOF'
{"format":"coffer-change-1","id":"c-00112233aabbccdd","kind":"widen","proposer":"root1","created":"2026-11-20T10:00:00Z","expires":"2026-11-21T10:00:00Z","base_version":2,"summary":"support for bob","effects":["bob gains support on acme"],"findings":[{"severity":"medium","check":"grant","what":"personal data"}],"required":2,"approvals":[{"principal":"root2","time":"2026-11-20T11:00:00Z"}],"rejections":[],"state":"applied","applied":"2026-11-20T11:00:01Z","applied_version":3,"document":{}}
EOF
chmod 600 "$DATA/changes/"*.json
ev() { "$COFFER" --data-dir "$DATA" --key-file "$KEY" --config "$CONF" "$@"; }

ev check --evidence "$T/ev.json" >"$T/check.out" 2>"$T/check.err"
rc=$?
check "check --evidence: exit 0 or 1 (as check)" test "$rc" -le 1
check "check --evidence: says where and with which key" grep -q "signed evidence written to $T/ev.json (key SHA256:" "$T/check.err"
check "check output unchanged: the summary line" grep -q '^[0-9]* critical, [0-9]* high' "$T/check.out"
eq "evidence file mode" 600 "$(stat -c %a "$T/ev.json")"
cof audit pubkey >"$T/audit.pub"
pk=$(cat "$T/audit.pub")

# offline: no data directory, no master key
(cd "$T" && "$COFFER" --data-dir "$T/nothing" --key-file "$T/nokey" verify-evidence ev.json --pubkey "$pk") >"$T/v.out" 2>&1
eq "verify with the audit public key (hex): exit 0" 0 $?
check "verify prints the key fingerprint" grep -q 'signed by key SHA256:' "$T/v.out"
"$COFFER" verify-evidence "$T/ev.json" --pubkey "$T/audit.pub" >/dev/null 2>&1
eq "verify with the public key file: exit 0" 0 $?

q() { python3 -c "import json; r=json.load(open('$T/ev.json'))['report']; print($1)"; }
eq "report: principals and roles" "adm1:admin adm2:admin adm3:admin alice:support" "$(q "' '.join(p['name']+':'+p['grants'][0]['role'] for p in r['access']['principals'])")"
eq "report: four live tokens with ids" "4 live" "$(q "str(len(r['access']['tokens']))+' '+' '.join(sorted(set(t['state'] for t in r['access']['tokens'])))")"
eq "report: the reviewed grant is in the approval history" "widen applied" "$(q "' '.join([c['kind'], c['state']]) if (c := [c for c in r['approvals']['changes'] if c['proposer']=='adm1'][0]) else ''")"
eq "report: retention per tenant (keep forever)" "0 0" "$(q "str(r['retention']['default_days'])+' '+str(r['retention']['tenants']['acme'])")"
eq "report: effective recipient policy of acme" "$(q "r['field_policies']['default']['recipient']")" "$(q "r['field_policies']['tenants']['acme']['recipient']")"
eq "report: approval history" "c-00112233aabbccdd widen root1 applied root2 medium" "$(q "' '.join([c['id'],c['kind'],c['proposer'],c['state'],c['approvals'][0]['principal'],c['finding_severities'][0]]) if (c := r['approvals']['changes'][0]) else ''")"
eq "report: audit chain intact" intact "$(q "r['audit']['status']")"
eq "report: the audit key is the published one" "$pk" "$(q "r['audit']['public_key']")"
eq "report: webhook shown as its origin only" "https://127.0.0.1:9" "$(q "r['configuration']['alerts']['webhook']")"
eq "report: the webhook secret as a path" "$T/hook.secret" "$(q "r['configuration']['alerts']['webhook_secret_file']")"
check "report: field policies per field" test "$(q "r['field_policies']['default']['recipient']")" != ""
eq "report: the check findings, as check --json prints them" "$(ev check --json | python3 -c "import json,sys; print(sorted(json.loads(l)['check'] for l in sys.stdin))")" "$(q "sorted(f['check'] for f in r['findings'])")"
tok=$(cut -c22- "$T/tok.alice")
check "no token secret in the evidence" bash -c "! grep -qF -- '$tok' '$T/ev.json'"
check "no webhook secret, URL password or query in the evidence" \
  bash -c "! grep -qE 'webhook-secret-value|querysecret|user:pw' '$T/ev.json'"
mk=$(od -An -tx1 "$KEY" | tr -d ' \n' | cut -c1-32)
check "no master key bytes in the evidence" bash -c "! grep -qF '$mk' '$T/ev.json'"

# one changed byte anywhere: refused (a sample of positions across the file)
size=$(stat -c %s "$T/ev.json")
fails=0
for pos in 1 12 40 80 $((size / 3)) $((size / 2)) $((size - 140)) $((size - 20)) $((size - 2)); do
  cp "$T/ev.json" "$T/bad.json"
  python3 - "$T/bad.json" "$pos" <<'EOF'
import sys
p, i = sys.argv[1], int(sys.argv[2])
b = bytearray(open(p, 'rb').read())
b[i] ^= 0x01
open(p, 'wb').write(b)
EOF
  "$COFFER" verify-evidence "$T/bad.json" --pubkey "$pk" >"$T/bad.out" 2>&1
  rc=$?
  if [ "$rc" -ne 1 ] || ! grep -q 'evidence INVALID: ' "$T/bad.out"; then
    fails=$((fails + 1))
    echo "  byte $pos: exit $rc: $(cat "$T/bad.out")"
  fi
done
eq "one flipped byte at 9 positions: each INVALID (exit 1)" 0 "$fails"
# a changed value, re-serialized canonically: the signature says so
python3 - "$T/ev.json" "$T/bad.json" <<'EOF'
import json, sys
d = json.load(open(sys.argv[1]))
d['report']['access']['principals'][0]['grants'][0]['role'] = 'auditor'
open(sys.argv[2], 'w').write(json.dumps(d, sort_keys=True, separators=(',', ':'), ensure_ascii=False) + '\n')
EOF
"$COFFER" verify-evidence "$T/bad.json" --pubkey "$pk" >"$T/bad.out" 2>&1
eq "an edited grant: exit 1" 1 $?
check "an edited grant: the signature is named" grep -q 'signature does not match' "$T/bad.out"

# another key: refused, whatever the file embeds
other=$(python3 -c 'print("cd"*32)')
"$COFFER" verify-evidence "$T/ev.json" --pubkey "$other" >"$T/bad.out" 2>&1
eq "wrong public key: exit 1" 1 $?
check "wrong public key: said" grep -q 'another key' "$T/bad.out"
# a second store's evidence with its own embedded key: not valid under ours
D2=$T/data2
"$COFFER" --data-dir "$D2" --key-file "$T/keys2/master.key" init >/dev/null 2>&1
"$COFFER" --data-dir "$D2" --key-file "$T/keys2/master.key" check --evidence "$T/ev2.json" >/dev/null 2>&1
"$COFFER" verify-evidence "$T/ev2.json" --pubkey "$pk" >/dev/null 2>&1
eq "another store's evidence under our key: exit 1" 1 $?

# usage, overwrite protection
"$COFFER" verify-evidence "$T/ev.json" >/dev/null 2>&1
eq "verify-evidence without --pubkey: exit 2" 2 $?
"$COFFER" verify-evidence "$T/ev.json" --pubkey nothex >/dev/null 2>&1
eq "verify-evidence with a bad key: exit 2" 2 $?
before=$(sha256sum <"$T/ev.json")
ev check --evidence "$T/ev.json" >/dev/null 2>"$T/err"
eq "existing evidence file: exit 1" 1 $?
check "existing evidence file: untouched" test "$before" = "$(sha256sum <"$T/ev.json")"
check "existing evidence file: says --force" grep -q -- '--force' "$T/err"
ev check --evidence "$T/ev.json" --force >/dev/null 2>&1
check "--force replaces it" test "$before" != "$(sha256sum <"$T/ev.json")"
"$COFFER" verify-evidence "$T/ev.json" --pubkey "$pk" >/dev/null 2>&1
eq "the replaced file verifies" 0 $?
eq "replaced file mode" 600 "$(stat -c %a "$T/ev.json")"

finish
