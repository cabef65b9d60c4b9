#!/usr/bin/env bash
# coffer backup / restore against a live server: batches keep arriving over HTTPS (and
# flushes and merges keep changing the segment list) while several backups are taken;
# each restores into a new directory that opens, verifies, and holds every event
# acknowledged before its backup started, none twice. Then: no plaintext in a backup,
# a flipped byte, a non-empty target and a wrong key are refused with clear errors.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/serve_lib.sh"

BATCHES=${BATCHES:-48}  # batches posted while backups run
PER=200                 # events per batch; batch b's recipients are in domain b<b>.bk.example
"$GEN" --events 6000 --seed 21 --truth "$T/truth.tsv" --out "$T/mail.log" 2>/dev/null
check "init" cof init
cof ingest "$T/mail.log" 2>/dev/null
gen_total=$(($(wc -l <"$T/truth.tsv") - 1))

# Batch files, and a truth file of their personal values for no_plaintext.py.
# The last batch is big (BIG events): posted at the end, a backup starts right after its
# 202, while the intake is still storing it, so it is only in the spool.
BIG=50000
python3 - "$T" "$BATCHES" "$PER" "$BIG" <<'EOF'
import json, sys
t, nb, per, big = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
with open(f"{t}/posted.tsv", "w") as tsv, open(f"{t}/sizes", "w") as sizes:
    tsv.write("recipient\tsender\tclient_ip\n")
    for b in range(nb + 1):
        n = big if b == nb else per
        sizes.write(f"{b} {n}\n")
        with open(f"{t}/batch{b}.jsonl", "w") as f:
            for i in range(n):
                rcpt, snd = f"bkuser{b}x{i}@b{b}.bk.example", f"bksender{b}x{i}@senders.example"
                ip = f"2001:db8::{b:x}:{i + 1:x}"
                f.write(json.dumps({"time": f"2026-11-20T10:{b % 60:02d}:{i % 60:02d}Z",
                                    "queue_id": f"BK{b:04d}Q{i:04d}", "sender": snd,
                                    "recipient": rcpt, "client_ip": ip, "status": "sent",
                                    "dsn": "2.0.0"}) + "\n")
                if b < nb:  # the big batch would only slow no_plaintext.py down
                    tsv.write(f"{rcpt}\t{snd}\t{ip}\n")
EOF

mktoken ing ingest '*'
PORT=$(free_port)
check "server starts" serve_start

# Poster: one batch at a time; "ACK b" is appended only after its 202. A pause after
# every fourth batch lets the server flush (1 s idle), so segments keep appearing and
# small ones of the same tenant-day get merged while backups run.
poster() {
  for b in $(seq 0 $((BATCHES - 1))); do
    code=$(curl -s --cacert "$CERT" -H "Authorization: Bearer $(cat "$T/tok.ing")" \
      -H 'Content-Type: application/x-ndjson' -H "Idempotency-Key: bk-$b" \
      --data-binary @"$T/batch$b.jsonl" -o /dev/null -w '%{http_code}' \
      "https://127.0.0.1:$PORT/v1/events")
    [ "$code" = 202 ] && echo "ACK $b" >>"$T/acks" || echo "FAILED $b $code" >>"$T/acks"
    [ $((b % 4)) -eq 3 ] && sleep 1.3
  done
  echo DONE >>"$T/acks"
}
: >"$T/acks"
poster &
POSTER=$!

# Backups while the poster runs: before each, remember which batches were acknowledged.
k=0
while [ $k -lt 40 ]; do # until the poster is done, so merges fall inside the backups' span
  sleep 1.2
  grep '^ACK ' "$T/acks" | awk '{print $2}' >"$T/before$k"
  tf=()
  [ $k -eq 0 ] && tf=(--token-file "$T/tok.ing") # the first names its caller
  if ! cof backup "$T/bk$k" "${tf[@]}" >"$T/bk$k.out" 2>&1; then
    bad "backup $k while the server runs: $(cat "$T/bk$k.out")"
  fi
  k=$((k + 1))
  grep -q DONE "$T/acks" && break
done
NB=$k
wait "$POSTER"
# The big batch, and a backup as soon as it is acknowledged.
code=$(curl -s --cacert "$CERT" -H "Authorization: Bearer $(cat "$T/tok.ing")" \
  -H 'Content-Type: application/x-ndjson' --data-binary @"$T/batch$BATCHES.jsonl" -o /dev/null \
  -w '%{http_code}' "https://127.0.0.1:$PORT/v1/events")
