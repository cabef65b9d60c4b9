#!/usr/bin/env bash
# Faults: a full disk and a read-only data directory give a clear error and lose
# nothing acknowledged; a corrupted segment is reported with its path and the rest
# stays readable.
source "$(dirname "$0")/lib.sh"

"$GEN" --events 20000 --seed 3 --truth "$T/truth.tsv" --out "$T/mail.log" 2>/dev/null
ntruth=$(($(wc -l < "$T/truth.tsv") - 1))

# --- full disk: a small tmpfs holds the data directory.
if mkdir -p "$T/small" && mount -t tmpfs -o size=600k tmpfs "$T/small" 2>/dev/null; then
  "$COFFER" --data-dir "$T/small/d" --key-file "$KEY" init >/dev/null
  out=$("$COFFER" --data-dir "$T/small/d" --key-file "$KEY" ingest "$T/mail.log" 2>&1); rc=$?
  check "full disk: ingest fails" test "$rc" -ne 0
  check "full disk: the error says so" bash -c "echo \"$out\" | grep -qi 'no space'"
  check "full disk: the store still opens and verifies" "$COFFER" --data-dir "$T/small/d" --key-file "$KEY" verify
  partial=$("$COFFER" --data-dir "$T/small/d" --key-file "$KEY" info | awk '/^events/ {print $2}')
  # Move the store to a roomy place and finish: nothing acknowledged was lost,
  # nothing is duplicated.
  cp -a "$T/small/d" "$T/big"
  umount "$T/small"
  "$COFFER" --data-dir "$T/big" --key-file "$KEY" ingest "$T/mail.log" 2>/dev/null
  eq "full disk: after freeing space every event is stored once" "$ntruth" \
     "$("$COFFER" --data-dir "$T/big" --key-file "$KEY" info | awk '/^events/ {print $2}')"
  echo "(the full disk stopped ingest at $partial events)"
else
  bad "cannot mount a tmpfs for the full-disk test (needs root)"
fi

# --- read-only data directory.
cof init >/dev/null
cof ingest "$T/mail.log" 2>/dev/null
if [ "$(id -u)" -eq 0 ]; then
  mkdir -p "$T/ro" && mount --bind "$DATA" "$T/ro" && mount -o remount,bind,ro "$T/ro"
  out=$("$COFFER" --data-dir "$T/ro" --key-file "$KEY" ingest "$T/mail.log" 2>&1); rc=$?
  check "read-only dir: ingest fails" test "$rc" -ne 0
  check "read-only dir: clear error" bash -c "echo \"$out\" | grep -qiE 'read-only|denied|permission'"
  eq "read-only dir: queries still work" "$ntruth" "$("$COFFER" --data-dir "$T/ro" --key-file "$KEY" info | awk '/^events/ {print $2}')"
  umount "$T/ro"
else
  chmod -R a-w "$DATA"
  out=$(cof ingest "$T/mail.log" 2>&1); rc=$?
  check "read-only dir: ingest fails" test "$rc" -ne 0
  chmod -R u+w "$DATA"
fi

# --- corrupted segment: flip one byte in the middle of the largest segment.
seg=$(ls -S "$DATA"/seg/*.seg | head -1)
nsegs=$(ls "$DATA"/seg/*.seg | wc -l)
size=$(stat -c %s "$seg")
python3 - "$seg" "$size" <<'PY'
import sys
p, n = sys.argv[1], int(sys.argv[2])
with open(p, "r+b") as f:
    f.seek(n // 2); b = f.read(1); f.seek(n // 2); f.write(bytes([b[0] ^ 0x5A]))
PY
out=$(cof verify 2>&1); rc=$?
check "corrupt segment: verify fails" test "$rc" -ne 0
check "corrupt segment: reported with its path" bash -c "echo \"$out\" | grep -qF \"$(basename "$seg" .seg)\""
sout=$(cof stats 2>&1); rc=$?
eq "corrupt segment: stats still answer" 0 "$rc"
if [ "$nsegs" -gt 1 ]; then
  total=$(cof stats --json 2>/dev/null | python3 -c "import json,sys; print(json.load(sys.stdin)['total'])")
  check "corrupt segment: the other segments stay readable" test "$total" -gt 0
fi
finish
