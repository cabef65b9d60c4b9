#!/usr/bin/env bash
# Crash safety: kill -9 an ingest at random moments, again and again, then finish it.
# Every event must be there exactly once (same totals by status and recipient domain
# as a clean ingest), and the store must open and verify cleanly every time.
source "$(dirname "$0")/lib.sh"
ROUNDS=${CRASH_ROUNDS:-12}

"$GEN" --events 60000 --seed 5 --truth "$T/truth.tsv" --out "$T/mail.log" 2>/dev/null
ntruth=$(($(wc -l < "$T/truth.tsv") - 1))
cof init >/dev/null
# Small commits so kills land between, during and after group commits and flushes.
printf 'commit_events = 500\n' > "$T/c.conf"

killed=0
for i in $(seq 1 "$ROUNDS"); do
  "$COFFER" --config "$T/c.conf" --data-dir "$DATA" --key-file "$KEY" ingest "$T/mail.log" 2>/dev/null &
  pid=$!
  # 0.01-0.49 s: short enough that the first rounds always die mid-ingest (a whole
  # ingest of this log takes longer), whatever else loads the machine.
  sleep "0.$(( RANDOM % 5 ))$(( (RANDOM % 9) + 1 ))"
  if kill -9 "$pid" 2>/dev/null; then killed=$((killed + 1)); fi
  wait "$pid" 2>/dev/null
  n=$(cof info 2>/dev/null | awk '/^events/ {print $2}')
  if [ -z "$n" ] || [ "$n" -gt "$ntruth" ]; then bad "round $i: store has '$n' events (at most $ntruth)"; fi
done
echo "killed $killed of $ROUNDS runs"
check "at least one run was killed mid-ingest" test "$killed" -gt 0

cof ingest "$T/mail.log" 2>"$T/final.err"
eq "final ingest succeeds" 0 $?
eq "every event stored exactly once" "$ntruth" "$(cof info | awk '/^events/ {print $2}')"
check "store verifies" cof verify

# Compare with a clean ingest, group by group.
"$COFFER" --data-dir "$T/clean" --key-file "$KEY" init >/dev/null 2>&1
"$COFFER" --data-dir "$T/clean" --key-file "$KEY" ingest "$T/mail.log" 2>/dev/null
a=$(cof stats --by status,rcpt_domain --json | python3 -c "import json,sys; print(sorted((g['status'],g['rcpt_domain'],g['count']) for g in json.load(sys.stdin)['groups']))")
b=$("$COFFER" --data-dir "$T/clean" --key-file "$KEY" stats --by status,rcpt_domain --json | python3 -c "import json,sys; print(sorted((g['status'],g['rcpt_domain'],g['count']) for g in json.load(sys.stdin)['groups']))")
check "crashed-and-resumed store equals a clean one (status x domain)" test "$a" = "$b"
finish
