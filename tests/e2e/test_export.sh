#!/usr/bin/env bash
# Bulk export on the real binary: refused without a reason, without approval, or when
# the requester approves it; an approved export holds the tenant's events plus the
# requester's watermark; a second fetch is refused; mail to a watermark address raises
# poison.left naming the requester; an export over a planted trap is withheld and the
# requester suspended.
source "$(dirname "$0")/lib.sh"

start=$(date -u -d '3 days ago' +%Y-%m-%dT00:00:00Z)
"$GEN" --events 3000 --seed 31 --start "$start" --truth "$T/truth.tsv" --out "$T/mail.log" 2>/dev/null
printf '#!/bin/sh\ncat >>"%s"\necho >>"%s"\n' "$T/alerts.out" "$T/alerts.out" >"$T/sink.sh"
chmod 700 "$T/sink.sh"
printf 'alert.syslog = off\nalert.command = %s\n' "$T/sink.sh" >"$T/c.conf"
cofc() { "$COFFER" --data-dir "$DATA" --key-file "$KEY" --config "$T/c.conf" "$@"; }

check "init" cof init
cof ingest "$T/mail.log" 2>"$T/ingest.err"
stored=$(awk '/^events stored/ {print $3}' "$T/ingest.err")
# Principals through reviewed grants (lib.sh); adm1 is "bob", the approving administrator.
govboot
for p in alice:exporter carol:exporter sam:support; do
  mktoken "${p%:*}" "${p#*:}" default
  cp "$T/tok.${p%:*}" "$T/${p%:*}.tok"
done
cp "$ADMT/adm1.token" "$T/bob.tok"
check "tokens made" test -s "$T/carol.tok"
from=$(date -u -d '7 days ago' +%Y-%m-%dT%H:%M:%SZ)
to=$(date -u -d '1 minute ago' +%Y-%m-%dT%H:%M:%SZ)

cofc export request --tenant default --from "$from" --to "$to" --token-file "$T/alice.tok" 2>/dev/null
eq "no reason: usage error" 2 $?
check "... and nothing requested" bash -c "[ -z \"\$(ls '$DATA/exports' 2>/dev/null | grep json)\" ]"
check "no token: refused" bash -c "! '$COFFER' --data-dir '$DATA' --key-file '$KEY' export request --tenant default --from '$from' --to '$to' --reason r 2>/dev/null"
check "support may not export" bash -c "! '$COFFER' --data-dir '$DATA' --key-file '$KEY' export request --tenant default --from '$from' --to '$to' --reason r --token-file '$T/sam.tok' 2>/dev/null"
id=$(cofc export request --tenant default --from "$from" --to "$to" --reason "customer asked for a copy (ticket 4711)" --token-file "$T/alice.tok" 2>/dev/null)
check "request gives an id" bash -c "[[ '$id' =~ ^x-[0-9a-f]{16}$ ]]"
check "the state file is 0600" bash -c "[ \$(stat -c %a '$DATA/exports/$id.json') = 600 ]"
check "fetch before approval is refused" bash -c "! '$COFFER' --data-dir '$DATA' --key-file '$KEY' export fetch '$id' --out '$T/early.jsonl' --token-file '$T/alice.tok' 2>/dev/null"
check "... and leaves no file" test ! -e "$T/early.jsonl"
cofc export approve "$id" --token-file "$T/alice.tok" 2>"$T/self.err"
eq "the requester cannot approve" 1 $?
check "... and is told why" grep -q "second person" "$T/self.err"
check "support cannot approve" bash -c "! '$COFFER' --data-dir '$DATA' --key-file '$KEY' export approve '$id' --token-file '$T/sam.tok' 2>/dev/null"
check "an administrator approves" cofc export approve "$id" --token-file "$T/bob.tok"
check "only the requester fetches" bash -c "! '$COFFER' --data-dir '$DATA' --key-file '$KEY' export fetch '$id' --out '$T/bob.jsonl' --token-file '$T/bob.tok' 2>/dev/null"
check "alice fetches" cofc export fetch "$id" --out "$T/x.jsonl" --token-file "$T/alice.tok"
eq "export file mode" 600 "$(stat -c %a "$T/x.jsonl")"
eq "the export holds every event plus the watermark" $((stored + 8)) "$(wc -l <"$T/x.jsonl")"
# Watermark lines: recipients the log never had.
awk -F'\t' 'NR>1 {print tolower($10)}' "$T/truth.tsv" | sort -u >"$T/real.txt"
python3 -c "
import json
for l in open('$T/x.jsonl'): print(json.loads(l).get('recipient','').lower())" | sort -u >"$T/exported.txt"
comm -13 "$T/real.txt" "$T/exported.txt" | grep . >"$T/wm.txt"
eq "eight watermark recipients, unknown to the log" 8 "$(wc -l <"$T/wm.txt")"
check "personal fields are unsealed in the export" bash -c "grep -qF \"\$(sed -n 5p '$T/real.txt')\" '$T/x.jsonl'"
check "a second fetch is refused" bash -c "! '$COFFER' --data-dir '$DATA' --key-file '$KEY' export fetch '$id' --out '$T/y.jsonl' --token-file '$T/alice.tok' 2>/dev/null"
check "an existing --out is never overwritten" bash -c "! '$COFFER' --data-dir '$DATA' --key-file '$KEY' export fetch '$id' --out '$T/x.jsonl' --token-file '$T/alice.tok' 2>/dev/null && [ \$(wc -l <'$T/x.jsonl') -eq $((stored + 8)) ]"
eq "export list shows it done" done "$(cof export list --json | python3 -c "import json,sys; print([json.loads(l)['state'] for l in sys.stdin if '$id' in l][0])")"
check "poison list names alice as the watermark's owner" bash -c "'$COFFER' --data-dir '$DATA' --key-file '$KEY' poison list | grep -q 'watermark.*alice'"
cof audit show --action export.fetch --json >"$T/audit.json"
check "the fetch is audited with events, subjects, unsealed and categories" python3 -c "
import json
r=[json.loads(l) for l in open('$T/audit.json')][-1]
p=r['params']; assert r['principal']=='alice' and p['events']==$stored and p['unsealed'] is True, r
assert p['subjects']>0 and 'recipient address' in p['categories'], p
"
for k in export.requested export.approved export.fetched; do
  check "alert $k raised" grep -q "\"kind\": *\"$k\"" "$T/alerts.out"