eq "the big batch is acknowledged" 202 "$code"
echo "ACK $BATCHES" >>"$T/acks"
grep '^ACK ' "$T/acks" | awk '{print $2}' >"$T/before$NB"
check "backup right after the big batch" cof backup "$T/bk$NB"
python3 -c "
import json, sys
m = json.load(open(sys.argv[1]))
print(sum(f['size'] for f in m['files'] if f['path'].startswith('spool/wal/')))" "$T/bk$NB/BACKUP" >"$T/spoolbytes"
echo "# spool bytes in the backup taken right after the big batch: $(cat "$T/spoolbytes")"
check "that backup holds spool files" test "$(cat "$T/spoolbytes")" -gt 0
NB=$((NB + 1))
eq "every batch was acknowledged" 0 "$(grep -c FAILED "$T/acks")"
check "took several backups while batches arrived ($NB)" test "$NB" -ge 4
check "the first backup started before the last batch" test "$(wc -l <"$T/before0")" -lt "$BATCHES"
check "backup says the master key is not copied" grep -q "master key is NOT in the backup" "$T/bk0.out"
# The segment list changed between backups: merges (segments dropped) happened while they ran.
python3 - "$T" "$NB" >"$T/merges" <<'EOF'
import json, sys
t, n = sys.argv[1], int(sys.argv[2])
sets = []
for k in range(n):
    m = json.load(open(f"{t}/bk{k}/BACKUP"))
    sets.append({f["path"] for f in m["files"] if f["path"].startswith("seg/")})
print(sum(1 for a, b in zip(sets, sets[1:]) if a - b))
EOF
check "segments were merged away between backups ($(cat "$T/merges") times)" test "$(cat "$T/merges")" -ge 1
echo "# manifest re-reads: $(awk '/manifest re-reads/ {s += $3} END {print s+0}' "$T"/bk*.out)"
sleep 1.5
check "server stops cleanly" serve_stop
check "the live store verifies" cof verify
check "the live audit trail verifies (backups appended while the server did)" cof audit verify
cof audit show --action backup --json >"$T/aud.json"
eq "every backup is in the audit trail" "$NB" "$(grep -c '"outcome":"ok"' "$T/aud.json")"
check "the first names its caller, the others a local operator" python3 -c "
import json, sys
r = [json.loads(l) for l in open(sys.argv[1])]
assert r[0]['principal'] == 'ing' and all(x['principal'] == '-' for x in r[1:]), [x['principal'] for x in r]
assert all(x['params']['store'] == r[0]['params']['store'] and x['params']['files'] > 0 for x in r)
" "$T/aud.json"

# count.py STATS.json BEFORE SIZES GEN_TOTAL: exit 0 if every batch in BEFORE is
# complete, no batch is partial or doubled, and the generator's events are all there.
cat >"$T/count.py" <<'EOF'
import json, sys
groups = json.load(open(sys.argv[1]))["groups"]
before = {int(x) for x in open(sys.argv[2]).read().split()}
size = {int(l.split()[0]): int(l.split()[1]) for l in open(sys.argv[3])}
gen_total = int(sys.argv[4])
counts = {}
other = 0
for g in groups:
    d = g.get("rcpt_domain") or ""
    if d.endswith(".bk.example"):
        counts[int(d[1:-len(".bk.example")])] = g["count"]
    else:
        other += g["count"]
ok = other == gen_total
for b in before:
    ok &= counts.get(b, 0) == size[b]
for b, c in counts.items():
    ok &= c in (0, size[b])   # a batch is one spool frame: all or nothing, never twice
if not ok:
    print("before:", sorted(before), "counts:", counts, "other:", other, "gen:", gen_total)
sys.exit(0 if ok else 1)
EOF

# Restore each backup into a new directory, let a server store its spool, and count.
RPORT=$(free_port)
for k in $(seq 0 $((NB - 1))); do
  R=$T/restored$k
  if ! "$COFFER" --data-dir "$R" --key-file "$KEY" restore "$T/bk$k" >"$T/rs$k.out" 2>&1; then
    bad "restore $k: $(cat "$T/rs$k.out")"
    continue
  fi
  check "restore $k prints what the store holds" grep -q '^events ' "$T/rs$k.out"
  echo "# restore $k: $(grep '^events ' "$T/rs$k.out") before a server stored the spool"
  check "restored store $k verifies" "$COFFER" --data-dir "$R" --key-file "$KEY" verify
  check "restored audit trail $k verifies" "$COFFER" --data-dir "$R" --key-file "$KEY" audit verify
  "$COFFER" --data-dir "$R" --key-file "$KEY" serve --listen "127.0.0.1:$RPORT" >>"$T/rserve.log" 2>&1 &
  rp=$!
  for _ in $(seq 1 100); do
    curl -s --cacert "$CERT" "https://127.0.0.1:$RPORT/healthz" >/dev/null 2>&1 && break
    sleep 0.1
  done
  if [ "$k" = 0 ]; then
    eq "the ingest token works on restored store 0 (tokens and grants came along)" 200 \
      "$(curl -s --cacert "$CERT" -H "Authorization: Bearer $(cat "$T/tok.ing")" -o /dev/null \
        -w '%{http_code}' "https://127.0.0.1:$RPORT/v1/whoami")"
    check "the restore is in the restored store's audit trail" bash -c \
      "'$COFFER' --data-dir '$R' --key-file '$KEY' audit show --action restore --json | grep -q '\"outcome\":\"ok\"'"
    nch=$(ls "$DATA/changes" | wc -l)
    check "the store has reviewed changes ($nch)" test "$nch" -gt 0
    eq "the reviewed changes came along" "$nch" "$(ls "$R/changes" | wc -l)"
  fi
  kill -TERM $rp
  wait $rp
  eq "a server on restored store $k starts and stops cleanly" 0 $?
  "$COFFER" --data-dir "$R" --key-file "$KEY" stats --by rcpt_domain --json >"$T/st$k.json"
  check "restore $k: every batch acknowledged before the backup is there once; nothing twice" \
    python3 "$T/count.py" "$T/st$k.json" "$T/before$k" "$T/sizes" "$gen_total"
  eq "restored store $k modes (dir, seg dir, keyring)" "700 700 600" \
    "$(stat -c %a "$R") $(stat -c %a "$R/seg") $(stat -c %a "$R/keyring")"
