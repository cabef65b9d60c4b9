#!/usr/bin/env bash
# Configuration and key handling: unknown keys/options are errors, the key file must
# be private and outside the data dir, a wrong key is a clear error, tenant rules and
# field policies take effect.
source "$(dirname "$0")/lib.sh"

printf 'data_dir = %s\nkey_file = %s\nfsync = always\n' "$DATA" "$KEY" > "$T/ok.conf"
check "init from a config file" "$COFFER" --config "$T/ok.conf" init
printf 'data_dir = %s\nkey_fiel = x\n' "$DATA" > "$T/typo.conf"
out=$("$COFFER" --config "$T/typo.conf" info 2>&1); rc=$?
eq "unknown config key: exit 2" 2 "$rc"
check "unknown config key: names file and line" bash -c "echo '$out' | grep -q 'typo.conf:2'"
printf 'policy.recipient = sael\n' > "$T/bad.conf"
check "bad policy word is an error" bash -c "! '$COFFER' --config '$T/bad.conf' info 2>/dev/null"
printf 'policy.relay_host = domain\n' > "$T/bad2.conf"
check "domain policy on a non-address field is an error" bash -c "! '$COFFER' --config '$T/bad2.conf' info 2>/dev/null"
out=$(cof ingest --bogus x 2>&1); rc=$?
eq "unknown option: exit 2" 2 "$rc"
check "unknown command fails" bash -c "! '$COFFER' frobnicate 2>/dev/null"
check "--help helps" bash -c "'$COFFER' --help | grep -q ingest && '$COFFER' help search | grep -q -- --rcpt"

printf 'Nov  3 10:00:00 mx1 postfix/qmgr[2]: 3F1A2B: from=<a@b.example>, size=10, nrcpt=1 (queue active)\n' > "$T/one.log"
printf 'Nov  3 10:00:01 mx1 postfix/smtp[3]: 3F1A2B: to=<c@d.example>, relay=mx.d.example[192.0.2.9]:25, delay=1, delays=0.1/0/0.4/0.5, dsn=2.0.0, status=sent (250 ok)\n' >> "$T/one.log"
printf 'Nov  3 10:00:01 mx1 postfix/qmgr[2]: 3F1A2B: removed\n' >> "$T/one.log"
chmod 644 "$KEY"
out=$(cof ingest "$T/one.log" 2>&1); rc=$?
check "key file with mode 0644 is refused" test "$rc" -ne 0
check "refusal says how to fix it" bash -c "echo \"$out\" | grep -q 'chmod'"
chmod 600 "$KEY"
mkdir -p "$T/other"
"$COFFER" --data-dir "$T/otherdata" --key-file "$T/other/master.key" init >/dev/null
out=$("$COFFER" --data-dir "$DATA" --key-file "$T/other/master.key" ingest "$T/one.log" 2>&1); rc=$?
check "wrong master key is refused" test "$rc" -ne 0
check "wrong master key gives a clear message" bash -c "echo \"$out\" | grep -qi 'does not open'"
out=$("$COFFER" --data-dir "$DATA" --key-file "$T/missing.key" ingest "$T/one.log" 2>&1); rc=$?
check "missing master key is a clear error" bash -c "[ $rc -ne 0 ] && echo \"$out\" | grep -qi 'not found'"
check "master key inside the data dir is refused" bash -c "! '$COFFER' --data-dir '$T/d3' --key-file '$T/d3/master.key' init >/dev/null 2>&1"

