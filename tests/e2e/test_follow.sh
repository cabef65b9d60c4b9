#!/usr/bin/env bash
# --follow tails a live log through rename and copytruncate rotation, and a restart
# resumes from the saved offset without storing anything twice.
source "$(dirname "$0")/lib.sh"

"$GEN" --events 3000 --seed 9 --truth "$T/truth.tsv" --out "$T/all.log" 2>/dev/null
ntruth=$(($(wc -l < "$T/truth.tsv") - 1))
total=$(wc -l < "$T/all.log")
# Cut at "removed"/"disconnect"-free points is not needed: the correlator spans files.
p1=$((total / 4)); p2=$((total / 2)); p3=$((3 * total / 4))
sed -n "1,${p1}p" "$T/all.log" > "$T/live.log"
cof init >/dev/null
"$COFFER" --data-dir "$DATA" --key-file "$KEY" ingest --follow "$T/live.log" 2>"$T/f1.err" &
pid=$!
sleep 1
sed -n "$((p1 + 1)),${p2}p" "$T/all.log" >> "$T/live.log"
sleep 1
# rename rotation
mv "$T/live.log" "$T/live.log.1"
sed -n "$((p2 + 1)),${p3}p" "$T/all.log" > "$T/live.log"
sleep 1.5
kill -TERM "$pid"; wait "$pid"
eq "follow: clean exit on SIGTERM" 0 $?
n1=$(cof info | awk '/^events/ {print $2}')
check "follow: events were stored while tailing" test "$n1" -gt 0

# copytruncate rotation while stopped, then restart: the rest arrives once.
cp "$T/live.log" "$T/live.log.2"
sed -n "$((p3 + 1)),${total}p" "$T/all.log" > "$T/live.log"
cof ingest "$T/live.log.1" "$T/live.log.2" 2>/dev/null   # the rotated files, again: no duplicates
"$COFFER" --data-dir "$DATA" --key-file "$KEY" ingest --follow "$T/live.log" 2>"$T/f2.err" &
pid=$!
sleep 1.5
kill -TERM "$pid"; wait "$pid"
n2=$(cof info | awk '/^events/ {print $2}')
# Messages cut by a rotation boundary may lose a line of context but never an event.
eq "follow + rotation + restart: every event exactly once" "$ntruth" "$n2"
finish