done

check "the count check notices missing batches" bash -c "! python3 '$T/count.py' '$T/st0.json' '$T/before$((NB - 1))' '$T/sizes' '$gen_total' >/dev/null"

# Threat model A2: a backup is as sealed as the store.
# (no_plaintext.py on the last backup taken while batches arrived: the big one's 13 MB
# spool would take it minutes; that spool is checked for the big batch's values with grep.)
check "no plaintext from the log in a backup" python3 "$COF_SRC/tests/e2e/no_plaintext.py" "$T/truth.tsv" "$T/bk$((NB - 2))"
check "no plaintext from the posted batches in a backup" python3 "$COF_SRC/tests/e2e/no_plaintext.py" "$T/posted.tsv" "$T/bk$((NB - 2))"
grep -o '"recipient": "[^"]*"\|"sender": "[^"]*"' "$T/batch$BATCHES.jsonl" | cut -d'"' -f4 | sort -u >"$T/bigvalues"
check "the big batch's $(wc -l <"$T/bigvalues") addresses are not in clear in its backup's spool" \
  bash -c "test \$(wc -l <'$T/bigvalues') -gt 1000 && ! grep -raqF -f '$T/bigvalues' '$T/bk$((NB - 1))'"
check "the grep above would find a clear address" bash -c "grep -raqF -f '$T/bigvalues' '$T/batch$BATCHES.jsonl'"
check "no key file in a backup" bash -c "! find '$T/bk0' -name 'master.key*' | grep -q ."
check "backup --verify passes on an intact backup" cof backup --verify "$T/bk0"

# A flipped byte in a backed-up segment: verify and restore name the file and refuse.
cp -a "$T/bk$((NB - 1))" "$T/tampered"
seg=$(cd "$T/tampered" && ls seg/*.seg | head -1)
python3 -c "
import sys; p=sys.argv[1]; b=bytearray(open(p,'rb').read()); b[len(b)//2]^=1; open(p,'wb').write(bytes(b))" "$T/tampered/$seg"
cof backup --verify "$T/tampered" >"$T/tv.out" 2>&1
eq "verify of a tampered backup fails" 1 $?
check "verify names the damaged file" grep -qF "$seg" "$T/tv.out"
"$COFFER" --data-dir "$T/rt" --key-file "$KEY" restore "$T/tampered" >"$T/rt.out" 2>&1
eq "restore of a tampered backup fails" 1 $?
check "restore names the damaged file" grep -qF "$seg" "$T/rt.out"
check "a refused restore leaves no directory behind" test ! -e "$T/rt"

# A non-empty target, and a wrong key.
mkdir -p "$T/full" && echo x >"$T/full/somefile"
"$COFFER" --data-dir "$T/full" --key-file "$KEY" restore "$T/bk0" >"$T/rf.out" 2>&1
eq "restore into a non-empty directory fails" 1 $?
check "it says the directory is not empty" grep -q "not empty" "$T/rf.out"
eq "the non-empty directory is untouched" "somefile" "$(ls "$T/full")"
head -c 32 /dev/urandom >"$T/keys/other.key" && chmod 600 "$T/keys/other.key"
"$COFFER" --data-dir "$T/rw" --key-file "$T/keys/other.key" restore "$T/bk0" >"$T/rw.out" 2>&1
eq "restore with a wrong key fails" 1 $?
check "it says the key does not open the keyring" grep -q "does not open this keyring" "$T/rw.out"
check "nothing was restored with the wrong key" test ! -e "$T/rw"
cof backup "$T/bk0" >"$T/again.out" 2>&1
eq "backup into a non-empty directory fails" 1 $?
cof backup "$DATA/inside" >/dev/null 2>&1
eq "a backup inside the data directory is refused" 1 $?
check "a directory without BACKUP is not a backup" bash -c "! '$COFFER' --data-dir '$T/x' --key-file '$KEY' backup --verify '$DATA' 2>&1 | grep -q match"
finish