# Tenant rules and per-tenant policy.
cat > "$T/tenants.conf" <<CONF
data_dir = $T/tdata
key_file = $KEY
default_tenant = shared
tenant_rule = sender_domain:.acme.example => acme
tenant_rule = client_net:198.51.100.0/24 => beta
tenant.acme.subject = seal
CONF
"$COFFER" --config "$T/tenants.conf" init >/dev/null
cat > "$T/t.log" <<'LOG'
Nov  3 10:00:00 mx1 postfix/smtpd[1]: connect from a.example[203.0.113.5]
Nov  3 10:00:00 mx1 postfix/smtpd[1]: 1AAAAA: client=a.example[203.0.113.5]
Nov  3 10:00:00 mx1 postfix/cleanup[9]: 1AAAAA: message-id=<m1@acme.example>
Nov  3 10:00:00 mx1 postfix/cleanup[9]: 1AAAAA: warning: header Subject: Quarterly numbers from a.example[203.0.113.5]; from=<x@mail.acme.example> to=<y@z.example> proto=ESMTP helo=<a.example>
Nov  3 10:00:00 mx1 postfix/qmgr[2]: 1AAAAA: from=<x@mail.acme.example>, size=10, nrcpt=1 (queue active)
Nov  3 10:00:01 mx1 postfix/smtp[3]: 1AAAAA: to=<y@z.example>, relay=mx.z.example[192.0.2.9]:25, delay=1, delays=0.1/0/0.4/0.5, dsn=2.0.0, status=sent (250 ok)
Nov  3 10:00:01 mx1 postfix/qmgr[2]: 1AAAAA: removed
Nov  3 10:01:00 mx1 postfix/smtpd[4]: connect from b.example[198.51.100.7]
Nov  3 10:01:00 mx1 postfix/smtpd[4]: 2BBBBB: client=b.example[198.51.100.7]
Nov  3 10:01:00 mx1 postfix/cleanup[9]: 2BBBBB: warning: header Subject: Secret plans from b.example[198.51.100.7]; from=<p@q.example> to=<r@s.example> proto=ESMTP helo=<b.example>
Nov  3 10:01:00 mx1 postfix/qmgr[2]: 2BBBBB: from=<p@q.example>, size=10, nrcpt=1 (queue active)
Nov  3 10:01:01 mx1 postfix/smtp[3]: 2BBBBB: to=<r@s.example>, relay=mx.s.example[192.0.2.8]:25, delay=1, delays=0.1/0/0.4/0.5, dsn=2.0.0, status=sent (250 ok)
Nov  3 10:01:01 mx1 postfix/qmgr[2]: 2BBBBB: removed
Nov  3 10:02:00 mx1 postfix/qmgr[2]: 3CCCCC: from=<u@v.example>, size=10, nrcpt=1 (queue active)
Nov  3 10:02:01 mx1 postfix/smtp[3]: 3CCCCC: to=<w@v.example>, relay=mx.v.example[192.0.2.7]:25, delay=1, delays=0.1/0/0.4/0.5, dsn=2.0.0, status=sent (250 ok)
Nov  3 10:02:01 mx1 postfix/qmgr[2]: 3CCCCC: removed
LOG
"$COFFER" --config "$T/tenants.conf" ingest --year 2026 "$T/t.log" 2>/dev/null
tstat=$("$COFFER" --config "$T/tenants.conf" stats --by tenant --json)
for t in acme beta shared; do
  eq "tenant rule puts one message in $t" 1 "$(echo "$tstat" | python3 -c "import json,sys; print(sum(g['count'] for g in json.load(sys.stdin)['groups'] if g['tenant']=='$t'))")"
done
check "a tenant that opted in keeps its subject, sealed" bash -c "'$COFFER' --config '$T/tenants.conf' search --rcpt y@z.example | grep -q 'Quarterly numbers'"
check "other tenants' subjects are dropped" bash -c "! '$COFFER' --config '$T/tenants.conf' search --rcpt r@s.example | grep -q 'Secret plans'"
check "the sealed subject is not on disk in clear" bash -c "! grep -rqa 'Quarterly' '$T/tdata'"
check "--tenant scopes a search" bash -c "[ \$('$COFFER' --config '$T/tenants.conf' search --rcpt y@z.example --tenant beta --json | wc -l) -eq 0 ]"
check "year from --year" bash -c "'$COFFER' --config '$T/tenants.conf' search --rcpt w@v.example --json | grep -q '\"time\": *\"2026-11-03T10:02:01'"

finish
