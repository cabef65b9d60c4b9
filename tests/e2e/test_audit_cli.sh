#!/usr/bin/env bash
# coffer audit: verify on a new store, pubkey, a trail written with the store's real
# keyring (bench/audit_fill), offline verification, `show` filters, and that each kind
# of tampering is reported with exit 1 at the right file and line.
source "$(dirname "$0")/lib.sh"
FILL=$COF_BUILD/audit_fill

check "init" cof init
out=$(cof audit verify); rc=$?
eq "verify on a new store: exit 0" 0 "$rc"
check "verify on a new store: intact, 0 records" bash -c "echo '$out' | grep -q '^audit trail intact: 0 records, 0 checkpoints'"
pk=$(cof audit pubkey); rc=$?
eq "pubkey: exit 0" 0 "$rc"
check "pubkey: 64 hex characters" bash -c "echo '$pk' | grep -Eq '^[0-9a-f]{64}$'"
eq "pubkey is stable" "$pk" "$(cof audit pubkey)"
check "--help lists audit" bash -c "'$COFFER' --help | grep -q 'audit verify|show|pubkey'"

check "fill 60 records from 4 threads" "$FILL" "$DATA" "$KEY" 60 4
eq "audit dir mode" 700 "$(stat -c %a "$DATA/audit")"
eq "audit file mode" 600 "$(stat -c %a "$DATA/audit/0000000000000001.log")"
out=$(cof audit verify); rc=$?
eq "verify filled trail: exit 0" 0 "$rc"
check "verify counts 60 records" bash -c "echo '$out' | grep -q '^audit trail intact: 60 records, [1-9][0-9]* checkpoints, head seq=[0-9]* hash=[0-9a-f]\{64\}$'"
echo "$pk" > "$T/audit.pub"
out=$(cof audit verify --public-key "$T/audit.pub"); rc=$?
eq "offline verify with the public key: exit 0" 0 "$rc"
printf '%064d\n' 0 | tr 0 1 > "$T/wrong.pub"
"$COFFER" --data-dir "$DATA" --key-file /nonexistent audit verify --public-key "$T/audit.pub" >/dev/null 2>&1
eq "offline verify needs no master key" 0 $?
out=$(cof audit verify --public-key "$T/wrong.pub"); rc=$?
eq "another public key: exit 1" 1 "$rc"
check "another public key: bad signature" bash -c "echo '$out' | grep -q 'bad checkpoint signature'"
echo nothex > "$T/bad.pub"
cof audit verify --public-key "$T/bad.pub" >/dev/null 2>&1
eq "malformed public key file: exit 1" 1 $?
cof audit verify --bogus >/dev/null 2>&1
eq "unknown option: exit 2" 2 $?