done

# Mail to a watermark address: the export has left, and it was alice's.
stamp=$(date -u '+%b %e %H:%M:%S')
w=$(head -1 "$T/wm.txt")
cat >"$T/leak.log" <<LOG
$stamp mx1 postfix/smtpd[5077]: connect from mail.spam.example[198.51.100.78]
$stamp mx1 postfix/smtpd[5077]: 5A3A9C2D12: client=mail.spam.example[198.51.100.78]
$stamp mx1 postfix/cleanup[5078]: 5A3A9C2D12: message-id=<offer-2@spam.example>
$stamp mx1 postfix/qmgr[1811]: 5A3A9C2D12: from=<deals@spam.example>, size=4100, nrcpt=1 (queue active)
$stamp mx1 postfix/smtp[5079]: 5A3A9C2D12: to=<$w>, relay=mx.example.net[192.0.2.25]:25, delay=0.4, delays=0.1/0/0.1/0.2, dsn=2.0.0, status=sent (250 2.0.0 Ok)
$stamp mx1 postfix/qmgr[1811]: 5A3A9C2D12: removed
LOG
cofc ingest "$T/leak.log" 2>/dev/null
check "poison.left names the requester" bash -c "grep 'poison.left' '$T/alerts.out' | grep -q '\"owner\": *\"alice\"'"
check "no address in any alert" bash -c "! grep -q '@' '$T/alerts.out'"

# A planted trap in the window: carol's export is withheld and carol suspended.
cofc poison plant --tenant default --count 3 --from 2d --to 1d >/dev/null 2>&1
id2=$(cofc export request --tenant default --from "$from" --to "$to" --reason "migration" --token-file "$T/carol.tok" 2>/dev/null)
check "bob approves carol's export" cofc export approve "$id2" --token-file "$T/bob.tok"
cofc export fetch "$id2" --out "$T/z.jsonl" --token-file "$T/carol.tok" 2>"$T/z.err"
eq "the poisoned export is refused" 1 $?
check "... and writes nothing" test ! -e "$T/z.jsonl"
check "poison.hit raised, critical, naming carol" bash -c "grep 'poison.hit' '$T/alerts.out' | grep -q carol && grep 'poison.hit' '$T/alerts.out' | grep -q critical"
eq "export list shows it withheld" withheld "$(cof export list --json | python3 -c "import json,sys; print([json.loads(l)['state'] for l in sys.stdin if '$id2' in l][0])")"
if [ -f "$COF_SRC/src/change.h" ]; then
  check "carol is suspended in access.json" python3 -c "
import json; d=json.load(open('$DATA/access.json')); assert d['principals']['carol'].get('suspended') is True"
else
  bad "carol is suspended in access.json (cof_change_suspend not merged from main yet)"
fi
finish
