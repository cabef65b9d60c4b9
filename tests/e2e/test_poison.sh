#!/usr/bin/env bash
# Poison records on the real binary: planted rows are stored and counted like real
# ones, no poison address is anywhere in the data directory, `poison list` shows no
# address, and a file ingest of mail TO a poison address raises "poison.left" naming
# the set (alert.command sink writing to a file).
source "$(dirname "$0")/lib.sh"

start=$(date -u -d '3 days ago' +%Y-%m-%dT00:00:00Z)
"$GEN" --events 4000 --seed 21 --start "$start" --out "$T/mail.log" 2>/dev/null
printf '#!/bin/sh\ncat >>"%s"\necho >>"%s"\n' "$T/alerts.out" "$T/alerts.out" >"$T/sink.sh"
chmod 700 "$T/sink.sh"
printf 'alert.syslog = off\nalert.command = %s\n' "$T/sink.sh" >"$T/c.conf"
cofc() { "$COFFER" --data-dir "$DATA" --key-file "$KEY" --config "$T/c.conf" "$@"; }

check "init" cof init
cof ingest "$T/mail.log" 2>"$T/ingest.err"
before=$(awk '/^events stored/ {print $3}' "$T/ingest.err")
total() { cof stats --json | python3 -c "import json,sys; print(sum(g['count'] for g in json.load(sys.stdin)['groups']))"; }
eq "stats count the real events" "$before" "$(total)"

cofc poison plant --tenant default --count 40 --domain traps.example.net --from 2d --to 1d \
  --reveal "$T/trap.txt" >"$T/plant.out" 2>"$T/plant.err"
eq "plant exit status" 0 $?
set_id=$(awk '/set/ {print $NF}' "$T/plant.out")
check "plant names a 16-hex set id" bash -c "[[ '$set_id' =~ ^[0-9a-f]{16}$ ]]"
eq "reveal file has one address per planted event" 40 "$(sort -u "$T/trap.txt" | wc -l)"
eq "reveal file mode" 600 "$(stat -c %a "$T/trap.txt")"
check "every address is in the poison domain" bash -c "! grep -v '@traps.example.net\$' '$T/trap.txt'"
check "no role-like local parts" bash -c "! grep -Eiq '^(admin|info|postmaster|abuse|noreply|no-reply|support|sales|root)@' '$T/trap.txt'"
eq "planted rows are counted like real ones" $((before + 40)) "$(total)"
eq "info counts them too" $((before + 40)) "$(cof info | awk '/^events/ {print $2}')"
a1=$(head -1 "$T/trap.txt")
eq "a planted row is stored and found like a real one" 1 "$(cof search --rcpt "$a1" --json | wc -l)"
while read -r a; do cof search --rcpt "$a" --json; done <"$T/trap.txt" >"$T/rows.json"
# Synthetic rows copy their clear shape from sampled real rows, so a planted rejection
# has no relay, like a real one: check each row against its own status.
check "planted rows have the fields of a real delivery of their status" python3 -c "
import json
rows = [json.loads(l) for l in open('$T/rows.json')]
assert len(rows) == 40, len(rows)
for e in rows:
    for k in ('time','host','instance','direction','queue_id','sender','recipient','status'):
        assert k in e, k
    assert e['direction'] == 'inbound', e['direction']
    if e['status'] == 'sent':
        for k in ('relay_host','dsn','delay','delays','size','message_id'):
            assert k in e, (k, e['status'])
assert any(e['status'] == 'sent' for e in rows)
"
found=0
while read -r a; do
  if grep -rqaF "$a" "$DATA"; then found=$((found + 1)); fi
  local_part=${a%@*}
  if grep -rqaF "$local_part" "$DATA"; then found=$((found + 1)); fi
done <"$T/trap.txt"
eq "no poison address or local part anywhere in the data directory" 0 "$found"
check "strings over the registry shows nothing of the set" bash -c "! strings '$DATA/poison.reg' | grep -q 'traps.example'"
eq "registry mode" 600 "$(stat -c %a "$DATA/poison.reg")"

cof poison list >"$T/list.out"
check "list shows the set" grep -q "$set_id.*default.*planted.*40" "$T/list.out"
check "list shows no address" bash -c "! grep -q '@' '$T/list.out'"
eq "list --json" "planted 40" "$(cof poison list --json | python3 -c "import json,sys; s=json.loads(sys.stdin.readline()); print(s['kind'], s['count'])")"
check "--reveal never overwrites" bash -c "! '$COFFER' --data-dir '$DATA' --key-file '$KEY' poison plant --tenant default --count 1 --reveal '$T/trap.txt' 2>/dev/null"
eq "a refused plant planted nothing" $((before + 40)) "$(total)"
check "bad --count is a usage error" bash -c "'$COFFER' --data-dir '$DATA' --key-file '$KEY' poison plant --tenant default --count 0 2>/dev/null; [ \$? -eq 2 ]"
check "the plant is in the audit trail" bash -c "'$COFFER' --data-dir '$DATA' --key-file '$KEY' audit show --action poison.plant --json | grep -q '$set_id'"
check "the plant was announced" grep -q '"kind": *"poison.planted"' "$T/alerts.out"

# Inbound mail to a poison address: the data has left.
stamp=$(date -u '+%b %e %H:%M:%S')
a2=$(sed -n 7p "$T/trap.txt")
cat >"$T/inbound.log" <<LOG
$stamp mx1 postfix/smtpd[4077]: connect from mail.spam.example[198.51.100.77]
$stamp mx1 postfix/smtpd[4077]: 7F3A9C2D11: client=mail.spam.example[198.51.100.77]
$stamp mx1 postfix/cleanup[4078]: 7F3A9C2D11: message-id=<offer-1@spam.example>
$stamp mx1 postfix/qmgr[1811]: 7F3A9C2D11: from=<deals@spam.example>, size=4100, nrcpt=1 (queue active)
$stamp mx1 postfix/local[4079]: 7F3A9C2D11: to=<$a2>, relay=local, delay=0.4, delays=0.1/0/0/0.3, dsn=2.0.0, status=sent (delivered to mailbox)
$stamp mx1 postfix/qmgr[1811]: 7F3A9C2D11: removed
LOG
cofc ingest "$T/inbound.log" 2>"$T/in.err"
eq "ingest still stores the event" 0 $?
check "poison.left reached the sink" grep -q '"kind": *"poison.left"' "$T/alerts.out"
check "the alert names the set" bash -c "grep 'poison.left' '$T/alerts.out' | grep -q '$set_id'"
check "the alert is critical" bash -c "grep 'poison.left' '$T/alerts.out' | grep -q '\"severity\": *\"critical\"'"
check "no address in any alert" bash -c "! grep -q '@' '$T/alerts.out'"
check "ingest reports the hit" grep -q "poison addresses reached" "$T/in.err"
cofc ingest "$T/mail.log" 2>/dev/null
eq "ordinary mail raises nothing new" 1 "$(grep -c '"kind": *"poison.left"' "$T/alerts.out")"
finish
