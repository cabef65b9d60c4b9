#!/usr/bin/env bash
# End to end: init, ingest a generated Postfix log, check events against the
# generator's ground truth, trail lookups, stats, masking, re-ingest, and that no
# personal value reaches the data directory.
source "$(dirname "$0")/lib.sh"

"$GEN" --events 6000 --seed 11 --truth "$T/truth.tsv" --out "$T/mail.log" 2>/dev/null
check "generator produced a log" test -s "$T/mail.log"
ntruth=$(($(wc -l < "$T/truth.tsv") - 1))

check "init" cof init
eq "master key mode" 600 "$(stat -c %a "$KEY")"
eq "data dir mode" 700 "$(stat -c %a "$DATA")"
eq "keyring mode" 600 "$(stat -c %a "$DATA/keyring")"
check "init twice refuses to overwrite" bash -c "! '$COFFER' --data-dir '$DATA' --key-file '$KEY' init >/dev/null 2>&1"

cof ingest "$T/mail.log" 2>"$T/ingest.err"
eq "ingest exit status" 0 $?
stored=$(awk '/^events stored/ {print $3}' "$T/ingest.err")
eq "every delivery event of the log is stored once" "$ntruth" "$stored"

stat_count() { cof stats --json | python3 -c "
import json,sys; d=json.load(sys.stdin); print(sum(g['count'] for g in d['groups'] if g['status']=='$1'))"; }
for s in sent deferred bounced expired rejected; do
  eq "stats: $s count matches the log" "$(truth_count "$T/truth.tsv" "\$15==\"$s\"")" "$(stat_count $s)"
done

# The recipient with the most events, and lookups by each searchable field.
rcpt=$(awk -F'\t' 'NR>1 && $10!="" {print $10}' "$T/truth.tsv" | sort | uniq -c | sort -rn | head -1 | awk '{print $2}')
eq "trail by recipient" "$(truth_count "$T/truth.tsv" "\$10==\"$rcpt\"")" "$(cof search --rcpt "$rcpt" --json | wc -l)"
up=$(echo "$rcpt" | tr a-z A-Z)
eq "recipient lookup is case-insensitive" "$(truth_count "$T/truth.tsv" "\$10==\"$rcpt\"")" "$(cof search --rcpt " <$up> " --json | wc -l)"
check "trail shows the unsealed recipient with the key" bash -c "'$COFFER' --data-dir '$DATA' --key-file '$KEY' search --rcpt '$rcpt' | grep -qF '$rcpt'"
check "--masked hides the local part" bash -c "! '$COFFER' --data-dir '$DATA' --key-file '$KEY' search --rcpt '$rcpt' --masked | grep -qF '$rcpt'"
sender=$(awk -F'\t' 'NR>1 && $9!="" {print $9}' "$T/truth.tsv" | sort | uniq -c | sort -rn | head -1 | awk '{print $2}')
eq "trail by sender" "$(truth_count "$T/truth.tsv" "\$9==\"$sender\"")" "$(cof search --sender "$sender" --json | wc -l)"
msgid=$(awk -F'\t' 'NR>1 && $5!="" {print $5}' "$T/truth.tsv" | head -1)
eq "trail by message-id" "$(truth_count "$T/truth.tsv" "\$5==\"$msgid\"")" "$(cof search --msgid "$msgid" --json | wc -l)"
qid=$(awk -F'\t' 'NR>1 && $4!="" {print $4}' "$T/truth.tsv" | sed -n 100p)
eq "trail by queue id" "$(truth_count "$T/truth.tsv" "\$4==\"$qid\"")" "$(cof search --queue-id "$qid" --json | wc -l)"
sasl=$(awk -F'\t' 'NR>1 && $8!="" {print $8}' "$T/truth.tsv" | head -1)
if [ -n "$sasl" ]; then
  eq "trail by SASL username" "$(truth_count "$T/truth.tsv" "\$8==\"$sasl\"")" "$(cof search --sasl "$sasl" --json | wc -l)"