# show and its filters
eq "show --json: every record" 60 "$(cof audit show --json | wc -l)"
count_json() { cof audit show --json | python3 -c "
import json,sys; print(sum(1 for l in sys.stdin if (lambda r: $1)(json.loads(l))))"; }
eq "show --principal alice" "$(count_json 'r["principal"]=="alice"')" "$(cof audit show --json --principal alice | wc -l)"
eq "show --action stats" 28 "$(cof audit show --json --action stats | wc -l)"
eq "show --principal bob --action trail" "$(cof audit show --json | python3 -c '
import json,sys; print(sum(1 for l in sys.stdin if (lambda r: r["principal"]=="bob" and r["action"]=="trail")(json.loads(l))))')" \
   "$(cof audit show --json --principal bob --action trail | wc -l)"
eq "show --limit 7" 7 "$(cof audit show --json --limit 7 | wc -l)"
eq "show --since 1h" 60 "$(cof audit show --json --since 1h | wc -l)"
eq "show --until 2000-01-01" 0 "$(cof audit show --json --until 2000-01-01 | wc -l)"
check "show --json lines are JSON records" bash -c "'$COFFER' --data-dir '$DATA' --key-file '$KEY' audit show --json | python3 -c '
import json,sys
for l in sys.stdin:
    r=json.loads(l); assert set(r) >= {\"seq\",\"time\",\"principal\",\"action\",\"params\",\"prev\",\"hash\"}, r
    assert r[\"params\"][\"rcpt\"].startswith(\"b:\") and len(r[\"params\"][\"rcpt\"])==34
'"
check "show table has a header and a row per record" bash -c "[ \$('$COFFER' --data-dir '$DATA' --key-file '$KEY' audit show | wc -l) -eq 61 ]"
check "no address reaches the trail" bash -c "! grep -rqi 'example.com' '$DATA/audit'"
cof audit show --since yesterdayish >/dev/null 2>&1
eq "show: bad time is a usage error" 2 $?

# Tampering: each on a fresh copy of the intact trail.
cp -a "$DATA/audit" "$T/audit.orig"
F=$DATA/audit/0000000000000001.log
tamper() { # description, python snippet editing the list L of lines, expected message
  rm -rf "$DATA/audit"; cp -a "$T/audit.orig" "$DATA/audit"
  python3 - "$F" "$2" <<'PY'
import sys
path, code = sys.argv[1], sys.argv[2]
L = open(path, 'rb').read().split(b'\n')[:-1]
exec(code)
open(path, 'wb').write(b''.join(l + b'\n' for l in L))
PY
  out=$(cof audit verify); rc=$?
  eq "$1: exit 1" 1 "$rc"
  check "$1: reported as '$3'" bash -c "echo '$out' | grep -qF -- '$3'"
}
tamper "byte edited in record 5" 'L[4] = L[4].replace(b"\"principal\":\"", b"\"principal\":\"x", 1)' \
  "BROKEN at 0000000000000001.log:5 (seq 5): edited"
tamper "record 5 removed" 'del L[4]' \
  "BROKEN at 0000000000000001.log:5 (seq 6): removed or reordered"
tamper "records 5 and 6 swapped" 'L[4], L[5] = L[5], L[4]' \
  "BROKEN at 0000000000000001.log:5 (seq 6): removed or reordered"
tamper "file truncated below HEAD" 'del L[40:]' \
  "BROKEN at 0000000000000001.log:41"
tamper "file truncated below HEAD (problem)" 'del L[40:]' "truncated"
rm -rf "$DATA/audit"; cp -a "$T/audit.orig" "$DATA/audit"
python3 - "$DATA/audit/HEAD" <<'PY'
import sys
p = sys.argv[1]; s = open(p).read()
i = s.index('"sig":"') + 7
s = s[:i] + ('1' if s[i] == '0' else '0') + s[i+1:]
open(p, 'w').write(s)
PY
out=$(cof audit verify); rc=$?
eq "HEAD edited: exit 1" 1 "$rc"
check "HEAD edited: reported at HEAD" bash -c "echo '$out' | grep -qF 'BROKEN at HEAD:1'"

# the writer refuses a truncated trail; an intact one opens and continues the chain
rm -rf "$DATA/audit"; cp -a "$T/audit.orig" "$DATA/audit"
head -n 30 "$T/audit.orig/0000000000000001.log" > "$F"
"$FILL" "$DATA" "$KEY" 1 >/dev/null 2>"$T/fill.err"
eq "writer refuses a trail truncated below HEAD" 1 $?
check "and says so" grep -q "truncated" "$T/fill.err"
rm -rf "$DATA/audit"; cp -a "$T/audit.orig" "$DATA/audit"
check "append to the intact trail again" "$FILL" "$DATA" "$KEY" 5
check "still intact with 65 records" bash -c "'$COFFER' --data-dir '$DATA' --key-file '$KEY' audit verify | grep -q 'intact: 65 records'"

# The syslog copy of each head (LOG_AUTHPRIV|LOG_INFO = <86>, ident coffer-audit): in a
# user+mount namespace of our own, /dev is replaced by a directory whose /dev/log is a
# datagram socket this test listens on.
if unshare -rm true 2>/dev/null; then
  S=$T/sys; mkdir -p "$S/dev"; touch "$S/dev/null"
  cat > "$S/in.sh" <<IN
set -e
mount --bind /dev/null "$S/dev/null"
mount --bind "$S/dev" /dev
python3 -c '
import socket
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM); s.bind("/dev/log")
open("$S/ready", "w").close()
s.settimeout(5)
out = open("$S/syslog.txt", "wb")
try:
    while True:
        out.write(s.recv(65536) + b"\\n"); out.flush()
except socket.timeout:
    pass
' &
while [ ! -e "$S/ready" ]; do sleep 0.1; done
"$FILL" "$DATA" "$KEY" 3 >/dev/null
wait
IN
  unshare -rm bash "$S/in.sh"
  want=$(python3 -c '
import json,sys; h=json.load(open(sys.argv[1])); print("audit head seq=%d hash=%s sig=%s" % (h["seq"], h["head"], h["sig"]))' "$DATA/audit/HEAD")
  check "syslog got the new head as LOG_AUTHPRIV|LOG_INFO from coffer-audit" \
    bash -c "grep -a '^<86>' '$S/syslog.txt' | grep -a 'coffer-audit\\[' | grep -qaF '$want'"
else
  echo "SKIP - syslog copy (cannot create a user+mount namespace here)"
fi
finish