fi
cip=$(awk -F'\t' 'NR>1 && $7!="" {print $7}' "$T/truth.tsv" | sort | uniq -c | sort -rn | head -1 | awk '{print $2}')
eq "trail by client IP" "$(truth_count "$T/truth.tsv" "\$7==\"$cip\"")" "$(cof search --client-ip "$cip" --json | wc -l)"
eq "no match is an empty answer" 0 "$(cof search --rcpt nobody@nowhere.invalid --json | wc -l)"
check "no wildcard search" bash -c "[ \$('$COFFER' --data-dir '$DATA' --key-file '$KEY' search --rcpt '*' --json | wc -l) -eq 0 ]"

# JSON field names are the documented ones.
cof search --rcpt "$rcpt" --json | head -1 > "$T/one.json"
check "JSON event has the documented fields" python3 -c "
import json; e=json.load(open('$T/one.json'))
need={'time','host','instance','direction','queue_id','recipient','status','tenant'}
allowed={'time','host','instance','direction','queue_id','message_id','client_host','client_ip','sasl_method','sasl_username','sender','recipient','orig_recipient','relay_host','relay_ip','relay_port','status','dsn','delay','delays','size','nrcpt','response','tls','subject','tenant','bounce_of'}
assert need <= set(e) <= allowed, set(e) ^ allowed
"

# Without the master key: statistics work, sealed values stay masked.
mv "$KEY" "$T/key.aside"
check "stats work without the master key" bash -c "'$COFFER' --data-dir '$DATA' --key-file '$KEY' stats --by status,rcpt_domain >/dev/null"
check "without the key a queue-id trail is masked" bash -c "out=\$('$COFFER' --data-dir '$DATA' --key-file '$KEY' search --queue-id '$qid'); echo \"\$out\" | grep -q '\*\*\*' && ! echo \"\$out\" | grep -qF '$rcpt'"
check "without the key a sealed-field search is a clear error" bash -c "! '$COFFER' --data-dir '$DATA' --key-file '$KEY' search --rcpt '$rcpt' 2>&1 | grep -q '$rcpt'"
mv "$T/key.aside" "$KEY"

# Re-ingesting stores nothing twice, also through a renamed gzip copy and stdin.
cof ingest "$T/mail.log" 2>"$T/re.err"
eq "re-ingest stores nothing" 0 "$(awk '/^events stored/ {print $3}' "$T/re.err")"
gzip -c "$T/mail.log" > "$T/renamed.log.gz"
cof ingest "$T/renamed.log.gz" 2>"$T/gz.err"
eq "gzip copy stores nothing" 0 "$(awk '/^events stored/ {print $3}' "$T/gz.err")"
cof ingest - < "$T/mail.log" 2>"$T/stdin.err"
eq "stdin copy stores nothing" 0 "$(awk '/^events stored/ {print $3}' "$T/stdin.err")"
eq "total still matches after re-ingests" "$ntruth" "$(cof info | awk '/^events/ {print $2}')"

check "verify: every segment intact" cof verify
check "no personal value in the data directory (plain, hex, base64)" python3 "$COF_SRC/tests/e2e/no_plaintext.py" "$T/truth.tsv" "$DATA"
check "no file in the data directory is readable by others" bash -c "[ -z \"\$(find '$DATA' -perm /077 -type f)\" ]"

# Bad input never crashes or aborts: binary junk, over-long and invalid UTF-8 lines.
{ head -c 3000 /dev/urandom; printf '\n'; head -c 20000 /dev/zero | tr '\0' 'x'; printf '\n';
  printf 'Nov  3 10:00:00 mx1 postfix/smtp[1]: 3F1A: to=<\xff\xfe@x>, status=sent\n'; } > "$T/junk.log"
cof ingest "$T/junk.log" 2>"$T/junk.err"
eq "junk input: exit status 0" 0 $?
check "junk input: skips are counted by reason" grep -q "skipped:" "$T/junk.err"
eq "junk input stored nothing" "$ntruth" "$(cof info | awk '/^events/ {print $2}')"

finish
